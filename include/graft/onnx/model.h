#pragma once
// ONNX import: load a .onnx file (external data included), describe its inputs and outputs, and trace it
// into a graft Graph with concrete input shapes. InferenceSession (graft/onnx/session.h) runs it;
// graft/train/onnx_bridge.h makes its weights trainable context variables.
//
//   auto model = graft::onnx::Model::load("model.onnx");
//   graft::Graph g;
//   graft::Node ids = g.parameter("input_ids", graft::DType::I64, {1, 7});
//   auto out = model.call(g, {{"input_ids", ids}, ...}, {"last_hidden_state"});
#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "graft/backend/backend.h"
#include "graft/core/tensor.h"
#include "graft/graph/graph.h"
#include "graft/graph/passes.h"
#include "graft/onnx/external_data.h"

namespace graft::onnx {

// One axis of a declared input/output: a fixed extent, a named symbol ("batch"), or unknown.
struct Dim {
  int64_t value = -1;  // >= 0 when fixed
  std::string symbol;  // set for symbolic axes
  bool is_fixed() const { return value >= 0; }
  std::string str() const;  // "384", "batch" or "?"
};

// A declared graph input or output.
struct ValueInfo {
  std::string name;
  std::string type;              // "tensor(float)", "seq(tensor(int64))", ...
  std::optional<DType> dtype;    // for tensors of a dtype graft supports
  std::optional<std::vector<Dim>> dims;  // unset when the rank is unknown
  std::string doc;
  std::string str() const;  // "input_ids: int64[batch, sequence]"
};

struct OpsetImport {
  std::string domain;  // "" is the default domain ai.onnx
  int64_t version = 0;
};

// An op that has no converter for the model's opset, with every node that uses it.
struct UnsupportedOp {
  std::string domain, op_type;
  int64_t opset = 0;
  std::vector<std::string> nodes;  // node names (or "#index" when unnamed)
  std::string str() const;
};

// How Model::load treats the files beside the model.
struct LoadOptions {
  // External data. Locations must be relative and must not name a path outside the model's folder
  // (absolute paths and '..' are always refused). A data file that is a symlink must also resolve inside
  // the folder, or, for a model in a Hugging Face cache snapshot, inside the repo's blobs/, unless this
  // is set: then a symlink may point anywhere (a folder of links to weights kept elsewhere), as ONNX
  // Runtime allows. Off by default so that an unpacked archive cannot make a model read arbitrary files.
  bool allow_external_symlinks = false;
};

// How a trace turns initializers into nodes. Default: graph constants. A training context hooks this to
// make trainable float initializers variables.
using InitializerHook = std::function<Node(Graph& graph, const std::string& name, const Tensor& value)>;

struct TraceOptions {
  InitializerHook initializer;
  // How values known while tracing (shape arithmetic, small constant tables, staged values) are computed:
  // one op at a time on host tensors. The importer itself never compiles or runs a backend; this is the
  // only way it evaluates anything. Empty: nothing is evaluated, so only models whose shapes need no
  // computed values trace.
  OpEvaluator evaluate = host_evaluator();
  // Inputs the caller binds by value (a Reshape target fed as an input): traced as constants.
  std::map<std::string, Tensor> constant_inputs;
  // Training-mode semantics: Dropout drops (inverted dropout with a mask drawn from a counter-based hash of
  // `seed`, the node and the element index, so a trace is deterministic for a seed; vary the seed per step),
  // BatchNormalization normalizes with batch statistics and updates its running mean/var outputs.
  bool training = false;
  uint64_t seed = 0;
  // Optional: a uint64 scalar node of the traced graph mixed into `seed` (feed the step number here so one
  // compiled train step draws a fresh dropout mask every step).
  std::optional<Node> seed_node;
  // Optional: a uint64 scalar node that changes every run (InferenceSession feeds a run counter).
  // Random ops without a `seed` attribute mix it in, so one compiled model draws fresh values per run,
  // as ONNX Runtime does; ops inside control-flow bodies draw per trace instead.
  std::optional<Node> run_counter;
  // Staged tracing: the run-time values of the graph inputs bound as parameters. When a converter needs
  // the value of something computed from them (NonZero's input, a Reshape target derived from an input,
  // a Loop trip count), the prefix that computes it runs on these values now, the result is traced as
  // known, and TraceResult::guards records the assumption. InferenceSession sets this.
  const std::map<std::string, Tensor>* runtime_inputs = nullptr;
  // Staged tracing again after a later stage's shapes changed: values of ops of the traced graph already
  // computed on this run (by op index; the trace must be the same up to them, which it is for the same
  // inputs and stage shapes), so the prefixes are not evaluated a second time.
  const std::map<int, std::vector<Tensor>>* stage_values = nullptr;
  // Graph inputs that are not tensors: sequences (their elements bound to nodes of the graph) and absent
  // optionals. A present optional tensor is bound like a tensor.
  std::map<std::string, std::vector<Node>> sequence_inputs;
  std::vector<std::string> absent_inputs;
  // Main-graph Constant nodes (by output name) traced like initializers: their tensor goes through
  // `initializer` (named by the output) instead of becoming a known value. graft/train/onnx_bridge.h lifts
  // weights that exporters keep in Constant nodes into trainable variables this way.
  std::set<std::string> lifted_constants;
};

// A value a staged trace assumed: `node` (in the traced graph) computed `value` from the run-time inputs.
// The trace is valid for other inputs of the same shapes exactly when `node` gives `value` again;
// InferenceSession compiles the prefixes of all of an entry's guards into one executable to check that.
// `first_op` and `sequence` place the assumption in the trace: ops from index `first_op` on were traced
// knowing it, and `sequence` orders guards and staged ops (StagedOp) as they were recorded.
struct StageGuard {
  Node node;
  Tensor value;
  std::string what;  // the op and operand that needed it
  int first_op = 0;
  int sequence = 0;
};

// The host computation of an op whose output shapes depend on its operands' values (NonZero, Compress,
// NonMaxSuppression): outputs from operand values. It must hold everything else it needs (attributes,
// thresholds) by value: a session keeps it and calls it on later runs.
using StagedFunction = std::function<std::vector<Tensor>(const std::vector<Tensor>& operands)>;

// Staged execution: an op of that kind whose operands are computed from the run-time inputs. The trace does
// not bake its result in: `results` are parameters of the traced graph (of the shapes this run gave) and
// the op itself is `compute`, run between compiled stages on every run (InferenceSession). A later run
// reuses the traced stages when `compute` gives results of the same dtypes and shapes; their values are
// inputs of the next stage.
struct StagedOp {
  std::vector<Node> operands;  // in the traced graph
  std::vector<Node> results;   // parameters of the traced graph standing for the outputs
  std::vector<Tensor> values;  // what `compute` gave on the traced run
  StagedFunction compute;
  std::string what;  // the op
  int first_op = 0;  // the index of the first result parameter
  int sequence = 0;
};

struct TraceResult {
  std::map<std::string, Node> outputs;
  std::map<std::string, Node> initializers;  // initializer name -> the node that stands for it
  std::vector<StageGuard> guards;             // staged values assumed (TraceOptions::runtime_inputs)
  std::vector<StagedOp> staged_ops;           // ops run between stages (TraceOptions::runtime_inputs)
  // Requested outputs that are sequences (their elements, in order) or absent optionals; every other
  // requested output is in `outputs`.
  std::map<std::string, std::vector<Node>> sequence_outputs;
  std::vector<std::string> absent_outputs;
  // Training-mode state: initializer name -> the node of its new value (BatchNormalization's running
  // mean/var read straight from initializers). A train step writes these back to the initializers' variables.
  std::map<std::string, Node> state_updates;
  // Staged tracing: the values of main-graph ops computed on the run-time inputs while tracing (the prefixes
  // of staged ops and guards, the staged ops' results, and TraceOptions::stage_values), by op index. A
  // session takes a new stage's values from here on the run that traced it instead of computing them again.
  std::map<int, std::vector<Tensor>> stage_values;
};

class Model {
 public:
  struct Impl;

