#pragma once
// The interface between the tracer and the op converters. A converter reads one ONNX NodeProto through
// an OpContext (inputs as graft Nodes or, when known while tracing, as host Tensors; attributes) and sets
// its outputs with graft builder calls. Converters live one file per op family under ops/, each with a
// register_<family>_ops function that registry.cpp calls once. Values known while tracing are computed
// with the evaluator the caller injected (TraceOptions::evaluate, known_values.h), never by a backend.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <onnx/onnx_pb.h>

#include "graft/graph/ops.h"
#include "graft/onnx/model.h"
#include "onnx/known_values.h"

namespace graft::onnx {

class Tracer;
class Scope;

// A traced ONNX value: a tensor (a Node, a host value known while tracing, or both), a sequence of
// tensors, or an absent optional.
struct Value {
  enum class Kind { Tensor, Sequence, None };
  Kind kind = Kind::Tensor;
  Node node;                    // valid once materialized in the scope's graph
  std::optional<Tensor> known;  // the value, when known while tracing
  std::vector<Value> seq;       // elements of a sequence
  std::optional<ValueType> elem_type;  // element type of a sequence (or of an absent optional), if known
  bool is_tensor() const { return kind == Kind::Tensor; }
  ValueType type() const;  // of a tensor value
  static Value of(Node n) { Value v; v.node = n; return v; }
  static Value of_known(Tensor t) { Value v; v.known = std::move(t); return v; }
};

class OpContext;
using ConverterFn = std::function<void(OpContext&)>;

struct ConverterEntry {
  std::string domain;  // "" for ai.onnx
  std::string op_type;
  int since = 1;       // first opset this converter handles
  int until = 0;       // last opset it handles (0: open-ended)
  ConverterFn fn;
  bool fold = true;    // may be evaluated while tracing when every input is known
  std::string note;    // shown in `graft ops`
};

class Registry {
 public:
  static const Registry& get();
  // Adds a converter for opsets [since, until]; a later registration with a higher `since` for the same op
  // takes over from there.
  ConverterEntry& add(std::string domain, std::string op_type, int since, ConverterFn fn);
  const ConverterEntry* find(const std::string& domain, const std::string& op_type, int64_t opset) const;
  std::vector<const ConverterEntry*> all() const;  // sorted by domain, op, since

 private:
  std::map<std::pair<std::string, std::string>, std::vector<ConverterEntry>> table_;
};

// Family registration functions, one per file of ops/. Families graft has are named as its builders,
// gradient rules, kernels and exporters are; the ONNX-only ones (image, signal, ...) by what they hold.
void register_elementwise_ops(Registry& r);    // elementwise.cpp
void register_layout_ops(Registry& r);         // layout.cpp (shape and tensor manipulation)
void register_indexing_ops(Registry& r);       // indexing.cpp
void register_reduction_ops(Registry& r);      // reduction.cpp (and CumSum)
void register_sort_ops(Registry& r);           // sort.cpp (TopK)
void register_pooling_ops(Registry& r);        // pooling.cpp
void register_linalg_ops(Registry& r);         // linalg.cpp (MatMul, Gemm, Einsum)
void register_convolution_ops(Registry& r);    // convolution.cpp
void register_control_ops(Registry& r);        // control.cpp (If, Loop, Scan)
void register_activation_ops(Registry& r);     // activation.cpp (Softmax, LogSoftmax, Hardmax, Gelu)
void register_normalization_ops(Registry& r);  // normalization.cpp
void register_attention_ops(Registry& r);      // attention.cpp (Attention, RotaryEmbedding)
void register_recurrent_ops(Registry& r);      // recurrent.cpp (RNN, GRU, LSTM)
void register_quantization_ops(Registry& r);   // quantization.cpp
void register_image_ops(Registry& r);          // image.cpp (and Resize, Upsample)
void register_vision_ops(Registry& r);         // vision.cpp
void register_signal_ops(Registry& r);         // signal.cpp
void register_random_ops(Registry& r);         // random.cpp (and Dropout)
void register_sequence_ops(Registry& r);       // sequence.cpp (sequences and optionals)
void register_loss_ops(Registry& r);           // loss.cpp
void register_training_ops(Registry& r);       // training.cpp (ai.onnx.preview.training optimizers)
void register_misc_ops(Registry& r);           // misc.cpp
// com.microsoft ops, by family (ops/contrib/).
void register_contrib_activation_ops(Registry& r);     // contrib/activation.cpp
void register_contrib_normalization_ops(Registry& r);  // contrib/normalization.cpp
void register_contrib_attention_ops(Registry& r);      // contrib/attention.cpp
void register_contrib_quantization_ops(Registry& r);   // contrib/quantization.cpp
void register_fused_ops(Registry& r);  // internal "graft.fused" domain (fusion.cpp)

std::string canonical_domain(const std::string& d);  // "ai.onnx" -> ""

// One graph level: values by name, the graft graph they live in, and the enclosing scope. A sub-graph
// scope captures outer values it reads: known values become constants, others become parameters of the
// sub-graph (recorded in `captures`) when `capture_as_parameters` is set, or are used directly when the
// sub-graph records into the same graft graph (an inlined branch or unrolled loop).
class Scope {
 public:
  Scope(Graph& graph, Scope* parent, bool capture_as_parameters = false)
      : graph_(graph), parent_(parent), capture_as_parameters_(capture_as_parameters) {}
  Graph& graph() { return graph_; }
  Scope* parent() { return parent_; }
  void set(const std::string& name, Value v) { values_[name] = std::move(v); }
  Value* find_local(const std::string& name);
  // The value in this scope or captured from an enclosing one; nullptr when no scope defines it.
  Value* lookup(const std::string& name);
  // Materializes a tensor value as a node of this scope's graph.
  Node node(Value& v, const std::string& name);
  // Captured outer names, in the order their parameters were declared.
  const std::vector<std::string>& captures() const { return captures_; }
  std::vector<Value> captured_outer_values() const;  // the outer values, same order
  // Names pre-declared as parameters (used when a sub-graph is traced a second time with known captures).
  void predeclare_capture(const std::string& name, Value outer_value);
  std::function<Value*(const std::string&)> fallback;  // e.g. lazily loaded initializers (top level)

