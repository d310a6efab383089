// The attention composite: softmax(q kᵀ · scale + mask) v with grouped-query heads, an optional
// boolean or additive mask and an optional causal mask.
#include <cmath>
#include <numeric>

#include "graft/graph/ops.h"
#include "graph/composite_defs.h"

namespace graft {

namespace detail {

std::vector<Node> decompose(const AttentionParams& p, std::span<const Node> in) {
  Node qq = in[0], kk = in[1], vv = in[2];
  const int r = qq.rank();
  const int64_t hq = qq.shape()[r - 3], hkv = kk.shape()[r - 3];
  const int64_t lq = qq.shape()[r - 2], lk = kk.shape()[r - 2];
  auto repeat_heads = [&](Node t) {
    if (hq == hkv) return t;
    // [..., Hkv, L, D] -> [..., Hkv, rep, L, D] -> [..., Hq, L, D]
    std::vector<int64_t> d = t.shape().dims();
    std::vector<int64_t> expanded = d;
    expanded.insert(expanded.begin() + (r - 2), hq / hkv);
    Axes dims(static_cast<size_t>(r));
    std::iota(dims.begin(), dims.end(), 0);
    for (int i = r - 2; i < r; ++i) dims[size_t(i)] = i + 1;
    Node b = BroadcastInDim(t, Shape(expanded), dims);
    d[size_t(r - 3)] = hq;
    return Reshape(b, d);
  };
  kk = repeat_heads(kk);
  vv = repeat_heads(vv);
  Axes swap_last(static_cast<size_t>(r));
  std::iota(swap_last.begin(), swap_last.end(), 0);
  std::swap(swap_last[size_t(r - 1)], swap_last[size_t(r - 2)]);
  Node scores = MatMul(qq, Transpose(kk, swap_last)) * p.scale;
  Node neg_inf = ScalarLike(scores, -INFINITY);
  if (p.has_mask) {
    Node m = in[3];
    if (m.dtype() == DType::Bool)
      scores = Select(m, scores, neg_inf);
    else
      scores = scores + Convert(m, scores.dtype());
  }
  if (p.causal) {
    Graph& g = *qq.graph();
    Node row = Iota(g, DType::I64, Shape{lq, lk}, 0), col = Iota(g, DType::I64, Shape{lq, lk}, 1);
    scores = Select(LessEqual(col, row), scores, neg_inf);  // top-left aligned, as PyTorch's is_causal
  }
  return {MatMul(Softmax(scores, -1), vv)};
}

}  // namespace detail

Node ScaledDotProductAttention(Node q, Node k, Node v, std::optional<Node> mask, bool causal,
                               std::optional<double> scale) {
  std::string what = "ScaledDotProductAttention of " + q.describe();
  detail::check_floating(q, "ScaledDotProductAttention");
  GRAFT_CHECK(q.rank() >= 3 && k.rank() == q.rank() && v.rank() == q.rank(), what,
              ": q, k, v must share a rank >= 3 ([..., heads, length, dim]); got ", q.shape(), ", ", k.shape(), ", ",
              v.shape());
  const int r = q.rank();
  const int64_t hq = q.shape()[r - 3], hkv = k.shape()[r - 3];
  GRAFT_CHECK(hkv > 0 && hq % hkv == 0 && v.shape()[r - 3] == hkv, what, ": query heads ", hq,
              " must be a multiple of key/value heads ", hkv);
  GRAFT_CHECK(q.shape()[r - 1] == k.shape()[r - 1] && k.shape()[r - 2] == v.shape()[r - 2], what, ": q ", q.shape(),
              ", k ", k.shape(), ", v ", v.shape(), " do not fit");
  AttentionParams p{causal, mask.has_value(), scale.value_or(1.0 / std::sqrt(double(q.shape()[r - 1])))};
  std::vector<Node> inputs{q, k, v};
  if (mask) inputs.push_back(*mask);
  return detail::record_composite(p, inputs)[0];
}

}  // namespace graft
