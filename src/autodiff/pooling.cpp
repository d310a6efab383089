// Gradient rules of ReduceWindow (max/min/sum/mean pooling).
#include <cmath>
#include <numeric>

#include "autodiff/rules.h"

namespace graft::autodiff {

namespace {

// Adjoint of a windowed sum: every input position collects the cotangents of the windows that cover
// it, which is itself a windowed sum of the stride-dilated, re-padded cotangent.
Node window_sum_transpose(Node ct, const Shape& x_shape, const ReduceWindowAttrs& a) {
  int r = x_shape.rank();
  Node t = ct;
  Axes lo(static_cast<size_t>(r)), hi(static_cast<size_t>(r));
  for (int i = 0; i < r; ++i) {
    t = dilate(t, i, a.strides[size_t(i)]);
    int64_t W = a.window[size_t(i)], d = a.dilations[size_t(i)], X = x_shape[i], O = ct.shape()[i];
    lo[size_t(i)] = (W - 1) * d - a.pad_low[size_t(i)];
    hi[size_t(i)] = X - 1 + a.pad_low[size_t(i)] - (O - 1) * a.strides[size_t(i)];
  }
  t = pad_or_crop(t, lo, hi);
  ReduceWindowAttrs s;
  s.op = ReduceOp::Sum;
  s.window = a.window;
  s.dilations = a.dilations;
  s.strides.assign(size_t(r), 1);
  s.pad_low.assign(size_t(r), 0);
  s.pad_high.assign(size_t(r), 0);
  return ReduceWindow(t, s);
}

// Max/min pooling: the cotangent of each window goes to the positions holding its extremum, split evenly
// between ties. One strided slice of the (padded) input per position in the window finds them.
Node window_extremum_transpose(Node x, Node y, Node ct, const ReduceWindowAttrs& a) {
  int r = x.rank();
  bool is_max = a.op == ReduceOp::Max;
  Node xp = Pad(x, a.pad_low, a.pad_high, PadMode::Constant, ScalarLike(x, is_max ? -INFINITY : INFINITY));
  int64_t positions = 1;
  for (int64_t w : a.window) positions *= w;
  std::vector<Node> hits;
  std::vector<Axes> starts, limits;
  for (int64_t p = 0; p < positions; ++p) {
    Axes st(static_cast<size_t>(r)), li(static_cast<size_t>(r));
    int64_t rest = p;
    for (int i = r - 1; i >= 0; --i) {
      int64_t w = rest % a.window[size_t(i)];
      rest /= a.window[size_t(i)];
      st[size_t(i)] = w * a.dilations[size_t(i)];
      li[size_t(i)] = st[size_t(i)] + (y.shape()[i] - 1) * a.strides[size_t(i)] + 1;
    }
    hits.push_back(Convert(Equal(Slice(xp, st, li, a.strides), y), x.dtype()));
    starts.push_back(st);
    limits.push_back(li);
  }
  Node count = hits[0];
  for (size_t p = 1; p < hits.size(); ++p) count = count + hits[p];
  Node share = ct / count;
  Node total;
  for (size_t p = 0; p < hits.size(); ++p) {
    Node part = slice_transpose(share * hits[p], xp.shape(), starts[p], limits[p], a.strides);
    total = total.valid() ? total + part : part;
  }
  Axes lo = a.pad_low, hi = a.pad_high;
  for (auto& v : lo) v = -v;
  for (auto& v : hi) v = -v;
  return pad_or_crop(total, lo, hi);
}

std::vector<Node> reduce_window(const GradContext& c) {
  const auto& a = c.attrs<ReduceWindowAttrs>();
  Node x = c.in[0], ct = c.ct[0];
  switch (a.op) {
    case ReduceOp::Sum: return {window_sum_transpose(ct, x.shape(), a)};
    case ReduceOp::Mean: {
      Node count;
      if (a.count_include_pad) {
        int64_t n = 1;
        for (int64_t w : a.window) n *= w;
        count = ScalarLike(ct, double(n));
      } else {
        ReduceWindowAttrs s = a;
        s.op = ReduceOp::Sum;
        count = ReduceWindow(ones_like(x), s);  // constant: folded at compile time
      }
      return {window_sum_transpose(ct / count, x.shape(), a)};
    }
    case ReduceOp::Max:
    case ReduceOp::Min: return {window_extremum_transpose(x, c.out[0], ct, a)};
    default: fail("ReduceWindow(", reduce_op_name(a.op), ") of ", x.describe(), " is not differentiable");
  }
}

}  // namespace

void register_pooling_rules(RuleTable& t) { t.add(OpKind::ReduceWindow, reduce_window); }

}  // namespace graft::autodiff
