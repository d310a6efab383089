#pragma once
// Graph -> ONNX export, the shared machinery. One pass over each graph in op order: every op becomes one or a
// few ONNX nodes, written by the emitter its family registered for its op kind (or composite kind) in the
// EmitterTable: one file per family, named as the family's builders, gradient rules and kernels are
// (elementwise.cpp, layout.cpp, ..., composite.cpp). Ops without a direct ONNX counterpart are lowered
// first into graft primitives that have one (a scratch graph built with the builders, then exported in
// place: the same path composites' decompositions take).
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "graft/graph/op_table.h"
#include "graft/graph/ops.h"
#include "graft/onnx/export.h"

namespace graft::onnx {

using Names = std::vector<std::string>;

// An ONNX node under construction, with attribute setters.
struct OnnxNode {
  ::onnx::NodeProto* p;
  ::onnx::AttributeProto* add(const char* name, ::onnx::AttributeProto::AttributeType t);
  OnnxNode& i(const char* name, int64_t v);
  OnnxNode& f(const char* name, double v);
  OnnxNode& s(const char* name, const std::string& v);
  OnnxNode& ints(const char* name, const std::vector<int64_t>& v);
  OnnxNode& g(const char* name, ::onnx::GraphProto g);
};

void set_value_info(::onnx::ValueInfoProto* v, const std::string& name, const ValueType& t);

// Small helpers the emitters share.
bool contains(const std::vector<int64_t>& v, int64_t x);
std::vector<int64_t> iota_vec(int64_t n, int64_t from = 0);
int64_t product(const std::vector<int64_t>& v);
// A scalar of the dtype's lowest or highest value (infinities for floats), exact for 64-bit integers.
Tensor extreme(DType t, bool high);

class Exporter;
// Writes one op: its operands are the ONNX values `in`, its outputs go to the names `out`.
using Emitter = void (*)(Exporter& e, const Graph& g, const Op& op, const Names& in, const Names& out);
using EmitterTable = OpTable<Emitter>;

// The emitter of composites exported as their decomposition into primitives (and the fallback of those
// whose ONNX op the opset lacks or whose operands it does not take).
void emit_decomposition(Exporter& e, const Graph& g, const Op& op, const Names& in, const Names& out);

// The table every family file registers into (built once).
const EmitterTable& emitter_table();

// One file per op family, named as the family's builders, rules, kernels and converters are.
void register_elementwise_emitters(EmitterTable& t);    // elementwise.cpp (and Constant, Iota, Select, Convert)
void register_layout_emitters(EmitterTable& t);         // layout.cpp
void register_indexing_emitters(EmitterTable& t);       // indexing.cpp (Gather, Scatter)
void register_reduction_emitters(EmitterTable& t);      // reduction.cpp (Reduce, ArgMinMax, Cumulative)
void register_sort_emitters(EmitterTable& t);           // sort.cpp (Sort, TopK)
void register_pooling_emitters(EmitterTable& t);        // pooling.cpp (ReduceWindow)
void register_linalg_emitters(EmitterTable& t);         // linalg.cpp (DotGeneral)
void register_convolution_emitters(EmitterTable& t);    // convolution.cpp
void register_control_emitters(EmitterTable& t);        // control.cpp (If, While)
void register_activation_emitters(EmitterTable& t);     // activation.cpp (softmax, log_softmax, gelu, silu)
void register_normalization_emitters(EmitterTable& t);  // normalization.cpp
void register_attention_emitters(EmitterTable& t);      // attention.cpp
void register_composite_emitters(EmitterTable& t);      // composite.cpp (rnn_scan, user composites)

// The state of one export: the ONNX graph being written (and the sub-graphs inside it), the names taken,
// and the name of the graft op being exported, after which its ONNX nodes are named.
class Exporter {
 public:
  explicit Exporter(int64_t opset) : opset_(opset) {}

  // Initializers of the main graph whose data is not yet in the proto, by name: filled inline by
  // export_graph, placed by save_graph.
  std::map<std::string, Tensor> deferred;

