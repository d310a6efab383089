#pragma once
// onnx.matmul_nbits: the ONNX importer's com.microsoft MatMulNBits, its weights kept packed at 2, 4 or 8 bits
// (src/onnx/ops/contrib/quantization.cpp writes it, kernels/matmul_nbits.cpp runs it).
#include "backend/cpu/kernel.h"

namespace graft::cpu {

void register_matmul_nbits_kernels(KernelRegistry& r);

// The composite's whole weight W [K, N] in f32, from its constant operands (B packed, scales, zero points as
// the composite stores them; `zero_points` null without), dequantized as the kernel's panels are; for
// weights small enough to keep in f32 (backend/cpu/nbits_dequantize.h).
Tensor dequantize_matmul_nbits(const CustomCompositeParams& params, const Tensor& b, const Tensor& scales,
                               const Tensor* zero_points);

}  // namespace graft::cpu