 private:
  Graph& graph_;
  Scope* parent_;
  bool capture_as_parameters_;
  std::unordered_map<std::string, Value> values_;
  std::vector<std::string> captures_;
  std::vector<Value> capture_outer_;
};

struct TraceState;

// Walks graphs node by node, calling converters.
class Tracer {
 public:
  explicit Tracer(TraceState& state) : state_(state) {}
  // Runs every node of `g` in `scope` (its inputs/initializers must already be set or resolvable).
  void run_graph(const ::onnx::GraphProto& g, Scope& scope);
  void run_node(const ::onnx::NodeProto& n, int index, Scope& scope);
  // Traces sub-graph `g` with its formal inputs bound to `inputs`, in a scope of its own that records
  // into `scope`'s graph (outer values are used directly). Returns the sub-graph's outputs.
  std::vector<Value> inline_subgraph(const ::onnx::GraphProto& g, Scope& scope, const std::vector<Value>& inputs);
  // Builds a separate graft Graph for sub-graph `g`: parameters for `inputs` (types only), then one per
  // outer value the body reads. Returns the outputs; `captured` receives the outer values to pass.
  // `predeclared` outer names become parameters right after the formal inputs (so two branches of an If
  // can share one operand list).
  std::vector<Value> build_subgraph(const ::onnx::GraphProto& g, Scope& outer, Graph& sub,
                                    const std::vector<ValueType>& input_types, std::vector<Value>& captured,
                                    const std::vector<std::string>& predeclared = {},
                                    std::vector<std::string>* captured_names = nullptr);
  int64_t opset(const std::string& domain) const;
  TraceState& state() { return state_; }
  // The value of `n`, computed on the host (op by op, with the injected evaluator) when it does not depend
  // on graph parameters; `blocking_parameter` receives the graph input it depends on, if any.
  std::optional<Tensor> evaluate(Node n, std::string* blocking_parameter);
  // Staged tracing: the value of `n` computed from the run-time graph inputs (TraceOptions::runtime_inputs),
  // recorded as a StageGuard; nullopt when there are none or `n` depends on other parameters.
  std::optional<Tensor> stage(Node n, const std::string& what);
  // Staged execution of an op whose output shapes depend on its operands' values: when `operands` can be
  // computed from the run-time inputs, `compute` runs on them now and its results become parameters of the
  // traced graph (a StagedOp the session runs between compiled stages); nullopt otherwise.
  std::optional<std::vector<Node>> stage_op(const std::vector<Node>& operands, const StagedFunction& compute,
                                            const std::string& what);
  // How single ops are evaluated on the host (TraceOptions::evaluate); empty: nothing is.
  const OpEvaluator& evaluator() const;

