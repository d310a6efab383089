// Data movement: one strided-copy kernel serves broadcast, transpose, slice, reverse, concatenate and the
// dynamic slices; pad has its own (per-axis source tables); plus float conversions for products.
#include "backend/cuda/kernels/common.cuh"

namespace graft::cuda {

namespace {

__global__ void probe_kernel() {}

template <class T>
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
  GS_GRID_LOOP(i, p.count) {
    int64_t rem = i, so = src_base, d = dst_base;
    for (int k = p.rank - 1; k >= 0; --k) {
      int64_t c = rem % p.dims[k];
      rem /= p.dims[k];
      so += c * p.src_strides[k];
      d += c * p.dst_strides[k];
    }
    dst[d] = src[so];
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
  bool ok = dispatch_size(elem_size, [&](auto tag) {
    using T = decltype(tag);
    strided_copy_kernel<T><<<blocks_for(p.count), kThreads, 0, stream>>>(
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
