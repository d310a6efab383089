#include "backend/cpu/kernels/epilogue_math.h"

#include "backend/cpu/vector_math.h"

namespace graft::cpu {

GRAFT_CLONES void clamp_span(float* y, int64_t n, float lo, float hi) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = y[i];
    float m = select(v > lo, v, lo);
    m = select(m < hi, m, hi);
    y[i] = select(v != v, v, m);
  }
}

GRAFT_CLONES void hardswish_span(float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = y[i];
    float f = v * float(1.0 / 6.0) + 0.5f;
    f = select(f > 0.f, f, 0.f);
    f = select(f < 1.f, f, 1.f);
    y[i] = v * f;
  }
}

}  // namespace graft::cpu
