#pragma once
// Error checking for CUDA runtime, cuBLASLt and NVRTC calls: every failure becomes a graft::Error that
// names what was being done (the op and node, when there is one) and the library's own error name.
#include <cublasLt.h>
#include <cuda_runtime_api.h>
#include <nvrtc.h>

#include <string>

#include "graft/core/error.h"

namespace graft::cuda {

[[noreturn]] void fail_cuda(cudaError_t e, const char* call, const std::string& context);
[[noreturn]] void fail_cublas(cublasStatus_t s, const char* call, const std::string& context);
[[noreturn]] void fail_nvrtc(nvrtcResult r, const char* call, const std::string& context);

}  // namespace graft::cuda

// GRAFT_CUDA(cudaMalloc(&p, n), "allocating ", n, " bytes"): the trailing arguments say what for.
#define GRAFT_CUDA(call, ...)                                                                \
  do {                                                                                     \
    cudaError_t graft_e_ = (call);                                                         \
    if (graft_e_ != cudaSuccess) ::graft::cuda::fail_cuda(graft_e_, #call, ::graft::detail::concat(__VA_ARGS__)); \
  } while (0)
#define GRAFT_CUBLAS(call, ...)                                                              \
  do {                                                                                     \
    cublasStatus_t graft_s_ = (call);                                                      \
    if (graft_s_ != CUBLAS_STATUS_SUCCESS)                                                 \
      ::graft::cuda::fail_cublas(graft_s_, #call, ::graft::detail::concat(__VA_ARGS__));   \
  } while (0)
#define GRAFT_NVRTC(call, ...)                                                               \
  do {                                                                                     \
    nvrtcResult graft_r_ = (call);                                                         \
    if (graft_r_ != NVRTC_SUCCESS) ::graft::cuda::fail_nvrtc(graft_r_, #call, ::graft::detail::concat(__VA_ARGS__)); \
  } while (0)
// After a kernel launch: the launch's own error (bad configuration, no kernel image for the device).
#define GRAFT_CUDA_LAUNCHED(...) GRAFT_CUDA(cudaGetLastError(), __VA_ARGS__)
