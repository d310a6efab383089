#pragma once
// CUDA C++ source for element-wise groups (lowering.h), compiled at executable-compile time with NVRTC
// (nvrtc.h). A group becomes one kernel: a grid-stride loop over the output elements that loads each
// input once (through per-input strides, so broadcasts cost nothing), runs the group's instructions in
// registers and stores the values read outside the group. The op semantics are not in the generated text
// but in graft_scalar.cuh (kernels/scalar.cuh), which the hand-written kernels share.
#include <string>
#include <vector>

#include "backend/cuda/lowering.h"

namespace graft::cuda {

// The kernel's parameters, in order: one pointer per non-literal input, one per output, then the error
// record (gs::ErrorRecord*).
std::string kernel_source(const EwGroup& group, const std::string& name);

// A module: the scalar header included once, then the kernels.
std::string module_source(const std::vector<std::string>& kernels);

// The text of kernels/scalar.cuh (embedded at build time), given to NVRTC as "graft_scalar.cuh".
const char* scalar_header_source();

// Storage and compute type names used in generated code.
const char* storage_type_name(DType t);
const char* compute_type_name(DType t);

}  // namespace graft::cuda
