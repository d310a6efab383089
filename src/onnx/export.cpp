// Graph -> ONNX export. One pass over each graph in op order: every op becomes one or a few ONNX nodes.
// Ops without a direct ONNX counterpart are lowered first into graft primitives that have one (a scratch
// graph built with the builders, then exported in place: the same path composites' decompositions take).
#include "graft/onnx/export.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>
#include <set>

#include "core/atomic_file.h"
#include "graft/graph/ops.h"
#include "onnx/tensor_proto.h"

namespace graft::onnx {

namespace {

using ::onnx::AttributeProto;
using ::onnx::GraphProto;
using ::onnx::NodeProto;
using ::onnx::TensorProto;
using Names = std::vector<std::string>;

constexpr int kMinOpset = 13;

// The lowest IR version that allows `opset` of the default domain.
int64_t ir_version_for(int64_t opset) {
  if (opset <= 13) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  if (opset <= 22) return 10;
  return 11;
}

bool contains(const std::vector<int64_t>& v, int64_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }
std::vector<int64_t> iota_vec(int64_t n, int64_t from = 0) {
  std::vector<int64_t> v(size_t(std::max<int64_t>(n, 0)));
  std::iota(v.begin(), v.end(), from);
  return v;
}
int64_t product(const std::vector<int64_t>& v) {
  return std::accumulate(v.begin(), v.end(), int64_t(1), std::multiplies<int64_t>());
}

// A scalar of the dtype's lowest or highest value (infinities for floats), exact for 64-bit integers.
Tensor extreme(DType t, bool high) {
  if (is_floating(t)) return Tensor::full(t, Shape{}, high ? INFINITY : -INFINITY);
  Tensor out = Tensor::zeros(t, Shape{});
  visit_dtype(t, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T>) {
      T v = high ? std::numeric_limits<T>::max() : std::numeric_limits<T>::lowest();
      std::memcpy(out.raw(), &v, sizeof v);
    }
  });
  return out;
}
DType unsigned_of(DType t) {
  switch (t) {
    case DType::I8: return DType::U8;
    case DType::I16: return DType::U16;
    case DType::I32: return DType::U32;
    case DType::I64: return DType::U64;
    default: return t;
  }
}

// A node under construction, with attribute setters.
struct N {
  NodeProto* p;
  AttributeProto* add(const char* name, AttributeProto::AttributeType t) {
    auto* a = p->add_attribute();
    a->set_name(name);
    a->set_type(t);
    return a;
  }
  N& i(const char* name, int64_t v) { add(name, AttributeProto::INT)->set_i(v); return *this; }
  N& f(const char* name, double v) { add(name, AttributeProto::FLOAT)->set_f(float(v)); return *this; }
  N& s(const char* name, const std::string& v) { add(name, AttributeProto::STRING)->set_s(v); return *this; }
  N& ints(const char* name, const std::vector<int64_t>& v) {
    auto* a = add(name, AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
    return *this;
  }
  N& g(const char* name, GraphProto g) {
    *add(name, AttributeProto::GRAPH)->mutable_g() = std::move(g);
    return *this;
  }
};

void set_value_info(::onnx::ValueInfoProto* v, const std::string& name, const ValueType& t) {
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(dtype_to_onnx(t.dtype));
  auto* s = tt->mutable_shape();
  for (int64_t d : t.shape.dims()) s->add_dim()->set_dim_value(d);
}

void fill_tensor(TensorProto* p, const std::string& name, const Tensor& t, bool with_data) {
  p->set_name(name);
  p->set_data_type(dtype_to_onnx(t.dtype()));
  for (int64_t d : t.shape().dims()) p->add_dims(d);
  if (with_data) p->set_raw_data(std::string(static_cast<const char*>(t.raw()), t.nbytes()));
}

// Every name a graph (and the sub-graphs inside it) reads: node inputs and graph outputs.
void collect_uses(const GraphProto& g, std::set<std::string>& used) {
  for (const auto& n : g.node()) {
    for (const auto& i : n.input()) used.insert(i);
    for (const auto& a : n.attribute()) {
      if (a.has_g()) collect_uses(a.g(), used);
      for (const auto& sg : a.graphs()) collect_uses(sg, used);
    }
  }
  for (const auto& o : g.output()) used.insert(o.name());
}
// Drops initializers nothing reads (a Pad value a reflect pad ignores), except those in `keep`.
void prune_initializers(GraphProto& g, const std::set<std::string>& keep) {
  std::set<std::string> used;
  collect_uses(g, used);
  auto* inits = g.mutable_initializer();
  int kept = 0;
  for (int i = 0; i < inits->size(); ++i)
    if (used.count(inits->Get(i).name()) || keep.count(inits->Get(i).name())) inits->SwapElements(i, kept++);
  inits->DeleteSubrange(kept, inits->size() - kept);
}

class Exporter {
 public:
  explicit Exporter(int64_t opset) : opset_(opset) {}

  // Initializers of the main graph whose data is not yet in the proto, by name: filled inline by
  // export_graph, placed by save_graph.
  std::map<std::string, Tensor> deferred;

  void export_main(const Graph& g, const ExportOptions& o, ::onnx::ModelProto& m) {
    GraphProto* gp = m.mutable_graph();
    gp->set_name(o.graph_name.empty() ? g.name() : o.graph_name);
    Scope scope{gp, {}};
    scopes_.push_back(&scope);
    std::set<std::string> used_weights;
    Names params;
    for (size_t i = 0; i < g.parameters().size(); ++i) {
      const Op& op = g.op(g.parameters()[i]);
      std::string name = std::get<ParameterAttrs>(op.attrs).name;
      if (name.empty()) name = "input_" + std::to_string(i);
      GRAFT_CHECK(values_.insert(name).second, "export: two parameters are named \"", name, "\"");
      params.push_back(name);
      const ValueType& t = op.outputs[0];
      auto w = o.weights.find(name);
      if (w != o.weights.end()) {
        GRAFT_CHECK(w->second.dtype() == t.dtype && w->second.shape() == t.shape, "export: weight \"", name, "\" is ",
                    dtype_name(w->second.dtype()), w->second.shape(), ", its parameter is ", t.str());
        used_weights.insert(name);
        add_initializer(name, w->second, true);
        if (o.weights_as_inputs) set_value_info(gp->add_input(), name, t);
      } else {
        set_value_info(gp->add_input(), name, t);
      }
    }
    for (const auto& [name, v] : o.weights)
      GRAFT_CHECK(used_weights.count(name), "export: ExportOptions::weights names \"", name,
                  "\", which is not a parameter of graph '", g.name(), "'");
    Names outs;
    for (size_t i = 0; i < g.outputs().size(); ++i) {
      std::string name = i < o.output_names.size() && !o.output_names[i].empty() ? o.output_names[i]
                                                                                : "output_" + std::to_string(i);
      GRAFT_CHECK(values_.insert(name).second, "export: output name \"", name,
                  "\" is used twice or is also an input name");
      outs.push_back(name);
      const ValueRef& r = g.outputs()[i];
      set_value_info(gp->add_output(), name, g.op(r.op).outputs[size_t(r.output)]);
    }
    GRAFT_CHECK(!outs.empty(), "export: graph '", g.name(), "' has no outputs (Graph::set_outputs)");
    emit_graph(g, params, outs);
    prune_initializers(*gp, used_weights);
    scopes_.pop_back();
  }

 private:
  struct Scope {
    GraphProto* graph;
    std::map<std::string, std::string> constants;  // small constants by content -> value name
  };

  int64_t opset_;
  std::vector<Scope*> scopes_;
  std::set<std::string> values_, nodes_;
  std::string node_base_ = "node";  // the name of the graft op being exported
  int node_count_ = 0;              // nodes emitted for it

  GraphProto& cur() { return *scopes_.back()->graph; }

  static std::string unique(std::set<std::string>& used, const std::string& base) {
    if (used.insert(base).second) return base;
    for (int i = 1;; ++i) {
      std::string n = base + "_" + std::to_string(i);
      if (used.insert(n).second) return n;
    }
  }
  std::string fresh(const std::string& hint) { return unique(values_, hint); }
  std::string tmp(const std::string& what) { return fresh(node_base_ + "/" + what); }

  N node(const std::string& type, const Names& ins, const Names& outs) {
    NodeProto* p = cur().add_node();
    p->set_op_type(type);
    p->set_name(unique(nodes_, node_count_++ == 0 ? node_base_ : node_base_ + "/" + type));
    for (const auto& i : ins) p->add_input(i);
    for (const auto& o : outs) p->add_output(o);
    return N{p};
  }
  // One-output node; `out` empty: a fresh temporary.
  std::string op(const std::string& type, const Names& ins, std::string out = {},
                 const std::function<void(N&)>& attrs = nullptr) {
    if (out.empty()) out = tmp(type);
    N n = node(type, ins, {out});
    if (attrs) attrs(n);
    return out;
  }

