#pragma once
// The by-hand parts of convolution epilogues, over a contiguous stretch of f32 outputs, shared by the f32
// (convolution.cpp) and int8 (quantized_conv.cpp) convolution kernels. They run over whole outputs after
// the primitive, so they are compiled in the ISA clones of vector_math.h and stream at memory speed (the
// baseline build of the clamp loop was scalar: ~7x slower than its AVX-512 clone on a 6 MB output).
#include <cstdint>

namespace graft::cpu {

// y = Min(Max(y, lo), hi) as graft's Max and Min compute them: a NaN y stays NaN (oneDNN's clip post-op
// would make it 0).
void clamp_span(float* y, int64_t n, float lo, float hi);

// y = y · min(max(y / 6 + 0.5, 0), 1), HardSwish as graft's element-wise form computes it
// (conv_epilogue.cpp); a NaN y stays NaN through the product.
void hardswish_span(float* y, int64_t n);

}  // namespace graft::cpu
