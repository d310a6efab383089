#pragma once
// Finds integer products of 8-bit operands — what ONNX MatMulInteger imports as: DotGeneral(Convert(a, i32)
// [- a_zero_point], w as int32) — with the Convert to f32 and the scale Mul that usually follow, and
// replaces each by one cpu.quantized_product op (QuantizedProduct, backend/cpu/lowered.h) that oneDNN's int8
// matmul runs, the zero point and scale applied inside it.
#include "graft/graph/graph.h"

namespace graft::cpu {

Graph fuse_quantized_products(const Graph& g, int* fused);

// DynamicQuantizeLinear's range: a full f32 ReduceMin and ReduceMax of the same value become one cpu.min_max
// op (MinMax), one pass over the data instead of two.
Graph fuse_min_max(const Graph& g, int* fused);

}  // namespace graft::cpu
