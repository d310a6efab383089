// The quantization arithmetic shared by every form (graft/onnx/quantize.h, namespace quant).
#include <algorithm>
#include <cmath>

#include "graft/onnx/quantize.h"

namespace graft::onnx::quant {

float round_half_even(float x) { return std::nearbyint(x); }  // the default rounding mode: to nearest, ties to even

float symmetric_scale(float absmax) { return absmax > 0 ? absmax / 127.f : 1.f; }

ScaleZeroPoint asymmetric(float lo, float hi, int32_t qmin, int32_t qmax) {
  // The range always contains 0 so that zero (padding, ReLU's floor) is exactly representable.
  lo = std::min(lo, 0.f);
  hi = std::max(hi, 0.f);
  float scale = (hi - lo) / float(qmax - qmin);
  if (!(scale > 0) || !std::isfinite(scale)) return {1.f, std::clamp<int32_t>(0, qmin, qmax)};
  int32_t zp = int32_t(round_half_even(float(qmin) - lo / scale));
  return {scale, std::clamp(zp, qmin, qmax)};
}

int32_t quantize_value(float x, float scale, int32_t zero_point, int32_t qmin, int32_t qmax) {
  float q = round_half_even(x / scale) + float(zero_point);
  return int32_t(std::clamp(q, float(qmin), float(qmax)));
}

}  // namespace graft::onnx::quant
