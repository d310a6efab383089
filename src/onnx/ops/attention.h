#pragma once
// Head layouts and rotary embeddings shared by the default domain's Attention / RotaryEmbedding
// (attention.cpp) and the com.microsoft attention ops (contrib/attention.cpp).
#include "onnx/converter.h"

namespace graft::onnx {

// x[..., a:b] on the last axis.
Node slice_last(Node x, int64_t a, int64_t b);
// x[..., i, :] of a [..., 2|3, H] packed tensor, dropping that axis.
Node take_packed(Node x, int axis, int64_t i);
// [B, L, N*H] -> [B, N, L, H]
Node to_bnsh(Node x, int64_t heads);
// [B, N, S, H] -> [B, S, N*H]
Node from_bnsh(Node x);
// x [B, S, N, H]; cos/sin [B|1, S, 1, rd/2] in x's dtype. Rotates the first rd channels of each head.
Node apply_rotary(Node x, Node cos, Node sin, int64_t rd, bool interleaved);

}  // namespace graft::onnx
