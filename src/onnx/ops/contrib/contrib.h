#pragma once
// What the com.microsoft converters (contrib/*.cpp, one file per family) share.
#include "onnx/converter.h"

namespace graft::onnx {

inline constexpr const char* kMs = "com.microsoft";

// x plus the optional bias input `bias_input` (converted to x's dtype).
inline Node with_bias(OpContext& c, Node x, int bias_input) {
  if (auto b = c.optional_input(bias_input)) return x + Convert(*b, x.dtype());
  return x;
}

}  // namespace graft::onnx
