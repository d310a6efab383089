#pragma once
// The CPU backend's own fused forms. Its fusion passes rewrite the optimized graph into a lowered copy in
// which some chains of ops become one op the CPU kernels run at once. Each such op is a composite with a
// name and data only this backend reads (CustomCompositeParams::data) and a decomposition back into the
// primitives it replaced, so the public IR holds nothing CPU-specific and a lowered graph still means
// what it says. The forms:
//   cpu.elementwise   a chain of element-wise ops, compiled into one register program (fusion.cpp)
//   cpu.product       DotGeneral + bias add [+ gelu] [+ residual], with oneDNN post-ops (matmul_epilogue.cpp)
//   cpu.convolution   Convolution + bias [+ residual] [+ clamp] (conv_epilogue.cpp)
//   cpu.attention     q kᵀ -> scale -> mask -> softmax -> · v with transposes folded (attention_fusion.cpp)
//   cpu.quantized_product  an int32 product of 8-bit operands minus a zero point [-> f32 -> · scale
//                     [+ bias [-> gelu]] [+ residual]], on oneDNN's int8 matmul (quantized_product.cpp)
//   cpu.quantize      f32 -> u8/s8 by a scalar scale and zero point, rounded and saturated (quantized_product.cpp)
//   cpu.min_max       the full f32 Min and Max reductions of one tensor in one pass (DynamicQuantizeLinear's
//                     range; quantized_product.cpp)
#include <any>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "backend/cpu/elementwise_program.h"
#include "graft/graph/ops.h"

namespace graft::cpu {

// y = act(dot + bias) [+ residual]: input 2 is a bias of the last output axis's extent, added before the
// activation; input 3, when has_residual, a tensor of the output's shape added last.
struct ProductEpilogue {
  static constexpr const char* kName = "cpu.product";
  enum class Activation : uint8_t { None, GeluErf, GeluTanh };
  DotGeneralAttrs dot;
  Activation activation = Activation::None;
  bool has_residual = false;
};

// y = clamp((conv + bias) + residual): inputs x, w, then a bias [O] when has_bias, then a tensor of the
// output's shape when has_residual; the clamp is Min(Max(., clip_lo), clip_hi) with graft's
// NaN-propagating Max/Min (the defaults clamp nothing).
struct ConvolutionEpilogue {
  static constexpr const char* kName = "cpu.convolution";
  // y · gate(y) after everything else, as the ONNX importer writes HardSwish (y · clamp(y / 6 + 0.5, 0, 1))
  // and exporters write SiLU (y · Logistic(y)).
  enum class Gate { None, HardSwish, Swish };
  ConvolutionAttrs conv;
  bool has_bias = false;
  bool has_residual = false;
  double clip_lo = -std::numeric_limits<double>::infinity();
  double clip_hi = std::numeric_limits<double>::infinity();
  Gate gate = Gate::None;  // only without a clamp (the kernel applies the clamp by hand, after the primitive)
  int residual_input() const { return has_residual ? (has_bias ? 3 : 2) : -1; }
};

// A chain of element-wise ops as one register program over its external operands.
struct ElementwiseGroup {
  static constexpr const char* kName = "cpu.elementwise";
  std::shared_ptr<const EwProgram> program;
};

// Inputs q_src, k_src, v_src[, mask]: q = Transpose(q_src, q_perm) [B, H, S, D], k likewise [B, H, T, D],
// v [B, H, T, Dv]; the result [B, H, S, Dv] is written transposed by out_perm.
struct FusedAttention {
  static constexpr const char* kName = "cpu.attention";
  bool has_mask = false;
  std::vector<int64_t> q_perm, k_perm, v_perm, out_perm;
  double scale = 1.0;
};

// y = ((a - a_zero_point) · w) [-> f32 · scale [+ bias [-> gelu]] [+ residual]]: a [..., K] u8 or s8 (rows
// contiguous), a_zero_point an int32 scalar (input 1, when has_zero_point), w [K, N] s8, then the scale (f32, a
// scalar or [N]) when has_scale, then a bias [N] when has_bias, then a residual of the result's shape when
// has_residual. The result is int32 without a scale, f32 with one. The bias, activation and residual (only with
// a scale) are the f32 epilogue of cpu.product, applied by oneDNN as post-ops after the scale.
struct QuantizedProduct {
  static constexpr const char* kName = "cpu.quantized_product";
  bool has_zero_point = false;
  bool has_scale = false;
  bool has_bias = false;
  ProductEpilogue::Activation activation = ProductEpilogue::Activation::None;
  bool has_residual = false;
  int weight_input() const { return has_zero_point ? 2 : 1; }
  int scale_input() const { return weight_input() + 1; }
  int bias_input() const { return scale_input() + 1; }
  int residual_input() const { return bias_input() + (has_bias ? 1 : 0); }
};

// y = Convert(Clamp(Round(x / scale) [+ zero_point], lo, hi), out): QuantizeLinear's and DynamicQuantizeLinear's
// rounding of an f32 tensor x by an f32 scalar scale (input 1) and zero point (input 2, when has_zero_point),
// saturated to the range [lo, hi] of `out` (u8 or s8), in one pass. NaN quantizes to 0, as Convert does.
struct Quantize {
  static constexpr const char* kName = "cpu.quantize";
  bool has_zero_point = false;
  DType out = DType::U8;
};

// Outputs: Reduce(x, Min, all axes), Reduce(x, Max, all axes) of one f32 operand (NaN in x: both NaN).
struct MinMax {
  static constexpr const char* kName = "cpu.min_max";
};

// The form `op` is, or null when it is not that form.
template <typename Form>
const Form* lowered_form(const Op& op) {
  if (op.kind != OpKind::Composite) return nullptr;
  const auto* p = std::get<CompositeAttrs>(op.attrs).get_if<CustomCompositeParams>();
  if (!p || p->name != Form::kName) return nullptr;
  return std::any_cast<Form>(&p->data);
}

// Records a fused form over `inputs` with known result types; `decompose` rebuilds what it replaced.
template <typename Form>
std::vector<Node> record_lowered(Form form, std::vector<Node> inputs, std::vector<ValueType> types,
                                 CompositeAttrs::Decompose decompose) {
  CustomCompositeParams p;
  p.name = Form::kName;
  p.data = std::move(form);
  return Composite(std::move(p), std::move(inputs), std::move(decompose), std::move(types));
}

}  // namespace graft::cpu
