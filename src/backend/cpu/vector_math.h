#pragma once
// Scalar math written so that GCC vectorizes loops over it: no calls into libm, selects as bit masks
// instead of branches, and every function always inlined. GCC will not inline an ordinary inline
// function into a target_clones clone ("target specific option mismatch"), and a call left in a loop
// stops its vectorization, so hot loops in the AVX2/AVX-512 clones depend on GRAFT_INLINE here.
// Accuracy is stated at each function and checked against libm in the tests.
#include <cstdint>
#include <type_traits>

#if defined(__clang__)
// clang (the fuzzing build, fuzz/) cannot multiversion function templates: baseline ISA only there.
#define GRAFT_CLONES
#else
// Clones by x86-64 feature level, which the resolver tests by CPU features: v3 (AVX2 + FMA) and v4
// (AVX-512 F/BW/CD/DQ/VL). ("arch=skylake-avx512" is tested as *that CPU model*: AMD Zen 4 and Intel
// Sapphire Rapids got the "avx2" clone, which also lacks FMA; measured on the development machine.)
#define GRAFT_CLONES __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#endif
#define GRAFT_INLINE [[gnu::always_inline]] inline

namespace graft::cpu {

// c ? a : b as bit masks. A plain ?: whose arm is computed arithmetic keeps GCC from vectorizing the loop
// under the default -ftrapping-math (the arm is sunk into a branch, which may not be speculated).
template <typename C>
GRAFT_INLINE C select(bool c, C a, C b) {
  using U = std::conditional_t<sizeof(C) == 4, uint32_t, uint64_t>;
  const U m = U(0) - U(c);
  return __builtin_bit_cast(C, U((__builtin_bit_cast(U, a) & m) | (__builtin_bit_cast(U, b) & ~m)));
}

// The core of exp for f32, on a float or a vector of floats (vec16.h): for xc (finite, in [-104, 89]) the
// n = round(xc / ln 2) and e^r, r = xc - n ln 2 (ln 2 split in two so n ln2_hi is exact), |r| <= ln2 / 2, by
// its Taylor series to r^7 (truncation error < 6e-9 relative).
template <typename T>
GRAFT_INLINE T exp_reduced(T xc, T& n) {
  // Round to nearest by adding and removing 1.5 * 2^23 (std::floor would not vectorize: GCC keeps
  // roundps out of loops under the default -ftrapping-math).
  n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  T r = xc - n * 0.693145751953125f;
  r = r - n * 1.428606820309417e-6f;
  T p = r * (1.0f / 5040.0f) + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  return p * r + 1.0f;
}

// exp for f32: e^x = 2^n e^r (exp_reduced), with 2^n applied as two halves so that subnormal results and
// results near FLT_MAX come out right. Overflow gives inf, underflow 0, NaN stays NaN.
GRAFT_INLINE float exp_fast(float x) {
  float xc = select(x < -104.0f, -104.0f, x);
  xc = select(xc > 89.0f, 89.0f, xc);
  xc = select(xc != xc, 0.0f, xc);  // NaN: any finite n will do (the result is x), but int32_t(NaN) is undefined
  float n;
  const float p = exp_reduced(xc, n);
  const int32_t ni = int32_t(n);
  const int32_t n1 = ni >> 1, n2 = ni - n1;
  const float s1 = __builtin_bit_cast(float, uint32_t(n1 + 127) << 23);
  const float s2 = __builtin_bit_cast(float, uint32_t(n2 + 127) << 23);
  float out = p * s1 * s2;
  out = select(x > 89.0f, __builtin_inff(), out);
  out = select(x < -104.0f, 0.0f, out);
  return select(x != x, x, out);
}

// erf(x) / x as a polynomial in u = x^2, for |x| <= 1 (Chebyshev fit, max error 1.3e-9).
GRAFT_INLINE float erf_over_x(float u) {
  float p = 7.87587506269e-5f;
  p = p * u - 8.01686428717e-4f;
  p = p * u + 5.18908742343e-3f;
  p = p * u - 2.68542120106e-2f;
  p = p * u + 1.12835947152e-1f;
  p = p * u - 3.76126266667e-1f;
  p = p * u + 1.12837916585f;
  return p;
}

// 1 + erf(z) in f32 to about 1e-7 absolute, without libm. |z| <= 1: 1 + z * P(z^2). |z| > 1: with
// erfc(|z|) = exp(-z^2) * Q(1/|z|), it is 2 - erfc for z > 0 and erfc itself for z < 0 (so the negative
// tail keeps its relative accuracy). P and Q are Chebyshev fits of erf(sqrt(u))/sqrt(u) on [0, 1] and of
// erfc(1/t) * exp(1/t^2) on (0, 1], made for graft with mpmath (max error 1.3e-9 and 7.1e-8).
GRAFT_INLINE float one_plus_erf_f32(float z) {
  const float a = __builtin_fabsf(z);
  const float u = z * z;
  const float p = erf_over_x(u);
  const float small = 1.0f + z * p;
  const float t = 1.0f / select(a > 1.0f, a, 1.0f);
  float q = -2.82821790883e-2f;
  q = q * t + 2.17103440007e-1f;
  q = q * t - 7.20253821077e-1f;
  q = q * t + 1.34471367153f;
  q = q * t - 1.50813930762f;
  q = q * t + 9.31230605196e-1f;
  q = q * t - 1.02124835572e-1f;
  q = q * t - 2.70143590821e-1f;
  q = q * t - 7.27556446332e-4f;
  q = q * t + 5.64207228643e-1f;
  q = q * t - 7.24651057266e-8f;
  const float erfc_a = exp_fast(-u) * q;
  const float large = select(z > 0.0f, 2.0f - erfc_a, erfc_a);
  const float r = select(a <= 1.0f, small, large);
  return select(z != z, z, r);
}

// erf(x) in f32: x * P(x^2) for |x| <= 1 (relative accuracy kept near 0), 1 - erfc(|x|) beyond.
GRAFT_INLINE float erf_f32(float x) {
  const float a = __builtin_fabsf(x);
  const float u = x * x;
  const float p = erf_over_x(u);
  const float near = x * p;
  const float far = one_plus_erf_f32(x) - 1.0f;  // |x| > 1: no cancellation worth speaking of
  return select(a <= 1.0f, near, far);
}

// tanh(x) in f32. |x| < 0.25: the odd Taylor series to x^11 (next term < 6e-11 relative); beyond:
// sign(x) (1 - 2 / (e^{2|x|} + 1)), which loses at most ~2 bits to cancellation near 0.25 and saturates
// to +-1 exactly for large |x|.
GRAFT_INLINE float tanh_f32(float x) {
  const float a = __builtin_fabsf(x);
  const float u = x * x;
  float p = -1382.0f / 155925.0f;
  p = p * u + 62.0f / 2835.0f;
  p = p * u - 17.0f / 315.0f;
  p = p * u + 2.0f / 15.0f;
  p = p * u - 1.0f / 3.0f;
  const float near = x + x * u * p;
  const float e = exp_fast(2.0f * select(a > 20.0f, 20.0f, a));
  const float t = 1.0f - 2.0f / (e + 1.0f);
  const float far = select(x < 0.0f, -t, t);
  return select(x != x, x, select(a < 0.25f, near, far));
}

}  // namespace graft::cpu
