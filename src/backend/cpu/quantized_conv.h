#pragma once
// Finds convolutions of dequantized 8-bit activations by int8-representable constant weights — what a QDQ
// Conv (DequantizeLinear(x_q), DequantizeLinear(w_q) -> Conv), ONNX QLinearConv and ConvInteger import as —
// and replaces each, with the epilogue conv_epilogue.cpp gathered (bias, residual, clamp), by one
// cpu.quantized_conv op (QuantizedConvolution) that oneDNN's int8 convolution runs.
//
// The forms matched (T = f32, or f64 for ConvInteger's exact import):
//   Convolution(lhs, W) or cpu.convolution(lhs, W, [bias], [residual]) [clamp], f32:  y = f32 result
//   Convert(Convolution(lhs, W), i32), f64:                                            y = int32 result
// with lhs = Convert(x8, T) [- zero_point] [· x_scale] (x8 u8 or s8; zero point a scalar of any producer,
// holding an integer; x_scale a constant scalar) and W a constant whose every output channel is q · s_c with
// q integer in [-128, 127]: exactly integers (s_c = 1: ConvInteger, centered u8 weights) or a grid of the
// channel's largest magnitude in k steps (s_c = max|w| / k, k = 127, 128, ..., 1: what per-channel or
// per-tensor symmetric quantization writes and constant folding of DequantizeLinear(w_q) leaves), recognized
// only when every weight is on that grid (to 1e-4 of a step), so the int8 convolution computes what the graph
// says up to f32 rounding. ConvInteger's integer weights that span at most 256 values per output channel but do
// not fit int8 (u8 weights with a zero point other than 128) are shifted into int8 by a per-channel offset the
// kernel corrects for (weight_offsets). Anything else stays the f32 (or exact f64) convolution.
#include <limits>
#include <vector>

#include "graft/graph/graph.h"

namespace graft::cpu {

// y = clamp(scales[o] · ((x - zero_point) conv w) + bias[o] + residual): inputs x (u8/s8 [N, C, spatial...]),
// then the zero point (a scalar of any numeric type holding an integer) when has_zero_point, w (s8
// [O, C/G, k...], constant; plus weight_offsets), a bias [O] (f32) when has_bias, a residual of the output's shape when
// has_residual. `scales` has one value per output channel (or one). The result is f32, int32 (no scale,
// bias, residual or clamp) for ConvInteger, or u8/s8 when a following QuantizeLinear was absorbed.
struct QuantizedConvolution {
  static constexpr const char* kName = "cpu.quantized_conv";
  ConvolutionAttrs conv;
  bool has_zero_point = false;
  std::vector<float> scales;
  bool has_bias = false, has_residual = false;
  // The result requantized (QuantizeLinear absorbed, no residual): round(y / out_scale) + out_zero_point,
  // saturated to out_type (u8/s8). out_scale 0: y itself, f32 (or int32).
  double out_scale = 0;
  int out_zero_point = 0;
  DType out_type = DType::F32;
  double clip_lo = -std::numeric_limits<double>::infinity(), clip_hi = std::numeric_limits<double>::infinity();
  // ConvInteger only (int32 result): the weights are w + weight_offsets[o] — u8 weights minus a zero point
  // other than 128 span 256 integers that int8 cannot hold centered at 0, so w is shifted per output
  // channel into int8 and the kernel adds weight_offsets[o] · (window sum of x - zero_point) to oneDNN's
  // int8 result. Empty: no offsets.
  std::vector<int32_t> weight_offsets;
  int weight_input() const { return has_zero_point ? 2 : 1; }
  int bias_input() const { return has_bias ? weight_input() + 1 : -1; }
  int residual_input() const { return has_residual ? weight_input() + 1 + (has_bias ? 1 : 0) : -1; }
};

Graph fuse_quantized_convolutions(const Graph& g, int* fused);

// QDQ MatMul / Gemm: an f32 product of dequantized 8-bit activations [..., K] by constant weights [K, N] on
// an int8 grid per column (the same recognition as above) is rewritten into the exact int32 product + f32
// scale that MatMulInteger imports as, for fuse_quantized_products (quantized_product.cpp) to run on
// oneDNN's int8 matmul. Runs before it.
Graph canonicalize_qdq_products(const Graph& g, int* rewritten);

class KernelRegistry;
void register_quantized_conv_kernels(KernelRegistry& r);  // kernels/quantized_conv.cpp

}  // namespace graft::cpu
