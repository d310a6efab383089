#pragma once
// What the fused row kernels of the composites share (activation.cpp: softmax, log_softmax, gelu,
// silu; normalization.cpp: layer_norm, rms_norm): lane-parallel row reductions that GCC vectorizes
// inside the target_clones callers, 16-bit widening, grow-only scratch. Each kernel runs in one to three
// passes over a row that stays in cache, where the decomposition would write and re-read whole
// intermediate tensors. f32 loops use fixed-width lane accumulators instead of scalar reductions,
// selects instead of branches and no libm calls; f64 computes in f64 with libm; f16/bf16 are widened to
// f32 scratch, computed as f32 and narrowed back.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "backend/cpu/kernel.h"
#include "backend/cpu/parallel.h"
#include "backend/cpu/vector_math.h"

namespace graft::cpu::rows {

inline constexpr int kLanes = 16;                 // independent accumulators: one AVX-512 register of f32
inline constexpr int64_t kBlock = 1024;           // partial sums in C for this many elements, then into double
inline constexpr int64_t kColumns = 256;          // columns per work item for reductions over a non-last axis

template <typename C>
GRAFT_INLINE C sqrt_c(C x) {
  if constexpr (std::is_same_v<C, float>)
    return __builtin_sqrtf(x);
  else
    return __builtin_sqrt(x);
}

template <typename C>
GRAFT_INLINE C exp_c(C x) {
  if constexpr (std::is_same_v<C, float>)
    return exp_fast(x);
  else
    return std::exp(x);
}

template <typename T>
inline constexpr bool is_half_v = std::is_same_v<T, float16> || std::is_same_v<T, bfloat16>;

// Runs f(begin, end) over [0, items), split into one contiguous range per OpenMP thread when the work
// (`elements` in all) is large enough to pay for waking the pool.

// Widening / narrowing of 16-bit floats (and f32/f64 passing through), in parallel for large tensors.
template <typename S, typename D>
void convert(const S* s, D* d, int64_t n) {
  parallel_for(n, n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      if constexpr (is_half_v<D>)
        d[i] = D(float(s[i]));
      else
        d[i] = D(to_compute(s[i]));
    }
  });
}

// A scratch array of `count` C values kept in a byte vector that only grows (so a kernel allocates on
// its first run, not on every run).
template <typename C>
C* scratch(std::vector<char>& v, int64_t count) {
  size_t bytes = size_t(std::max<int64_t>(count, 1)) * sizeof(C);
  if (v.size() < bytes) v.resize(bytes);
  return reinterpret_cast<C*>(v.data());
}

// ---- row reductions (inlined into the cloned callers, so they vectorize for each target) -------------

template <typename C>
GRAFT_INLINE C row_max(const C* x, int64_t n) {
  C acc[kLanes];
  for (int l = 0; l < kLanes; ++l) acc[l] = -C(__builtin_inf());
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] = select(x[i + l] > acc[l], x[i + l], acc[l]);
  for (; i < n; ++i) acc[0] = x[i] > acc[0] ? x[i] : acc[0];
  C m = acc[0];
  for (int l = 1; l < kLanes; ++l) m = acc[l] > m ? acc[l] : m;
  return m;
}

// Sums of g(x[i]) over lanes, each block of kBlock elements finished in double so long rows keep
// their accuracy. When `store` is set, y[i] = g(x[i]) as well.
template <typename C, bool Store, typename G>
GRAFT_INLINE double row_sum(const C* x, C* y, int64_t n, G g) {
  double total = 0;
  for (int64_t b0 = 0; b0 < n; b0 += kBlock) {
    const int64_t b1 = n < b0 + kBlock ? n : b0 + kBlock;
    C acc[kLanes] = {};
    int64_t i = b0;
    for (; i + kLanes <= b1; i += kLanes)
      for (int l = 0; l < kLanes; ++l) {
        C v = g(x[i + l]);
        if constexpr (Store) y[i + l] = v;
        acc[l] += v;
      }
    for (; i < b1; ++i) {
      C v = g(x[i]);
      if constexpr (Store) y[i] = v;
      acc[0] += v;
    }
    C s = 0;
    for (int l = 0; l < kLanes; ++l) s += acc[l];
    total += double(s);
  }
  return total;
}

// Both fused families take floating operands of one dtype and give one result of it.
inline bool float_operands(const KernelArgs& a) {
  for (const ValueType& t : a.inputs)
    if (!is_floating(t.dtype) || t.dtype != a.inputs[0].dtype) return false;
  return a.outputs.size() == 1 && a.outputs[0].dtype == a.inputs[0].dtype;
}

}  // namespace graft::cpu::rows
