#pragma once
// The CPU backend's graph pipeline: generic passes (graft/graph/passes.h) with constant folding done by
// the CPU kernels themselves, then element-wise fusion.
#include <optional>

#include "graft/backend/backend.h"

namespace graft::cpu {

Graph optimize_for_cpu(const Graph& g, const CompileOptions& options, int* fused_groups, int* fused_epilogues,
                       int* fused_attention = nullptr, int* fused_conv_epilogues = nullptr,
                       int* fused_quantized = nullptr, int* widened_f16 = nullptr);

// Runs one op on host tensors with its CPU kernel; nullopt when there is no kernel for it.
std::optional<std::vector<Tensor>> evaluate_op(const Op& op, const std::vector<ValueType>& input_types,
                                               const std::vector<Tensor>& inputs, const CompileOptions& options);

}  // namespace graft::cpu
