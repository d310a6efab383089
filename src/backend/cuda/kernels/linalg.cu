// Plain kernels for the products cuBLASLt does not take (f64 and integer dot-generals) and for
// convolutions: a direct kernel that handles every geometry (groups, dilation, padding, transposed, any
// number of spatial axes) and im2col, which turns a convolution into cuBLASLt products.
#include "backend/cuda/kernels/common.cuh"

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

// Output coordinate (n, oc, q...) of y; x is [N, C, in...], w is [O, C/G, k...] or, transposed,
// [C, O/G, k...]. Accumulates in double like the CPU's direct loops.
template <class T>
__global__ void conv_direct_kernel(const T* __restrict__ x, const T* __restrict__ w, T* __restrict__ y, ConvGeometry g) {
  const int64_t out_sz = g.out_size(), in_sz = g.in_size(), k_sz = g.k_size();
  const int64_t cg = g.c / g.groups, og = g.o / g.groups;
  GS_GRID_LOOP(i, g.n * g.o * out_sz) {
    const int64_t q = i % out_sz, oc = (i / out_sz) % g.o, n = i / (out_sz * g.o);
    const int64_t grp = oc / og;
    int64_t qc[kMaxSpatial];
    {
      int64_t rem = q;
      for (int d = g.spatial - 1; d >= 0; --d) {
        qc[d] = rem % g.out[d];
        rem /= g.out[d];
      }
    }
    double acc = 0;
    for (int64_t kk = 0; kk < k_sz; ++kk) {
      // Input position of this tap, or none.
      int64_t rem = kk, pos = 0, in_stride = 1;
      bool valid = true;
      for (int d = g.spatial - 1; d >= 0; --d) {
        const int64_t kd = rem % g.k[d];
        rem /= g.k[d];
        int64_t p;
        if (!g.transposed) {
          p = qc[d] * g.stride[d] - g.pad[d] + kd * g.dil[d];
        } else {  // y[i*s - pad + k*dil] += w * x[i]: solve for i
          const int64_t t = qc[d] + g.pad[d] - kd * g.dil[d];
          if (t < 0 || t % g.stride[d] != 0) {
            valid = false;
            break;
          }
          p = t / g.stride[d];
        }
        if (p < 0 || p >= g.in[d]) {
          valid = false;
          break;
        }
        pos += p * in_stride;
        in_stride *= g.in[d];
      }
      if (!valid) continue;
      for (int64_t ci = 0; ci < cg; ++ci) {
        const int64_t ic = grp * cg + ci;
        const T xv = x[(n * g.c + ic) * in_sz + pos];
        const T wv = g.transposed ? w[(ic * og + oc % og) * k_sz + kk] : w[(oc * cg + ci) * k_sz + kk];
        acc += double(gs::to_compute(xv)) * double(gs::to_compute(wv));
      }
    }
    y[i] = gs::convert<T>(acc);
  }
}

template <class T>
__global__ void im2col_kernel(const T* __restrict__ x, T* __restrict__ col, ConvGeometry g, int64_t image0,
                              int64_t images) {
  const int64_t out_sz = g.out_size(), in_sz = g.in_size(), k_sz = g.k_size();
  const int64_t cg = g.c / g.groups;
  const int64_t rows = cg * k_sz;  // per (image, group)
  GS_GRID_LOOP(i, images * g.groups * rows * out_sz) {
    const int64_t p = i % out_sz, r = (i / out_sz) % rows, ig = i / (out_sz * rows);
    const int64_t grp = ig % g.groups, n = image0 + ig / g.groups;
    const int64_t ci = r / k_sz, kk = r % k_sz;
    int64_t prem = p, krem = kk, pos = 0, in_stride = 1;
    bool valid = true;
    for (int d = g.spatial - 1; d >= 0; --d) {
      const int64_t od = prem % g.out[d], kd = krem % g.k[d];
      prem /= g.out[d];
      krem /= g.k[d];
      const int64_t c = od * g.stride[d] - g.pad[d] + kd * g.dil[d];
      valid &= c >= 0 && c < g.in[d];
      pos += c * in_stride;
      in_stride *= g.in[d];
    }
    col[i] = valid ? x[(n * g.c + grp * cg + ci) * in_sz + pos] : gs::convert<T>(0.0f);
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