  // Parses `path`; external-data files are resolved relative to its folder and mapped on first use.
  static Model load(const std::filesystem::path& path, const LoadOptions& options = {});
  // Parses a serialized ModelProto; `base_dir` is where external data is looked up (none when empty);
  // `what` names the buffer in errors.
  static Model from_bytes(std::string_view bytes, std::filesystem::path base_dir = {},
                          std::string what = "<memory>", const LoadOptions& options = {});

  const std::string& source() const;  // the path or `what` it was loaded from
  // Graph inputs that need a value (initializers that are also listed as inputs are excluded).
  const std::vector<ValueInfo>& inputs() const;
  const std::vector<ValueInfo>& outputs() const;
  const std::vector<OpsetImport>& opsets() const;
  int64_t opset(std::string_view domain = "") const;  // 0 when not imported
  int64_t ir_version() const;
  std::string producer() const;  // "pytorch 2.1.0"
  std::map<std::string, std::string> metadata() const;

  // Initializers of the main graph, in declaration order, and their values (external data is read here).
  std::vector<std::string> initializer_names() const;
  Tensor initializer(const std::string& name) const;
  int64_t parameter_count() const;  // elements over all float initializers
  // The external-data files the initializers name (sub-graphs included), in order of first use, with
  // whether each is present. Nothing is read or mapped.
  std::vector<ExternalDataFile> external_data_files() const;
  // node count by "domain::op_type" (default domain without prefix), sub-graphs included
  std::map<std::string, int> op_histogram() const;
  // Every op without a converter for this model's opsets, sub-graphs included.
  std::vector<UnsupportedOp> unsupported_ops() const;

