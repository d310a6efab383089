// Gradient rule of DotGeneral.
//
// DotGeneral: each operand's gradient is one more DotGeneral of the cotangent with the other operand
// (contracting the other operand's free axes), followed by a transpose back to the operand's layout.
#include <algorithm>
#include <numeric>

#include "autodiff/rules.h"

namespace graft::autodiff {

namespace {

bool contains(const Axes& v, int64_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

Axes free_axes(int rank, const Axes& batch, const Axes& contract) {
  Axes f;
  for (int i = 0; i < rank; ++i)
    if (!contains(batch, i) && !contains(contract, i)) f.push_back(i);
  return f;
}

int64_t rank_in_sorted(const Axes& v, int64_t x) {
  Axes s = v;
  std::sort(s.begin(), s.end());
  return int64_t(std::find(s.begin(), s.end(), x) - s.begin());
}

std::vector<Node> dot_general(const GradContext& c) {
  const auto& a = c.attrs<DotGeneralAttrs>();
  Node lhs = c.in[0], rhs = c.in[1], ct = c.ct[0];
  int64_t nb = int64_t(a.lhs_batch.size());
  Axes lf = free_axes(lhs.rank(), a.lhs_batch, a.lhs_contract);
  Axes rf = free_axes(rhs.rank(), a.rhs_batch, a.rhs_contract);
  int64_t nlf = int64_t(lf.size()), nrf = int64_t(rf.size());
  Axes ct_batch(static_cast<size_t>(nb)), ct_lf(static_cast<size_t>(nlf)), ct_rf(static_cast<size_t>(nrf));
  std::iota(ct_batch.begin(), ct_batch.end(), 0);
  std::iota(ct_lf.begin(), ct_lf.end(), nb);
  std::iota(ct_rf.begin(), ct_rf.end(), nb + nlf);
  std::vector<Node> grads(2);
  if (c.need[0]) {
    // [batch, lhs free, rhs contract (sorted)] -> lhs layout
    Node r = DotGeneral(Convert(ct, rhs.dtype()), rhs, {ct_batch, a.rhs_batch, ct_rf, rf}, lhs.dtype());
    Axes perm(static_cast<size_t>(lhs.rank()));
    for (int64_t k = 0; k < nb; ++k) perm[size_t(a.lhs_batch[size_t(k)])] = k;
    for (int64_t k = 0; k < nlf; ++k) perm[size_t(lf[size_t(k)])] = nb + k;
    for (size_t m = 0; m < a.lhs_contract.size(); ++m)
      perm[size_t(a.lhs_contract[m])] = nb + nlf + rank_in_sorted(a.rhs_contract, a.rhs_contract[m]);
    grads[0] = Transpose(r, perm);
  }
  if (c.need[1]) {
    // [batch, rhs free, lhs contract (sorted)] -> rhs layout
    Node r = DotGeneral(Convert(ct, lhs.dtype()), lhs, {ct_batch, a.lhs_batch, ct_lf, lf}, rhs.dtype());
    Axes perm(static_cast<size_t>(rhs.rank()));
    for (int64_t k = 0; k < nb; ++k) perm[size_t(a.rhs_batch[size_t(k)])] = k;
    for (int64_t k = 0; k < nrf; ++k) perm[size_t(rf[size_t(k)])] = nb + k;
    for (size_t m = 0; m < a.rhs_contract.size(); ++m)
      perm[size_t(a.rhs_contract[m])] = nb + nrf + rank_in_sorted(a.lhs_contract, a.lhs_contract[m]);
    grads[1] = Transpose(r, perm);
  }
  return grads;
}

}  // namespace

void register_linalg_rules(RuleTable& t) { t.add(OpKind::DotGeneral, dot_general); }

}  // namespace graft::autodiff
