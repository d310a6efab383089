// com.microsoft attention ops, as found in ONNX Runtime-optimized and Optimum exports: Attention,
// MultiHeadAttention, GroupQueryAttention and RotaryEmbedding. Semantics follow ONNX Runtime's contrib
// operator documentation (docs/ContribOperators.md) and its CPU kernels. Key/value caches are supported
// (Attention's past, MultiHeadAttention's and GroupQueryAttention's past_key/past_value); the more exotic
// attributes and inputs are rejected with an error naming the node and the input or attribute.
#include <cmath>
#include <limits>

#include "onnx/ops/attention.h"
#include "onnx/ops/contrib/contrib.h"

namespace graft::onnx {

namespace {

// Which keys a query may see, as a bool node broadcastable to [B, 1, S, T], from an ORT mask_index /
// key_padding_mask: lengths [B] (right padding), [2B] (end positions then start positions: left padding),
// raw 0/1 [B, T] or [B, S, T], or [B, 1, M, M] (rows [row_offset, row_offset + S) and the first T columns: the
// queries follow row_offset past tokens).
Node key_valid_mask(OpContext& c, Node m, int64_t b, int64_t s, int64_t t, const char* input_name,
                    int64_t row_offset = 0) {
  Graph& g = c.graph();
  m = Convert(m, DType::I32);
  auto positions = [&] { return Iota(g, DType::I32, Shape{b, t}, 1); };
  auto zero = [&] { return ScalarLike(m, 0); };
  if (m.rank() == 1 && m.dim(0) == b) {
    Node valid = Less(positions(), Reshape(m, {b, 1}));
    return Reshape(valid, {b, 1, 1, t});
  }
  if (m.rank() == 1 && m.dim(0) == 2 * b) {
    Node end = Reshape(Slice(m, {0}, {b}), {b, 1});
    Node start = Reshape(Slice(m, {b}, {2 * b}), {b, 1});
    Node p = positions();
    return Reshape(And(GreaterEqual(p, start), Less(p, end)), {b, 1, 1, t});
  }
  if (m.rank() == 2 && m.dim(0) == b && m.dim(1) == t) return Reshape(NotEqual(m, zero()), {b, 1, 1, t});
  if (m.rank() == 3 && m.dim(0) == b && m.dim(1) == s && m.dim(2) == t)
    return Reshape(NotEqual(m, zero()), {b, 1, s, t});
  if (m.rank() == 4 && m.dim(0) == b && m.dim(1) == 1 && m.dim(2) >= row_offset + s && m.dim(3) >= t)
    return NotEqual(Slice(m, {0, 0, row_offset, 0}, {b, 1, row_offset + s, t}), zero());
  c.fail("input '", input_name, "' of shape ", m.shape().str(), " is not a supported mask format (expected [", b,
         "], [", 2 * b, "], [", b, ", ", t, "], [", b, ", ", s, ", ", t, "] or [", b, ", 1, M, M]) for batch ", b,
         ", query length ", s, ", key length ", t);
}

// Causal visibility (key j visible to query i when j <= i + t - s), as a bool [1, 1, s, t] node.
Node causal_mask(Graph& g, int64_t s, int64_t t) {
  Node i = Iota(g, DType::I64, Shape{1, 1, s, t}, 2);
  Node j = Iota(g, DType::I64, Shape{1, 1, s, t}, 3);
  return LessEqual(j, i + g.scalar_like(double(t - s), DType::I64));
}

struct MaskParts {
  std::optional<Node> valid;     // bool, true = attend
  std::optional<Node> additive;  // float, added to the scores
  std::optional<Node> causal;    // bool, true = attend; the others get the lowest float, whatever else applies
  void restrict(Node v) { valid = valid ? And(*valid, v) : v; }
  void add(Node a) { additive = additive ? *additive + a : a; }
  // ORT fills masked scores with mask_filter_value (a finite number) rather than -inf; its CPU kernels give
  // the keys after a query (unidirectional) the lowest float instead, so that a query whose visible keys
  // are all padding still sees only those.
  std::optional<Node> build(DType dtype, double filter) const {
    std::optional<Node> m;
    Graph* g = valid ? valid->graph() : causal ? causal->graph() : additive ? additive->graph() : nullptr;
    if (valid) m = Select(*valid, g->scalar_like(0.0, dtype), g->scalar_like(filter, dtype));
    if (additive) {
      Node a = Convert(*additive, dtype);
      m = m ? *m + a : a;
    }
    if (causal) {
      Node lowest = g->scalar_like(-double(std::numeric_limits<float>::max()), dtype);
      m = Select(*causal, m ? *m : g->scalar_like(0.0, dtype), lowest);
    }
    return m;
  }
};

// q [B, N, S, H], k/v [B, Nkv, T, H(v)] -> [B, S, N*Hv].
Node attend(OpContext& c, Node q, Node k, Node v, const MaskParts& mask, double filter) {
  std::optional<double> scale;
  if (auto s = c.attr_float("scale", 0.0); s != 0.0) scale = s;
  return from_bnsh(ScaledDotProductAttention(q, k, v, mask.build(q.dtype(), filter), false, scale));
}

int64_t required_heads(OpContext& c, const char* attr) {
  auto n = c.attr_int_opt(attr);
  if (!n || *n <= 0) c.fail("attribute '", attr, "' is required and must be positive");
  return *n;
}

// True when an optional past-state input is present with a non-empty sequence axis.
bool has_nonempty_past(OpContext& c, int input, int seq_axis) {
  auto p = c.optional_input(input);
  return p && p->rank() > seq_axis && p->dim(seq_axis) > 0;
}

// ---- rotary embeddings ----

// cache [max_pos, rd/2] rows at positions [B|1, S] -> [B|1, S, 1, rd/2] in `dtype`.
Node gather_cache(Node cache, Node positions, DType dtype) {
  return ExpandDims(Convert(Take(cache, positions, 0), dtype), 2);
}

// Positions 0..s-1 as [1, s] int64.
Node default_positions(Graph& g, int64_t s) { return Iota(g, DType::I64, Shape{1, s}, 1); }

void rotary_embedding(OpContext& c) {
  Node x = c.input(0);
  Node cos_cache = c.input(2), sin_cache = c.input(3);
  if (c.attr_int("is_packed_batching", 0) != 0) c.fail("attribute 'is_packed_batching'=1 is not supported");
  bool interleaved = c.attr_int("interleaved", 0) != 0;
  int64_t num_heads = c.attr_int("num_heads", 0);
  int64_t rd = c.attr_int("rotary_embedding_dim", 0);
  if (cos_cache.rank() != 2) c.fail("input 'cos_cache' must be 2-d, got ", cos_cache.shape().str());
  int64_t half = cos_cache.dim(1);
  Node xs;  // [B, S, N, H]
  bool four_d = x.rank() == 4;
  if (four_d) {
    xs = Transpose(x, {0, 2, 1, 3});
  } else if (x.rank() == 3) {
    int64_t hidden = x.dim(2);
    int64_t head = num_heads > 0 ? hidden / num_heads : (rd > 0 ? rd : 2 * half);
    if (head <= 0 || hidden % head != 0)
      c.fail("cannot split hidden size ", hidden, " into heads (attribute 'num_heads'=", num_heads, ")");
    xs = Reshape(x, {x.dim(0), x.dim(1), hidden / head, head});
  } else {
    c.fail("input 'input' must be 3-d or 4-d, got ", x.shape().str());
  }
  int64_t b = xs.dim(0), s = xs.dim(1), h = xs.dim(3);
  if (rd == 0) rd = h;
  if (rd > h || rd % 2 != 0 || rd / 2 > half)
    c.fail("attribute 'rotary_embedding_dim'=", rd, " does not fit head size ", h, " and cos_cache ",
           cos_cache.shape().str());
  Node pos = Convert(c.input(1), DType::I64);
  if (pos.rank() <= 1 && pos.shape().size() == 1) {
    pos = default_positions(c.graph(), s) + Reshape(pos, {1, 1});  // a scalar offset
  } else if (!(pos.rank() == 2 && (pos.dim(0) == b || pos.dim(0) == 1) && pos.dim(1) == s)) {
    c.fail("input 'position_ids' of shape ", pos.shape().str(), " must be [", b, ", ", s, "] or [1]");
  }
  Node cos = gather_cache(rd / 2 < half ? slice_last(cos_cache, 0, rd / 2) : cos_cache, pos, x.dtype());
  Node sin = gather_cache(rd / 2 < half ? slice_last(sin_cache, 0, rd / 2) : sin_cache, pos, x.dtype());
  Node y = apply_rotary(xs, cos, sin, rd, interleaved);
  c.set_output(0, four_d ? Transpose(y, {0, 2, 1, 3}) : Reshape(y, x.shape().dims()));
}

// ---- Attention (packed QKV weights) ----

void attention(OpContext& c) {
  Node x = c.input(0), w = c.input(1);
  int64_t n = required_heads(c, "num_heads");
  if (c.attr_int("do_rotary", 0) != 0) c.fail("attribute 'do_rotary'=1 is not supported");
  if (c.attr_int("past_present_share_buffer", 0) != 0) c.fail("attribute 'past_present_share_buffer'=1 is not supported");
  if (x.rank() != 3) c.fail("input 'input' must be [batch, sequence, hidden], got ", x.shape().str());
  if (w.rank() != 2 || w.dim(0) != x.dim(2)) c.fail("input 'weights' has shape ", w.shape().str(), " for input ", x.shape().str());
  int64_t total = w.dim(1);
  std::vector<int64_t> sizes = c.attr_ints("qkv_hidden_sizes");
  if (sizes.empty()) {
    if (total % 3 != 0) c.fail("weights width ", total, " is not divisible by 3 (attribute 'qkv_hidden_sizes' is absent)");
    sizes = {total / 3, total / 3, total / 3};
  }
  if (sizes.size() != 3 || sizes[0] != sizes[1] || sizes[0] + sizes[1] + sizes[2] != total || sizes[0] % n != 0 ||
      sizes[2] % n != 0)
    c.fail("attribute 'qkv_hidden_sizes' does not match weights width ", total, " and num_heads ", n);
  Node qkv = MatMul(x, Convert(w, x.dtype()));
  if (auto bias = c.optional_input(2)) qkv = qkv + Convert(*bias, x.dtype());
  Node q = to_bnsh(slice_last(qkv, 0, sizes[0]), n);
  Node k = to_bnsh(slice_last(qkv, sizes[0], 2 * sizes[0]), n);
  Node v = to_bnsh(slice_last(qkv, 2 * sizes[0], total), n);
  int64_t b = x.dim(0), s = x.dim(1);
  // A past state [2, B, N, P, H] (keys, values) is prepended; the queries follow its P tokens.
  int64_t past_len = 0;
  if (has_nonempty_past(c, 4, 3)) {
    Node past = Convert(c.input(4), x.dtype());
    if (sizes[2] != sizes[0]) c.fail("input 'past' needs equal K and V hidden sizes (attribute 'qkv_hidden_sizes')");
    if (past.rank() != 5 || past.dim(0) != 2 || past.dim(1) != b || past.dim(2) != n || past.dim(4) != sizes[0] / n)
      c.fail("input 'past' must be [2, ", b, ", ", n, ", past_length, ", sizes[0] / n, "], got ", past.shape().str());
    past_len = past.dim(3);
    k = Concatenate({take_packed(past, 0, 0), k}, 2);
    v = Concatenate({take_packed(past, 0, 1), v}, 2);
  }
  int64_t t = past_len + s;
  MaskParts mask;
  if (auto m = c.optional_input(3)) mask.restrict(key_valid_mask(c, *m, b, s, t, "mask_index", past_len));
  if (c.attr_int("unidirectional", 0) != 0) mask.causal = causal_mask(c.graph(), s, t);
  if (auto ab = c.optional_input(5)) mask.add(*ab);
  c.set_output(0, attend(c, q, k, v, mask, c.attr_float("mask_filter_value", -10000.0)));
  if (c.has_output(1)) {
    if (sizes[2] != sizes[0]) c.fail("output 'present' needs equal K and V hidden sizes (attribute 'qkv_hidden_sizes')");
    c.set_output(1, Concatenate({ExpandDims(k, 0), ExpandDims(v, 0)}, 0));
  }
}

// ---- MultiHeadAttention ----

void multi_head_attention(OpContext& c) {
  Node query = c.input(0);
  int64_t n = required_heads(c, "num_heads");
  if (c.has_input(9)) c.fail("input 'cache_indirection' is not supported");
  if (c.has_input(8) && c.has_input(6))
    c.fail("input 'past_sequence_length' (past and present sharing one buffer) is not supported");
  std::optional<Node> bias = c.optional_input(3);
  if (bias) *bias = Convert(*bias, query.dtype());
  Node q, k, v;
  int64_t b = query.dim(0), s = query.dim(1);
  if (query.rank() == 5) {
    // Packed QKV [B, S, N, 3, H].
    if (c.has_input(1) || c.has_input(2)) c.fail("packed QKV 'query' [B, S, N, 3, H] takes no 'key'/'value' inputs");
    int64_t h = query.dim(4);
    if (bias) query = query + Transpose(Reshape(*bias, {3, n, h}), {1, 0, 2});  // [N, 3, H] broadcast
    q = Transpose(take_packed(query, 3, 0), {0, 2, 1, 3});
    k = Transpose(take_packed(query, 3, 1), {0, 2, 1, 3});
    v = Transpose(take_packed(query, 3, 2), {0, 2, 1, 3});
  } else {
    if (query.rank() != 3) c.fail("input 'query' must be 3-d or 5-d, got ", query.shape().str());
    int64_t dq = query.dim(2);
    if (dq % n != 0) c.fail("query hidden size ", dq, " is not divisible by attribute 'num_heads'=", n);
    Node key = c.input(1);
    if (bias) query = query + slice_last(*bias, 0, dq);
    q = to_bnsh(query, n);
    if (key.rank() == 5) {
      // Packed KV [B, L, N, 2, H].
      if (c.has_input(2)) c.fail("packed KV 'key' [B, L, N, 2, H] takes no 'value' input");
      int64_t h = key.dim(4);
      Node kk = take_packed(key, 3, 0), vv = take_packed(key, 3, 1);
      if (bias) {
        kk = kk + Reshape(slice_last(*bias, dq, dq + n * h), {n, h});
        vv = vv + Reshape(slice_last(*bias, dq + n * h, dq + 2 * n * h), {n, h});
      }
      k = Transpose(kk, {0, 2, 1, 3});
      v = Transpose(vv, {0, 2, 1, 3});
    } else if (key.rank() == 4) {
      // Already [B, N, L, H] (cross-attention keys/values reused from an earlier step).
      if (bias) c.fail("input 'bias' with 4-d 'key'/'value' ([B, N, L, H]) is not supported");
      if (has_nonempty_past(c, 6, 2) || has_nonempty_past(c, 7, 2))
        c.fail("inputs 'past_key'/'past_value' cannot extend 4-d 'key'/'value' ([B, N, L, H], cross attention)");
      k = key;
      v = c.input(2);
    } else if (key.rank() == 3) {
      Node value = c.input(2);
      int64_t dk = key.dim(2), dv = value.dim(2);
      if (bias) {
        key = key + slice_last(*bias, dq, dq + dk);
        value = value + slice_last(*bias, dq + dk, dq + dk + dv);
      }
      k = to_bnsh(key, n);
      v = to_bnsh(value, n);
    } else {
      c.fail("input 'key' must be 3-d, 4-d or 5-d, got ", key.shape().str());
    }
  }
  // Self-attention with a cache: past_key/past_value [B, N, P, H] are prepended (present = the concatenation),
  // and the queries follow the P past tokens.
  int64_t past_len = 0;
  if (has_nonempty_past(c, 6, 2) || has_nonempty_past(c, 7, 2)) {
    if (!has_nonempty_past(c, 6, 2) || !has_nonempty_past(c, 7, 2))
      c.fail("inputs 'past_key' and 'past_value' go together");
    Node pk = Convert(c.input(6), k.dtype()), pv = Convert(c.input(7), v.dtype());
    if (pk.rank() != 4 || pv.rank() != 4 || pk.dim(0) != b || pk.dim(1) != n || pk.dim(3) != k.dim(3) ||
        pv.dim(0) != b || pv.dim(1) != n || pv.dim(2) != pk.dim(2) || pv.dim(3) != v.dim(3))
      c.fail("inputs 'past_key' ", pk.shape().str(), " / 'past_value' ", pv.shape().str(), " must be [", b, ", ", n,
             ", past_length, head_size] (BNSH)");
    past_len = pk.dim(2);
    k = Concatenate({pk, k}, 2);
    v = Concatenate({pv, v}, 2);
  }
  int64_t t = k.dim(2);
  MaskParts mask;
  if (auto m = c.optional_input(4)) mask.restrict(key_valid_mask(c, *m, b, s, t, "key_padding_mask", past_len));
  if (c.attr_int("unidirectional", 0) != 0) mask.causal = causal_mask(c.graph(), s, t);
  if (auto ab = c.optional_input(5)) mask.add(*ab);
  c.set_output(0, attend(c, q, k, v, mask, c.attr_float("mask_filter_value", -10000.0)));
  if (c.has_output(1)) c.set_output(1, k);
  if (c.has_output(2)) c.set_output(2, v);
}

// ---- GroupQueryAttention ----
// Follows ONNX Runtime's CPU kernel. seqlens_k[b] + 1 is entry b's total length (past + new tokens, right
// padding beyond it); total_sequence_length (needed while tracing: it decides the present shape) is the
// batch's largest. present_key/value are [B, Nkv, max(total_sequence_length, past length), H]: entry b's
// valid past rows, then its new rows at position past_b, zeros after. This covers both cache layouts:
// a past of the previous length (present one longer), and a shared buffer of max_sequence_length (present
// as long as the past, the new rows written at each entry's position). On the first prompt
// (sequence length == total_sequence_length) past_b is 0; otherwise past_b = seqlens_k[b] + 1 - S, so the
// positions and masks are built from seqlens_k in the graph and one trace serves every decode step of a
// given shape.

// The present cache: rows [0, past_b) of `past` (or none), then `fresh` [B, Nkv, S, H] at row past_b, zeros
// elsewhere, `t` rows in all. past_b: [B] int64 node, or nullopt when it is 0 for every entry.
Node build_present(Graph& g, std::optional<Node> past, Node fresh, std::optional<Node> past_b, int64_t t) {
  int64_t b = fresh.dim(0), nkv = fresh.dim(1), s = fresh.dim(2), h = fresh.dim(3);
  if (!past_b) return s < t ? Pad(fresh, {0, 0, 0, 0}, {0, 0, t - s, 0}) : fresh;
  Node base;
  if (past) {
    Node p = Convert(*past, fresh.dtype());
    int64_t pl = p.dim(2);
    if (pl < t) p = Pad(p, {0, 0, 0, 0}, {0, 0, t - pl, 0});
    else if (pl > t) p = Slice(p, {0, 0, 0, 0}, {b, nkv, t, h});
    Node j = Iota(g, DType::I64, Shape{1, 1, t, 1}, 2);
    Node keep = Less(j, Reshape(*past_b, {b, 1, 1, 1}));
    base = Select(keep, p, ScalarLike(p, 0.0));
  } else {
    base = Zeros(g, fresh.dtype(), Shape{b, nkv, t, h});
  }
  Node zero = g.scalar_like(0, DType::I64);
  std::vector<Node> rows;
  for (int64_t i = 0; i < b; ++i) {
    Node row = b == 1 ? base : Slice(base, {i, 0, 0, 0}, {i + 1, nkv, t, h});
    Node upd = b == 1 ? fresh : Slice(fresh, {i, 0, 0, 0}, {i + 1, nkv, s, h});
    Node at = Reshape(Slice(*past_b, {i}, {i + 1}), {});
    rows.push_back(DynamicUpdateSlice(row, upd, {zero, zero, at, zero}));
  }
  return b == 1 ? rows[0] : Concatenate(rows, 0);
}

// Attention spelled out for what the composite lacks: softcap (applied to the scaled scores before the
// bias and mask) and a sink logit per head (smooth softmax / head_sink: one more softmax term, no value).
// q [B, N, S, H], k/v [B, Nkv, T, H]; visible: bool broadcastable to [B, N, S, T]; returns [B, N, S, Hv].
Node attend_explicit(Graph& g, Node q, Node k, Node v, double scale, double softcap, std::optional<Node> bias,
                     Node visible, std::optional<Node> sink) {
  DType dt = q.dtype();
  int64_t n = q.dim(1), nkv = k.dim(1);
  auto repeat_heads = [&](Node x) {
    if (n == nkv) return x;
    Node e = BroadcastTo(ExpandDims(x, 2), Shape{x.dim(0), nkv, n / nkv, x.dim(2), x.dim(3)});
    return Reshape(e, {x.dim(0), n, x.dim(2), x.dim(3)});
  };
  Node scores = MatMul(q, Transpose(repeat_heads(k), {0, 1, 3, 2})) * g.scalar_like(scale, dt);
  if (softcap > 0) scores = Tanh(scores / g.scalar_like(softcap, dt)) * g.scalar_like(softcap, dt);
  if (bias) scores = scores + *bias;
  scores = Select(visible, scores, g.scalar_like(-std::numeric_limits<double>::infinity(), dt));
  Node probs;
  if (sink) {
    Node col = BroadcastTo(Reshape(*sink, {1, n, 1, 1}),
                           Shape{scores.dim(0), n, scores.dim(2), 1});
    int64_t t = scores.dim(3);
    Node all = Softmax(Concatenate({scores, col}, 3), -1);
    probs = slice_last(all, 0, t);
  } else {
    probs = Softmax(scores, -1);
  }
  return MatMul(probs, repeat_heads(v));
}

void group_query_attention(OpContext& c) {
  Node query = c.input(0);
  Graph& g = c.graph();
  int64_t n = required_heads(c, "num_heads");
  int64_t nkv = required_heads(c, "kv_num_heads");
  if (n % nkv != 0) c.fail("attribute 'num_heads'=", n, " is not a multiple of attribute 'kv_num_heads'=", nkv);
  int64_t window = c.attr_int("local_window_size", -1);
  double softcap = c.attr_float("softcap", 0.0);
  bool smooth = c.attr_int("smooth_softmax", 0) != 0;
  if (c.attr_int("qk_output", 0) != 0 || c.has_output(3)) c.fail("attribute 'qk_output' (output 'output_qk') is not supported");
  if (c.attr_int("sliding_window_cache", 0) != 0) c.fail("attribute 'sliding_window_cache'=1 is not supported");
  if (c.attr_int("k_quant_type", 0) != 0 || c.attr_int("v_quant_type", 0) != 0 || c.attr_int("kv_cache_bit_width", 0) != 0)
    c.fail("a quantized key/value cache (attributes 'k_quant_type', 'v_quant_type', 'kv_cache_bit_width') is not supported");
  if (c.has_input(14) || c.has_input(15)) c.fail("inputs 'q_norm_weight'/'k_norm_weight' are not supported");
  if (query.rank() != 3) c.fail("input 'query' must be [batch, sequence, hidden], got ", query.shape().str());
  int64_t b = query.dim(0), s = query.dim(1);
  Node qx, kx, vx;  // [B, S, heads*H]
  int64_t h;
  if (!c.has_input(1)) {
    // Packed QKV [B, S, (N + 2 Nkv) H].
    if (c.has_input(2)) c.fail("packed QKV (no 'key') takes no 'value' input");
    h = query.dim(2) / (n + 2 * nkv);
    if (h * (n + 2 * nkv) != query.dim(2)) c.fail("packed QKV width ", query.dim(2), " does not split into heads");
    qx = slice_last(query, 0, n * h);
    kx = slice_last(query, n * h, (n + nkv) * h);
    vx = slice_last(query, (n + nkv) * h, (n + 2 * nkv) * h);
  } else {
    qx = query;
    kx = c.input(1);
    vx = c.input(2);
    h = query.dim(2) / n;
    if (kx.rank() != 3 || vx.rank() != 3 || h * n != query.dim(2) || kx.dim(2) != nkv * h || vx.dim(2) != nkv * h ||
        kx.dim(1) != s || vx.dim(1) != s || kx.dim(0) != b || vx.dim(0) != b)
      c.fail("query ", query.shape().str(), ", key ", kx.shape().str(), ", value ", vx.shape().str(),
             " do not match attributes 'num_heads'=", n, ", 'kv_num_heads'=", nkv,
             " (key/value must be [batch, sequence, kv_num_heads * head_size]; a shared key/value cache without new "
             "keys is not supported)");
  }
  std::optional<Node> past_k = c.optional_input(3), past_v = c.optional_input(4);
  if (bool(past_k) != bool(past_v)) c.fail("inputs 'past_key' and 'past_value' go together");
  int64_t past_len = 0;
  if (past_k) {
    for (Node p : {*past_k, *past_v})
      if (p.rank() != 4 || p.dim(0) != b || p.dim(1) != nkv || p.dim(3) != h)
        c.fail("inputs 'past_key'/'past_value' must be [", b, ", ", nkv, ", past_length, ", h, "] (BNSH), got ",
               p.shape().str());
    if (past_k->dim(2) != past_v->dim(2)) c.fail("inputs 'past_key' and 'past_value' differ in length");
    past_len = past_k->dim(2);
    if (past_len > 0 && (!c.has_input(5) || !c.has_input(6)))
      c.fail("inputs 'past_key'/'past_value' with a non-empty cache need inputs 'seqlens_k' and "
             "'total_sequence_length' (which past rows are valid)");
  }
  // total_sequence_length decides the present length and whether this is the first prompt.
  int64_t total = s + past_len;
  if (c.has_input(6)) {
    const Tensor& tt = c.require_known(6, "input 'total_sequence_length'");
    if (tt.size() != 1) c.fail("input 'total_sequence_length' must hold one value, got ", tt.shape().str());
    total = int64_t(tt.value_as_double(0));
  }
  if (total < s) c.fail("input 'total_sequence_length'=", total, " is shorter than the sequence length ", s);
  bool first_prompt = s == total;
  if (!first_prompt && s > 1 && b != 1)
    c.fail("sequence length ", s, " with a past state (total_sequence_length=", total,
           ") needs batch size 1 (ONNX Runtime's rule for continued prompts)");
  int64_t t = std::max(total, past_len);  // present length
  // Per entry: total length and past length, [B] int64.
  Node total_b;
  if (auto sk = c.optional_input(5)) {
    if (sk->shape().size() != b) c.fail("input 'seqlens_k' of shape ", sk->shape().str(), " must be [", b, "]");
    total_b = Convert(Reshape(*sk, {b}), DType::I64) + g.scalar_like(1, DType::I64);
  } else {
    total_b = Full(g, DType::I64, Shape{b}, double(total));
  }
  std::optional<Node> past_b;
  if (!first_prompt) past_b = total_b - g.scalar_like(double(s), DType::I64);
  Node steps = Iota(g, DType::I64, Shape{1, s}, 1);
  Node q_pos = past_b ? Reshape(*past_b, {b, 1}) + steps : steps;  // [B|1, S]

  Node q4 = Reshape(qx, {b, s, n, h}), k4 = Reshape(kx, {b, s, nkv, h});
  if (c.attr_int("do_rotary", 0) != 0) {
    if (!c.has_input(7) || !c.has_input(8)) c.fail("attribute 'do_rotary'=1 needs inputs 'cos_cache' and 'sin_cache'");
    Node cos_cache = c.input(7), sin_cache = c.input(8);
    if (cos_cache.rank() != 2 || sin_cache.shape() != cos_cache.shape())
      c.fail("inputs 'cos_cache'/'sin_cache' must both be [max_position, rotary_dim / 2], got ", cos_cache.shape().str(),
             " and ", sin_cache.shape().str());
    int64_t rd = 2 * cos_cache.dim(1);
    if (rd > h) c.fail("input 'cos_cache' ", cos_cache.shape().str(), " is wider than head size ", h);
    Node pos = c.has_input(9) ? Convert(c.input(9), DType::I64) : q_pos;
    if (pos.rank() != 2 || (pos.dim(0) != b && pos.dim(0) != 1) || pos.dim(1) != s)
      c.fail("input 'position_ids' of shape ", pos.shape().str(), " must be [", b, ", ", s, "]");
    bool inter = c.attr_int("rotary_interleaved", 0) != 0;
    Node cos = gather_cache(cos_cache, pos, query.dtype()), sin = gather_cache(sin_cache, pos, query.dtype());
    q4 = apply_rotary(q4, cos, sin, rd, inter);
    k4 = apply_rotary(k4, cos, sin, rd, inter);
  }
  Node q = Transpose(q4, {0, 2, 1, 3});
  Node k = build_present(g, past_k, Transpose(k4, {0, 2, 1, 3}), past_b, t);
  Node v = build_present(g, past_v, to_bnsh(vx, nkv), past_b, t);

  // Query i of entry b sits at q_pos = past_b + i and sees keys [L - window, L), L = min(q_pos + 1, total_b)
  // (padding rows of a right-padded prompt stop at the entry's end).
  Node lim = Min(Reshape(q_pos, {q_pos.dim(0), 1, s, 1}) + g.scalar_like(1, DType::I64),
                     Reshape(total_b, {b, 1, 1, 1}));  // [B, 1, S, 1]
  Node j = Iota(g, DType::I64, Shape{1, 1, 1, t}, 3);
  Node visible = Less(j, lim);
  if (window >= 0) visible = And(visible, GreaterEqual(j, lim - g.scalar_like(double(window), DType::I64)));

  std::optional<Node> bias;
  if (auto ab = c.optional_input(10)) {
    Node a = Convert(*ab, query.dtype());
    if (a.rank() != 4 || a.dim(2) != s || a.dim(3) > t)
      c.fail("input 'attention_bias' of shape ", a.shape().str(), " must be [batch or 1, num_heads or 1, ", s, ", ",
             "at most ", t, "]");
    if (a.dim(3) < t) a = Pad(a, {0, 0, 0, 0}, {0, 0, 0, t - a.dim(3)});
    bias = a;
  }
  std::optional<Node> sink;
  if (auto hs = c.optional_input(11)) {
    if (hs->shape().size() != n) c.fail("input 'head_sink' of shape ", hs->shape().str(), " must be [", n, "]");
    sink = Convert(*hs, query.dtype());
  } else if (smooth) {
    sink = Zeros(g, query.dtype(), Shape{n});
  }
  double scale = c.attr_float("scale", 0.0);
  if (scale == 0.0) scale = 1.0 / std::sqrt(double(h));
  Node y;
  if (softcap == 0.0 && !sink) {
    MaskParts mask;
    mask.restrict(visible);
    if (bias) mask.add(*bias);
    y = ScaledDotProductAttention(q, k, v, mask.build(q.dtype(), -std::numeric_limits<float>::max()), false, scale);
  } else {
    y = attend_explicit(g, q, k, v, scale, softcap, bias, visible, sink);
  }
  c.set_output(0, from_bnsh(y));
  if (c.has_output(1)) c.set_output(1, k);
  if (c.has_output(2)) c.set_output(2, v);
}

}  // namespace

void register_contrib_attention_ops(Registry& r) {
  r.add(kMs, "Attention", 1, attention).note =
      "past [2,B,N,P,H] -> present (unidirectional offset by P); mask_index [B], [2B], [B,T], [B,S,T], [B,1,M,M]";
  r.add(kMs, "MultiHeadAttention", 1, multi_head_attention).note = "past_key/past_value (BNSH) -> present";
  r.add(kMs, "GroupQueryAttention", 1, group_query_attention).note =
      "prompt and decoding: past_key/past_value (growing or shared max-length buffer), right padding via seqlens_k, "
      "local window, softcap, rotary, smooth_softmax/head_sink, attention_bias; total_sequence_length read while "
      "tracing";
  r.add(kMs, "RotaryEmbedding", 1, rotary_embedding);
}

}  // namespace graft::onnx