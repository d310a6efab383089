#pragma once
// What the quantized-op converters (quantization.cpp, contrib/quantization.cpp) share: the integer product
// in the canonical form the CPU backend runs on oneDNN's int8 matmul (backend/cpu/quantized_product.cpp),
// DynamicQuantizeLinear's arithmetic, and requantization of an f32 result to 8 bits.
#include "onnx/converter.h"

namespace graft::onnx {

// (v - zero_point) as int32, the zero point a scalar or a 1-D vector along the axis `per_axis_from_end`
// counts from the end (A's rows: 2, B's columns: 1).
Node centered_i32(OpContext& c, Node v, std::optional<Node> zp, int per_axis_from_end, const char* what);

// Convert((a - a_zp) · (b - b_zp), f32) · scale: the exact int32 product of 8-bit operands, then one f32 scale
// (a scalar or one per column), the form the CPU backend fuses into one int8 product.
Node scaled_integer_product(OpContext& c, Node a, std::optional<Node> a_zp, Node b, std::optional<Node> b_zp,
                            Node scale);

// A scalar or [1] scale/zero point as a scalar; a per-column [N] one stays [N].
Node per_tensor_or_column(OpContext& c, Node p, int64_t n, const char* what);

struct DynamicQuantized {
  Node q, scale, zero_point;  // u8, f32 scalar, u8 scalar
};
// DynamicQuantizeLinear: x (any float type) to u8 over its full range (widened to include 0).
DynamicQuantized dynamic_quantize(Node x);

// round(y / scale) + zero_point (round(y) + zero_point without a scale), saturated to the zero point's 8-bit
// type (ties to even, as ONNX Runtime's requantization). `scale` and `zero_point` broadcast against y.
Node requantize(OpContext& c, Node y, std::optional<Node> scale, Node zero_point);

}  // namespace graft::onnx