  void add_initializer(const std::string& name, const Tensor& t, bool main_graph) {
    TensorProto* p = cur().add_initializer();
    bool defer = main_graph && scopes_.size() == 1 && t.nbytes() >= 256;
    fill_tensor(p, name, t, !defer);
    if (defer) deferred[name] = t;
  }
  // A constant value in the current graph; small ones are shared by content.
  std::string constant(const Tensor& t, const std::string& hint = "const") {
    std::string key;
    if (t.nbytes() <= 256) {
      key = std::string(dtype_name(t.dtype())) + t.shape().str() +
            std::string(static_cast<const char*>(t.raw()), t.nbytes());
      auto it = scopes_.back()->constants.find(key);
      if (it != scopes_.back()->constants.end()) return it->second;
    }
    std::string name = fresh(hint);
    add_initializer(name, t, true);
    if (!key.empty()) scopes_.back()->constants[key] = name;
    return name;
  }
  std::string i64s(const std::vector<int64_t>& v) {
    return constant(Tensor::from_vector(v, Shape{int64_t(v.size())}), "const_i64");
  }
  std::string i64(int64_t v) { return constant(Tensor::scalar(v), "const_i64"); }
  std::string scalar(double v, DType t) { return constant(Tensor::full(t, Shape{}, v), "const"); }

  std::string reshape(const std::string& x, const std::vector<int64_t>& dims, std::string out = {}) {
    bool zero = contains(dims, 0);
    return op("Reshape", {x, i64s(dims)}, out, [&](N& n) {
      if (zero && opset_ >= 14) n.i("allowzero", 1);
    });
  }
  std::string transpose(const std::string& x, const std::vector<int64_t>& perm, std::string out = {}) {
    if (perm == iota_vec(int64_t(perm.size())) && out.empty()) return x;
    return op("Transpose", {x}, out, [&](N& n) { n.ints("perm", perm); });
  }
  std::string cast(const std::string& x, DType to, std::string out = {}) {
    return op("Cast", {x}, out, [&](N& n) { n.i("to", dtype_to_onnx(to)); });
  }
  std::string identity(const std::string& x, std::string out) { return op("Identity", {x}, out); }
  // ReduceXxx with keepdims=0; axes as an input where the opset takes it so.
  std::string reduce(const std::string& type, const std::string& x, const std::vector<int64_t>& axes,
                     std::string out = {}) {
    if (type == "ReduceSum" || opset_ >= 18)
      return op(type, {x, i64s(axes)}, out, [&](N& n) { n.i("keepdims", 0); });
    return op(type, {x}, out, [&](N& n) { n.ints("axes", axes).i("keepdims", 0); });
  }

  // Exports `lower`'s ops in place: its parameters are bound to `ins`, its outputs written to `outs`.
  void emit_lowered(const Op& op, const Names& ins, const Names& outs, const Graph& g,
                    const std::function<std::vector<Node>(Graph& s, std::vector<Node>& p)>& build) {
    Graph s("lowered");
    std::vector<Node> p;
    for (size_t i = 0; i < op.inputs.size(); ++i) {
      const ValueType& t = g.op(op.inputs[i].op).outputs[size_t(op.inputs[i].output)];
      p.push_back(s.parameter("in" + std::to_string(i), t.dtype, t.shape));
    }
    s.set_outputs(build(s, p));
    std::string saved = node_base_;
    int saved_count = node_count_;
    emit_graph(s, ins, outs, saved, true);
    node_base_ = saved;
    node_count_ = saved_count;
  }

  // Exports the live ops of `g` into the current ONNX graph: parameters bound to `params`, outputs
  // written to the names `outs`.
  // `prefix` names the ops of a sub-graph (`prefix/Add_3`); with `lowered`, the ops of a lowering or a
  // decomposition, named after the op they stand for (`Atan2_7/Select`).
  void emit_graph(const Graph& g, const Names& params, const Names& outs, const std::string& prefix = {},
                  bool lowered = false) {
    GRAFT_CHECK(params.size() == g.parameters().size(), "export: graph '", g.name(), "' takes ",
                g.parameters().size(), " parameters, bound ", params.size());
    GRAFT_CHECK(outs.size() == g.outputs().size(), "export: graph '", g.name(), "' has ", g.outputs().size(),
                " outputs, named ", outs.size());
    int n = g.num_ops();
    std::vector<char> live(size_t(n), 0);
    for (const ValueRef& r : g.outputs()) live[size_t(r.op)] = 1;
    for (int i = n - 1; i >= 0; --i)
      if (live[size_t(i)])
        for (const ValueRef& r : g.op(i).inputs) live[size_t(r.op)] = 1;
    std::vector<Names> names(static_cast<size_t>(n));
    for (size_t i = 0; i < params.size(); ++i) names[size_t(g.parameters()[i])] = {params[i]};
    // Outputs produced by an op are written under their final name directly; parameters, constants and
    // repeated outputs get an Identity.
    std::map<std::pair<int, int>, std::string> preassigned;
    std::vector<char> needs_identity(outs.size(), 0);
    for (size_t k = 0; k < outs.size(); ++k) {
      const ValueRef& r = g.outputs()[k];
      OpKind kind = g.op(r.op).kind;
      if (kind == OpKind::Parameter || kind == OpKind::Constant || preassigned.count({r.op, r.output}))
        needs_identity[k] = 1;
      else
        preassigned[{r.op, r.output}] = outs[k];
    }
    for (int i = 0; i < n; ++i) {
      const Op& op = g.op(i);
      if (!live[size_t(i)] || op.kind == OpKind::Parameter) continue;
      std::string kind(op_name(op.kind));
      std::string base = lowered           ? prefix + "/" + kind
                         : !op.name.empty() ? op.name
                                            : (prefix.empty() ? "" : prefix + "/") + kind + "_" + std::to_string(i);
      Names out;
      for (size_t k = 0; k < op.outputs.size(); ++k) {
        auto it = preassigned.find({i, int(k)});
        out.push_back(it != preassigned.end() ? it->second
                                              : fresh(op.outputs.size() == 1 ? base : base + ":" + std::to_string(k)));
      }
      Names in;
      for (const ValueRef& r : op.inputs) in.push_back(names[size_t(r.op)][size_t(r.output)]);
      node_base_ = base;
      node_count_ = 0;
      emit_op(g, op, in, out);
      names[size_t(i)] = std::move(out);
    }
    for (size_t k = 0; k < outs.size(); ++k)
      if (needs_identity[k]) {
        const ValueRef& r = g.outputs()[k];
        node_base_ = outs[k];
        node_count_ = 0;
        identity(names[size_t(r.op)][size_t(r.output)], outs[k]);
      }
  }

  // A sub-graph (If branch, Loop body) as a GraphProto.
  GraphProto subgraph(const std::string& name, const std::function<void()>& fill) {
    GraphProto gp;
    gp.set_name(name);
    Scope scope{&gp, {}};
    scopes_.push_back(&scope);
    std::string saved = node_base_;
    int saved_count = node_count_;
    fill();
    node_base_ = saved;
    node_count_ = saved_count;
    scopes_.pop_back();
    prune_initializers(gp, {});
    return gp;
  }

  [[noreturn]] void unsupported(const Op& op, const std::string& why) {
    throw Error("export: cannot export " + std::string(op_name(op.kind)) +
                (op.name.empty() ? std::string() : " \"" + op.name + "\"") + " at opset " + std::to_string(opset_) +
                ": " + why);
  }

  static const ValueType& in_type(const Graph& g, const Op& op, size_t i) {
    return g.op(op.inputs[i].op).outputs[size_t(op.inputs[i].output)];
  }

