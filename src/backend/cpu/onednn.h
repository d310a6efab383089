#pragma once
// Shared oneDNN state: one CPU engine for the process. oneDNN uses the same OpenMP pool as graft's
// own kernels, so set_num_threads() governs both.
#include <dnnl.hpp>

#include "graft/backend/backend.h"

namespace graft::cpu {

dnnl::engine& onednn_engine();

// True when oneDNN runs bf16 products natively on this CPU (AVX512-BF16 or AMX; its own cpuid query).
bool cpu_has_bf16();

// Whether f32 products, convolutions and attention compiled with `options` run on oneDNN's bf16
// primitives: CompileOptions::precision is BF16 and the CPU has native bf16. Otherwise they run in f32,
// and the first time a 16-bit precision cannot be honoured a note says so on stderr (once per process).
// F16 always runs f32 on the CPU: oneDNN's f16 products need AVX512-FP16, and bf16 in its place would
// quietly give 3 fewer mantissa bits than the user asked for.
bool products_in_bf16(const CompileOptions& options);

}  // namespace graft::cpu
