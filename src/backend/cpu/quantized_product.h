#pragma once
// Finds integer products of 8-bit operands — what ONNX MatMulInteger imports as: DotGeneral(Convert(a, i32)
// [- a_zero_point], w as int32) — with the Convert to f32 and the scale Mul that usually follow, and
// replaces each by one cpu.quantized_product op (QuantizedProduct, backend/cpu/lowered.h) that oneDNN's int8
// matmul runs, the zero point and scale applied inside it.
#include "graft/graph/graph.h"

namespace graft::cpu {

// With `epilogues`, the bias add [and GELU] after the scale (matmul_epilogue.h's matcher) and a residual add
// of the result's shape go into the product too, as oneDNN post-ops.
Graph fuse_quantized_products(const Graph& g, bool epilogues, int* fused, int* with_epilogue);

// The activation quantization in front of those products — Convert(Clamp(Round(x / scale) + zero_point), u8),
// what DynamicQuantizeLinear (and a per-tensor QuantizeLinear) import as — becomes one cpu.quantize op
// (Quantize): one pass from f32 to 8 bits instead of an element-wise kernel writing f32 and a Convert reading
// it. It stays a value of its own, so the Q, K and V products reading one quantized activation share it.
Graph fuse_quantize(const Graph& g, int* fused);

// DynamicQuantizeLinear's range: a full f32 ReduceMin and ReduceMax of the same value become one cpu.min_max
// op (MinMax), one pass over the data instead of two.
Graph fuse_min_max(const Graph& g, int* fused);

}  // namespace graft::cpu
