#pragma once
// Run-time compilation of generated kernels with NVRTC, straight to machine code (a cubin) for the GPU's
// architecture (no PTX: the driver never has to JIT, and a toolkit newer than the driver does no harm).
// Results are cached in memory and on disk, keyed by the source, the architecture and NVRTC's version;
// the disk cache lives in $GRAFT_CUDA_CACHE, else $XDG_CACHE_HOME/graft/cuda, else ~/.cache/graft/cuda
// (GRAFT_CUDA_CACHE=off disables it). A cache file holds its source too, and is used only when the
// source matches, so a hash collision costs a compilation, never a wrong kernel.
#include <memory>
#include <string>
#include <vector>

namespace graft::cuda {

struct CompileStats {
  bool memory_hit = false, disk_hit = false;
  double compile_ms = 0;
};

// The cubin for `source` on compute capability `arch` (90 for sm_90). Throws graft::Error with NVRTC's
// log (and the first lines of the source) when it does not compile. Needs no GPU.
std::shared_ptr<const std::vector<char>> compile_to_cubin(const std::string& source, int arch,
                                                          CompileStats* stats = nullptr);

// NVRTC's version as "13.0".
std::string nvrtc_version();

}  // namespace graft::cuda
