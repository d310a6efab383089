// Helpers shared by the hand-written kernels (.cu files): launch shapes, index arithmetic, and the one
// switch from a graft::DType value to the storage type kernels are instantiated for.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/scalar.cuh"

namespace graft::cuda {

inline constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n items: enough to fill any current GPU, few enough that each
// thread does several items when n is large.
inline unsigned blocks_for(int64_t n, int threads = kThreads) {
  int64_t b = (n + threads - 1) / threads;
  if (b > (int64_t(1) << 16)) b = int64_t(1) << 16;
  return unsigned(b < 1 ? 1 : b);
}

#define GS_GRID_LOOP(i, n) \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)

// Calls f(T{}) with T the storage type of graft dtype `dtype` (graft::DType's order).
// False (nothing called) for a value that is no dtype.
template <class F>
bool dispatch_dtype(int dtype, F&& f) {
  switch (dtype) {
    case 0: f(bool{}); break;
    case 1: f((signed char)0); break;
    case 2: f(short{}); break;
    case 3: f(int{}); break;
    case 4: f((long long)0); break;
    case 5: f((unsigned char)0); break;
    case 6: f((unsigned short)0); break;
    case 7: f(0u); break;
    case 8: f((unsigned long long)0); break;
    case 9: f(gs::half_t{}); break;
    case 10: f(gs::bhalf_t{}); break;
    case 11: f(float{}); break;
    case 12: f(double{}); break;
    default: return false;
  }
  return true;
}

// Element-size-only dispatch for kernels that move bytes.
template <class F>
bool dispatch_size(int elem_size, F&& f) {
  switch (elem_size) {
    case 1: f((unsigned char)0); break;
    case 2: f((unsigned short)0); break;
    case 4: f(0u); break;
    case 8: f((unsigned long long)0); break;
    default: return false;
  }
  return true;
}

inline cudaError_t launched() { return cudaGetLastError(); }

}  // namespace graft::cuda
