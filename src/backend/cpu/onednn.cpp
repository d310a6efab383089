#include "backend/cpu/onednn.h"

#include <atomic>
#include <cstdio>

namespace graft::cpu {

dnnl::engine& onednn_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

bool cpu_has_bf16() {
  // The ISA values are bit sets, each including the ones below it.
  static const bool has = [] {
    const unsigned isa = unsigned(dnnl::get_effective_cpu_isa());
    const unsigned bf16 = unsigned(dnnl::cpu_isa::avx512_core_bf16);
    return (isa & bf16) == bf16;
  }();
  return has;
}

bool products_in_bf16(const CompileOptions& options) {
  if (options.precision == Precision::F32) return false;
  if (options.precision == Precision::BF16 && cpu_has_bf16()) return true;
  static std::atomic<bool> noted{false};
  if (!noted.exchange(true))
    std::fprintf(stderr, "graft: note: %s precision is not available on this CPU (%s); running f32\n",
                 options.precision == Precision::BF16 ? "bf16" : "f16",
                 options.precision == Precision::BF16 ? "no AVX512-BF16 or AMX"
                                                      : "oneDNN's f16 products need AVX512-FP16");
  return false;
}

}  // namespace graft::cpu
