// Plain kernels for the products cuBLASLt does not take (f64 and integer dot-generals) and for
// convolutions: a direct kernel that handles every geometry (groups, dilation, padding, transposed, any
// number of spatial axes) and im2col, which turns a convolution into cuBLASLt products.
#include "backend/cuda/kernels/common.cuh"
#include "backend/cuda/kernels/element_math.h"

namespace graft::cuda {

namespace {

template <class L, class R, class O>
__global__ void dot_kernel(const L* __restrict__ a, const R* __restrict__ b, O* __restrict__ c, DotParams p) {
  constexpr bool ints = gs::traits<L>::is_int && gs::traits<R>::is_int;
  typedef typename gs::conditional<ints, unsigned long long, double>::type Acc;
  GS_GRID_LOOP(i, p.B * p.M * p.N) {
    const int64_t n = i % p.N, m = (i / p.N) % p.M, bi = i / (p.N * p.M);
    const L* ar = a + bi * p.a_b + m * p.a_m;
    const R* bc = b + bi * p.b_b + n * p.b_n;
    Acc acc = 0;
    for (int64_t k = 0; k < p.K; ++k) {
      if constexpr (ints)  // 64-bit two's complement products and sums (they wrap instead of overflowing)
        acc += Acc((long long)gs::to_compute(ar[k * p.a_k])) * Acc((long long)gs::to_compute(bc[k * p.b_k]));
      else
        acc += double(gs::to_compute(ar[k * p.a_k])) * double(gs::to_compute(bc[k * p.b_k]));
    }
    if constexpr (ints) c[i] = O((long long)acc);  // to the (narrower) integer output: wraps
    else c[i] = gs::convert<O>(acc);  // through f32 for 16-bit outputs, as the CPU rounds
  }
}

// Output element i of y = conv(x, w) (element_math.h), accumulating in double like the CPU's direct loops.
template <class T>
__global__ void conv_direct_kernel(const T* __restrict__ x, const T* __restrict__ w, T* __restrict__ y, ConvGeometry g) {
  GS_GRID_LOOP(i, g.n * g.o * g.out_size()) {
    y[i] = gs::convert<T>(conv_direct_at(x, w, g, i, [](T v) { return double(gs::to_compute(v)); }));
  }
}

template <class T>
__global__ void im2col_kernel(const T* __restrict__ x, T* __restrict__ col, ConvGeometry g, int64_t image0,
                              int64_t images) {
  GS_GRID_LOOP(i, images * g.c * g.k_size() * g.out_size()) {
    const int64_t src = im2col_source(g, image0, i);
    col[i] = src >= 0 ? x[src] : gs::convert<T>(0.0f);
  }
}

bool is_int8(int t) { return t == 1 || t == 5; }

}  // namespace

cudaError_t launch_dot(const void* a, const void* b, void* c, const DotParams& p, cudaStream_t stream) {
  const int64_t n = p.B * p.M * p.N;
  if (n == 0) return cudaSuccess;
  if (p.lhs_dtype != p.rhs_dtype && !(is_int8(p.lhs_dtype) && is_int8(p.rhs_dtype))) return cudaErrorInvalidValue;
  bool launched_one = false;
  dispatch_dtype(p.lhs_dtype, [&](auto ltag) {
    using L = decltype(ltag);
    dispatch_dtype(p.rhs_dtype, [&](auto rtag) {
      using R = decltype(rtag);
      if constexpr (!gs::same<L, bool>::value && (gs::same<L, R>::value || (sizeof(L) == 1 && sizeof(R) == 1 && !gs::same<R, bool>::value))) {
        dispatch_dtype(p.out_dtype, [&](auto otag) {
          using O = decltype(otag);
          constexpr bool ok_out = gs::same<O, L>::value || (gs::traits<L>::is_int && gs::same<O, int>::value) ||
                                  (gs::traits<L>::is_float && gs::traits<O>::is_float);
          if constexpr (ok_out) {
            dot_kernel<L, R, O><<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const L*>(a), static_cast<const R*>(b),
                                                                         static_cast<O*>(c), p);
            launched_one = true;
          }
        });
      }
    });
  });
  return launched_one ? launched() : cudaErrorInvalidValue;
}

cudaError_t launch_conv_direct(const void* x, const void* w, void* y, int dtype, const ConvGeometry& g,
                               cudaStream_t stream) {
  const int64_t n = g.n * g.o * g.out_size();
  if (n == 0) return cudaSuccess;
  bool launched_one = false;
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (gs::traits<T>::is_float) {
      conv_direct_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const T*>(x), static_cast<const T*>(w),
                                                                     static_cast<T*>(y), g);
      launched_one = true;
    }
  });
  return launched_one ? launched() : cudaErrorInvalidValue;
}

cudaError_t launch_im2col(const void* x, void* col, int dtype, const ConvGeometry& g, int64_t image0, int64_t images,
                          cudaStream_t stream) {
  const int64_t n = images * g.c * g.k_size() * g.out_size();
  if (n == 0) return cudaSuccess;
  bool launched_one = false;
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (gs::traits<T>::is_float) {
      im2col_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const T*>(x), static_cast<T*>(col), g,
                                                                image0, images);
      launched_one = true;
    }
  });
  return launched_one ? launched() : cudaErrorInvalidValue;
}

}  // namespace graft::cuda
