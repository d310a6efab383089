#pragma once
// Folds what follows an f32 convolution into it: a per-output-channel bias Add, then a residual Add of
// a tensor of the output's shape, then Max(., c) and/or Min(., c) with scalar constants (Relu, ReLU6,
// Clip). Convolution -> Add(bias) [-> Add(residual)] [-> Max] [-> Min] becomes one cpu.convolution op
// (ConvolutionEpilogue, backend/cpu/lowered.h), which the CPU kernel runs as one oneDNN primitive (bias,
// sum post-op) followed by a NaN-propagating clamp of its own.
#include "graft/graph/graph.h"

namespace graft::cpu {

Graph fuse_conv_epilogues(const Graph& g, int* fused);

}  // namespace graft::cpu
