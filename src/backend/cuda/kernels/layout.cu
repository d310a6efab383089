// Data movement: one strided-copy kernel serves broadcast, transpose, slice, reverse, concatenate and the
// dynamic slices; pad has its own (per-axis source tables); plus float conversions for products.
#include <algorithm>
#include <cstdlib>

#include "backend/cuda/kernels/common.cuh"

namespace graft::cuda {

namespace {

__global__ void probe_kernel() {}

// I: the index type, 32-bit when every offset fits (division by 64-bit values is several times slower).
template <class T, class I>
__global__ void strided_copy_kernel(const T* __restrict__ src, T* __restrict__ dst, StridedCopy p, DynamicStarts dyn,
                                    bool has_dyn) {
  int64_t src_base = p.src_offset, dst_base = p.dst_offset;
  if (has_dyn) {
    int64_t extra = 0;
    for (int k = 0; k < dyn.n; ++k) {
      int64_t s = *dyn.starts[k];
      s = s < 0 ? 0 : (s > dyn.limit[k] ? dyn.limit[k] : s);
      extra += s * dyn.stride[k];
    }
    if (dyn.to_dst) dst_base += extra;
    else src_base += extra;
  }
  const T* __restrict__ from = src + src_base;
  T* __restrict__ to = dst + dst_base;
  I dims[kMaxRank], ss[kMaxRank], ds[kMaxRank];
  for (int k = 0; k < p.rank; ++k) dims[k] = I(p.dims[k]), ss[k] = I(p.src_strides[k]), ds[k] = I(p.dst_strides[k]);
  const I count = I(p.count);
  for (I i = I(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += I(gridDim.x) * blockDim.x) {
    I rem = i, so = 0, d = 0;
    for (int k = p.rank - 1; k >= 0; --k) {
      const I c = rem % dims[k];
      rem /= dims[k];
      so += c * ss[k];
      d += c * ds[k];
    }
    to[d] = from[so];
  }
}

template <class T>
__global__ void pad_kernel(const T* __restrict__ src, const T* __restrict__ value, T* __restrict__ dst, PadParams p) {
  const T v = *value;
  GS_GRID_LOOP(i, p.count) {
    int64_t rem = i, off = 0;
    bool padded = false;
    for (int k = p.rank - 1; k >= 0; --k) {
      int64_t c = rem % p.out_dims[k];
      rem /= p.out_dims[k];
      int64_t m = p.maps[k][c];
      padded |= m < 0;
      off += m * p.in_strides[k];
    }
    dst[i] = padded ? v : src[off];
  }
}

template <class D, class S>
__global__ void convert_kernel(const S* __restrict__ src, D* __restrict__ dst, int64_t n) {
  GS_GRID_LOOP(i, n) dst[i] = gs::convert<D>(gs::to_compute(src[i]));
}

}  // namespace

cudaError_t check_kernel_image() {
  cudaFuncAttributes a;
  return cudaFuncGetAttributes(&a, probe_kernel);
}

cudaError_t launch_strided_copy(const void* src, void* dst, int elem_size, const StridedCopy& p,
                                const DynamicStarts* starts, cudaStream_t stream) {
  if (p.count == 0) return cudaSuccess;
  DynamicStarts none;
  // 32-bit indices when every offset relative to the (possibly dynamic) bases fits: signed, since
  // reversed views have negative strides.
  int64_t src_reach = 0, dst_reach = 0;  // the largest |offset| either side reaches from its base
  for (int k = 0; k < p.rank; ++k) {
    src_reach += std::abs(p.src_strides[k]) * (p.dims[k] - 1);
    dst_reach += std::abs(p.dst_strides[k]) * (p.dims[k] - 1);
  }
  const bool narrow = std::max({p.count, src_reach, dst_reach}) < (int64_t(1) << 30);
  bool ok = dispatch_size(elem_size, [&](auto tag) {
    using T = decltype(tag);
    if (narrow)
      strided_copy_kernel<T, int><<<blocks_for(p.count), kThreads, 0, stream>>>(
          static_cast<const T*>(src), static_cast<T*>(dst), p, starts ? *starts : none, starts != nullptr);
    else
      strided_copy_kernel<T, int64_t><<<blocks_for(p.count), kThreads, 0, stream>>>(
          static_cast<const T*>(src), static_cast<T*>(dst), p, starts ? *starts : none, starts != nullptr);
  });
  return ok ? launched() : cudaErrorInvalidValue;
}

cudaError_t launch_pad(const void* src, const void* value, void* dst, int elem_size, const PadParams& p,
                       cudaStream_t stream) {
  if (p.count == 0) return cudaSuccess;
  bool ok = dispatch_size(elem_size, [&](auto tag) {
    using T = decltype(tag);
    pad_kernel<T><<<blocks_for(p.count), kThreads, 0, stream>>>(static_cast<const T*>(src),
                                                                 static_cast<const T*>(value), static_cast<T*>(dst), p);
  });
  return ok ? launched() : cudaErrorInvalidValue;
}

cudaError_t launch_convert_float(const void* src, int src_dtype, void* dst, int dst_dtype, int64_t n,
                                 cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  auto floaty = [](int t) { return t == 9 || t == 10 || t == 11; };  // f16, bf16, f32
  if (!floaty(src_dtype) || !floaty(dst_dtype)) return cudaErrorInvalidValue;
  dispatch_dtype(src_dtype, [&](auto stag) {
    using S = decltype(stag);
    dispatch_dtype(dst_dtype, [&](auto dtag) {
      using D = decltype(dtag);
      if constexpr ((gs::same<S, gs::half_t>::value || gs::same<S, gs::bhalf_t>::value || gs::same<S, float>::value) &&
                    (gs::same<D, gs::half_t>::value || gs::same<D, gs::bhalf_t>::value || gs::same<D, float>::value))
        convert_kernel<D, S><<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const S*>(src), static_cast<D*>(dst), n);
    });
  });
  return launched();
}

}  // namespace graft::cuda
