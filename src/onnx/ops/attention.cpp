// The default domain's attention ops (opset 23), following the ONNX specification: Attention (as graft's
// attention composite, or spelled out for softcap and the qk_matmul_output stages) and RotaryEmbedding.
// Also the head-layout and rotary helpers the com.microsoft attention ops share (attention.h).
#include "onnx/ops/attention.h"

#include <cmath>
#include <limits>

namespace graft::onnx {

Node slice_last(Node x, int64_t a, int64_t b) {
  Axes starts(size_t(x.rank()), 0), limits = x.shape().dims();
  starts.back() = a;
  limits.back() = b;
  return Slice(x, starts, limits);
}

Node take_packed(Node x, int axis, int64_t i) {
  Axes starts(size_t(x.rank()), 0), limits = x.shape().dims();
  starts[size_t(axis)] = i;
  limits[size_t(axis)] = i + 1;
  return Squeeze(Slice(x, starts, limits), {axis});
}

Node to_bnsh(Node x, int64_t heads) {
  int64_t b = x.dim(0), l = x.dim(1), h = x.dim(2) / heads;
  return Transpose(Reshape(x, {b, l, heads, h}), {0, 2, 1, 3});
}

Node from_bnsh(Node x) {
  return Reshape(Transpose(x, {0, 2, 1, 3}), {x.dim(0), x.dim(2), x.dim(1) * x.dim(3)});
}

Node apply_rotary(Node x, Node cos, Node sin, int64_t rd, bool interleaved) {
  int64_t h = x.dim(3);
  Node rot = rd < h ? slice_last(x, 0, rd) : x;
  Node out;
  if (interleaved) {
    Node pairs = Reshape(rot, {x.dim(0), x.dim(1), x.dim(2), rd / 2, 2});
    Node even = take_packed(pairs, 4, 0), odd = take_packed(pairs, 4, 1);
    Node oe = even * cos - odd * sin, oo = odd * cos + even * sin;
    out = Reshape(Concatenate({ExpandDims(oe, 4), ExpandDims(oo, 4)}, 4), {x.dim(0), x.dim(1), x.dim(2), rd});
  } else {
    Node x1 = slice_last(rot, 0, rd / 2), x2 = slice_last(rot, rd / 2, rd);
    out = Concatenate({x1 * cos - x2 * sin, x2 * cos + x1 * sin}, 3);
  }
  if (rd < h) out = Concatenate({out, slice_last(x, rd, h)}, 3);
  return out;
}

namespace {

// ---- ai.onnx RotaryEmbedding (opset 23) ----
// input [B, N, S, H] or [B, S, N*H] (num_heads); cos/sin [max_pos, rd/2] indexed by position_ids [B, S],
// or already [B, S, rd/2] without position_ids.
void onnx_rotary_embedding(OpContext& c) {
  Node x = c.input(0);
  Node cos_cache = c.input(1), sin_cache = c.input(2);
  bool interleaved = c.attr_int("interleaved", 0) != 0;
  int64_t num_heads = c.attr_int("num_heads", 0);
  int64_t rd = c.attr_int("rotary_embedding_dim", 0);
  Node xs;  // [B, S, N, H]
  if (x.rank() == 4) {
    xs = Transpose(x, {0, 2, 1, 3});
  } else if (x.rank() == 3) {
    if (num_heads <= 0 || x.dim(2) % num_heads != 0)
      c.fail("a 3-d input needs attribute 'num_heads' dividing its hidden size ", x.dim(2), ", got ", num_heads);
    xs = Reshape(x, {x.dim(0), x.dim(1), num_heads, x.dim(2) / num_heads});
  } else {
    c.fail("input 'X' must be 3-d or 4-d, got ", x.shape().str());
  }
  int64_t b = xs.dim(0), s = xs.dim(1), h = xs.dim(3);
  if (rd == 0) rd = h;
  if (rd > h || rd % 2 != 0) c.fail("attribute 'rotary_embedding_dim'=", rd, " does not fit head size ", h);
  Node cos, sin;  // [B|1, S, rd/2]
  if (auto pos = c.optional_input(3)) {
    if (cos_cache.rank() != 2) c.fail("with position_ids, 'cos_cache' must be 2-d, got ", cos_cache.shape().str());
    Node p = Convert(*pos, DType::I64);
    cos = Take(cos_cache, p, 0);
    sin = Take(sin_cache, p, 0);
  } else {
    if (cos_cache.rank() != 3) c.fail("without position_ids, 'cos_cache' must be [batch, sequence, rotary_dim/2], got ",
                                      cos_cache.shape().str());
    cos = cos_cache;
    sin = sin_cache;
  }
  if (cos.rank() != 3 || cos.dim(1) != s || (cos.dim(0) != b && cos.dim(0) != 1) || cos.dim(2) != rd / 2)
    c.fail("cos/sin values of shape ", cos.shape().str(), " do not fit [", b, ", ", s, ", ", rd / 2, "]");
  Node y = apply_rotary(xs, ExpandDims(Convert(cos, x.dtype()), 2), ExpandDims(Convert(sin, x.dtype()), 2), rd,
                        interleaved);
  c.set_output(0, x.rank() == 4 ? Transpose(y, {0, 2, 1, 3}) : Reshape(y, x.shape().dims()));
}

// ---- ai.onnx Attention (opset 23) ----
// Q [B, Hq, S, D] / K, V [B, Hkv, L, D(v)], or 3-d [B, S, H*D] with q_num_heads / kv_num_heads. A past
// key/value is prepended along the sequence; causal masking is offset by the past length; attn_mask (bool,
// true = attend, or additive) may be shorter than the total length and is padded with "masked".
void onnx_attention(OpContext& c) {
  Node q = c.input(0), k = c.input(1), v = c.input(2);
  bool three_d = q.rank() == 3;
  if (three_d) {
    int64_t hq = c.attr_int("q_num_heads", 0), hkv = c.attr_int("kv_num_heads", 0);
    if (hq <= 0 || hkv <= 0) c.fail("3-d inputs need attributes 'q_num_heads' and 'kv_num_heads'");
    if (k.rank() != 3 || v.rank() != 3) c.fail("Q is 3-d, so K and V must be too; got ", k.shape().str(), " and ", v.shape().str());
    if (q.dim(2) % hq || k.dim(2) % hkv || v.dim(2) % hkv)
      c.fail("hidden sizes ", q.dim(2), "/", k.dim(2), "/", v.dim(2), " are not multiples of the head counts ", hq, "/", hkv);
    q = to_bnsh(q, hq);
    k = to_bnsh(k, hkv);
    v = to_bnsh(v, hkv);
  } else if (q.rank() != 4 || k.rank() != 4 || v.rank() != 4) {
    c.fail("Q, K and V must all be 3-d or all 4-d, got ", q.shape().str(), ", ", k.shape().str(), ", ", v.shape().str());
  }
  int64_t past = 0;
  if (auto pk = c.optional_input(4)) {
    past = pk->dim(2);
    k = Concatenate({Convert(*pk, k.dtype()), k}, 2);
  }
  if (auto pv = c.optional_input(5)) v = Concatenate({Convert(*pv, v.dtype()), v}, 2);
  c.set_output(1, k);
  c.set_output(2, v);
  if (c.has_input(6)) c.fail("input 'nonpad_kv_seqlen' (opset 24) is not supported");
  Graph& g = c.graph();
  DType dt = q.dtype();
  int64_t s = q.dim(2), d = q.dim(3), t = k.dim(2);
  if (q.dim(1) % k.dim(1) != 0) c.fail("query heads ", q.dim(1), " must be a multiple of key/value heads ", k.dim(1));
  double scale = c.has_attr("scale") ? c.attr_float("scale", 0) : 1.0 / std::sqrt(double(d));
  const double neg_inf = -std::numeric_limits<double>::infinity();
  std::optional<Node> bias;  // additive, broadcastable to [B, Hq, S, T]
  if (auto m = c.optional_input(3)) {
    Node mm = *m;
    int64_t ml = mm.dim(mm.rank() - 1);
    if (ml > t) c.fail("attn_mask's last axis is ", ml, ", longer than the ", t, " keys");
    bool is_bool = mm.dtype() == DType::Bool;
    if (!is_bool) mm = Convert(mm, dt);
    if (ml < t) {
      Axes lo(size_t(mm.rank()), 0), hi(size_t(mm.rank()), 0);
      hi.back() = t - ml;
      mm = Pad(mm, lo, hi, PadMode::Constant, is_bool ? ScalarLike(mm, 0) : ScalarLike(mm, neg_inf));
    }
    bias = is_bool ? Select(mm, g.scalar_like(0.0, dt), g.scalar_like(neg_inf, dt)) : mm;
  }
  if (c.attr_int("is_causal", 0) != 0) {
    Node i = Iota(g, DType::I64, Shape{s, t}, 0), j = Iota(g, DType::I64, Shape{s, t}, 1);
    Node visible = LessEqual(j, i + g.scalar_like(double(past), DType::I64));
    Node cb = Select(visible, g.scalar_like(0.0, dt), g.scalar_like(neg_inf, dt));
    bias = bias ? *bias + cb : cb;
  }
  double softcap = c.attr_float("softcap", 0.0);
  int64_t qk_mode = c.attr_int("qk_matmul_output_mode", 0);
  Node y;
  if (softcap == 0.0 && !c.has_output(3)) {
    y = ScaledDotProductAttention(q, k, v, bias, false, scale);
  } else {
    // Spelled out: softcap and the qk_matmul_output of a chosen stage are not part of the composite.
    int64_t hq = q.dim(1), hkv = k.dim(1);
    auto repeat_heads = [&](Node x) {
      if (hq == hkv) return x;
      Node e = BroadcastTo(ExpandDims(x, 2), Shape{x.dim(0), hkv, hq / hkv, x.dim(2), x.dim(3)});
      return Reshape(e, {x.dim(0), hq, x.dim(2), x.dim(3)});
    };
    Node scores = MatMul(q, Transpose(repeat_heads(k), {0, 1, 3, 2})) * g.scalar_like(scale, dt);
    Node qk = scores;
    if (softcap > 0) {
      scores = Tanh(scores / g.scalar_like(softcap, dt)) * g.scalar_like(softcap, dt);
      if (qk_mode == 1) qk = scores;
    }
    if (bias) scores = scores + *bias;
    if (qk_mode == 2) qk = scores;
    Node probs = Softmax(scores, -1);
    if (qk_mode == 3) qk = probs;
    c.set_output(3, qk);
    y = MatMul(probs, repeat_heads(v));
  }
  c.set_output(0, three_d ? from_bnsh(y) : y);
}

}  // namespace

void register_attention_ops(Registry& r) {
  r.add("", "Attention", 23, onnx_attention).note = "no nonpad_kv_seqlen (opset 24)";
  r.add("", "RotaryEmbedding", 23, onnx_rotary_embedding);
}

}  // namespace graft::onnx
