#pragma once
// MatMulNBits weights small enough to keep in f32 (CompileOptions::nbits_dequantize_max_bytes) are dequantized
// once, here, at compile time: the onnx.matmul_nbits composite becomes MatMul(A, W) [+ bias] with W an f32
// constant, which then runs as every f32 product does (prepacked weights, bias and GELU fused by the matmul
// epilogue pass). Larger weights stay packed and the kernel dequantizes them panel by panel inside the product
// (kernels/matmul_nbits.cpp): their f32 form is what a 4-bit model exists to avoid holding. Measured on the
// shared MiniLM at 4 bits (docs/performance.md): packed 1.7x slower at b1 x s128 than dequantized, for 6x less
// weight memory.
#include <cstddef>

#include "graft/graph/graph.h"

namespace graft::cpu {

Graph dequantize_small_matmul_nbits(const Graph& g, size_t max_bytes, int* dequantized);

}  // namespace graft::cpu
