#pragma once
// onnx.resize: the ONNX importer's fused Resize / Upsample (nearest and linear; src/onnx/ops/image.cpp writes
// it, kernels/resize.cpp runs it).
#include "backend/cpu/kernel.h"

namespace graft::cpu {

void register_resize_kernels(KernelRegistry& r);

}  // namespace graft::cpu
