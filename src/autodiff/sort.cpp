// Gradient rules of Sort and TopK: the cotangent flows back through the permutation.
#include <numeric>

#include "autodiff/rules.h"

namespace graft::autodiff {

namespace {

std::vector<Node> sort(const GradContext& c) {
  const auto& a = c.attrs<SortAttrs>();
  Node keys = c.in[0];
  // The permutation the forward sort applied: sort an iota alongside the same keys (same stable order).
  Node iota = Iota(c.g, DType::I64, keys.shape(), a.axis);
  Node perm = Sort({keys, iota}, a.axis, a.descending, a.stable)[1];
  std::vector<Node> grads(c.in.size());
  for (size_t k = 0; k < c.in.size(); ++k)
    if (c.need[k]) grads[k] = ScatterAlongAxis(zeros_like(c.in[k]), perm, c.ct[k], a.axis, ReduceOp::Sum);
  return grads;
}

std::vector<Node> top_k(const GradContext& c) {
  const auto& a = c.attrs<TopKAttrs>();
  return {ScatterAlongAxis(zeros_like(c.in[0]), c.out[1], c.ct[0], a.axis, ReduceOp::Sum)};
}

}  // namespace

void register_sort_rules(RuleTable& t) {
  t.add(OpKind::Sort, sort);
  t.add(OpKind::TopK, top_k);
}

}  // namespace graft::autodiff
