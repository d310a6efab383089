#pragma once
// The launch parameters the kernel factories compute from an op (its attributes and operand types),
// as functions of their own: the kernels use them, and tests/cuda/kernel_math_test.cpp runs the
// kernels' index arithmetic (element_math.h) with them on the host against the CPU backend.
#include <string>
#include <vector>

#include "backend/cuda/kernels/launch.h"
#include "graft/graph/graph.h"

namespace graft::cuda {

// `Add "name"`: how errors name an op.
std::string describe_op(const Op& op);

// A copy of the dims-shaped view with axes of extent 1 dropped and axes both views walk contiguously merged.
StridedCopy make_copy(const std::vector<int64_t>& dims, const std::vector<int64_t>& src_strides, int64_t src_offset,
                      const std::vector<int64_t>& dst_strides, int64_t dst_offset, const std::string& op);
// BroadcastInDim, Transpose, Slice, Reverse: a strided view of the operand copied into the output.
StridedCopy view_copy_plan(const Op& op, const std::vector<ValueType>& inputs, const ValueType& output);
// Concatenate: one copy per operand into its place in the output.
std::vector<StridedCopy> concat_plans(const Op& op, const std::vector<ValueType>& inputs, const ValueType& output);
// Pad, with its per-axis source tables in `maps` (the caller points p.maps at device copies of them).
PadParams pad_plan(const Op& op, const std::vector<ValueType>& inputs, const ValueType& output,
                   std::vector<std::vector<int64_t>>* maps);
IndexMap gather_plan(const Op& op, const std::vector<ValueType>& inputs, const ValueType& output);
IndexMap scatter_plan(const Op& op, const std::vector<ValueType>& inputs);
ConvGeometry conv_geometry(const Op& op, const std::vector<ValueType>& inputs, const ValueType& output);
WindowParams window_plan(const Op& op, const std::vector<ValueType>& inputs, const ValueType& output);

}  // namespace graft::cuda
