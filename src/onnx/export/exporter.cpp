// Graph -> ONNX export: the Exporter's shared machinery (names, nodes, constants and initializers, opset
// handling, sub-graphs), the dispatch through the EmitterTable the family files fill, and the public
// export_graph / save_graph.
#include "onnx/export/exporter.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "core/atomic_file.h"
#include "onnx/external_data_writer.h"
#include "onnx/graph_order.h"
#include "onnx/model_impl.h"
#include "onnx/tensor_proto.h"

namespace graft::onnx {

using ::onnx::AttributeProto;
using ::onnx::GraphProto;
using ::onnx::NodeProto;
using ::onnx::TensorProto;

namespace {

constexpr int kMinOpset = 13;

// The lowest IR version that allows `opset` of the default domain.
int64_t ir_version_for(int64_t opset) {
  if (opset <= 13) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  if (opset <= 22) return 10;
  return 11;
}

void fill_tensor(TensorProto* p, const std::string& name, const Tensor& t, bool with_data) {
  p->set_name(name);
  p->set_data_type(dtype_to_onnx(t.dtype()));
  for (int64_t d : t.shape().dims()) p->add_dims(d);
  if (with_data) p->set_raw_data(std::string(static_cast<const char*>(t.raw()), t.nbytes()));
}

// Drops initializers nothing reads (a Pad value a reflect pad ignores), except those in `keep`.
void prune_initializers(GraphProto& g, const std::set<std::string>& keep) {
  std::set<std::string> used;
  collect_names_read(g, used);
  auto* inits = g.mutable_initializer();
  int kept = 0;
  for (int i = 0; i < inits->size(); ++i)
    if (used.count(inits->Get(i).name()) || keep.count(inits->Get(i).name())) inits->SwapElements(i, kept++);
  inits->DeleteSubrange(kept, inits->size() - kept);
}

}  // namespace

// ---- shared helpers -----------------------------------------------------------------------------------

bool contains(const std::vector<int64_t>& v, int64_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }
std::vector<int64_t> iota_vec(int64_t n, int64_t from) {
  std::vector<int64_t> v(size_t(std::max<int64_t>(n, 0)));
  std::iota(v.begin(), v.end(), from);
  return v;
}
int64_t product(const std::vector<int64_t>& v) {
  return std::accumulate(v.begin(), v.end(), int64_t(1), std::multiplies<int64_t>());
}

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

AttributeProto* OnnxNode::add(const char* name, AttributeProto::AttributeType t) {
  auto* a = p->add_attribute();
  a->set_name(name);
  a->set_type(t);
  return a;
}
OnnxNode& OnnxNode::i(const char* name, int64_t v) {
  add(name, AttributeProto::INT)->set_i(v);
  return *this;
}
OnnxNode& OnnxNode::f(const char* name, double v) {
  add(name, AttributeProto::FLOAT)->set_f(float(v));
  return *this;
}
OnnxNode& OnnxNode::s(const char* name, const std::string& v) {
  add(name, AttributeProto::STRING)->set_s(v);
  return *this;
}
OnnxNode& OnnxNode::ints(const char* name, const std::vector<int64_t>& v) {
  auto* a = add(name, AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
  return *this;
}
OnnxNode& OnnxNode::g(const char* name, GraphProto g) {
  *add(name, AttributeProto::GRAPH)->mutable_g() = std::move(g);
  return *this;
}

void set_value_info(::onnx::ValueInfoProto* v, const std::string& name, const ValueType& t) {
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(dtype_to_onnx(t.dtype));
  auto* s = tt->mutable_shape();
  for (int64_t d : t.shape.dims()) s->add_dim()->set_dim_value(d);
}

// ---- the emitter table --------------------------------------------------------------------------------

const EmitterTable& emitter_table() {
  static const EmitterTable table = [] {
    EmitterTable t;
    register_elementwise_emitters(t);
    register_layout_emitters(t);
    register_indexing_emitters(t);
    register_reduction_emitters(t);
    register_sort_emitters(t);
    register_pooling_emitters(t);
    register_linalg_emitters(t);
    register_convolution_emitters(t);
    register_control_emitters(t);
    register_activation_emitters(t);
    register_normalization_emitters(t);
    register_attention_emitters(t);
    register_composite_emitters(t);
    return t;
  }();
  return table;
}

// ---- the Exporter -------------------------------------------------------------------------------------

void Exporter::export_main(const Graph& g, const ExportOptions& o, ::onnx::ModelProto& m) {
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

std::string Exporter::unique(std::set<std::string>& used, const std::string& base) {
  if (used.insert(base).second) return base;
  for (int i = 1;; ++i) {
    std::string n = base + "_" + std::to_string(i);
    if (used.insert(n).second) return n;
  }
}

OnnxNode Exporter::node(const std::string& type, const Names& ins, const Names& outs) {
  NodeProto* p = cur().add_node();
  p->set_op_type(type);
  p->set_name(unique(nodes_, node_count_++ == 0 ? node_base_ : node_base_ + "/" + type));
  for (const auto& i : ins) p->add_input(i);
  for (const auto& o : outs) p->add_output(o);
  return OnnxNode{p};
}

std::string Exporter::op(const std::string& type, const Names& ins, std::string out,
                         const std::function<void(OnnxNode&)>& attrs) {
  if (out.empty()) out = tmp(type);
  OnnxNode n = node(type, ins, {out});
  if (attrs) attrs(n);
  return out;
}

void Exporter::add_initializer(const std::string& name, const Tensor& t, bool main_graph) {
  TensorProto* p = cur().add_initializer();
  bool defer = main_graph && scopes_.size() == 1 && t.nbytes() >= 256;
  fill_tensor(p, name, t, !defer);
  if (defer) deferred[name] = t;
}

std::string Exporter::constant(const Tensor& t, const std::string& hint) {
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
std::string Exporter::i64s(const std::vector<int64_t>& v) {
  return constant(Tensor::from_vector(v, Shape{int64_t(v.size())}), "const_i64");
}
std::string Exporter::i64(int64_t v) { return constant(Tensor::scalar(v), "const_i64"); }
std::string Exporter::scalar(double v, DType t) { return constant(Tensor::full(t, Shape{}, v), "const"); }

std::string Exporter::reshape(const std::string& x, const std::vector<int64_t>& dims, std::string out) {
  bool zero = contains(dims, 0);
  return op("Reshape", {x, i64s(dims)}, out, [&](OnnxNode& n) {
    if (zero && opset_ >= 14) n.i("allowzero", 1);
  });
}
std::string Exporter::transpose(const std::string& x, const std::vector<int64_t>& perm, std::string out) {
  if (perm == iota_vec(int64_t(perm.size())) && out.empty()) return x;
  return op("Transpose", {x}, out, [&](OnnxNode& n) { n.ints("perm", perm); });
}
std::string Exporter::cast(const std::string& x, DType to, std::string out) {
  return op("Cast", {x}, out, [&](OnnxNode& n) { n.i("to", dtype_to_onnx(to)); });
}
std::string Exporter::reduce(const std::string& type, const std::string& x, const std::vector<int64_t>& axes,
                             std::string out) {
  if (type == "ReduceSum" || opset_ >= 18)
    return op(type, {x, i64s(axes)}, out, [&](OnnxNode& n) { n.i("keepdims", 0); });
  return op(type, {x}, out, [&](OnnxNode& n) { n.ints("axes", axes).i("keepdims", 0); });
}

void Exporter::emit_inline(const Graph& sg, const Names& ins, const Names& outs) {
  std::string saved = node_base_;
  emit_graph(sg, ins, outs, saved, true);
  node_base_ = saved;
}

void Exporter::emit_lowered(const Op& op, const Names& ins, const Names& outs, const Graph& g,
                            const std::function<std::vector<Node>(Graph& s, std::vector<Node>& p)>& build) {
  Graph s("lowered");
  std::vector<Node> p;
  for (size_t i = 0; i < op.inputs.size(); ++i) {
    const ValueType& t = in_type(g, op, i);
    p.push_back(s.parameter("in" + std::to_string(i), t.dtype, t.shape));
  }
  s.set_outputs(build(s, p));
  std::string saved = node_base_;
  int saved_count = node_count_;
  emit_graph(s, ins, outs, saved, true);
  node_base_ = saved;
  node_count_ = saved_count;
}

void emit_decomposition(Exporter& e, const Graph& g, const Op& op, const Names& in, const Names& out) {
  const auto& a = std::get<CompositeAttrs>(op.attrs);
  e.emit_lowered(op, in, out, g, [&a](Graph&, std::vector<Node>& p) {
    return Decompose(a, std::span<const Node>(p.data(), p.size()));
  });
}

void Exporter::emit_graph(const Graph& g, const Names& params, const Names& outs, const std::string& prefix,
                          bool lowered) {
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

GraphProto Exporter::subgraph(const std::string& name, const std::function<void()>& fill) {
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

void Exporter::unsupported(const Op& op, const std::string& why) const {
  std::string what(op_name(op.kind));
  if (op.kind == OpKind::Composite) (what += " ") += std::get<CompositeAttrs>(op.attrs).name();
  throw Error("export: cannot export " + what + (op.name.empty() ? std::string() : " \"" + op.name + "\"") +
              " at opset " + std::to_string(opset_) + ": " + why);
}

void Exporter::emit_op(const Graph& g, const Op& op, const Names& in, const Names& out) {
  const Emitter* emit = emitter_table().find(op);
  if (!emit) unsupported(op, "no ONNX mapping");
  (*emit)(*this, g, op, in, out);
}

// ---- export_graph / save_graph --------------------------------------------------------------------------

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

Model export_graph(const Graph& graph, const ExportOptions& options) {
  ::onnx::ModelProto m;
  std::vector<std::pair<TensorProto*, Tensor>> deferred;
  build_model(graph, options, m, deferred);
  for (auto& [p, t] : deferred) p->set_raw_data(std::string(static_cast<const char*>(t.raw()), t.nbytes()));
  return model_from_proto(std::move(m), {}, (options.graph_name.empty() ? graph.name() : options.graph_name) +
                                                " (exported)");
}

void save_graph(const Graph& graph, const std::filesystem::path& path, const ExportOptions& o) {
  ::onnx::ModelProto m;
  std::vector<std::pair<TensorProto*, Tensor>> deferred;
  build_model(graph, o, m, deferred);
  std::vector<InlineTensor> tensors;
  for (auto& [p, t] : deferred) tensors.push_back({p, t, false, {}});
  place_tensor_data(m, tensors, path, o.data, "export");
  std::string s;
  GRAFT_CHECK(m.SerializeToString(&s), "export: cannot serialize the model for ", path.string());
  write_file_atomically(path, [&](std::ostream& os) { os.write(s.data(), std::streamsize(s.size())); });
}

}  // namespace graft::onnx