  void emit_op(const Graph& g, const Op& op, const Names& in, const Names& out);
  void emit_unary(const Graph& g, const Op& op, const Names& in, const Names& out);
  void emit_binary(const Graph& g, const Op& op, const Names& in, const Names& out);
  void emit_iota(const Op& op, const Names& out);
  void emit_pad(const Graph& g, const Op& op, const Names& in, const Names& out);
  void emit_dynamic_slice(const Graph& g, const Op& op, const Names& in, const Names& out);
  void emit_dynamic_update_slice(const Graph& g, const Op& op, const Names& in, const Names& out);
  std::string index_vectors(const Graph& g, const std::string& idx, const ValueType& it, int64_t ivd);
  std::string coordinate_grid(const std::vector<int64_t>& window);
  void emit_gather(const Graph& g, const Op& op, const Names& in, const Names& out);
  void emit_scatter(const Graph& g, const Op& op, const Names& in, const Names& out);
  void emit_reduce(const Graph& g, const Op& op, const Names& in, const Names& out);
  void emit_dot(const Graph& g, const Op& op, const Names& in, const Names& out);
  void emit_conv(const Graph& g, const Op& op, const Names& in, const Names& out);
  void emit_reduce_window(const Graph& g, const Op& op, const Names& in, const Names& out);
  void emit_cumulative(const Graph& g, const Op& op, const Names& in, const Names& out);
  void emit_if(const Op& op, const Names& in, const Names& out);
  void emit_while(const Graph& g, const Op& op, const Names& in, const Names& out);
  void emit_composite(const Graph& g, const Op& op, const Names& in, const Names& out);
};

// ---- element-wise -------------------------------------------------------------------------------------

const char* direct_unary(OpKind k) {
  switch (k) {
    case OpKind::Neg: return "Neg";
    case OpKind::Abs: return "Abs";
    case OpKind::Sign: return "Sign";
    case OpKind::Exp: return "Exp";
    case OpKind::Log: return "Log";
    case OpKind::Sqrt: return "Sqrt";
    case OpKind::Sin: return "Sin";
    case OpKind::Cos: return "Cos";
    case OpKind::Tan: return "Tan";
    case OpKind::Asin: return "Asin";
    case OpKind::Acos: return "Acos";
    case OpKind::Atan: return "Atan";
    case OpKind::Sinh: return "Sinh";
    case OpKind::Cosh: return "Cosh";
    case OpKind::Tanh: return "Tanh";
    case OpKind::Asinh: return "Asinh";
    case OpKind::Acosh: return "Acosh";
    case OpKind::Atanh: return "Atanh";
    case OpKind::Erf: return "Erf";
    case OpKind::Floor: return "Floor";
    case OpKind::Ceil: return "Ceil";
    case OpKind::Round: return "Round";  // half to even in both
    case OpKind::Logistic: return "Sigmoid";
    case OpKind::IsNan: return "IsNaN";
    case OpKind::IsInf: return "IsInf";
    case OpKind::Not: return "Not";
    case OpKind::Reciprocal: return "Reciprocal";
    default: return nullptr;
  }
}

void Exporter::emit_unary(const Graph& g, const Op& op, const Names& in, const Names& out) {
  DType t = in_type(g, op, 0).dtype;
  if (const char* d = direct_unary(op.kind)) {
    this->op(d, {in[0]}, out[0]);
    return;
  }
  switch (op.kind) {
    case OpKind::Rsqrt: this->op("Reciprocal", {this->op("Sqrt", {in[0]})}, out[0]); return;
    case OpKind::BitwiseNot:
      if (opset_ >= 18) {
        this->op("BitwiseNot", {in[0]}, out[0]);
      } else {  // two's complement: ~x = -1 - x (signed), max - x (unsigned)
        this->op("Sub", {is_signed_integer(t) ? scalar(-1, t) : constant(extreme(t, true)), in[0]}, out[0]);
      }
      return;
    case OpKind::Expm1:  // Kahan: (u - 1) * x / log(u), u = exp(x), exact where u rounds to 1
      emit_lowered(op, in, out, g, [](Graph&, std::vector<Node>& p) {
        Node x = p[0], u = Exp(x), d = u - 1.0;
        Node r = Select(Equal(d, ScalarLike(x, 0)), x, d * x / Log(u));
        r = Select(Equal(d, ScalarLike(x, -1)), d, r);
        return std::vector<Node>{Select(IsInf(u), u, r)};
      });
      return;
    case OpKind::Log1p:  // Kahan: log(u) * x / (u - 1), u = 1 + x
      emit_lowered(op, in, out, g, [](Graph&, std::vector<Node>& p) {
        Node x = p[0], u = x + 1.0, d = u - 1.0;
        Node r = Select(Equal(d, ScalarLike(x, 0)), x, Log(u) * x / d);
        return std::vector<Node>{Select(IsInf(u), u, r)};
      });
      return;
    default: unsupported(op, "no ONNX mapping");
  }
}

const char* direct_binary(OpKind k, int64_t opset) {
  switch (k) {
    case OpKind::Add: return "Add";
    case OpKind::Sub: return "Sub";
    case OpKind::Mul: return "Mul";
    case OpKind::Div: return "Div";
    case OpKind::Pow: return "Pow";
    case OpKind::Min: return "Min";
    case OpKind::Max: return "Max";
    case OpKind::Equal: return "Equal";
    case OpKind::Less: return "Less";
    case OpKind::LessEqual: return "LessOrEqual";
    case OpKind::Greater: return "Greater";
    case OpKind::GreaterEqual: return "GreaterOrEqual";
    case OpKind::And: return "And";
    case OpKind::Or: return "Or";
    case OpKind::Xor: return "Xor";
    case OpKind::BitwiseAnd: return opset >= 18 ? "BitwiseAnd" : nullptr;
    case OpKind::BitwiseOr: return opset >= 18 ? "BitwiseOr" : nullptr;
    case OpKind::BitwiseXor: return opset >= 18 ? "BitwiseXor" : nullptr;
    default: return nullptr;
  }
}

void Exporter::emit_binary(const Graph& g, const Op& op, const Names& in, const Names& out) {
  DType t = in_type(g, op, 0).dtype;
  if (const char* d = direct_binary(op.kind, opset_)) {
    this->op(d, in, out[0]);
    return;
  }
  switch (op.kind) {
    case OpKind::Rem:
    case OpKind::Fmod: this->op("Mod", in, out[0], [](N& n) { n.i("fmod", 1); }); return;  // sign of the dividend
    case OpKind::NotEqual: this->op("Not", {this->op("Equal", in)}, out[0]); return;
    case OpKind::Atan2:
      emit_lowered(op, in, out, g, [](Graph&, std::vector<Node>& p) {
        Node y = p[0], x = p[1], zero = ScalarLike(x, 0), r = Atan(y / x);
        Node neg_x = Select(GreaterEqual(y, zero), r + M_PI, r - M_PI);
        Node zero_x = Select(Greater(y, zero), ScalarLike(x, M_PI / 2),
                             Select(Less(y, zero), ScalarLike(x, -M_PI / 2), zero));
        return std::vector<Node>{Select(Greater(x, zero), r, Select(Less(x, zero), neg_x, zero_x))};
      });
      return;
    case OpKind::ShiftLeft:
    case OpKind::ShiftRight: {
      const char* dir = op.kind == OpKind::ShiftLeft ? "LEFT" : "RIGHT";
      auto shift = [&](const std::string& x, std::string o) {
        return this->op("BitShift", {x, in[1]}, o, [&](N& n) { n.s("direction", dir); });
      };
      if (is_unsigned_integer(t)) {
        shift(in[0], out[0]);
        return;
      }
      // Signed: shift the two's complement bits as unsigned; right shifts are arithmetic:
      // x < 0 ? ~(~x >> n) : x >> n, with ~v = -1 - v.
      DType u = unsigned_of(t);
      std::string n_u = cast(in[1], u);
      auto ushift = [&](const std::string& x) {
        return cast(this->op("BitShift", {cast(x, u), n_u}, {}, [&](N& n) { n.s("direction", dir); }), t);
      };
      if (op.kind == OpKind::ShiftLeft) {
        this->op("Cast", {this->op("BitShift", {cast(in[0], u), n_u}, {}, [&](N& n) { n.s("direction", dir); })},
                 out[0], [&](N& n) { n.i("to", dtype_to_onnx(t)); });
        return;
      }
      std::string m1 = scalar(-1, t);
      std::string neg = this->op("Sub", {m1, ushift(this->op("Sub", {m1, in[0]}))});
      this->op("Where", {this->op("Less", {in[0], scalar(0, t)}), neg, ushift(in[0])}, out[0]);
      return;
    }
    default: unsupported(op, "bitwise ops need opset 18");
  }
}

// ---- sources and layout ---------------------------------------------------------------------------------

void Exporter::emit_iota(const Op& op, const Names& out) {
  const ValueType& t = op.outputs[0];
  int axis = std::get<IotaAttrs>(op.attrs).axis;
  int64_t n = t.shape[axis];
  bool native = t.dtype == DType::F32 || t.dtype == DType::F64 || t.dtype == DType::I16 || t.dtype == DType::I32 ||
                t.dtype == DType::I64;
  DType rt = native ? t.dtype : DType::I64;
  bool last = t.shape.rank() == 1;
  std::string r = this->op("Range", {scalar(0, rt), scalar(double(n), rt), scalar(1, rt)}, last && native ? out[0] : "");
  if (!native) r = cast(r, t.dtype, last ? out[0] : "");
  if (last) return;
  std::vector<int64_t> dims(size_t(t.shape.rank()), 1);
  dims[size_t(axis)] = n;
  this->op("Expand", {reshape(r, dims), i64s(t.shape.dims())}, out[0]);
}

void Exporter::emit_pad(const Graph& g, const Op& op, const Names& in, const Names& out) {
  const auto& a = std::get<PadAttrs>(op.attrs);
  const Shape& s = in_type(g, op, 0).shape;
  int r = s.rank();
  bool negative = false, beyond = false;
  for (int i = 0; i < r; ++i) {
    negative |= a.low[size_t(i)] < 0 || a.high[size_t(i)] < 0;
    beyond |= a.low[size_t(i)] > s[i] || a.high[size_t(i)] > s[i];
  }
  if (a.mode != PadMode::Constant && (negative || (a.mode == PadMode::Wrap && (opset_ < 19 || beyond)))) {
    // Per axis, gather the source positions (the definition of the pad modes).
    std::string x = in[0];
    std::vector<int> axes;
    for (int i = 0; i < r; ++i)
      if (a.low[size_t(i)] != 0 || a.high[size_t(i)] != 0) axes.push_back(i);
    for (size_t k = 0; k < axes.size(); ++k) {
      int i = axes[k];
      std::vector<int64_t> map = pad_source_map(s[i], a.low[size_t(i)], a.high[size_t(i)], a.mode);
      x = this->op("Gather", {x, i64s(map)}, k + 1 == axes.size() ? out[0] : "", [&](N& n) { n.i("axis", i); });
    }
    return;
  }
  std::string x = in[0];
  if (negative) {  // crop first
    std::vector<int64_t> starts, ends, axes;
    for (int i = 0; i < r; ++i)
      if (a.low[size_t(i)] < 0 || a.high[size_t(i)] < 0) {
        starts.push_back(std::max<int64_t>(0, -a.low[size_t(i)]));
        ends.push_back(s[i] - std::max<int64_t>(0, -a.high[size_t(i)]));
        axes.push_back(i);
      }
    x = this->op("Slice", {x, i64s(starts), i64s(ends), i64s(axes)});
  }
  std::vector<int64_t> pads;
  bool any = false;
  for (int i = 0; i < r; ++i) pads.push_back(std::max<int64_t>(0, a.low[size_t(i)]));
  for (int i = 0; i < r; ++i) pads.push_back(std::max<int64_t>(0, a.high[size_t(i)]));
  for (int64_t p : pads) any |= p != 0;
  if (!any) {
    identity(x, out[0]);
    return;
  }
  static const char* modes[] = {"constant", "reflect", "edge", "wrap"};
  Names ins{x, i64s(pads)};
  if (a.mode == PadMode::Constant) ins.push_back(in[1]);
  this->op("Pad", ins, out[0], [&](N& n) { n.s("mode", modes[int(a.mode)]); });
}

void Exporter::emit_dynamic_slice(const Graph& g, const Op& op, const Names& in, const Names& out) {
  const Shape& s = in_type(g, op, 0).shape;
  const auto& sizes = std::get<DynamicSliceAttrs>(op.attrs).sizes;
  Names starts;
  for (int i = 0; i < s.rank(); ++i) {  // clamped so the slice stays inside (XLA semantics)
    std::string c = this->op("Max", {this->op("Min", {in[size_t(i) + 1], i64(s[i] - sizes[size_t(i)])}), i64(0)});
    starts.push_back(reshape(c, {1}));
  }
  std::string st = this->op("Concat", starts, {}, [](N& n) { n.i("axis", 0); });
  std::string en = this->op("Add", {st, i64s(sizes)});
  this->op("Slice", {in[0], st, en}, out[0]);
}

void Exporter::emit_dynamic_update_slice(const Graph& g, const Op& op, const Names& in, const Names& out) {
  const Shape& s = in_type(g, op, 0).shape;
  const Shape& u = in_type(g, op, 1).shape;
  int r = s.rank();
  Names clamped;
  for (int i = 0; i < r; ++i)
    clamped.push_back(this->op("Max", {this->op("Min", {in[size_t(i) + 2], i64(s[i] - u[i])}), i64(0)}));
  // Element coordinates of the update: an iota grid plus the starts, then ScatterND.
  Graph sg("dus_indices");
  std::vector<Node> p, coords;
  std::vector<int64_t> with_one = u.dims();
  with_one.push_back(1);
  for (int i = 0; i < r; ++i) p.push_back(sg.parameter("s" + std::to_string(i), DType::I64, {}));
  for (int i = 0; i < r; ++i) coords.push_back(Reshape(Iota(sg, DType::I64, u, i) + p[size_t(i)], with_one));
  sg.set_outputs({Concatenate(coords, r)});
  std::string idx = tmp("indices");
  std::string saved = node_base_;
  emit_graph(sg, clamped, {idx}, saved, true);
  node_base_ = saved;
  this->op("ScatterND", {in[0], idx, in[1]}, out[0]);
}

// ---- gather / scatter -----------------------------------------------------------------------------------

// Index vectors as the last axis: [batch..., K].
std::string Exporter::index_vectors(const Graph& g, const std::string& idx, const ValueType& it, int64_t ivd) {
  int ir = it.shape.rank();
  if (ivd == ir) {
    std::vector<int64_t> d = it.shape.dims();
    d.push_back(1);
    return reshape(idx, d);
  }
  if (ivd == ir - 1) return idx;
  std::vector<int64_t> perm;
  for (int i = 0; i < ir; ++i)
    if (i != ivd) perm.push_back(i);
  perm.push_back(ivd);
  return transpose(idx, perm);
}

// [window..., rank(window)]: the coordinates of every position of a window.
std::string Exporter::coordinate_grid(const std::vector<int64_t>& window) {
  Graph sg("grid");
  Shape ws(window);
  std::vector<int64_t> with_one = window;
  with_one.push_back(1);
  std::vector<Node> coords;
  for (int i = 0; i < ws.rank(); ++i) coords.push_back(Reshape(Iota(sg, DType::I64, ws, i), with_one));
  sg.set_outputs({coords.size() == 1 ? coords[0] : Concatenate(coords, ws.rank())});
  std::string out = tmp("grid");
  std::string saved = node_base_;
  emit_graph(sg, {}, {out}, saved, true);
  node_base_ = saved;
  return out;
}

void Exporter::emit_gather(const Graph& g, const Op& op, const Names& in, const Names& out) {
  const auto& a = std::get<GatherAttrs>(op.attrs);
  const Shape& xs = in_type(g, op, 0).shape;
  const ValueType& it = in_type(g, op, 1);
  int r = xs.rank(), ir = it.shape.rank();
  // NumPy take: ONNX Gather.
  if (a.index_vector_dim == ir && a.start_index_map.size() == 1 && a.collapsed_slice_dims == a.start_index_map) {
    int64_t axis = a.start_index_map[0];
    bool take = true;
    std::vector<int64_t> offs;
    for (int i = 0; i < r; ++i) {
      if (i == axis) continue;
      take &= a.slice_sizes[size_t(i)] == xs[i];
      offs.push_back(i < axis ? i : i - 1 + ir);
    }
    if (take && offs == a.offset_dims) {
      this->op("Gather", {in[0], in[1]}, out[0], [&](N& n) { n.i("axis", axis); });
      return;
    }
  }
  std::string iv = index_vectors(g, in[1], it, a.index_vector_dim);
  std::vector<int64_t> batch;
  for (int i = 0; i < ir; ++i)
    if (i != a.index_vector_dim) batch.push_back(it.shape[i]);
  int64_t k = int64_t(a.start_index_map.size()), nb = int64_t(batch.size());
  // Leading axes indexed whole: GatherND.
  bool nd = a.start_index_map == iota_vec(k) && a.collapsed_slice_dims == a.start_index_map &&
            a.offset_dims == iota_vec(r - k, nb);
  for (int64_t i = k; i < r && nd; ++i) nd = a.slice_sizes[size_t(i)] == xs[int(i)];
  if (nd) {
    this->op("GatherND", {in[0], iv}, out[0]);
    return;
  }
  // General: full start coordinates (index vectors times a selection matrix), plus the window grid, then
  // GatherND element by element, drop the collapsed axes and order the axes as offset_dims says.
  Tensor sel = Tensor::zeros(DType::I64, Shape{k, int64_t(r)});
  for (int64_t p = 0; p < k; ++p) sel.data<int64_t>()[p * r + a.start_index_map[size_t(p)]] = 1;
  std::string start = this->op("MatMul", {iv, constant(sel, "select")});
  std::vector<int64_t> sd = batch;
  for (int i = 0; i < r; ++i) sd.push_back(1);
  sd.push_back(r);
  std::string full = this->op("Add", {reshape(start, sd), coordinate_grid(a.slice_sizes)});
  std::string gathered = this->op("GatherND", {in[0], full});
  std::vector<int64_t> kept = batch, offsets;
  for (int i = 0; i < r; ++i)
    if (!contains(a.collapsed_slice_dims, i)) offsets.push_back(a.slice_sizes[size_t(i)]);
  kept.insert(kept.end(), offsets.begin(), offsets.end());
  int out_rank = int(kept.size());
  std::vector<int64_t> perm;
  int64_t bi = 0, oi = 0;
  for (int i = 0; i < out_rank; ++i) perm.push_back(contains(a.offset_dims, i) ? nb + oi++ : bi++);
  if (perm == iota_vec(out_rank)) {
    reshape(gathered, kept, out[0]);
  } else {
    transpose(reshape(gathered, kept), perm, out[0]);
  }
}

void Exporter::emit_scatter(const Graph& g, const Op& op, const Names& in, const Names& out) {
  const auto& a = std::get<ScatterAttrs>(op.attrs);
  const ValueType& xt = in_type(g, op, 0);
  const Shape& xs = xt.shape;
  const ValueType& it = in_type(g, op, 1);
  const Shape& us = in_type(g, op, 2).shape;
  int r = xs.rank(), ur = us.rank();
  std::string reduction;
  switch (a.combiner) {
    case ReduceOp::Replace: break;
    case ReduceOp::Sum: reduction = "add"; break;
    case ReduceOp::Prod: reduction = "mul"; break;
    case ReduceOp::Max:
    case ReduceOp::Or: reduction = "max"; break;
    case ReduceOp::Min:
    case ReduceOp::And: reduction = "min"; break;
    default: unsupported(op, "no ScatterND reduction for " + std::string(reduce_op_name(a.combiner)));
  }
  if (!reduction.empty()) {
    int64_t need = reduction == "add" || reduction == "mul" ? 16 : 18;
    if (opset_ < need)
      unsupported(op, "ScatterND reduction '" + reduction + "' needs opset " + std::to_string(need));
  }
  auto scatter = [&](const std::string& idx, const std::string& upd) {
    this->op("ScatterND", {in[0], idx, upd}, out[0], [&](N& n) {
      if (!reduction.empty()) n.s("reduction", reduction);
    });
  };
  std::string iv = index_vectors(g, in[1], it, a.index_vector_dim);
  int64_t k = int64_t(a.scatter_dims_to_operand_dims.size());
  int64_t nb = ur - int64_t(a.update_window_dims.size());
  bool nd = a.scatter_dims_to_operand_dims == iota_vec(k) && a.inserted_window_dims == iota_vec(k) &&
            a.update_window_dims == iota_vec(ur - nb, nb);
  for (int64_t i = k; i < r && nd; ++i) nd = us[int(nb + i - k)] == xs[int(i)];
  if (nd) {
    scatter(iv, in[2]);
    return;
  }
  // General: element coordinates of every update (start + window offset), updates laid out to match.
  std::vector<int64_t> batch, window_full, perm;
  for (int i = 0; i < ur; ++i)
    if (!contains(a.update_window_dims, i)) {
      batch.push_back(us[i]);
      perm.push_back(i);
    }
  for (int64_t w : a.update_window_dims) perm.push_back(w);
  size_t wi = 0;
  for (int i = 0; i < r; ++i)
    window_full.push_back(contains(a.inserted_window_dims, i) ? 1 : us[int(a.update_window_dims[wi++])]);
  Tensor sel = Tensor::zeros(DType::I64, Shape{k, int64_t(r)});
  for (int64_t p = 0; p < k; ++p) sel.data<int64_t>()[p * r + a.scatter_dims_to_operand_dims[size_t(p)]] = 1;
  std::string start = this->op("MatMul", {iv, constant(sel, "select")});
  std::vector<int64_t> sd = batch;
  for (int i = 0; i < r; ++i) sd.push_back(1);
  sd.push_back(r);
  std::string full = this->op("Add", {reshape(start, sd), coordinate_grid(window_full)});
  std::vector<int64_t> ud = batch;
  ud.insert(ud.end(), window_full.begin(), window_full.end());
  scatter(full, reshape(transpose(in[2], perm), ud));
}

// ---- reductions, products, convolutions, windows ------------------------------------------------------

void Exporter::emit_reduce(const Graph& g, const Op& op, const Names& in, const Names& out) {
  const auto& a = std::get<ReduceAttrs>(op.attrs);
  if (a.axes.empty()) {
    identity(in[0], out[0]);
    return;
  }
  switch (a.op) {
    case ReduceOp::Sum: reduce("ReduceSum", in[0], a.axes, out[0]); return;
    case ReduceOp::Prod: reduce("ReduceProd", in[0], a.axes, out[0]); return;
    case ReduceOp::Max: reduce("ReduceMax", in[0], a.axes, out[0]); return;
    case ReduceOp::Min: reduce("ReduceMin", in[0], a.axes, out[0]); return;
    case ReduceOp::Mean: reduce("ReduceMean", in[0], a.axes, out[0]); return;
    case ReduceOp::And:
    case ReduceOp::Or:  // bool: min/max over 0/1
      cast(reduce(a.op == ReduceOp::And ? "ReduceMin" : "ReduceMax", cast(in[0], DType::I32), a.axes), DType::Bool,
           out[0]);
      return;
    default: unsupported(op, "no reduction for " + std::string(reduce_op_name(a.op)));
  }
}

void Exporter::emit_dot(const Graph& g, const Op& op, const Names& in, const Names& out) {
  auto a = std::get<DotGeneralAttrs>(op.attrs);
  if (a.has_bias || a.epilogue != Epilogue::None) {  // backend-fused forms: product, then bias and activation
    emit_lowered(op, in, out, g, [a](Graph&, std::vector<Node>& p) {
      DotGeneralAttrs plain = a;
      plain.has_bias = false;
      plain.epilogue = Epilogue::None;
      Node y = DotGeneral(p[0], p[1], plain);
      if (a.has_bias) y = y + Convert(p[2], y.dtype());
      if (a.epilogue == Epilogue::Relu) y = Max(y, ScalarLike(y, 0));
      if (a.epilogue == Epilogue::GeluErf || a.epilogue == Epilogue::GeluTanh)
        y = Gelu(y, a.epilogue == Epilogue::GeluTanh);
      return std::vector<Node>{y};
    });
    return;
  }
  const ValueType& lt = in_type(g, op, 0);
  const ValueType& rt = in_type(g, op, 1);
  DType od = op.outputs[0].dtype;
  const Shape &ls = lt.shape, &rs = rt.shape;
  int rl = ls.rank(), rr = rs.rank();
  std::string l = in[0], r = in[1];
  bool integer = false;
  if (lt.dtype != od || rt.dtype != od) {
    bool int8 = (lt.dtype == DType::I8 || lt.dtype == DType::U8) && (rt.dtype == DType::I8 || rt.dtype == DType::U8);
    if (int8 && od == DType::I32) {
      integer = true;
    } else {
      l = cast(l, od);
      r = cast(r, od);
    }
  }
  const char* mm = integer ? "MatMulInteger" : "MatMul";
  std::vector<int64_t> lfree, rfree;
  for (int i = 0; i < rl; ++i)
    if (!contains(a.lhs_batch, i) && !contains(a.lhs_contract, i)) lfree.push_back(i);
  for (int i = 0; i < rr; ++i)
    if (!contains(a.rhs_batch, i) && !contains(a.rhs_contract, i)) rfree.push_back(i);
  int64_t nb = int64_t(a.lhs_batch.size());
  // [..., M, K] x [K, N] and [B..., M, K] x [B..., K, N] as they are.
  if (nb == 0 && a.lhs_contract == std::vector<int64_t>{rl - 1} && a.rhs_contract == std::vector<int64_t>{0} &&
      rr <= 2 && rl >= 1) {
    this->op(mm, {l, r}, out[0]);
    return;
  }
  if (a.lhs_batch == iota_vec(nb) && a.rhs_batch == iota_vec(nb) && rl == nb + 2 && rr == nb + 2 &&
      a.lhs_contract == std::vector<int64_t>{nb + 1} && a.rhs_contract == std::vector<int64_t>{nb}) {
    this->op(mm, {l, r}, out[0]);
    return;
  }
  // General: [batch, free, contract] x [batch, contract, free], flattened to matrices.
  std::vector<int64_t> lp = a.lhs_batch, rp = a.rhs_batch, bdims, lfd, rfd;
  for (int64_t b : a.lhs_batch) bdims.push_back(ls[int(b)]);
  lp.insert(lp.end(), lfree.begin(), lfree.end());
  lp.insert(lp.end(), a.lhs_contract.begin(), a.lhs_contract.end());
  rp.insert(rp.end(), a.rhs_contract.begin(), a.rhs_contract.end());
  rp.insert(rp.end(), rfree.begin(), rfree.end());
  int64_t m = 1, n = 1, kk = 1;
  for (int64_t i : lfree) lfd.push_back(ls[int(i)]), m *= ls[int(i)];
  for (int64_t i : rfree) rfd.push_back(rs[int(i)]), n *= rs[int(i)];
  for (int64_t i : a.lhs_contract) kk *= ls[int(i)];
  std::vector<int64_t> ld = bdims, rd = bdims, od_dims = bdims, final_dims = bdims;
  ld.push_back(m), ld.push_back(kk);
  rd.push_back(kk), rd.push_back(n);
  od_dims.push_back(m), od_dims.push_back(n);
  final_dims.insert(final_dims.end(), lfd.begin(), lfd.end());
  final_dims.insert(final_dims.end(), rfd.begin(), rfd.end());
  std::string lm = reshape(transpose(l, lp), ld);
  std::string rm = reshape(transpose(r, rp), rd);
  std::string prod = this->op(mm, {lm, rm}, od_dims == final_dims ? out[0] : "");
  if (od_dims != final_dims) reshape(prod, final_dims, out[0]);
}

void Exporter::emit_conv(const Graph& g, const Op& op, const Names& in, const Names& out) {
  const auto& a = std::get<ConvolutionAttrs>(op.attrs);
  // Fused epilogues exist only inside the CPU backend's compiled copy of a graph, never in user graphs.
  if (a.has_epilogue()) unsupported(op, "a convolution with a backend-fused epilogue (export the graph before compiling it)");
  const Shape& ws = in_type(g, op, 1).shape;
  std::vector<int64_t> kernel(ws.dims().begin() + 2, ws.dims().end());
  std::vector<int64_t> pads = a.pad_low;
  pads.insert(pads.end(), a.pad_high.begin(), a.pad_high.end());
  for (int64_t p : pads)
    if (p < 0) unsupported(op, "negative convolution padding");
  bool out_pad = false;
  for (int64_t p : a.output_padding) out_pad |= p != 0;
  this->op(a.transposed ? "ConvTranspose" : "Conv", {in[0], in[1]}, out[0], [&](N& n) {
    n.ints("kernel_shape", kernel).ints("strides", a.strides).ints("pads", pads).ints("dilations", a.dilations);
    n.i("group", a.groups);
    if (a.transposed && out_pad) n.ints("output_padding", a.output_padding);
  });
}

void Exporter::emit_reduce_window(const Graph& g, const Op& op, const Names& in, const Names& out) {
  const auto& a = std::get<ReduceWindowAttrs>(op.attrs);
  const ValueType& xt = in_type(g, op, 0);
  int r = xt.shape.rank();
  auto trivial = [&](int i) {
    return a.window[size_t(i)] == 1 && a.strides[size_t(i)] == 1 && a.dilations[size_t(i)] == 1 &&
           a.pad_low[size_t(i)] == 0 && a.pad_high[size_t(i)] == 0;
  };
  bool pool_layout = r >= 3 && r <= 5 && trivial(0) && trivial(1);
  bool dilated = false;
  for (int i = 2; i < r; ++i) dilated |= a.dilations[size_t(i)] != 1;
  bool floats = xt.dtype == DType::F32 || xt.dtype == DType::F64 || xt.dtype == DType::F16;
  if (pool_layout && floats &&
      (a.op == ReduceOp::Max || (a.op == ReduceOp::Mean && (!dilated || opset_ >= 19)))) {
    auto spatial = [&](const std::vector<int64_t>& v) { return std::vector<int64_t>(v.begin() + 2, v.end()); };
    std::vector<int64_t> pads = spatial(a.pad_low), hi = spatial(a.pad_high);
    pads.insert(pads.end(), hi.begin(), hi.end());
    bool max = a.op == ReduceOp::Max;
    this->op(max ? "MaxPool" : "AveragePool", {in[0]}, out[0], [&](N& n) {
      n.ints("kernel_shape", spatial(a.window)).ints("strides", spatial(a.strides)).ints("pads", pads);
      if (dilated) n.ints("dilations", spatial(a.dilations));
      if (!max) n.i("count_include_pad", a.count_include_pad ? 1 : 0);
    });
    return;
  }
  // General: pad with the combiner's identity, then combine one strided slice per window position.
  emit_lowered(op, in, out, g, [a, r](Graph& s, std::vector<Node>& p) {
    Node x = p[0];
    DType t = x.dtype();
    bool mean = a.op == ReduceOp::Mean;
    Node ident = a.op == ReduceOp::Max   ? s.constant(extreme(t, false))
                 : a.op == ReduceOp::Min ? s.constant(extreme(t, true))
                                         : s.scalar_like(0, t);
    std::vector<int64_t> out_dims(static_cast<size_t>(r));
    for (int i = 0; i < r; ++i) {
      int64_t padded = x.shape()[i] + a.pad_low[size_t(i)] + a.pad_high[size_t(i)];
      out_dims[size_t(i)] = (padded - ((a.window[size_t(i)] - 1) * a.dilations[size_t(i)] + 1)) / a.strides[size_t(i)] + 1;
    }
    auto windows = [&](Node v, ReduceOp combine) {
      Node acc;
      std::vector<int64_t> w(size_t(r), 0);
      while (true) {
        Axes st(static_cast<size_t>(r)), li(static_cast<size_t>(r));
        for (int i = 0; i < r; ++i) {
          st[size_t(i)] = w[size_t(i)] * a.dilations[size_t(i)];
          li[size_t(i)] = st[size_t(i)] + (out_dims[size_t(i)] - 1) * a.strides[size_t(i)] + 1;
        }
        Node sl = Slice(v, st, li, a.strides);
        acc = !acc.valid() ? sl : combine == ReduceOp::Max ? Max(acc, sl) : combine == ReduceOp::Min ? Min(acc, sl) : acc + sl;
        int i = r - 1;
        while (i >= 0 && ++w[size_t(i)] == a.window[size_t(i)]) w[size_t(i--)] = 0;
        if (i < 0) break;
      }
      return acc;
    };
    ReduceOp combine = mean ? ReduceOp::Sum : a.op;
    Node y = windows(Pad(x, a.pad_low, a.pad_high, PadMode::Constant, ident), combine);
    if (mean) {
      if (a.count_include_pad) {
        y = y / double(product(a.window));
      } else {
        Node ones = Full(s, t, x.shape(), 1.0);
        y = y / windows(Pad(ones, a.pad_low, a.pad_high), ReduceOp::Sum);
      }
    }
    return std::vector<Node>{y};
  });
}

void Exporter::emit_cumulative(const Graph& g, const Op& op, const Names& in, const Names& out) {
  const auto& a = std::get<CumulativeAttrs>(op.attrs);
  if (a.op == ReduceOp::Sum) {
    this->op("CumSum", {in[0], i64(a.axis)}, out[0], [&](N& n) {
      if (a.exclusive) n.i("exclusive", 1);
      if (a.reverse) n.i("reverse", 1);
    });
    return;
  }
  if (a.op != ReduceOp::Prod && a.op != ReduceOp::Max && a.op != ReduceOp::Min)
    unsupported(op, "no scan for " + std::string(reduce_op_name(a.op)));
  // No ONNX scan but CumSum: out[i] = reduce over j of (j within the prefix of i ? x[j] : identity).
  emit_lowered(op, in, out, g, [a](Graph& s, std::vector<Node>& p) {
    Node x = p[0];
    DType t = x.dtype();
    int ax = a.axis, r = x.rank();
    int64_t n = x.shape()[ax];
    std::vector<int64_t> td = x.shape().dims();
    td.insert(td.begin() + ax, n);  // axis ax: i (output), ax + 1: j (source)
    Axes dims;
    for (int k = 0; k < r; ++k) dims.push_back(k < ax ? k : k + 1);
    Node x2 = BroadcastInDim(x, Shape(td), dims);
    Node i = Iota(s, DType::I64, Shape{n, n}, 0), j = Iota(s, DType::I64, Shape{n, n}, 1);
    Node m = a.reverse ? (a.exclusive ? Greater(j, i) : GreaterEqual(j, i)) : (a.exclusive ? Less(j, i) : LessEqual(j, i));
    Node ident = a.op == ReduceOp::Prod ? s.scalar_like(1, t) : s.constant(extreme(t, a.op == ReduceOp::Min));
    Node sel = Select(BroadcastInDim(m, Shape(td), {ax, ax + 1}), x2, ident);
    return std::vector<Node>{Reduce(sel, a.op, {ax + 1})};
  });
}

// ---- control flow -----------------------------------------------------------------------------------------

void Exporter::emit_if(const Op& op, const Names& in, const Names& out) {
  const auto& a = std::get<IfAttrs>(op.attrs);
  Names operands(in.begin() + 1, in.end());
  auto branch = [&](const Graph& b, const char* which) {
    return subgraph(node_base_ + "/" + which, [&] {
      Names outs;
      for (size_t k = 0; k < b.outputs().size(); ++k) {
        outs.push_back(fresh(node_base_ + "/" + which + "/out" + std::to_string(k)));
        set_value_info(cur().add_output(), outs.back(), op.outputs[k]);
      }
      emit_graph(b, operands, outs, node_base_ + "/" + which);
    });
  };
  GraphProto then_g = branch(*a.then_branch, "then"), else_g = branch(*a.else_branch, "else");
  node("If", {in[0]}, out).g("then_branch", std::move(then_g)).g("else_branch", std::move(else_g));
}

void Exporter::emit_while(const Graph& g, const Op& op, const Names& in, const Names& out) {
  const auto& a = std::get<WhileAttrs>(op.attrs);
  std::string base = node_base_;
  const ValueRef& cr = a.cond->outputs()[0];
  bool scalar_cond = a.cond->op(cr.op).outputs[size_t(cr.output)].shape.rank() == 0;
  auto cond_scalar = [&](const Names& state, const std::string& name) {  // Loop wants a rank-0 condition
    std::string c = scalar_cond ? name : fresh(name + "_value");
    emit_graph(*a.cond, state, {c}, base + "/cond");
    node_base_ = base;
    node_count_ = 1;
    if (!scalar_cond) reshape(c, {}, name);
  };
  std::string init_cond = fresh(base + "/cond_init");
  cond_scalar(in, init_cond);
  GraphProto body = subgraph(base + "/body", [&] {
    GraphProto& gp = cur();
    std::string iter = fresh(base + "/iteration"), cond_in = fresh(base + "/cond_in");
    set_value_info(gp.add_input(), iter, ValueType{DType::I64, Shape{}});
    set_value_info(gp.add_input(), cond_in, ValueType{DType::Bool, Shape{}});
    Names state, next;
    for (size_t k = 0; k < in.size(); ++k) {
      state.push_back(fresh(base + "/state" + std::to_string(k)));
      set_value_info(gp.add_input(), state.back(), op.outputs[k]);
    }
    std::string cond_out = fresh(base + "/cond_out");
    set_value_info(gp.add_output(), cond_out, ValueType{DType::Bool, Shape{}});
    for (size_t k = 0; k < in.size(); ++k) {
      next.push_back(fresh(base + "/next" + std::to_string(k)));
      set_value_info(gp.add_output(), next.back(), op.outputs[k]);
    }
    emit_graph(*a.body, state, next, base + "/body");
    cond_scalar(next, cond_out);
  });
  node_base_ = base;
  node_count_ = 0;
  Names ins{"", init_cond};
  ins.insert(ins.end(), in.begin(), in.end());
  node("Loop", ins, out).g("body", std::move(body));
}

// ---- composites ---------------------------------------------------------------------------------------

void Exporter::emit_composite(const Graph& g, const Op& op, const Names& in, const Names& out) {
  const auto& a = std::get<CompositeAttrs>(op.attrs);
  const ValueType& xt = in_type(g, op, 0);
  int r = xt.shape.rank();
  auto trailing = [&](int axis) { return std::vector<int64_t>(xt.shape.dims().begin() + axis, xt.shape.dims().end()); };
  auto ones = [&](const std::vector<int64_t>& dims) {
    return constant(Tensor::full(xt.dtype, Shape(dims), 1.0), "ones");
  };
  const std::string& name = a.name;
  if (name == "softmax" || name == "log_softmax") {
    this->op(name == "softmax" ? "Softmax" : "LogSoftmax", {in[0]}, out[0], [&](N& n) { n.i("axis", a.ints[0]); });
    return;
  }
  if (name == "layer_norm" && opset_ >= 17) {
    int axis = int(a.ints[0]);
    bool hs = a.ints[1], hb = a.ints[2];
    bool fits = true;
    for (size_t i = 1; i < op.inputs.size(); ++i)
      fits &= in_type(g, op, i).shape.dims() == trailing(axis) && in_type(g, op, i).dtype == xt.dtype;
    if (fits) {
      Names ins{in[0], hs ? in[1] : ones(trailing(axis))};
      if (hb) ins.push_back(in[hs ? 2 : 1]);
      this->op("LayerNormalization", ins, out[0], [&](N& n) { n.i("axis", axis).f("epsilon", a.floats[0]); });
      return;
    }
  }
  if (name == "rms_norm" && opset_ >= 23) {
    int axis = int(a.ints[0]);
    bool hs = a.ints[1];
    if (!hs || (in_type(g, op, 1).shape.dims() == trailing(axis) && in_type(g, op, 1).dtype == xt.dtype)) {
      this->op("RMSNormalization", {in[0], hs ? in[1] : ones(trailing(axis))}, out[0],
               [&](N& n) { n.i("axis", axis).f("epsilon", a.floats[0]); });
      return;
    }
  }
  if (name == "group_norm" && r >= 3) {
    int64_t groups = a.ints[0];
    if (groups == xt.shape[1]) {
      this->op("InstanceNormalization", in, out[0], [&](N& n) { n.f("epsilon", a.floats[0]); });
      return;
    }
    if (opset_ >= 21) {
      this->op("GroupNormalization", in, out[0],
               [&](N& n) { n.f("epsilon", a.floats[0]).i("num_groups", groups); });
      return;
    }
  }
  if (name == "batch_norm" && r >= 2) {
    this->op("BatchNormalization", in, out[0], [&](N& n) { n.f("epsilon", a.floats[0]); });
    return;
  }
  if (name == "gelu" && opset_ >= 20) {
    this->op("Gelu", in, out[0], [&](N& n) { n.s("approximate", a.ints[0] ? "tanh" : "none"); });
    return;
  }
  if (name == "sdpa" && opset_ >= 23 && r == 4) {
    bool has_mask = a.ints[1];
    bool mask_ok = !has_mask || in_type(g, op, 3).dtype == DType::Bool || in_type(g, op, 3).dtype == xt.dtype;
    if (mask_ok) {
      this->op("Attention", in, out[0], [&](N& n) {
        if (a.ints[0]) n.i("is_causal", 1);
        n.f("scale", a.floats[0]);
      });
      return;
    }
  }
  // Anything else: its decomposition.
  emit_lowered(op, in, out, g, [&a](Graph&, std::vector<Node>& p) {
    auto decompose = a.decompose;
    return decompose(std::span<const Node>(p.data(), p.size()));
  });
}

// ---- dispatch -----------------------------------------------------------------------------------------

void Exporter::emit_op(const Graph& g, const Op& op, const Names& in, const Names& out) {
  if (is_unary_elementwise(op.kind)) return emit_unary(g, op, in, out);
  if (is_binary_elementwise(op.kind)) return emit_binary(g, op, in, out);
  switch (op.kind) {
    case OpKind::Constant: {
      const Tensor& v = std::get<ConstantAttrs>(op.attrs).value;
      add_initializer(out[0], v, true);
      return;
    }
    case OpKind::Iota: return emit_iota(op, out);
    case OpKind::Select: this->op("Where", in, out[0]); return;
    case OpKind::Convert: cast(in[0], op.outputs[0].dtype, out[0]); return;
    case OpKind::StopGradient: identity(in[0], out[0]); return;
    case OpKind::BroadcastInDim: {
      const Shape& xs = in_type(g, op, 0).shape;
      const Shape& s = op.outputs[0].shape;
      const auto& dims = std::get<BroadcastInDimAttrs>(op.attrs).dims;
      std::string x = in[0];
      if (xs.rank() != s.rank() || dims != iota_vec(s.rank())) {
        std::vector<int64_t> rd(size_t(s.rank()), 1);
        for (size_t i = 0; i < dims.size(); ++i) rd[size_t(dims[i])] = xs[int(i)];
        x = reshape(x, rd);
      }
      this->op("Expand", {x, i64s(s.dims())}, out[0]);
      return;
    }
    case OpKind::Reshape: reshape(in[0], op.outputs[0].shape.dims(), out[0]); return;
    case OpKind::Transpose: transpose(in[0], std::get<TransposeAttrs>(op.attrs).perm, out[0]); return;
    case OpKind::Slice: {
      const auto& a = std::get<SliceAttrs>(op.attrs);
      const Shape& xs = in_type(g, op, 0).shape;
      std::vector<int64_t> st, en, ax, sp;
      for (int i = 0; i < xs.rank(); ++i)
        if (a.starts[size_t(i)] != 0 || a.limits[size_t(i)] != xs[i] || a.strides[size_t(i)] != 1) {
          st.push_back(a.starts[size_t(i)]);
          en.push_back(a.limits[size_t(i)]);
          ax.push_back(i);
          sp.push_back(a.strides[size_t(i)]);
        }
      if (ax.empty()) {
        identity(in[0], out[0]);
        return;
      }
      this->op("Slice", {in[0], i64s(st), i64s(en), i64s(ax), i64s(sp)}, out[0]);
      return;
    }
    case OpKind::DynamicSlice: return emit_dynamic_slice(g, op, in, out);
    case OpKind::DynamicUpdateSlice: return emit_dynamic_update_slice(g, op, in, out);
    case OpKind::Concatenate:
      this->op("Concat", in, out[0], [&](N& n) { n.i("axis", std::get<ConcatenateAttrs>(op.attrs).axis); });
      return;
    case OpKind::Pad: return emit_pad(g, op, in, out);
    case OpKind::Reverse: {
      const auto& axes = std::get<ReverseAttrs>(op.attrs).axes;
      std::vector<int64_t> st(axes.size(), -1), en(axes.size(), std::numeric_limits<int64_t>::min());
      this->op("Slice", {in[0], i64s(st), i64s(en), i64s(axes), i64s(std::vector<int64_t>(axes.size(), -1))}, out[0]);
      return;
    }
    case OpKind::Gather: return emit_gather(g, op, in, out);
    case OpKind::Scatter: return emit_scatter(g, op, in, out);
    case OpKind::Reduce: return emit_reduce(g, op, in, out);
    case OpKind::ArgMinMax: {
      const auto& a = std::get<ArgMinMaxAttrs>(op.attrs);
      this->op(a.is_min ? "ArgMin" : "ArgMax", in, out[0], [&](N& n) {
        n.i("axis", a.axis).i("keepdims", 0);
        if (a.select_last) n.i("select_last_index", 1);
      });
      return;
    }
    case OpKind::DotGeneral: return emit_dot(g, op, in, out);
    case OpKind::Convolution: return emit_conv(g, op, in, out);
    case OpKind::ReduceWindow: return emit_reduce_window(g, op, in, out);
    case OpKind::Sort: {
      const auto& a = std::get<SortAttrs>(op.attrs);
      int64_t n = in_type(g, op, 0).shape[a.axis];
      // TopK over the whole axis: ties keep the lower index first, so the order is stable both ways.
      std::string idx = in.size() > 1 ? tmp("indices") : tmp("unused_indices");
      node("TopK", {in[0], i64s({n})}, {out[0], idx}).i("axis", a.axis).i("largest", a.descending ? 1 : 0).i("sorted", 1);
      for (size_t k = 1; k < in.size(); ++k)
        this->op("GatherElements", {in[k], idx}, out[k], [&](N& nn) { nn.i("axis", a.axis); });
      return;
    }
    case OpKind::TopK: {
      const auto& a = std::get<TopKAttrs>(op.attrs);
      node("TopK", {in[0], i64s({a.k})}, out).i("axis", a.axis).i("largest", a.largest ? 1 : 0).i("sorted", 1);
      return;
    }
    case OpKind::Cumulative: return emit_cumulative(g, op, in, out);
    case OpKind::If: return emit_if(op, in, out);
    case OpKind::While: return emit_while(g, op, in, out);
    case OpKind::Composite: return emit_composite(g, op, in, out);
    case OpKind::Fused:
      unsupported(op, "a backend-internal fused op (export the graph before compiling it)");
    default: unsupported(op, "no ONNX mapping");
  }
}

}  // namespace

