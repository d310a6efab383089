// Gradient rules of Reduce (sum, prod, max, min) and ArgMinMax.
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

}  // namespace

void register_reduce_rules(RuleTable& t) {
  t.add(OpKind::Reduce, reduce);
  t.add(OpKind::ArgMinMax, no_gradient);
}

}  // namespace graft::autodiff
