#pragma once
// Scalar math written so that GCC vectorizes loops over it (no calls into libm, selects instead of
// branches). Accuracy is stated at each function and checked against libm in the tests.
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

namespace graft::cpu {

// exp for f32, Cephes-style: range reduction by ln 2 and a degree-6 polynomial; within 2 ulp of
// std::exp for normal results, inf above 88.72, 0 where the result would be subnormal, NaN kept.
inline float exp_f32(float x) {
  const float hi = 88.7228394f, lo = -87.3365479f;
  float xc = x < lo ? lo : (x > hi ? hi : x);
  float fx = xc * 1.44269504088896341f + 0.5f;
  float n = std::floor(fx);
  float r = xc - n * 0.693359375f + n * 2.12194440e-4f;
  float r2 = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float y = p * r2 + r + 1.0f;
  int32_t e = int32_t(n) + 127;
  float scale = std::bit_cast<float>(uint32_t(e < 1 ? 1 : e) << 23);
  float out = y * scale;
  out = x > hi ? std::numeric_limits<float>::infinity() : out;
  out = x < lo ? 0.0f : out;
  return x != x ? x : out;
}

}  // namespace graft::cpu
