#pragma once
// Attention fusion: the chain imported transformers spell attention with,
//
//   s = DotGeneral(Q, K^T)            batch {0, 1}, [B, H, S, D] x [B, H, D, T] (or K as [B, H, T, D])
//   s = s * c  |  s / c               optional, c a scalar constant
//   s = s + mask                      optional, mask f32 broadcasting to [B, H, S, T]
//   p = softmax(s, last axis)
//   o = DotGeneral(p, V)              [B, H, S, T] x [B, H, T, Dv]
//   o = Transpose(o, perm)            optional
//
// becomes one cpu.attention op (FusedAttention, backend/cpu/lowered.h; kernels/attention.cpp) when every intermediate has no other
// use. Transposes that produce Q, K or V are folded into the kernel's strided reads, and the transpose
// after the product into its strided writes. f32 only.
#include "graft/graph/graph.h"

namespace graft::cpu {

Graph fuse_attention(const Graph& g, int* fused);

}  // namespace graft::cpu