namespace {
// Builds the model; initializers listed in `deferred` still lack their data.
void build_model(const Graph& graph, const ExportOptions& o, ::onnx::ModelProto& m,
                 std::vector<std::pair<TensorProto*, Tensor>>& deferred) {
  deferred.clear();
  GRAFT_CHECK(o.opset >= kMinOpset && o.opset <= 23, "export: opset ", o.opset, " is outside ", kMinOpset, "..23");
  m.set_ir_version(o.ir_version ? o.ir_version : ir_version_for(o.opset));
  m.set_producer_name(o.producer_name);
  m.set_producer_version(o.producer_version);
  if (!o.doc_string.empty()) m.set_doc_string(o.doc_string);
  auto* imp = m.add_opset_import();
  imp->set_domain("");
  imp->set_version(o.opset);
  for (const auto& [k, v] : o.metadata) {
    auto* p = m.add_metadata_props();
    p->set_key(k);
    p->set_value(v);
  }
  Exporter e(o.opset);
  e.export_main(graph, o, m);
  for (auto& t : *m.mutable_graph()->mutable_initializer()) {
    auto it = e.deferred.find(t.name());
    if (it != e.deferred.end()) deferred.emplace_back(&t, it->second);
  }
}
}  // namespace

::onnx::ModelProto export_graph(const Graph& graph, const ExportOptions& options) {
  ::onnx::ModelProto m;
  std::vector<std::pair<TensorProto*, Tensor>> deferred;
  build_model(graph, options, m, deferred);
  for (auto& [p, t] : deferred) p->set_raw_data(std::string(static_cast<const char*>(t.raw()), t.nbytes()));
  return m;
}

