// Placeholder: the convolution kernel family is being written; until then the backend reports a clear
// "no kernel" error for these ops.
#include "backend/cpu/kernel.h"

namespace graft::cpu {

void register_convolution_kernels(KernelRegistry&) {}

}  // namespace graft::cpu
