// Gradient rules of Reduce (sum, prod, max, min), ArgMinMax (none) and Cumulative (running sum / product).
#include <numeric>

#include "autodiff/rules.h"

namespace graft::autodiff {

namespace {

// The axes of x that survive the reduction, i.e. where the reduced output's axes go when broadcast back.
Axes kept_axes(int rank, const Axes& reduced) {
  Axes kept;
  for (int i = 0; i < rank; ++i)
    if (std::find(reduced.begin(), reduced.end(), int64_t(i)) == reduced.end()) kept.push_back(i);
  return kept;
}

std::vector<Node> reduce(const GradContext& c) {
  const auto& a = c.attrs<ReduceAttrs>();
  Node x = c.in[0], y = c.out[0], ct = c.ct[0];
  Axes kept = kept_axes(x.rank(), a.axes);
  auto back = [&](Node t) { return BroadcastInDim(t, x.shape(), kept); };
  switch (a.op) {
    case ReduceOp::Sum: return {back(ct)};
    case ReduceOp::Max:
    case ReduceOp::Min: {
      // The cotangent goes to the positions that hold the extremum, split evenly between ties.
      Node hit = Convert(Equal(x, back(y)), x.dtype());
      Node count = ReduceSum(hit, a.axes);
      return {hit * back(ct / count)};
    }
    case ReduceOp::Prod: {
      // d/dx_i = product of the other elements, computed without dividing (exact when some x_i is 0):
      // the exclusive running products from the left and from the right, multiplied.
      Axes perm = kept;
      perm.insert(perm.end(), a.axes.begin(), a.axes.end());
      Node xt = Transpose(x, perm);
      std::vector<int64_t> tdims = xt.shape().dims();
      int64_t k = 1, r = 1;
      for (int64_t ax : kept) k *= x.shape()[int(ax)];
      for (int64_t ax : a.axes) r *= x.shape()[int(ax)];
      Node flat = Reshape(xt, {k, r});
      Node others = CumProd(flat, 1, /*exclusive=*/true) * CumProd(flat, 1, /*exclusive=*/true, /*reverse=*/true);
      Node g = others * Reshape(ct, {k, 1});
      return {Transpose(Reshape(g, tdims), inverse_permutation(perm))};
    }
    default: fail("Reduce(", reduce_op_name(a.op), ") of ", x.describe(), " is not differentiable");
  }
}

std::vector<Node> no_gradient(const GradContext& c) { return std::vector<Node>(c.in.size()); }

// ---- cumulative sum / product ------------------------------------------------------------------------

// The cotangent of a running product, exact where some x is 0: with x moved to the last axis and, for
// each position i, a copy of x with x_i replaced by 1, the same running product gives for every j the
// product over j's window without x_i; keep the windows that contain i and contract with the cotangent.
// O(n^2) in the scanned axis's extent n.
Node cumprod_grad(Node x, Node ct, const CumulativeAttrs& a) {
  int r = x.rank();
  Axes perm(static_cast<size_t>(r));
  std::iota(perm.begin(), perm.end(), 0);
  perm.erase(perm.begin() + a.axis);
  perm.push_back(a.axis);
  Node xt = Transpose(x, perm), ctt = Transpose(ct, perm);
  int64_t n = x.shape()[a.axis];
  std::vector<int64_t> dims = xt.shape().dims();  // [..., n]
  std::vector<int64_t> sq = dims;
  sq.push_back(n);  // [..., n(i), n(l)]
  Axes lead(static_cast<size_t>(r - 1));
  std::iota(lead.begin(), lead.end(), 0);
  Axes x_dims = lead, i_dims = lead;
  x_dims.push_back(r);    // x_l along the last axis
  i_dims.push_back(r - 1);
  Graph& g = *x.graph();
  Node row = Iota(g, DType::I64, Shape{n, n}, 0), col = Iota(g, DType::I64, Shape{n, n}, 1);
  Node x2 = Select(Equal(row, col), ScalarLike(x, 1.0), BroadcastInDim(xt, Shape(sq), x_dims));
  Node partial = CumProd(x2, r, a.exclusive, a.reverse);
  // Window of j (= col) contains i (= row)?
  Node in_window;
  if (!a.reverse)
    in_window = a.exclusive ? Less(row, col) : LessEqual(row, col);
  else
    in_window = a.exclusive ? Greater(row, col) : GreaterEqual(row, col);
  Node weighted = Select(in_window, partial, ScalarLike(x, 0.0)) * BroadcastInDim(ctt, Shape(sq), x_dims);
  Node gt = ReduceSum(weighted, {r});
  return Transpose(gt, inverse_permutation(perm));
}

std::vector<Node> cumulative(const GradContext& c) {
  const auto& a = c.attrs<CumulativeAttrs>();
  switch (a.op) {
    case ReduceOp::Sum: return {CumSum(c.ct[0], a.axis, a.exclusive, !a.reverse)};
    case ReduceOp::Prod: return {cumprod_grad(c.in[0], c.ct[0], a)};
    default:
      fail("Cumulative(", reduce_op_name(a.op), ") of ", c.in[0].describe(), " is not differentiable yet");
  }
}

}  // namespace

void register_reduction_rules(RuleTable& t) {
  t.add(OpKind::Reduce, reduce);
  t.add(OpKind::ArgMinMax, no_gradient);
  t.add(OpKind::Cumulative, cumulative);
}

}  // namespace graft::autodiff
