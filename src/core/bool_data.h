#pragma once
// Booleans read from files. A bool tensor's bytes must be 0 or 1: loading any other byte as a C++ bool is
// undefined behaviour, and .npy, safetensors and ONNX files come from strangers. Readers map every
// non-zero byte to 1 (true), as NumPy does when it converts such data.
#include <cstdint>

#include "graft/core/tensor.h"

namespace graft {

inline void normalize_bool_bytes(Tensor& t) {
  if (t.dtype() != DType::Bool) return;
  auto* p = static_cast<uint8_t*>(t.raw());
  for (size_t i = 0; i < t.nbytes(); ++i) p[i] = p[i] != 0;
}

}  // namespace graft
