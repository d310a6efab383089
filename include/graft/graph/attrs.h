#pragma once
// Attributes of each primitive: one plain struct per op kind that needs them, held in a variant. They say
// what an op computes, nothing about how a backend runs it (fused forms are each backend's own business).
#include <functional>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "graft/core/tensor.h"
#include "graft/graph/composites.h"
#include "graft/graph/op_kind.h"

namespace graft {

class Graph;
class Node;

struct NoAttrs {};
struct ParameterAttrs { int index = 0; std::string name; };
struct ConstantAttrs { Tensor value; };
struct IotaAttrs { int axis = 0; };
struct BroadcastInDimAttrs { std::vector<int64_t> dims; };  // operand axis i becomes output axis dims[i]
struct TransposeAttrs { std::vector<int64_t> perm; };      // output axis i is operand axis perm[i]
struct SliceAttrs { std::vector<int64_t> starts, limits, strides; };  // strides may be negative? no: see Reverse
struct DynamicSliceAttrs { std::vector<int64_t> sizes; };   // start indices are scalar inputs, clamped
struct ConcatenateAttrs { int axis = 0; };
enum class PadMode : uint8_t { Constant, Reflect, Edge, Wrap };
struct PadAttrs { std::vector<int64_t> low, high; PadMode mode = PadMode::Constant; };  // negative = crop
// The meaning of Pad along one axis of extent d: for each output position, the source position in the
// operand, or -1 where the pad value goes. Reflect mirrors without repeating the edge, Edge repeats it,
// Wrap is periodic. Kernels and gradient rules both use this one definition.
std::vector<int64_t> pad_source_map(int64_t d, int64_t lo, int64_t hi, PadMode mode);
struct ReverseAttrs { std::vector<int64_t> axes; };

// XLA's gather: for each index vector in `indices`, a slice of `slice_sizes` is taken from the operand at
// the start given by the index vector's components (mapped to operand axes by start_index_map).
// A start that puts the slice outside the operand is an error at run time (naming the index), not clamped.
struct GatherAttrs {
  std::vector<int64_t> offset_dims, collapsed_slice_dims, start_index_map, slice_sizes;
  int64_t index_vector_dim = 0;
};
// XLA's scatter, with a combiner. An update whose window falls outside the operand is an error at run time
// (naming the index), as for Gather; nothing is clamped or skipped.
struct ScatterAttrs {
  std::vector<int64_t> update_window_dims, inserted_window_dims, scatter_dims_to_operand_dims;
  int64_t index_vector_dim = 0;
  ReduceOp combiner = ReduceOp::Replace;
};
struct ReduceAttrs { ReduceOp op = ReduceOp::Sum; std::vector<int64_t> axes; };  // reduced axes are removed
struct ArgMinMaxAttrs { int axis = 0; bool is_min = false; bool select_last = false; };
// Output axes: batch dims, then lhs free dims, then rhs free dims (XLA's dot_general).
struct DotGeneralAttrs {
  std::vector<int64_t> lhs_batch, rhs_batch, lhs_contract, rhs_contract;
};
// N-d convolution over [N, C, spatial...] inputs with [O, C/groups, k...] kernels (ONNX layout).
// Transposed: kernel [C, O/groups, k...], output size (in-1)*stride - pad_lo - pad_hi + dil*(k-1) + 1 + out_pad.
struct ConvolutionAttrs {
  std::vector<int64_t> strides, pad_low, pad_high, dilations, output_padding;
  int64_t groups = 1;
  bool transposed = false;
};
// A window reduction over every axis (window 1 on axes that are not pooled).
struct ReduceWindowAttrs {
  ReduceOp op = ReduceOp::Max;  // Max, Min, Sum, or Mean (average pooling)
  std::vector<int64_t> window, strides, dilations, pad_low, pad_high;
  bool count_include_pad = false;  // for Mean
};
struct SortAttrs { int axis = -1; bool descending = false; bool stable = true; };  // sorts all inputs by input 0
struct TopKAttrs { int64_t k = 1; int axis = -1; bool largest = true; bool sorted = true; };
struct CumulativeAttrs { int axis = 0; ReduceOp op = ReduceOp::Sum; bool exclusive = false; bool reverse = false; };
// Control flow: sub-graphs whose Parameters take the operands, in order.
struct IfAttrs { std::shared_ptr<Graph> then_branch, else_branch; };
struct WhileAttrs { std::shared_ptr<Graph> cond, body; };

// A composite op (graft/graph/composites.h): its typed parameters say what it computes. Built-in composites
// are decomposed from their parameters (Decompose in graft/graph/ops.h); a user composite carries its
// decomposition as a function. Backends may run a composite with a fused kernel of their own instead.
struct CompositeAttrs {
  using Decompose = std::function<std::vector<Node>(std::span<const Node> inputs)>;
  CompositeParams params;
  Decompose decompose;  // CompositeKind::Custom only

  CompositeKind kind() const { return CompositeKind(params.index()); }
  std::string_view name() const;  // "layer_norm", or a user composite's own name
  template <typename P>
  const P* get_if() const { return std::get_if<P>(&params); }
};

using Attrs = std::variant<NoAttrs, ParameterAttrs, ConstantAttrs, IotaAttrs, BroadcastInDimAttrs, TransposeAttrs,
                           SliceAttrs, DynamicSliceAttrs, ConcatenateAttrs, PadAttrs, ReverseAttrs, GatherAttrs,
                           ScatterAttrs, ReduceAttrs, ArgMinMaxAttrs, DotGeneralAttrs, ConvolutionAttrs,
                           ReduceWindowAttrs, SortAttrs, TopKAttrs, CumulativeAttrs, IfAttrs, WhileAttrs,
                           CompositeAttrs>;

}  // namespace graft
