#pragma once
// Folds what follows an f32 convolution into it: a per-output-channel bias Add, then a residual Add of
// a tensor of the output's shape, then Max(., c) and/or Min(., c) with scalar constants (Relu, ReLU6,
// Clip) or a gate y · f(y): HardSwish (y · Min(Max(y · 1/6 + 0.5, 0), 1), as the ONNX importer writes it)
// or SiLU (y · Logistic(y)). Convolution -> Add(bias) [-> Add(residual)] [-> Max] [-> Min | -> gate] becomes
// one cpu.convolution op (ConvolutionEpilogue, backend/cpu/lowered.h), which the CPU kernel runs as one
// oneDNN primitive (bias, sum and gate post-ops) followed by a NaN-propagating clamp of its own.
#include "graft/graph/graph.h"

namespace graft::cpu {

Graph fuse_conv_epilogues(const Graph& g, int* fused);

}  // namespace graft::cpu
