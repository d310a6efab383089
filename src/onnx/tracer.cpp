// The tracer: walks ONNX graphs node by node, keeps values known while tracing (shape computations)
// on the host, and records everything else into graft graphs through the converters.
#include <algorithm>
#include <chrono>
#include <limits>
#include <set>
#include <sstream>

#include <onnx/defs/schema.h>

#include "onnx/converter.h"
#include "onnx/fusion.h"
#include "onnx/known_values.h"
#include "onnx/model_impl.h"

namespace graft::onnx {

namespace {

// Tensors up to this many elements are computed on the host while tracing when all their inputs are
// known (shape arithmetic, small constant tables); larger ones are left to the compiler's folding.
constexpr int64_t kFoldLimit = 1 << 16;

std::string node_label(const ::onnx::NodeProto& n, int index) {
  return n.name().empty() ? n.op_type() + "#" + std::to_string(index) : n.name();
}

bool has_subgraph(const ::onnx::NodeProto& n) {
  for (const auto& a : n.attribute())
    if (a.has_g() || a.graphs_size() > 0) return true;
  return false;
}

std::string shape_str(const std::optional<std::vector<Dim>>& dims) {
  if (!dims) return "[...]";
  std::string s = "[";
  for (size_t i = 0; i < dims->size(); ++i) s += (i ? ", " : "") + (*dims)[i].str();
  return s + "]";
}

}  // namespace

ValueType Value::type() const {
  if (node.valid()) return node.type();
  if (known) return ValueType{known->dtype(), known->shape()};
  fail("internal: type of a value that is neither a node nor known");
}

// ---- Scope ------------------------------------------------------------------------------------------------

Value* Scope::find_local(const std::string& name) {
  auto it = values_.find(name);
  return it == values_.end() ? nullptr : &it->second;
}

Value* Scope::lookup(const std::string& name) {
  if (Value* v = find_local(name)) return v;
  if (fallback)
    if (Value* v = fallback(name)) return v;
  if (!parent_) return nullptr;
  Value* outer = parent_->lookup(name);
  if (!outer) return nullptr;
  Value local;
  if (!capture_as_parameters_) {
    local = *outer;  // same graft graph: nodes are valid here
  } else if (!outer->is_tensor()) {
    GRAFT_CHECK(outer->kind == Value::Kind::None, "sub-graph reads the outer sequence '", name,
                "': capturing sequences into a control-flow body is not supported");
    local = *outer;
  } else if (outer->known) {
    local = Value::of_known(*outer->known);
  } else {
    Node on = parent_->node(*outer, name);
    local.node = graph_.parameter(name, on.dtype(), on.shape());
    captures_.push_back(name);
    capture_outer_.push_back(*outer);
  }
  values_[name] = std::move(local);
  return &values_[name];
}

void Scope::predeclare_capture(const std::string& name, Value outer_value) {
  Node on = outer_value.node;
  Value local;
  local.node = graph_.parameter(name, on.dtype(), on.shape());
  captures_.push_back(name);
  capture_outer_.push_back(std::move(outer_value));
  values_[name] = std::move(local);
}

std::vector<Value> Scope::captured_outer_values() const { return capture_outer_; }

Node Scope::node(Value& v, const std::string& name) {
  GRAFT_CHECK(v.is_tensor(), "'", name, "' is a ", v.kind == Value::Kind::Sequence ? "sequence" : "missing optional",
              ", expected a tensor");
  if (!v.node.valid()) {
    GRAFT_CHECK(v.known.has_value(), "internal: value '", name, "' has neither a node nor a known value");
    v.node = graph_.constant(*v.known);
  }
  GRAFT_CHECK(v.node.graph() == &graph_, "internal: value '", name, "' belongs to another graph");
  return v.node;
}

// ---- OpContext --------------------------------------------------------------------------------------------

OpContext::OpContext(Tracer& tracer, Scope& scope, const ::onnx::NodeProto& node, int index, int64_t opset)
    : tracer_(tracer), scope_(scope), node_(node), name_(node_label(node, index)), opset_(opset),
      set_(size_t(node.output_size()), false) {}

std::string OpContext::describe() const { return node_.op_type() + " \"" + name_ + "\""; }

Value& OpContext::value(int i) {
  if (!has_input(i)) fail("input ", i, " is missing");
  Value* v = scope_.lookup(node_.input(i));
  if (!v) fail("input '", node_.input(i), "' is not defined");
  return *v;
}

Node OpContext::input(int i) {
  Value& v = value(i);
  if (!v.is_tensor()) fail("input ", i, " ('", node_.input(i), "') is not a tensor");
  return scope_.node(v, node_.input(i));
}

std::optional<Node> OpContext::optional_input(int i) {
  if (!has_input(i)) return std::nullopt;
  Value& v = value(i);
  if (v.kind == Value::Kind::None) return std::nullopt;
  return input(i);
}

const Tensor* OpContext::known(int i) {
  if (!has_input(i)) return nullptr;
  Value& v = value(i);
  if (!v.is_tensor()) return nullptr;
  if (v.known) return &*v.known;
  if (v.node.valid() && v.node.shape().size() <= kFoldLimit) {
    if (auto t = tracer_.evaluate(v.node, nullptr)) {
      v.known = *t;
      return &*v.known;
    }
  }
  return nullptr;
}

const Tensor& OpContext::require_known(int i, const std::string& what) {
  if (!has_input(i)) fail(what, " (input ", i, ") is missing");
  if (const Tensor* t = known(i)) return *t;
  Value& v = value(i);
  if (v.node.valid())
    if (auto t = tracer_.stage(v.node, describe() + ": " + what + " ('" + node_.input(i) + "')")) {
      v.known = std::move(*t);
      return *v.known;
    }
  std::string blocking;
  if (v.node.valid()) tracer_.evaluate(v.node, &blocking);
  if (!blocking.empty())
    throw NeedsInputValue(blocking, describe() + ": " + what + " ('" + node_.input(i) +
                                        "') must be known while tracing, but it depends on the value of graph input '" +
                                        blocking + "'");
  fail(what, " ('", node_.input(i), "') must be known while tracing, but it depends on run-time values");
}

std::vector<int64_t> OpContext::require_ints(int i, const std::string& what) {
  const Tensor& t = require_known(i, what);
  if (!is_integer(t.dtype())) fail(what, " must be integers, got ", dtype_name(t.dtype()));
  return t.to_vector<int64_t>();
}

std::vector<double> OpContext::require_doubles(int i, const std::string& what) {
  return require_known(i, what).to_vector<double>();
}

int64_t OpContext::require_int(int i, const std::string& what) {
  std::vector<int64_t> v = require_ints(i, what);
  if (v.size() != 1) fail(what, " must hold one value, got ", v.size());
  return v[0];
}

double OpContext::require_double(int i, const std::string& what) {
  std::vector<double> v = require_doubles(i, what);
  if (v.size() != 1) fail(what, " must hold one value, got ", v.size());
  return v[0];
}

std::optional<std::vector<Node>> OpContext::stage_op(const std::vector<int>& inputs, const StagedFunction& compute) {
  bool all_known = true;
  for (int i : inputs)
    if (!known(i)) all_known = false;
  if (all_known) return std::nullopt;
  std::vector<Node> operands;
  for (int i : inputs) operands.push_back(input(i));
  return tracer_.stage_op(operands, compute, describe());
}

void OpContext::set_output(int i, Node n) {
  if (!has_output(i)) return;
  set_value(i, Value::of(n));
}

void OpContext::set_known(int i, Tensor t) {
  if (!has_output(i)) return;
  set_value(i, Value::of_known(std::move(t)));
}

void OpContext::set_value(int i, Value v) {
  if (i >= node_.output_size()) return;
  set_[size_t(i)] = true;
  if (!node_.output(i).empty()) scope_.set(node_.output(i), std::move(v));
}

const ::onnx::AttributeProto* OpContext::attr(const std::string& name) const {
  for (const auto& a : node_.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

int64_t OpContext::attr_int(const std::string& name, int64_t def) const {
  const auto* a = attr(name);
  return a ? a->i() : def;
}

std::optional<int64_t> OpContext::attr_int_opt(const std::string& name) const {
  const auto* a = attr(name);
  if (!a) return std::nullopt;
  return a->i();
}

double OpContext::attr_float(const std::string& name, double def) const {
  const auto* a = attr(name);
  return a ? double(a->f()) : def;
}

std::string OpContext::attr_string(const std::string& name, const std::string& def) const {
  const auto* a = attr(name);
  return a ? a->s() : def;
}

std::vector<int64_t> OpContext::attr_ints(const std::string& name, std::vector<int64_t> def) const {
  const auto* a = attr(name);
  if (!a) return def;
  return {a->ints().begin(), a->ints().end()};
}

std::vector<float> OpContext::attr_floats(const std::string& name, std::vector<float> def) const {
  const auto* a = attr(name);
  if (!a) return def;
  return {a->floats().begin(), a->floats().end()};
}

std::vector<std::string> OpContext::attr_strings(const std::string& name) const {
  const auto* a = attr(name);
  if (!a) return {};
  return {a->strings().begin(), a->strings().end()};
}

std::optional<Tensor> OpContext::attr_tensor(const std::string& name) const {
  const auto* a = attr(name);
  if (!a || !a->has_t()) return std::nullopt;
  const auto* m = tracer_.state().model;
  return tensor_from_proto(a->t(), m ? m->store.get() : nullptr, describe() + " attribute '" + name + "'");
}

const ::onnx::GraphProto* OpContext::attr_graph(const std::string& name) const {
  const auto* a = attr(name);
  return a && a->has_g() ? &a->g() : nullptr;
}

// ---- helpers ------------------------------------------------------------------------------------------------

int normalize_axis(const OpContext& c, int64_t axis, int rank) {
  if (axis < -rank || axis >= rank) c.fail("axis ", axis, " is out of range for rank ", rank);
  return int(axis < 0 ? axis + rank : axis);
}

std::vector<int64_t> normalize_axes(const OpContext& c, std::vector<int64_t> axes, int rank) {
  for (auto& a : axes) a = normalize_axis(c, a, rank);
  return axes;
}

DType onnx_dtype_attr(const OpContext& c, int64_t onnx_type) {
  auto d = dtype_from_onnx(int32_t(onnx_type));
  if (!d) c.fail("element type ", onnx_elem_type_name(int32_t(onnx_type)), " is not supported by graft");
  return *d;
}

Tensor known_scalar_tensor(DType dtype, double v) { return Tensor::full(dtype, Shape{}, v); }

// ---- Tracer -----------------------------------------------------------------------------------------------

int64_t Tracer::opset(const std::string& domain) const {
  auto it = state_.opsets.find(canonical_domain(domain));
  return it == state_.opsets.end() ? 0 : it->second;
}

std::optional<Tensor> Tracer::evaluate(Node n, std::string* blocking_parameter) {
  Graph& g = *n.graph();
  int root = n.op_index();
  std::vector<char> mark(size_t(root) + 1, 0);
  mark[size_t(root)] = 1;
  int count = 0;
  for (int i = root; i >= 0; --i) {
    if (!mark[size_t(i)]) continue;
    const Op& op = g.op(i);
    if (op.kind == OpKind::Parameter) {
      if (blocking_parameter) {
        auto it = state_.parameter_inputs.find({&g, i});
        if (it != state_.parameter_inputs.end()) *blocking_parameter = it->second;
      }
      return std::nullopt;
    }
    if (++count > 20000) return std::nullopt;
    for (const ValueRef& r : op.inputs) mark[size_t(r.op)] = 1;
  }
  if (g.op(root).kind == OpKind::Constant) return std::get<ConstantAttrs>(g.op(root).attrs).value;
  try {
    OpValues memo;
    return evaluate_on_host(g, n.ref(), evaluator(), memo, [](int) -> std::optional<Tensor> { return std::nullopt; });
  } catch (const Error&) {
    return std::nullopt;  // bad data for this op (an index out of range, say): not known; tracing reports it
  }
}

namespace {
// The run-time value of a parameter of `g` that stands for a graph input (TraceOptions::runtime_inputs).
ParameterValue runtime_input(const TraceState& state, const Graph& g) {
  return [&state, &g](int op) -> std::optional<Tensor> {
    auto it = state.parameter_inputs.find({&g, op});
    if (it == state.parameter_inputs.end()) return std::nullopt;
    auto v = state.options->runtime_inputs->find(it->second);
    if (v == state.options->runtime_inputs->end()) return std::nullopt;
    return v->second;
  };
}
}  // namespace

std::optional<Tensor> Tracer::stage(Node n, const std::string& what) {
  // A constant too large for evaluate()'s eager folding (big initializers that an op reads while tracing,
  // such as MatMulNBits weights) is known as it is: it cannot differ between runs, so no stage and no guard.
  if (n.op().kind == OpKind::Constant) return std::get<ConstantAttrs>(n.op().attrs).value;
  const TraceOptions* opts = state_.options;
  if (!opts || !opts->runtime_inputs || !state_.guards) return std::nullopt;
  Graph& g = *n.graph();
  // Computes the prefix op by op on the run's inputs (results kept in the memo for later stages). Ops the
  // evaluator cannot run one at a time, and parameters that are not graph inputs, fail the stage.
  auto value = evaluate_on_host(g, n.ref(), evaluator(), state_.stage_memo[&g], runtime_input(state_, g));
  if (!value) return std::nullopt;
  StageGuard guard;
  guard.node = n;
  guard.value = *value;
  guard.what = what;
  guard.first_op = g.num_ops();
  guard.sequence = state_.stage_sequence++;
  state_.guards->push_back(guard);
  return guard.value;
}

std::optional<std::vector<Node>> Tracer::stage_op(const std::vector<Node>& operands, const StagedFunction& compute,
                                                  const std::string& what) {
  const TraceOptions* opts = state_.options;
  if (!opts || !opts->runtime_inputs || !state_.staged_ops || operands.empty()) return std::nullopt;
  Graph& g = *operands[0].graph();
  if (&g != state_.main_graph) return std::nullopt;  // inside a control-flow body: no stages there
  OpValues& memo = state_.stage_memo[&g];
  ParameterValue input_value = runtime_input(state_, g);
  StagedOp staged;
  for (const Node& o : operands) {
    if (o.graph() != &g) return std::nullopt;
    auto v = evaluate_on_host(g, o.ref(), evaluator(), memo, input_value);
    if (!v) return std::nullopt;
    staged.values.push_back(std::move(*v));
  }
  staged.values = compute(staged.values);
  staged.operands = operands;
  staged.compute = compute;
  staged.what = what;
  staged.first_op = g.num_ops();
  staged.sequence = state_.stage_sequence++;
  for (size_t k = 0; k < staged.values.size(); ++k) {
    const Tensor& t = staged.values[k];
    Node p = g.parameter("graft.staged." + std::to_string(staged.sequence) + "." + std::to_string(k), t.dtype(),
                         t.shape());
    memo[p.op_index()] = {t};  // later stages of this trace read the value computed now
    staged.results.push_back(p);
  }
  state_.staged_ops->push_back(staged);
  return staged.results;
}

const OpEvaluator& Tracer::evaluator() const {
  static const OpEvaluator none;
  return state_.options ? state_.options->evaluate : none;
}

void Tracer::run_graph(const ::onnx::GraphProto& g, Scope& scope) {
  // Primitive LayerNorm / GELU chains become single "graft.fused" nodes (fusion.h); constants the graph
  // reads from initializers or enclosing scopes are looked up without capturing anything.
  auto known = [&scope](const std::string& name) -> std::optional<Tensor> {
    for (Scope* s = &scope; s; s = s->parent()) {
      Value* v = s->find_local(name);
      if (!v && s->fallback) v = s->fallback(name);
      if (v) return v->is_tensor() ? v->known : std::nullopt;
    }
    return std::nullopt;
  };
  std::optional<::onnx::GraphProto> fused = fuse_onnx_patterns(g, known);
  if (fused) state_.opsets.emplace(kFusedDomain, 1);
  const ::onnx::GraphProto& run = fused ? *fused : g;
  for (int k = 0; k < run.node_size(); ++k) run_node(run.node(k), k, scope);
}

namespace {

// Copies a function body's node with attribute references (ref_attr_name) resolved against the caller.
::onnx::NodeProto resolve_function_node(const ::onnx::NodeProto& fn_node, const ::onnx::NodeProto& caller,
                                        const ::onnx::FunctionProto& fn) {
  ::onnx::NodeProto out = fn_node;
  out.clear_attribute();
  for (const auto& a : fn_node.attribute()) {
    if (a.ref_attr_name().empty()) {
      *out.add_attribute() = a;
      continue;
    }
    const ::onnx::AttributeProto* src = nullptr;
    for (const auto& ca : caller.attribute())
      if (ca.name() == a.ref_attr_name()) src = &ca;
    if (!src) continue;  // not given: the op's default applies
    auto* na = out.add_attribute();
    *na = *src;
    na->set_name(a.name());
  }
  return out;
}

}  // namespace

namespace {
// A node's input and output counts against the ONNX operator schema of its opset, as ONNX Runtime checks
// them when it loads a model: converters then index the inputs and outputs an op requires without counting
// them first (a Loop with one input made loop_op index output -1). Only the standard domains, and only up
// to the newest opset the ONNX library knows: a newer version may accept more inputs than the last one known.
void check_arity(const ::onnx::NodeProto& n, const std::string& domain, int64_t version, const std::string& label) {
  if (!domain.empty() && domain != "ai.onnx.ml") return;
  static const auto known =
      ::onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
  auto range = known.find(domain);
  if (range == known.end() || version > range->second.second) return;
  const ::onnx::OpSchema* schema = ::onnx::OpSchemaRegistry::Schema(n.op_type(), int(version), domain);
  if (!schema) return;
  auto bounds = [](int lo, int hi) {
    if (lo == hi) return std::to_string(lo);
    if (hi == std::numeric_limits<int>::max()) return "at least " + std::to_string(lo);
    return std::to_string(lo) + " to " + std::to_string(hi);
  };
  GRAFT_CHECK(n.input_size() >= schema->min_input() && n.input_size() <= schema->max_input(), n.op_type(), " \"",
              label, "\": has ", n.input_size(), " inputs; ", n.op_type(), " (opset ", version, ") takes ",
              bounds(schema->min_input(), schema->max_input()));
  GRAFT_CHECK(n.output_size() >= schema->min_output() && n.output_size() <= schema->max_output(), n.op_type(),
              " \"", label, "\": has ", n.output_size(), " outputs; ", n.op_type(), " (opset ", version, ") has ",
              bounds(schema->min_output(), schema->max_output()));
}
}  // namespace

void Tracer::run_node(const ::onnx::NodeProto& n, int index, Scope& scope) {
  std::string domain = canonical_domain(n.domain());
  std::string label = node_label(n, index);
  scope.graph().set_current_name(label);

  // A model-local function: inline its body with the node's inputs, outputs and attributes.
  auto fit = state_.functions.find(domain + ":" + n.op_type());
  if (fit != state_.functions.end()) {
    const ::onnx::FunctionProto& fn = *fit->second;
    Scope body(scope.graph(), nullptr);
    for (int i = 0; i < fn.input_size(); ++i) {
      if (i < n.input_size() && !n.input(i).empty()) {
        Value* v = scope.lookup(n.input(i));
        GRAFT_CHECK(v, n.op_type(), " \"", label, "\": input '", n.input(i), "' is not defined");
        body.set(fn.input(i), *v);
      }
    }
    auto saved = state_.opsets;
    for (const auto& op : fn.opset_import()) state_.opsets[canonical_domain(op.domain())] = op.version();
    try {
      for (int k = 0; k < fn.node_size(); ++k) {
        ::onnx::NodeProto resolved = resolve_function_node(fn.node(k), n, fn);
        run_node(resolved, k, body);
      }
    } catch (...) {
      state_.opsets = saved;
      throw;
    }
    state_.opsets = saved;
    for (int i = 0; i < n.output_size() && i < fn.output_size(); ++i) {
      if (n.output(i).empty()) continue;
      Value* v = body.lookup(fn.output(i));
      GRAFT_CHECK(v, n.op_type(), " \"", label, "\": function output '", fn.output(i), "' was not produced");
      scope.set(n.output(i), *v);
    }
    return;
  }

  int64_t version = opset(domain);
  GRAFT_CHECK(version > 0, n.op_type(), " \"", label, "\": the model does not import domain '",
              domain.empty() ? "ai.onnx" : domain, "'");
  const ConverterEntry* e = Registry::get().find(domain, n.op_type(), version);
  GRAFT_CHECK(e != nullptr, "unsupported op ", domain.empty() ? "" : domain + "::", n.op_type(), " (opset ", version,
              ") at node \"", label, "\"");
  check_arity(n, domain, version, label);

  // Every input known and small: compute the outputs now, so shape computations stay host values.
  if (e->fold && n.input_size() > 0 && !has_subgraph(n)) {
    bool all_known = true;
    int64_t total = 0;
    for (const auto& in : n.input()) {
      if (in.empty()) continue;
      Value* v = scope.lookup(in);
      if (!v || !v->is_tensor() || !v->known) {
        all_known = false;
        break;
      }
      total += v->known->size();
    }
    if (all_known && total <= kFoldLimit) {
      try {
        Graph scratch("fold");
        Scope s(scratch, nullptr);
        for (const auto& in : n.input())
          if (!in.empty()) s.set(in, Value::of_known(*scope.lookup(in)->known));
        OpContext sc(*this, s, n, index, version);
        e->fn(sc);
        std::vector<Node> pending;
        std::vector<int> pending_out;
        bool ok = true;
        for (int i = 0; i < n.output_size() && ok; ++i) {
          if (n.output(i).empty()) continue;
          Value* v = s.find_local(n.output(i));
          if (!v || !v->is_tensor()) {
            ok = false;
          } else if (!v->known) {
            if (v->node.shape().size() > kFoldLimit) ok = false;
            pending.push_back(v->node);
            pending_out.push_back(i);
          }
        }
        OpValues memo;
        auto no_parameters = [](int) -> std::optional<Tensor> { return std::nullopt; };
        for (size_t j = 0; ok && j < pending.size(); ++j) {
          auto t = evaluate_on_host(scratch, pending[j].ref(), evaluator(), memo, no_parameters);
          if (t) s.find_local(n.output(pending_out[j]))->known = std::move(*t);
          else ok = false;
        }
        if (ok) {
          for (int i = 0; i < n.output_size(); ++i)
            if (!n.output(i).empty()) scope.set(n.output(i), Value::of_known(*s.find_local(n.output(i))->known));
          return;
        }
      } catch (const NeedsInputValue&) {
        throw;
      } catch (const Error&) {
        // fall through: convert normally (reports the error with the real graph if it persists)
      }
    }
  }

  OpContext c(*this, scope, n, index, version);
  try {
    e->fn(c);
  } catch (const NeedsInputValue&) {
    throw;
  } catch (const Error& err) {
    std::string msg = err.what();
    if (msg.rfind(c.describe(), 0) == 0) throw;
    throw Error(c.describe() + ": " + msg);
  }
  for (int i = 0; i < n.output_size(); ++i)
    if (!n.output(i).empty() && !c.output_set(i))
      c.fail("internal: the converter did not produce output ", i, " ('", n.output(i), "')");
}

namespace {
void bind_initializers(const ::onnx::GraphProto& g, Scope& s, const Model::Impl* model) {
  for (const auto& t : g.initializer())
    s.set(t.name(), Value::of_known(tensor_from_proto(t, model ? model->store.get() : nullptr,
                                                      "sub-graph initializer '" + t.name() + "'")));
}
}  // namespace

std::vector<Value> Tracer::inline_subgraph(const ::onnx::GraphProto& g, Scope& scope, const std::vector<Value>& inputs) {
  Scope sub(scope.graph(), &scope, false);
  GRAFT_CHECK(int(inputs.size()) == g.input_size(), "sub-graph '", g.name(), "' takes ", g.input_size(),
              " inputs, given ", inputs.size());
  for (int i = 0; i < g.input_size(); ++i) sub.set(g.input(i).name(), inputs[size_t(i)]);
  bind_initializers(g, sub, state_.model);
  run_graph(g, sub);
  std::vector<Value> outs;
  for (const auto& o : g.output()) {
    Value* v = sub.lookup(o.name());
    GRAFT_CHECK(v, "sub-graph '", g.name(), "': output '", o.name(), "' is not defined");
    outs.push_back(*v);
  }
  return outs;
}

std::vector<Value> Tracer::build_subgraph(const ::onnx::GraphProto& g, Scope& outer, Graph& subgraph,
                                          const std::vector<ValueType>& input_types, std::vector<Value>& captured,
                                          const std::vector<std::string>& predeclared,
                                          std::vector<std::string>* captured_names) {
  Scope sub(subgraph, &outer, true);
  GRAFT_CHECK(int(input_types.size()) == g.input_size(), "sub-graph '", g.name(), "' takes ", g.input_size(),
              " inputs, given ", input_types.size());
  for (int i = 0; i < g.input_size(); ++i)
    sub.set(g.input(i).name(),
            Value::of(subgraph.parameter(g.input(i).name(), input_types[size_t(i)].dtype, input_types[size_t(i)].shape)));
  for (const auto& name : predeclared) {
    Value* v = outer.lookup(name);
    GRAFT_CHECK(v && v->is_tensor(), "internal: predeclared capture '", name, "' missing");
    Value ov = *v;
    ov.node = outer.node(*v, name);
    sub.predeclare_capture(name, ov);
  }
  bind_initializers(g, sub, state_.model);
  run_graph(g, sub);
  std::vector<Value> outs;
  for (const auto& o : g.output()) {
    Value* v = sub.lookup(o.name());
    GRAFT_CHECK(v, "sub-graph '", g.name(), "': output '", o.name(), "' is not defined");
    if (v->is_tensor()) sub.node(*v, o.name());
    outs.push_back(*v);
  }
  captured = sub.captured_outer_values();
  if (captured_names) *captured_names = sub.captures();
  return outs;
}

// ---- Model::trace -------------------------------------------------------------------------------------------

TraceResult Model::trace(Graph& graph, const std::map<std::string, Node>& inputs,
                         const std::vector<std::string>& output_names, const TraceOptions& options) const {
  const Impl& m = *impl_;
  auto unsupported = unsupported_ops();
  if (!unsupported.empty()) {
    std::string list;
    for (const auto& u : unsupported) list += "\n  " + u.str();
    fail(m.source, ": ", unsupported.size(), " op type(s) have no converter:", list);
  }
  TraceResult result;
  TraceState st;
  st.model = &m;
  st.opsets = m.opset_map;
  st.options = &options;
  st.initializer_nodes = &result.initializers;
  st.state_updates = &result.state_updates;
  st.functions = m.functions;
  st.guards = &result.guards;
  st.staged_ops = &result.staged_ops;
  st.main_graph = &graph;
  if (options.stage_values) st.stage_memo[&graph] = *options.stage_values;

  const auto& g = m.proto.graph();
  Scope top(graph, nullptr);
  std::map<std::string, std::pair<int64_t, std::string>> symbols;  // symbol -> (extent, input that fixed it)
  std::set<std::string> declared;
  for (const auto& vi : g.input()) {
    const std::string& name = vi.name();
    declared.insert(name);
    ValueInfo info = value_info_from_proto(vi);
    bool is_init = m.initializer_index.count(name) > 0;
    // Sequences and absent optionals: bound as trace-time values (a sequence's elements are nodes).
    auto si = options.sequence_inputs.find(name);
    bool absent = std::find(options.absent_inputs.begin(), options.absent_inputs.end(), name) !=
                  options.absent_inputs.end();
    // An optional input that is not given at all is absent.
    if (vi.type().has_optional_type() && !inputs.count(name) && !options.constant_inputs.count(name) &&
        si == options.sequence_inputs.end() && !is_init)
      absent = true;
    if (si != options.sequence_inputs.end() || absent) {
      const ::onnx::TypeProto* t = &vi.type();
      if (t->has_optional_type()) t = &t->optional_type().elem_type();
      Value v;
      v.kind = absent ? Value::Kind::None : Value::Kind::Sequence;
      GRAFT_CHECK(absent || t->has_sequence_type(), m.source, ": input '", name, "' is ", info.type,
                  ", but a sequence was given");
      GRAFT_CHECK(!absent || vi.type().has_optional_type(), m.source, ": input '", name, "' is ", info.type,
                  ", not an optional; it cannot be absent");
      if (t->has_sequence_type() && t->sequence_type().elem_type().has_tensor_type()) {
        auto d = dtype_from_onnx(t->sequence_type().elem_type().tensor_type().elem_type());
        if (d) v.elem_type = ValueType{*d, Shape{}};
      }
      if (!absent) {
        for (const Node& e : si->second) {
          GRAFT_CHECK(e.valid() && e.graph() == &graph, m.source, ": an element of input '", name,
                      "' is not a node of this graph");
          GRAFT_CHECK(!v.elem_type || v.elem_type->dtype == e.dtype(), m.source, ": input '", name, "' is ",
                      info.type, ", but an element is ", e.type().str());
          if (e.op().kind == OpKind::Parameter)
            st.parameter_inputs[{&graph, e.op_index()}] = std::get<ParameterAttrs>(e.op().attrs).name;
          v.seq.push_back(Value::of(e));
        }
        if (!v.seq.empty()) v.elem_type = v.seq[0].type();
      }
      top.set(name, std::move(v));
      continue;
    }
    auto ci = options.constant_inputs.find(name);
    auto ni = inputs.find(name);
    ValueType given;
    if (ci != options.constant_inputs.end()) {
      given = ValueType{ci->second.dtype(), ci->second.shape()};
    } else if (ni != inputs.end()) {
      GRAFT_CHECK(ni->second.valid(), m.source, ": input '", name, "' is bound to an invalid node");
      GRAFT_CHECK(ni->second.graph() == &graph, m.source, ": input '", name, "' is a node of another graph");
      given = ni->second.type();
    } else if (is_init) {
      continue;  // an initializer listed as input: its stored value is the default
    } else {
      std::string need;
      for (const auto& i : m.inputs) need += "\n  " + i.str();
      fail(m.source, ": missing input '", name, "' (", info.str(), "); the model's inputs are:", need);
    }
    if (info.dtype)
      GRAFT_CHECK(*info.dtype == given.dtype, m.source, ": input '", name, "' must be ", dtype_name(*info.dtype),
                  shape_str(info.dims), ", got ", given.str());
    if (info.dims) {
      GRAFT_CHECK(int(info.dims->size()) == given.shape.rank(), m.source, ": input '", name, "' must have rank ",
                  info.dims->size(), " (", info.str(), "), got ", given.str());
      for (size_t a = 0; a < info.dims->size(); ++a) {
        const Dim& d = (*info.dims)[a];
        int64_t e = given.shape[int(a)];
        if (d.is_fixed())
          GRAFT_CHECK(e == d.value, m.source, ": input '", name, "' axis ", a, " must be ", d.value, " (", info.str(),
                      "), got ", given.str());
        else if (!d.symbol.empty()) {
          auto [it, fresh] = symbols.try_emplace(d.symbol, e, name);
          GRAFT_CHECK(fresh || it->second.first == e, m.source, ": input '", name, "' axis ", a, " ('", d.symbol,
                      "') is ", e, ", but input '", it->second.second, "' has ", d.symbol, " = ", it->second.first);
        }
      }
    }
    if (ci != options.constant_inputs.end()) {
      top.set(name, Value::of_known(ci->second));
    } else {
      top.set(name, Value::of(ni->second));
      if (ni->second.op().kind == OpKind::Parameter) st.parameter_inputs[{&graph, ni->second.op_index()}] = name;
    }
  }
  for (const auto& [name, node] : inputs)
    if (!declared.count(name)) {
      std::string need;
      for (const auto& i : m.inputs) need += "\n  " + i.str();
      fail(m.source, ": the model has no input named '", name, "'; its inputs are:", need);
    }
  for (const auto& [name, t] : options.constant_inputs)
    GRAFT_CHECK(declared.count(name), m.source, ": the model has no input named '", name, "'");

  const InitializerHook* hook = options.initializer ? &options.initializer : nullptr;
  top.fallback = [&top, &m, &graph, &result, hook](const std::string& name) -> Value* {
    auto it = m.initializer_index.find(name);
    if (it == m.initializer_index.end()) return nullptr;
    Tensor t = m.initializer(name);
    Value v;
    bool small_int = !is_floating(t.dtype()) && t.size() <= 4096;
    bool small_float = is_floating(t.dtype()) && t.size() <= 64 && !hook;
    if (small_int || small_float) {
      v.known = t;
    } else {
      v.node = hook ? (*hook)(graph, name, t) : graph.constant(t);
      result.initializers[name] = v.node;
    }
    top.set(name, std::move(v));
    return top.find_local(name);
  };

  Tracer tracer(st);
  std::string saved_name = graph.current_name();
  try {
    tracer.run_graph(g, top);
  } catch (const NeedsInputValue&) {
    graph.set_current_name(saved_name);
    throw;
  } catch (const Error& e) {
    graph.set_current_name(saved_name);
    std::string msg = e.what();
    if (msg.rfind(m.source, 0) == 0) throw;
    throw Error(m.source + ": " + msg);
  }
  graph.set_current_name(saved_name);

  std::vector<std::string> names = output_names;
  if (names.empty())
    for (const auto& o : g.output()) names.push_back(o.name());
  for (const auto& name : names) {
    Value* v = top.lookup(name);
    GRAFT_CHECK(v, m.source, ": the model has no value named '", name, "' to output");
    if (v->kind == Value::Kind::Sequence) {
      auto& elems = result.sequence_outputs[name];
      for (Value& e : v->seq) elems.push_back(top.node(e, name));
    } else if (v->kind == Value::Kind::None) {
      result.absent_outputs.push_back(name);
    } else {
      result.outputs[name] = top.node(*v, name);
    }
  }
  if (auto memo = st.stage_memo.find(&graph); memo != st.stage_memo.end()) result.stage_values = std::move(memo->second);
  return result;
}

}  // namespace graft::onnx