 private:
  TraceState& state_;
};

struct TraceState {
  const Model::Impl* model = nullptr;
  std::map<std::string, int64_t> opsets;
  const TraceOptions* options = nullptr;
  std::map<std::string, Node>* initializer_nodes = nullptr;
  std::map<std::string, Node>* state_updates = nullptr;  // TraceResult::state_updates
  std::map<std::string, const ::onnx::FunctionProto*> functions;  // "domain:name"
  // Parameter ops that stand for graph inputs, so a shape that needs an input's value can say which.
  std::map<std::pair<const Graph*, int>, std::string> parameter_inputs;
  std::vector<StageGuard>* guards = nullptr;  // staged values assumed so far
  std::vector<StagedOp>* staged_ops = nullptr;  // ops run between stages so far
  int stage_sequence = 0;                        // orders guards and staged ops as recorded
  const Graph* main_graph = nullptr;             // the graph the run-time inputs are parameters of
  // Staging memo: outputs of traced-graph ops already computed from the run-time inputs, so consecutive
  // stages (a detector's many NMS/TopK/Reshape stages share one backbone) compute each op once.
  std::map<const Graph*, OpValues> stage_memo;
};

class OpContext {
 public:
  OpContext(Tracer& tracer, Scope& scope, const ::onnx::NodeProto& node, int index, int64_t opset);

  const ::onnx::NodeProto& node() const { return node_; }
  const std::string& op_type() const { return node_.op_type(); }
  const std::string& name() const { return name_; }
  std::string describe() const;  // `Reshape "/m/Reshape_1"`
  int64_t opset() const { return opset_; }
  Graph& graph() { return scope_.graph(); }
  Scope& scope() { return scope_; }
  Tracer& tracer() { return tracer_; }

  // ---- inputs ----
  int num_inputs() const { return node_.input_size(); }
  bool has_input(int i) const { return i < node_.input_size() && !node_.input(i).empty(); }
  Value& value(int i);
  Node input(int i);  // a present tensor input, materialized
  std::optional<Node> optional_input(int i);
  // The input's value when known while tracing (tries a host evaluation first); nullptr otherwise.
  const Tensor* known(int i);
  // Like known(), but an error (naming `what`) when the value is not known.
  const Tensor& require_known(int i, const std::string& what);
  // Staged execution (Tracer::stage_op) of this op on inputs `inputs`, unless all of them are known:
  // nullopt then, or when staging is not possible (the converter computes known values instead).
  std::optional<std::vector<Node>> stage_op(const std::vector<int>& inputs, const StagedFunction& compute);
  std::vector<int64_t> require_ints(int i, const std::string& what);
  std::vector<double> require_doubles(int i, const std::string& what);
  // One known value (a scalar or a one-element tensor); an error naming `what` otherwise.
  int64_t require_int(int i, const std::string& what);
  double require_double(int i, const std::string& what);

  // ---- outputs ----
  int num_outputs() const { return node_.output_size(); }
  bool has_output(int i) const { return i < node_.output_size() && !node_.output(i).empty(); }
  void set_output(int i, Node n);
  void set_known(int i, Tensor t);
  void set_value(int i, Value v);
  bool output_set(int i) const { return size_t(i) < set_.size() && set_[size_t(i)]; }

  // ---- attributes ----
  const ::onnx::AttributeProto* attr(const std::string& name) const;
  bool has_attr(const std::string& name) const { return attr(name) != nullptr; }
  int64_t attr_int(const std::string& name, int64_t def) const;
  std::optional<int64_t> attr_int_opt(const std::string& name) const;
  double attr_float(const std::string& name, double def) const;
  std::string attr_string(const std::string& name, const std::string& def = "") const;
  std::vector<int64_t> attr_ints(const std::string& name, std::vector<int64_t> def = {}) const;
  std::vector<float> attr_floats(const std::string& name, std::vector<float> def = {}) const;
  std::vector<std::string> attr_strings(const std::string& name) const;
  std::optional<Tensor> attr_tensor(const std::string& name) const;
  const ::onnx::GraphProto* attr_graph(const std::string& name) const;

  template <typename... Args>
  [[noreturn]] void fail(const Args&... args) const {
    throw Error(describe() + ": " + detail::concat(args...));
  }

 private:
  Tracer& tracer_;
  Scope& scope_;
  const ::onnx::NodeProto& node_;
  std::string name_;
  int64_t opset_;
  std::vector<bool> set_;
};

// ---- helpers shared by converters ----------------------------------------------------------------------
// ONNX axis attribute -> [0, rank)
int normalize_axis(const OpContext& c, int64_t axis, int rank);
std::vector<int64_t> normalize_axes(const OpContext& c, std::vector<int64_t> axes, int rank);
// The graft dtype of an ONNX element-type attribute (Cast's `to`, ...); an error naming the op otherwise.
DType onnx_dtype_attr(const OpContext& c, int64_t onnx_type);
// A rank-0 host tensor of `dtype` holding `v`.
Tensor known_scalar_tensor(DType dtype, double v);

}  // namespace graft::onnx