  // Records the model into `graph` with `inputs` bound to graph inputs by name, returning the requested
  // outputs (all graph outputs when empty). Shapes are concrete; shape computations are done here.
  TraceResult trace(Graph& graph, const std::map<std::string, Node>& inputs,
                    const std::vector<std::string>& output_names = {}, const TraceOptions& options = {}) const;
  // The model as a function inside a larger graph: trace() returning the outputs only.
  std::map<std::string, Node> call(Graph& graph, const std::map<std::string, Node>& inputs,
                                   const std::vector<std::string>& output_names = {},
                                   const TraceOptions& options = {}) const;

  // Names that default-domain nodes of `op_type` read at the given input positions, sub-graphs included
  // (which initializers feed BatchNormalization's running statistics, say).
  std::set<std::string> inputs_of(std::string_view op_type, std::initializer_list<int> positions) const;

  // Values of the main graph that no node reads as data (src/onnx/value_uses.cpp): every use only reads
  // their shape (Shape, Size), or their value only decides shapes, indices or control flow (Reshape's shape,
  // Slice's starts, Expand/Tile/Pad/Resize/Squeeze/Unsqueeze/Split/TopK/Reduce* shape operands, gather
  // indices, If/Loop conditions, Dropout's ratio), directly or through ops whose results are used only so or
  // are not differentiable (Cast to an integer type, comparisons, ArgMax, NonZero); unused ones too. Graph
  // outputs and names read inside sub-graphs are data. Initializers in this set have no gradient and must
  // stay constants, since tracing may need their values.
  std::set<std::string> shape_only_values() const;
  // Outputs of the main graph's Constant nodes that hold a tensor (a `value` attribute), in node order, and
  // the tensor one holds.
  std::vector<std::string> constant_node_outputs() const;
  Tensor constant_node_value(const std::string& output) const;

  // The model as ONNX bytes (metadata, doc strings and unknown fields kept as they were parsed).
  std::string serialize() const;

  // What the model holds (src/onnx/model_impl.h): the parsed protobuf, the external-data store, indexes.
  const std::shared_ptr<Impl>& impl() const { return impl_; }

 private:
  explicit Model(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  friend Model model_from_impl(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

// One row of the converter table: `op_type` of `domain` ("" is ai.onnx) for opsets since..until.
struct SupportedOp {
  std::string domain, op_type;
  int since = 1;
  int until = 0;  // 0: up to the newest opset graft knows (kMaxOpset)
  std::string note;
};
inline constexpr int kMaxOpset = 23;
std::vector<SupportedOp> supported_ops();

// Thrown while tracing when an op needs the *value* of a graph input to fix a shape (a Reshape target
// fed as an input). InferenceSession catches it and specializes on that input's value.
class NeedsInputValue : public Error {
 public:
  NeedsInputValue(std::string input, const std::string& what) : Error(what), input_(std::move(input)) {}
  const std::string& input() const { return input_; }

 private:
  std::string input_;
};

}  // namespace graft::onnx
