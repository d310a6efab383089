// Differentiating a composite through its decomposition: Decompose() records the primitives once more and
// the reverse sweep runs over them, stopping at the composite's operands. The composites without a
// closed-form rule use it: attention (which so recomputes the scores in the backward graph, as
// memory-efficient attention kernels do, and uses the softmax rule for the rest), rnn_scan
// (backpropagation through time over the unrolled steps), group_norm, batch_norm and user composites.
#include "autodiff/rules.h"

namespace graft::autodiff {

std::vector<Node> through_decomposition(const GradContext& c) {
  std::vector<Node> outs = Decompose(c.out[0]);
  // The same node may be passed as several operands (attention(x, x, x)): its gradient goes to one of them.
  std::vector<Node> wrt;
  std::vector<int> slot(c.in.size(), -1);
  for (size_t k = 0; k < c.in.size(); ++k) {
    if (!c.need[k]) continue;
    bool seen = false;
    for (size_t j = 0; j < k; ++j) seen |= c.need[j] && c.in[j].ref() == c.in[k].ref();
    if (seen) continue;
    slot[k] = int(wrt.size());
    wrt.push_back(c.in[k]);
  }
  std::vector<Node> cts = c.ct;
  std::vector<Node> pulled = backprop(outs, cts, wrt, /*stop_at_wrt=*/true);
  std::vector<Node> grads(c.in.size());
  for (size_t k = 0; k < c.in.size(); ++k)
    if (slot[k] >= 0) grads[k] = pulled[size_t(slot[k])];
  return grads;
}

void register_composite_rules(RuleTable& t) {
  t.add(CompositeKind::Attention, through_decomposition);
  t.add(CompositeKind::RnnScan, through_decomposition);
  t.add(CompositeKind::Custom, through_decomposition);
}

}  // namespace graft::autodiff
