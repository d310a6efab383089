#pragma once
// The CPU backend's graph pipeline: generic passes (graft/graph/passes.h) with constant folding done by
// the CPU kernels themselves, then element-wise fusion.
#include <optional>

#include "graft/backend/backend.h"

namespace graft::cpu {

// What the passes of optimize_for_cpu did (ExecutableStats reports them; tests check that fusions fired).
struct CpuPassCounts {
  int widened_f16 = 0;             // f16 ops and constants computed in f32 (widen_f16.h)
  int fused_attention = 0;         // cpu.attention
  int quantized_products = 0;      // cpu.quantized_product
  int quantized_epilogues = 0;     // ... of which took a bias / GELU / residual
  int quantize = 0;                // cpu.quantize
  int fused_epilogues = 0;         // cpu.product with a bias (and activation)
  int fused_conv_epilogues = 0;    // cpu.convolution
  int quantized_convolutions = 0;  // cpu.quantized_conv
  int fused_groups = 0;            // cpu.elementwise
};

Graph optimize_for_cpu(const Graph& g, const CompileOptions& options, CpuPassCounts* counts = nullptr);

// Runs one op on host tensors with its CPU kernel; nullopt when there is no kernel for it.
std::optional<std::vector<Tensor>> evaluate_op(const Op& op, const std::vector<ValueType>& input_types,
                                               const std::vector<Tensor>& inputs, const CompileOptions& options);

}  // namespace graft::cpu
