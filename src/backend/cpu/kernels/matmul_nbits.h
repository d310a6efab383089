#pragma once
// onnx.matmul_nbits: the ONNX importer's com.microsoft MatMulNBits, its weights kept packed at 2, 4 or 8 bits
// (src/onnx/ops/contrib/quantization.cpp writes it, kernels/matmul_nbits.cpp runs it).
#include "backend/cpu/kernel.h"

namespace graft::cpu {

void register_matmul_nbits_kernels(KernelRegistry& r);

}  // namespace graft::cpu
