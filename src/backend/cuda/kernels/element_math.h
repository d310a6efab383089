#pragma once
// The index arithmetic of the hand-written kernels, one element at a time, as host-and-device functions:
// the kernels (.cu) call them on the GPU, and tests/cuda/kernel_math_test.cpp calls the same functions on
// the host, with the plans the kernel factories make (plans.h), against the CPU backend. That checks
// every dimension-number mapping, stride and window formula on machines without a GPU.
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "backend/cuda/kernels/launch.h"

namespace graft::cuda {

// Offsets (from the two bases) of element i of a strided copy over `rank` axes.
template <class I>
GRAFT_HOST_DEVICE inline void strided_offsets(int rank, const I* dims, const I* src_strides, const I* dst_strides, I i,
                                              I* src, I* dst) {
  I rem = i, so = 0, d = 0;
  for (int k = rank - 1; k >= 0; --k) {
    const I c = rem % dims[k];
    rem /= dims[k];
    so += c * src_strides[k];
    d += c * dst_strides[k];
  }
  *src = so;
  *dst = d;
}

// Pad: the operand offset output element i reads, or -1 where it is padding.
GRAFT_HOST_DEVICE inline int64_t pad_source(const PadParams& p, int64_t i) {
  int64_t rem = i, off = 0;
  bool padded = false;
  for (int k = p.rank - 1; k >= 0; --k) {
    const int64_t c = rem % p.out_dims[k];
    rem /= p.out_dims[k];
    const int64_t m = p.maps[k][c];
    padded |= m < 0;
    off += m * p.in_strides[k];
  }
  return padded ? -1 : off;
}

// Gather / scatter: the operand offset of small-side element i (its index vector in *vector), or -1 when
// that vector's start component *bad_component is out of range.
GRAFT_HOST_DEVICE inline int64_t index_map_offset(const int64_t* indices, const IndexMap& m, int64_t i, int64_t* vector,
                                                  int* bad_component) {
  int64_t rem = i, b = 0, off = 0;
  for (int k = m.rank - 1; k >= 0; --k) {
    const int64_t c = rem % m.dims[k];
    rem /= m.dims[k];
    b += c * m.batch_mul[k];
    off += c * m.window_stride[k];
  }
  *vector = b;
  const int64_t* v = indices + (b / m.post) * m.len * m.post + b % m.post;
  for (int j = 0; j < m.nstart; ++j) {
    const int64_t idx = v[j * m.post];
    if (idx < 0 || idx > m.start_limit[j]) {
      *bad_component = j;
      return -1;
    }
    off += idx * m.start_stride[j];
  }
  return off;
}

// Direct convolution: output element i (of [N, O, out...]) as the sum over its taps of load(x) * load(w).
template <class T, class Load>
GRAFT_HOST_DEVICE inline double conv_direct_at(const T* x, const T* w, const ConvGeometry& g, int64_t i, Load load) {
  const int64_t out_sz = g.out_size(), in_sz = g.in_size(), k_sz = g.k_size();
  const int64_t cg = g.c / g.groups, og = g.o / g.groups;
  const int64_t q = i % out_sz, oc = (i / out_sz) % g.o, n = i / (out_sz * g.o);
  const int64_t grp = oc / og;
  int64_t qc[kMaxSpatial];
  int64_t rem = q;
  for (int d = g.spatial - 1; d >= 0; --d) {
    qc[d] = rem % g.out[d];
    rem /= g.out[d];
  }
  double acc = 0;
  for (int64_t kk = 0; kk < k_sz; ++kk) {
    // The input position of this tap, if any.
    int64_t krem = kk, pos = 0, in_stride = 1;
    bool valid = true;
    for (int d = g.spatial - 1; d >= 0 && valid; --d) {
      const int64_t kd = krem % g.k[d];
      krem /= g.k[d];
      int64_t p;
      if (!g.transposed) {
        p = qc[d] * g.stride[d] - g.pad[d] + kd * g.dil[d];
      } else {  // y[i*s - pad + k*dil] += w * x[i]: solve for i
        const int64_t t = qc[d] + g.pad[d] - kd * g.dil[d];
        valid = t >= 0 && t % g.stride[d] == 0;
        p = t / g.stride[d];
      }
      valid = valid && p >= 0 && p < g.in[d];
      pos += p * in_stride;
      in_stride *= g.in[d];
    }
    if (!valid) continue;
    for (int64_t ci = 0; ci < cg; ++ci) {
      const int64_t ic = grp * cg + ci;
      const int64_t wi = g.transposed ? (ic * og + oc % og) * k_sz + kk : (oc * cg + ci) * k_sz + kk;
      acc += load(x[(n * g.c + ic) * in_sz + pos]) * load(w[wi]);
    }
  }
  return acc;
}

// im2col element i (of [images * groups][C/groups * k][out positions], images from image0): the offset
// in x it copies, or -1 for padding (zero).
GRAFT_HOST_DEVICE inline int64_t im2col_source(const ConvGeometry& g, int64_t image0, int64_t i) {
  const int64_t out_sz = g.out_size(), in_sz = g.in_size(), k_sz = g.k_size();
  const int64_t cg = g.c / g.groups;
  const int64_t rows = cg * k_sz;
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
    valid = valid && c >= 0 && c < g.in[d];
    pos += c * in_stride;
    in_stride *= g.in[d];
  }
  return valid ? (n * g.c + grp * cg + ci) * in_sz + pos : -1;
}

// Window reduction output element i: calls tap(offset) for every tap inside the input, returns how many.
template <class Tap>
GRAFT_HOST_DEVICE inline int64_t window_taps(const WindowParams& p, int64_t i, Tap tap) {
  int64_t out_c[kMaxRank];
  int64_t rem = i;
  for (int k = p.rank - 1; k >= 0; --k) {
    out_c[k] = rem % p.out_dims[k];
    rem /= p.out_dims[k];
  }
  int64_t valid = 0;
  for (int64_t t = 0; t < p.taps; ++t) {
    int64_t trem = t, off = 0, in_stride = 1;
    bool inside = true;
    for (int k = p.rank - 1; k >= 0; --k) {
      const int64_t w = trem % p.window[k];
      trem /= p.window[k];
      const int64_t c = out_c[k] * p.stride[k] - p.pad_low[k] + w * p.dilation[k];
      inside = inside && c >= 0 && c < p.in_dims[k];
      off += c * in_stride;
      in_stride *= p.in_dims[k];
    }
    if (!inside) continue;
    ++valid;
    tap(off);
  }
  return valid;
}

// Sort: an unsigned key K (32 or 64 bits) whose integer order is graft's order of the compute value v
// (f32 for 16-bit floats): every NaN largest, -0 equal to +0, signed integers by value. Descending sorts
// flip it bitwise.
template <class K, class C>
GRAFT_HOST_DEVICE inline K sort_key(C v) {
  if constexpr (std::is_floating_point_v<C>) {
    if (v != v) return ~K(0);
    if (v == C(0)) v = C(0);
    static_assert(sizeof(C) == sizeof(K), "float keys have the width of their compute type");
    K bits;
    memcpy(&bits, &v, sizeof(K));
    const K sign = K(1) << (sizeof(K) * 8 - 1);
    return (bits & sign) ? K(~bits) : K(bits | sign);
  } else if constexpr (std::is_signed_v<C> && !std::is_same_v<C, bool>) {  // sign-extend, flip the sign bit
    return K((long long)v) ^ (K(1) << (sizeof(K) * 8 - 1));
  } else {
    return K(v);
  }
}

}  // namespace graft::cuda
