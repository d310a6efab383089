#pragma once
// The CUDA executable: a graph compiled for one GPU. See docs/gpu.md for the design.
#include <memory>
#include <string>

#include "backend/cuda/runtime.h"
#include "graft/backend/backend.h"

namespace graft::cuda {

// graft::optimize with the CUDA backend's settings: composites expanded, constants folded on the host.
Graph optimize_for_cuda(const Graph& g, const CompileOptions& options);

std::unique_ptr<Executable> compile_cuda(std::shared_ptr<CudaDevice> device, const Graph& g, const CompileOptions& options);

// The CUDA source generated for a graph's element-wise groups (after the passes compile runs), and the
// number of distinct kernels in it (groups generating the same code share one). Needs no GPU: tests compile it with NVRTC on machines without one.
std::string generated_source(const Graph& g, const CompileOptions& options, int* num_kernels = nullptr);

}  // namespace graft::cuda