void save_graph(const Graph& graph, const std::filesystem::path& path, const ExportOptions& o) {
  ::onnx::ModelProto m;
  std::vector<std::pair<TensorProto*, Tensor>> deferred;
  build_model(graph, o, m, deferred);
  size_t inline_bytes = m.ByteSizeLong();
  for (const auto& [p, t] : deferred) inline_bytes += t.nbytes() + 16;
  bool external = o.data == ExportOptions::Data::External ||
                  (o.data == ExportOptions::Data::Auto && inline_bytes >= o.inline_limit);
  GRAFT_CHECK(!(o.data == ExportOptions::Data::Inline && inline_bytes >= o.inline_limit), "export: ", path.string(),
              " would be ", inline_bytes, " bytes inline, over the limit; use external data");
  std::string data_name = o.external_file.empty() ? path.filename().string() + ".data" : o.external_file;
  std::vector<std::pair<size_t, Tensor>> moved;  // offset, value
  size_t data_size = 0;
  for (auto& [p, t] : deferred) {
    if (!external || t.nbytes() < o.external_min_bytes) {
      p->set_raw_data(std::string(static_cast<const char*>(t.raw()), t.nbytes()));
      continue;
    }
    size_t offset = (data_size + 63) / 64 * 64;
    p->set_data_location(TensorProto::EXTERNAL);
    auto add = [proto = p](const char* k, const std::string& v) {  // (clang 14 cannot capture a structured binding)
      auto* e = proto->add_external_data();
      e->set_key(k);
      e->set_value(v);
    };
    add("location", data_name);
    add("offset", std::to_string(offset));
    add("length", std::to_string(t.nbytes()));
    moved.emplace_back(offset, t);
    data_size = offset + t.nbytes();
  }
  GRAFT_CHECK(m.ByteSizeLong() < (size_t(2) << 30), "export: ", path.string(),
              " is over 2 GB even with its large tensors external");
  std::filesystem::path dir = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
  std::filesystem::create_directories(dir);
  if (!moved.empty()) {
    write_file_atomically(dir / data_name, [&](std::ostream& os) {
      static const char zeros[64] = {};
      size_t at = 0;
      for (const auto& [offset, t] : moved) {
        os.write(zeros, std::streamsize(offset - at));
        os.write(static_cast<const char*>(t.raw()), std::streamsize(t.nbytes()));
        at = offset + t.nbytes();
      }
    });
  }
  std::string s;
  GRAFT_CHECK(m.SerializeToString(&s), "export: cannot serialize the model for ", path.string());
  write_file_atomically(path, [&](std::ostream& os) { os.write(s.data(), std::streamsize(s.size())); });
}

}  // namespace graft::onnx
