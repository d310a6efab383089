#pragma once
// Sixteen-float vectors for the few loops that are blocked by hand (register tiles in small_gemm, a
// softmax row held in registers), where GCC's auto-vectorization of plain loops either keeps the
// accumulators in memory or makes several passes. GCC lowers the arithmetic to whatever the enclosing
// target_clones clone has (one zmm register, two ymm, four xmm); every helper is always inlined
// (vector_math.h says why), so no 64-byte vector crosses a call.
#include <cstdint>

// (GCC notes that passing these by value in the baseline clone would differ from the AVX-512 ABI; they never
// are passed: see above. Before vector_math.h, whose exp_reduced is instantiated for them.)
#pragma GCC diagnostic ignored "-Wpsabi"

#include "backend/cpu/vector_math.h"

namespace graft::cpu {

typedef float v16 __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));

GRAFT_INLINE v16 splat16(float x) { return v16{} + x; }
GRAFT_INLINE v16 load16(const float* p) {  // unaligned
  v16 v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
GRAFT_INLINE void store16(float* p, v16 v) { __builtin_memcpy(p, &v, sizeof v); }
// The first n (< 16) lanes from p, the rest `fill`.
GRAFT_INLINE v16 load16_part(const float* p, int64_t n, float fill = 0.f) {
  v16 v = splat16(fill);
  for (int64_t i = 0; i < n; ++i) v[i] = p[i];
  return v;
}
GRAFT_INLINE void store16_part(float* p, v16 v, int64_t n) {
  for (int64_t i = 0; i < n; ++i) p[i] = v[i];
}
// mask lanes (all ones / zero, from a comparison) ? a : b
GRAFT_INLINE v16 select16(v16i mask, v16 a, v16 b) { return mask ? a : b; }

GRAFT_INLINE float max_lane(v16 v) {
  float m = v[0];
  for (int l = 1; l < 16; ++l) m = v[l] > m ? v[l] : m;
  return m;
}
GRAFT_INLINE float sum_lanes(v16 v) {
  float s = 0;
  for (int l = 0; l < 16; ++l) s += v[l];
  return s;
}

// exp_fast (vector_math.h) lane by lane, the same operations in the same order, so the same results.
GRAFT_INLINE v16 exp16(v16 x) {
  v16 xc = select16(x < -104.0f, splat16(-104.0f), x);
  xc = select16(xc > 89.0f, splat16(89.0f), xc);
  xc = select16(xc != xc, splat16(0.0f), xc);
  v16 n;
  const v16 p = exp_reduced(xc, n);
  const v16i ni = __builtin_convertvector(n, v16i);
  const v16i n1 = ni >> 1, n2 = ni - n1;
  const v16 s1 = (v16)((n1 + 127) << 23), s2 = (v16)((n2 + 127) << 23);
  v16 out = p * s1 * s2;
  out = select16(x > 89.0f, splat16(__builtin_inff()), out);
  out = select16(x < -104.0f, splat16(0.0f), out);
  return select16(x != x, x, out);
}

}  // namespace graft::cpu
