#pragma once
// Shared oneDNN state: one CPU engine for the process. oneDNN uses the same OpenMP pool as graft's
// own kernels, so set_num_threads() governs both.
#include <dnnl.hpp>

namespace graft::cpu {

dnnl::engine& onednn_engine();

}  // namespace graft::cpu