  void export_main(const Graph& g, const ExportOptions& o, ::onnx::ModelProto& m);

  int64_t opset() const { return opset_; }
  ::onnx::GraphProto& cur() { return *scopes_.back()->graph; }

  // ---- names ----
  std::string fresh(const std::string& hint) { return unique(values_, hint); }
  std::string tmp(const std::string& what) { return fresh(node_base_ + "/" + what); }
  // The name of the graft op being exported, and how many nodes were emitted for it (the first is named
  // after the op, the next after the op and their type).
  const std::string& node_base() const { return node_base_; }
  void set_node_base(std::string base, int emitted) {
    node_base_ = std::move(base);
    node_count_ = emitted;
  }

  // ---- nodes ----
  OnnxNode node(const std::string& type, const Names& ins, const Names& outs);
  // One-output node; `out` empty: a fresh temporary.
  std::string op(const std::string& type, const Names& ins, std::string out = {},
                 const std::function<void(OnnxNode&)>& attrs = nullptr);
  std::string reshape(const std::string& x, const std::vector<int64_t>& dims, std::string out = {});
  std::string transpose(const std::string& x, const std::vector<int64_t>& perm, std::string out = {});
  std::string cast(const std::string& x, DType to, std::string out = {});
  std::string identity(const std::string& x, std::string out) { return op("Identity", {x}, out); }
  // ReduceXxx with keepdims=0; axes as an input where the opset takes it so.
  std::string reduce(const std::string& type, const std::string& x, const std::vector<int64_t>& axes,
                     std::string out = {});

  // ---- constants ----
  void add_initializer(const std::string& name, const Tensor& t, bool main_graph);
  // A constant value in the current graph; small ones are shared by content.
  std::string constant(const Tensor& t, const std::string& hint = "const");
  std::string i64s(const std::vector<int64_t>& v);
  std::string i64(int64_t v);
  std::string scalar(double v, DType t);

  // ---- graphs ----
  // Exports the live ops of `g` into the current ONNX graph: parameters bound to `params`, outputs
  // written to the names `outs`.
  // `prefix` names the ops of a sub-graph (`prefix/Add_3`); with `lowered`, the ops of a lowering or a
  // decomposition, named after the op they stand for (`Atan2_7/Select`).
  void emit_graph(const Graph& g, const Names& params, const Names& outs, const std::string& prefix = {},
                  bool lowered = false);
  // Exports `sg` (a scratch graph built with the builders) in place as part of the current op: its
  // parameters bound to `ins`, its outputs written to `outs`.
  void emit_inline(const Graph& sg, const Names& ins, const Names& outs);
  // Exports the graph `build` records in place of `op`: its parameters (one per operand of `op`, of the
  // operands' types) are bound to `ins`, its outputs written to `outs`.
  void emit_lowered(const Op& op, const Names& ins, const Names& outs, const Graph& g,
                    const std::function<std::vector<Node>(Graph& s, std::vector<Node>& p)>& build);
  // A sub-graph (If branch, Loop body) as a GraphProto.
  ::onnx::GraphProto subgraph(const std::string& name, const std::function<void()>& fill);

  [[noreturn]] void unsupported(const Op& op, const std::string& why) const;

  static const ValueType& in_type(const Graph& g, const Op& op, size_t i) {
    return g.op(op.inputs[i].op).outputs[size_t(op.inputs[i].output)];
  }

 private:
  struct Scope {
    ::onnx::GraphProto* graph;
    std::map<std::string, std::string> constants;  // small constants by content -> value name
  };

  int64_t opset_;
  std::vector<Scope*> scopes_;
  std::set<std::string> values_, nodes_;
  std::string node_base_ = "node";  // the name of the graft op being exported
  int node_count_ = 0;              // nodes emitted for it

  static std::string unique(std::set<std::string>& used, const std::string& base);
  void emit_op(const Graph& g, const Op& op, const Names& in, const Names& out);
};

}  // namespace graft::onnx
