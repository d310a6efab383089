#pragma once
// The builder API: free functions over Node handles that record ops into the nodes' Graph, inferring
// output shapes and dtypes and checking operands. Errors name the op, the node and the shapes.
//
//   Graph g;
//   Node x = g.parameter("x", DType::F32, {2, 3});
//   Node y = Softmax(MatMul(x, Transpose(x, {1, 0})) + 1.0, -1);
#include <functional>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "graft/graph/graph.h"

namespace graft {

using Axes = std::vector<int64_t>;

// ---- sources ----------------------------------------------------------------------------------------
Node Iota(Graph& g, DType dtype, Shape shape, int axis);
Node Full(Graph& g, DType dtype, Shape shape, double value);  // a scalar constant broadcast to `shape`
Node Zeros(Graph& g, DType dtype, Shape shape);
Node ScalarLike(Node like, double value);  // rank-0 constant of like's dtype

// ---- element-wise -------------------------------------------------------------------------------------
// Unary ops keep the operand's type; IsNan/IsInf/Not return bool. Logistic is 1 / (1 + exp(-x)).
// Round is round-half-to-even.
#define GRAFT_DECLARE_UNARY(name) Node name(Node x);
GRAFT_UNARY_OPS(GRAFT_DECLARE_UNARY)
#undef GRAFT_DECLARE_UNARY

// Binary ops broadcast NumPy-style; both operands must have the same dtype (use Convert). Comparisons
// return bool. Div on integers truncates toward zero; Rem has the sign of the dividend (C fmod), Fmod is
// the same for floats; Pow of integers is exact integer power.
#define GRAFT_DECLARE_BINARY(name) Node name(Node a, Node b);
GRAFT_BINARY_OPS(GRAFT_DECLARE_BINARY)
#undef GRAFT_DECLARE_BINARY

Node Select(Node pred, Node on_true, Node on_false);  // broadcasting, pred is bool
Node Clamp(Node x, Node lo, Node hi);                 // Min(Max(x, lo), hi)
// ONNX Cast rules: float->int truncates toward zero and saturates at the type's range (NaN -> 0);
// int->int wraps (two's complement); anything->bool is "!= 0"; float->f16/bf16 rounds to nearest even.
Node Convert(Node x, DType dtype);
Node StopGradient(Node x);

Node operator+(Node a, Node b);
Node operator-(Node a, Node b);
Node operator*(Node a, Node b);
Node operator/(Node a, Node b);
Node operator-(Node a);
Node operator+(Node a, double b);
Node operator-(Node a, double b);
Node operator*(Node a, double b);
Node operator/(Node a, double b);
Node operator+(double a, Node b);
Node operator-(double a, Node b);
Node operator*(double a, Node b);
Node operator/(double a, Node b);

// ---- shape -------------------------------------------------------------------------------------------
Node BroadcastInDim(Node x, Shape shape, Axes dims);
Node BroadcastTo(Node x, Shape shape);  // NumPy rules
// `dims` may hold one -1 (inferred) and 0 means "copy that axis from x" only when allow_zero is false.
Node Reshape(Node x, std::vector<int64_t> dims);
Node Transpose(Node x, Axes perm);
Node ExpandDims(Node x, int axis);
Node Squeeze(Node x, Axes axes);  // empty: every axis of extent 1
// Positive strides; starts/limits are already in range. See SliceAxis for Python-style slicing.
Node Slice(Node x, Axes starts, Axes limits, Axes strides = {});
// Python semantics on one axis: negative indices count from the end, out-of-range bounds clamp,
// negative steps walk backwards (x[start:end:step]).
Node SliceAxis(Node x, int axis, std::optional<int64_t> start, std::optional<int64_t> end, int64_t step = 1);
// Start indices are scalar integer nodes, clamped so the slice stays inside x (XLA semantics).
Node DynamicSlice(Node x, std::vector<Node> starts, Axes sizes);
Node DynamicUpdateSlice(Node x, Node update, std::vector<Node> starts);
Node Concatenate(std::vector<Node> xs, int axis);
// Negative pads crop. Reflect excludes the edge (NumPy "reflect"), Edge repeats it, Wrap is periodic.
Node Pad(Node x, Axes low, Axes high, PadMode mode = PadMode::Constant, std::optional<Node> value = std::nullopt);
Node Reverse(Node x, Axes axes);

// ---- indexing ----------------------------------------------------------------------------------------
Node Gather(Node operand, Node indices, GatherAttrs attrs);
Node Scatter(Node operand, Node indices, Node updates, ScatterAttrs attrs);
// NumPy take / ONNX Gather: out = x[..., indices, ...] along `axis`; negative indices count from the end.
Node Take(Node x, Node indices, int axis);
// ONNX GatherElements / torch.gather, and its inverse ScatterElements with a combiner.
Node TakeAlongAxis(Node x, Node indices, int axis);
Node ScatterAlongAxis(Node x, Node indices, Node updates, int axis, ReduceOp combiner = ReduceOp::Replace);

// ---- reductions, sorting, scans ----------------------------------------------------------------------
Node Reduce(Node x, ReduceOp op, Axes axes, bool keepdims = false);  // empty axes: all
Node ReduceSum(Node x, Axes axes = {}, bool keepdims = false);
Node ReduceMean(Node x, Axes axes = {}, bool keepdims = false);
Node ReduceMax(Node x, Axes axes = {}, bool keepdims = false);
Node ReduceMin(Node x, Axes axes = {}, bool keepdims = false);
Node ReduceProd(Node x, Axes axes = {}, bool keepdims = false);
Node ReduceAll(Node x, Axes axes = {}, bool keepdims = false);
Node ReduceAny(Node x, Axes axes = {}, bool keepdims = false);
Node ArgMax(Node x, int axis, bool keepdims = false, bool select_last = false);  // int64
Node ArgMin(Node x, int axis, bool keepdims = false, bool select_last = false);
// Running combination along `axis` (Sum, Prod, Max, Min); exclusive shifts by one, reverse runs backwards.
Node Cumulative(Node x, int axis, ReduceOp op, bool exclusive = false, bool reverse = false);
Node CumSum(Node x, int axis, bool exclusive = false, bool reverse = false);
Node CumProd(Node x, int axis, bool exclusive = false, bool reverse = false);
// Sorts every operand along `axis` by the keys in operands[0] (stable). Returns the permuted operands.
std::vector<Node> Sort(std::vector<Node> operands, int axis = -1, bool descending = false, bool stable = true);
// Returns {values, int64 indices}; ties keep the lower index first.
std::pair<Node, Node> TopK(Node x, int64_t k, int axis = -1, bool largest = true);
Node ReduceWindow(Node x, ReduceWindowAttrs attrs);
// Pooling over the spatial axes of [N, C, spatial...] inputs.
Node MaxPool(Node x, Axes window, Axes strides = {}, Axes pad_low = {}, Axes pad_high = {}, Axes dilations = {});
Node AvgPool(Node x, Axes window, Axes strides = {}, Axes pad_low = {}, Axes pad_high = {},
             bool count_include_pad = false);

// ---- linear algebra ----------------------------------------------------------------------------------
// f16/bf16 operands accumulate in f32; int8/uint8 operands may produce int32 (out_dtype).
Node DotGeneral(Node lhs, Node rhs, DotGeneralAttrs attrs, std::optional<DType> out_dtype = std::nullopt);
// NumPy matmul: 1-d operands are promoted, batch axes broadcast.
Node MatMul(Node a, Node b);
Node Convolution(Node x, Node w, ConvolutionAttrs attrs);

// ---- control flow ------------------------------------------------------------------------------------
// The branches take `operands` as their Parameters and must produce outputs of the same types.
std::vector<Node> If(Node pred, const Graph& then_branch, const Graph& else_branch, std::vector<Node> operands);
// `cond` maps the state to a bool scalar, `body` maps the state to the next state.
std::vector<Node> While(const Graph& cond, const Graph& body, std::vector<Node> init);

// ---- composites (a node with a decomposition into the primitives above; see graft/graph/composites.h) ---
// A user composite: `decompose` builds it from primitives; `ints`/`floats` are free for the user's own
// kernels or passes to read (CustomCompositeParams).
Node Composite(std::string name, std::vector<Node> inputs, std::vector<int64_t> ints, std::vector<double> floats,
               CompositeAttrs::Decompose decompose);
// The general form: any number of outputs, data of its own; `types` when the caller knows the output
// types (otherwise the decomposition is built once to find them).
std::vector<Node> Composite(CustomCompositeParams params, std::vector<Node> inputs, CompositeAttrs::Decompose decompose,
                            std::optional<std::vector<ValueType>> types = std::nullopt);
// activation
Node Softmax(Node x, int axis = -1);
Node LogSoftmax(Node x, int axis = -1);
Node Gelu(Node x, bool tanh_approximation = false);
Node Silu(Node x);
// normalization: LayerNorm/RmsNorm normalize over the trailing axes from `axis` on; scale/bias broadcast
// against those axes.
Node LayerNorm(Node x, std::optional<Node> scale, std::optional<Node> bias, int axis = -1, double epsilon = 1e-5);
Node RmsNorm(Node x, std::optional<Node> scale, int axis = -1, double epsilon = 1e-6);
// [N, C, ...] inputs; scale/bias of shape [C].
Node GroupNorm(Node x, Node scale, Node bias, int64_t groups, double epsilon = 1e-5);
Node InstanceNorm(Node x, Node scale, Node bias, double epsilon = 1e-5);
Node BatchNormInference(Node x, Node scale, Node bias, Node mean, Node var, double epsilon = 1e-5);
// attention: q [.., Hq, Lq, D], k/v [.., Hkv, Lk, D] with Hq a multiple of Hkv (grouped-query attention).
// mask: bool (true = attend) or additive float, broadcast to [.., Hq, Lq, Lk]. scale defaults to 1/sqrt(D).
Node ScaledDotProductAttention(Node q, Node k, Node v, std::optional<Node> mask = std::nullopt,
                               bool causal = false, std::optional<double> scale = std::nullopt);
// recurrent: one RNN/GRU/LSTM layer's recurrences with the default activations, operands and results as
// RnnScanParams describes (Y..., last h..., last c..., one per direction).
std::vector<Node> RnnScan(const RnnScanParams& params, std::vector<Node> operands);
// One direction of such a recurrence unrolled step by step with any activations (f: the gate activation,
// then the candidate's, then the LSTM output's), for what rnn_scan does not cover. lens: [batch] int64.
// Returns {Y [seq, batch, hidden], last h, last c}.
using RecurrenceActivation = std::function<Node(Node)>;
std::vector<Node> UnrollRecurrence(const RnnScanParams& params, bool reverse,
                                   std::span<const RecurrenceActivation> activations, Node xp, Node rt, Node h0,
                                   Node c0, std::optional<Node> lens = std::nullopt,
                                   std::optional<Node> peepholes = std::nullopt,
                                   std::optional<Node> recurrent_bias = std::nullopt);

// ---- shape rules -------------------------------------------------------------------------------------
// Records `op` (an op of some graph) again over `inputs` (nodes of `g`; none for sources) through its
// builder, so its result types are inferred and its operands checked anew: a pass that changes operand
// types (autocasting products to bf16, say) rebuilds ops this way. The builder may simplify (a Reshape to
// the operand's own shape returns the operand). One rule per op kind: src/graph/shape_rules.cpp.
std::vector<Node> Rebuild(Graph& g, const Op& op, std::span<const Node> inputs);
// Whether op kind `k` has such a rule (the completeness test asks).
bool has_shape_rule(OpKind k);

// Expands a Composite node into primitives, returning the replacement outputs.
std::vector<Node> Decompose(Node composite);
// The same for a composite described by `attrs` over `inputs` (nodes of the graph to record into).
std::vector<Node> Decompose(const CompositeAttrs& attrs, std::span<const Node> inputs);

}  // namespace graft
