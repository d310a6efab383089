// Reductions over one block of axes, arg-min/max, cumulative scans and window reductions. Semantics are
// the CPU backend's: accumulation in the compute type (f32 for 16-bit floats), integer sums and
// products wrapping, NaN winning Max/Min, the identity for empty reductions.
#include "backend/cuda/kernels/common.cuh"

namespace graft::cuda {

namespace {

template <class A>
__device__ A block_combine(int op, A v, A* shared) {
  // Tree reduction over the block's threads (blockDim.x * blockDim.y, a power of two).
  const int tid = threadIdx.y * blockDim.x + threadIdx.x, n = blockDim.x * blockDim.y;
  shared[tid] = v;
  __syncthreads();
  for (int s = n / 2; s > 0; s >>= 1) {
    if (tid < s) shared[tid] = gs::combine(op, shared[tid], shared[tid + s]);
    __syncthreads();
  }
  return shared[0];
}

// inner == 1: one block per row of `red` elements.
template <class T>
__global__ void reduce_rows(const T* __restrict__ x, T* __restrict__ y, ReduceParams p) {
  typedef typename gs::compute<T>::type A;
  __shared__ A shared[kThreads];
  for (int64_t row = blockIdx.x; row < p.outer; row += gridDim.x) {
    const T* xr = x + row * p.red;
    A acc = gs::identity<A>(p.op);
    for (int64_t r = threadIdx.x; r < p.red; r += blockDim.x) acc = gs::combine(p.op, acc, A(gs::to_compute(xr[r])));
    A total = block_combine(p.op, acc, shared);
    if (threadIdx.x == 0) y[row] = gs::store<T>(total);
    __syncthreads();  // `shared` is reused by the next row
  }
}

// inner > 1: blocks of 32 columns x 8 slices of the reduced axis, combined through shared memory.
template <class T>
__global__ void reduce_columns(const T* __restrict__ x, T* __restrict__ y, ReduceParams p) {
  typedef typename gs::compute<T>::type A;
  __shared__ A shared[kThreads];
  const int64_t col = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  for (int64_t o = blockIdx.y; o < p.outer; o += gridDim.y) {
    A acc = gs::identity<A>(p.op);
    if (col < p.inner) {
      const T* xo = x + o * p.red * p.inner + col;
      for (int64_t r = threadIdx.y; r < p.red; r += blockDim.y) acc = gs::combine(p.op, acc, A(gs::to_compute(xo[r * p.inner])));
    }
    // Combine the blockDim.y partial results of each column.
    shared[threadIdx.y * blockDim.x + threadIdx.x] = acc;
    __syncthreads();
    for (int s = blockDim.y / 2; s > 0; s >>= 1) {
      if (threadIdx.y < s)
        shared[threadIdx.y * blockDim.x + threadIdx.x] =
            gs::combine(p.op, shared[threadIdx.y * blockDim.x + threadIdx.x], shared[(threadIdx.y + s) * blockDim.x + threadIdx.x]);
      __syncthreads();
    }
    if (threadIdx.y == 0 && col < p.inner) y[o * p.inner + col] = gs::store<T>(shared[threadIdx.x]);
    __syncthreads();
  }
}

template <class T>
__global__ void arg_min_max_kernel(const T* __restrict__ x, int64_t* __restrict__ y, ArgMinMaxParams p) {
  typedef typename gs::compute<T>::type A;
  GS_GRID_LOOP(i, p.outer * p.inner) {
    const int64_t o = i / p.inner, in = i % p.inner;
    const T* xp = x + o * p.red * p.inner + in;
    A best = gs::to_compute(xp[0]);
    int64_t bi = 0;
    for (int64_t r = 1; r < p.red; ++r) {
      if (best != best) break;  // NaN is the extreme: the first NaN wins (NumPy)
      A v = gs::to_compute(xp[r * p.inner]);
      bool better = v != v || (p.is_min ? (p.select_last ? v <= best : v < best) : (p.select_last ? v >= best : v > best));
      if (better) {
        best = v;
        bi = r;
      }
    }
    y[i] = bi;
  }
}

template <class T>
__global__ void cumulative_kernel(const T* __restrict__ x, T* __restrict__ y, ScanParams p) {
  typedef typename gs::compute<T>::type A;
  GS_GRID_LOOP(i, p.outer * p.inner) {
    const int64_t o = i / p.inner, in = i % p.inner;
    A acc = gs::identity<A>(p.op);
    for (int64_t s = 0; s < p.len; ++s) {
      const int64_t k = p.reverse ? p.len - 1 - s : s;
      const int64_t idx = (o * p.len + k) * p.inner + in;
      A next = gs::combine(p.op, acc, A(gs::to_compute(x[idx])));
      y[idx] = gs::store<T>(p.exclusive ? acc : next);
      acc = next;
    }
  }
}

// Window reductions: integer means sum in double and truncate (as the CPU does), integer sums wrap.
template <class T>
__global__ void reduce_window_kernel(const T* __restrict__ x, T* __restrict__ y, WindowParams p) {
  typedef typename gs::compute<T>::type C;
  const bool mean = p.op == kWindowMean;
  const int op = mean ? int(gs::kSum) : p.op;
  GS_GRID_LOOP(i, p.count) {
    int64_t out_c[kMaxRank];
    int64_t rem = i;
    for (int k = p.rank - 1; k >= 0; --k) {
      out_c[k] = rem % p.out_dims[k];
      rem /= p.out_dims[k];
    }
    C acc = gs::identity<C>(op);
    double dacc = 0;  // integer means
    int64_t valid = 0;
    for (int64_t t = 0; t < p.taps; ++t) {
      int64_t trem = t, off = 0, in_stride = 1;
      bool inside = true;
      for (int k = p.rank - 1; k >= 0; --k) {
        const int64_t w = trem % p.window[k];
        trem /= p.window[k];
        const int64_t c = out_c[k] * p.stride[k] - p.pad_low[k] + w * p.dilation[k];
        inside &= c >= 0 && c < p.in_dims[k];
        off += c * in_stride;
        in_stride *= p.in_dims[k];
      }
      if (!inside) continue;
      ++valid;
      const C v = gs::to_compute(x[off]);
      if constexpr (gs::traits<T>::is_int) {
        if (mean) {
          dacc += double(v);
          continue;
        }
      }
      acc = gs::combine(op, acc, v);
    }
    if (mean) {
      const int64_t count = p.count_include_pad ? p.taps : valid;
      if constexpr (gs::traits<T>::is_int) {
        y[i] = count == 0 ? T(0) : T(dacc / double(count));
      } else {
        y[i] = gs::store<T>(count == 0 ? C(0) : C(acc / C(count)));
      }
    } else {
      y[i] = gs::store<T>(acc);
    }
  }
}

}  // namespace

cudaError_t launch_reduce(const void* x, void* y, const ReduceParams& p, cudaStream_t stream) {
  if (p.outer * p.inner == 0) return cudaSuccess;
  bool ok = dispatch_dtype(p.dtype, [&](auto tag) {
    using T = decltype(tag);
    if (p.inner == 1) {
      reduce_rows<T><<<blocks_for(p.outer, 1), kThreads, 0, stream>>>(static_cast<const T*>(x), static_cast<T*>(y), p);
    } else {
      dim3 block(32, kThreads / 32);
      int64_t gy = p.outer < 65535 ? p.outer : 65535;
      dim3 grid(unsigned((p.inner + 31) / 32), unsigned(gy));
      reduce_columns<T><<<grid, block, 0, stream>>>(static_cast<const T*>(x), static_cast<T*>(y), p);
    }
  });
  return ok ? launched() : cudaErrorInvalidValue;
}

cudaError_t launch_arg_min_max(const void* x, int64_t* y, const ArgMinMaxParams& p, cudaStream_t stream) {
  const int64_t n = p.outer * p.inner;
  if (n == 0) return cudaSuccess;
  bool ok = dispatch_dtype(p.dtype, [&](auto tag) {
    using T = decltype(tag);
    arg_min_max_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const T*>(x), y, p);
  });
  return ok ? launched() : cudaErrorInvalidValue;
}

cudaError_t launch_cumulative(const void* x, void* y, const ScanParams& p, cudaStream_t stream) {
  const int64_t n = p.outer * p.inner;
  if (n == 0 || p.len == 0) return cudaSuccess;
  bool ok = dispatch_dtype(p.dtype, [&](auto tag) {
    using T = decltype(tag);
    cumulative_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const T*>(x), static_cast<T*>(y), p);
  });
  return ok ? launched() : cudaErrorInvalidValue;
}

cudaError_t launch_reduce_window(const void* x, void* y, const WindowParams& p, cudaStream_t stream) {
  if (p.count == 0) return cudaSuccess;
  bool ok = dispatch_dtype(p.dtype, [&](auto tag) {
    using T = decltype(tag);
    reduce_window_kernel<T><<<blocks_for(p.count), kThreads, 0, stream>>>(static_cast<const T*>(x), static_cast<T*>(y), p);
  });
  return ok ? launched() : cudaErrorInvalidValue;
}

}  // namespace graft::cuda
