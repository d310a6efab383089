// Gradient rules of Gather and Scatter: each is the other's adjoint with the same dimension numbers.
// Index operands never get a gradient.
#include "autodiff/rules.h"

namespace graft::autodiff {

namespace {

bool contains(const Axes& v, int64_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

std::vector<Node> gather(const GradContext& c) {
  const auto& a = c.attrs<GatherAttrs>();
  ScatterAttrs s;
  s.update_window_dims = a.offset_dims;
  s.inserted_window_dims = a.collapsed_slice_dims;
  s.scatter_dims_to_operand_dims = a.start_index_map;
  s.index_vector_dim = a.index_vector_dim;
  s.combiner = ReduceOp::Sum;
  // Every gathered element sends its cotangent back to where it came from; repeats add up.
  return {Scatter(zeros_like(c.in[0]), c.in[1], c.ct[0], s), Node()};
}

// The gather that reads, for every update element, the operand element it is scattered to.
Node gather_updates(Node from, Node indices, Node updates, const ScatterAttrs& s) {
  GatherAttrs a;
  a.offset_dims = s.update_window_dims;
  a.collapsed_slice_dims = s.inserted_window_dims;
  a.start_index_map = s.scatter_dims_to_operand_dims;
  a.index_vector_dim = s.index_vector_dim;
  size_t k = 0;
  for (int i = 0; i < from.rank(); ++i) {
    if (contains(s.inserted_window_dims, i))
      a.slice_sizes.push_back(1);
    else
      a.slice_sizes.push_back(updates.shape()[int(s.update_window_dims[k++])]);
  }
  return Gather(from, indices, a);
}

std::vector<Node> scatter(const GradContext& c) {
  const auto& s = c.attrs<ScatterAttrs>();
  Node operand = c.in[0], indices = c.in[1], updates = c.in[2], ct = c.ct[0];
  std::vector<Node> grads(3);
  switch (s.combiner) {
    case ReduceOp::Sum:
      if (c.need[0]) grads[0] = ct;
      if (c.need[2]) grads[2] = gather_updates(ct, indices, updates, s);
      return grads;
    case ReduceOp::Replace: {
      // Overwritten operand elements get nothing; each update gets the cotangent of where it landed.
      // With repeated indices only one update lands; all of them read its cotangent.
      if (c.need[0]) {
        ScatterAttrs z = s;
        grads[0] = Scatter(ct, indices, zeros_like(updates), z);
      }
      if (c.need[2]) grads[2] = gather_updates(ct, indices, updates, s);
      return grads;
    }
    default:
      fail("Scatter with combiner '", reduce_op_name(s.combiner), "' into ", operand.describe(),
           " is not differentiable (only 'replace' and 'sum' scatters are)");
  }
}

}  // namespace

void register_indexing_rules(RuleTable& t) {
  t.add(OpKind::Gather, gather);
  t.add(OpKind::Scatter, scatter);
}

}  // namespace graft::autodiff
