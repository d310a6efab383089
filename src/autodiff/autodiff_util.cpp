// Small graph-building helpers the gradient rules share.
#include <numeric>

#include "autodiff/rules.h"

namespace graft::autodiff {

bool is_float(Node n) { return is_floating(n.dtype()); }

Node zeros_like(Node x) { return Zeros(*x.graph(), x.dtype(), x.shape()); }
Node ones_like(Node x) { return Full(*x.graph(), x.dtype(), x.shape(), 1.0); }

Node sum_to_shape(Node t, const Shape& s) {
  if (t.shape() == s) return t;
  int extra = t.rank() - s.rank();
  GRAFT_CHECK(extra >= 0, "autodiff: cannot sum ", t.shape(), " down to ", s);
  Axes axes;
  for (int i = 0; i < t.rank(); ++i)
    if (i < extra || (s[i - extra] == 1 && t.shape()[i] != 1)) axes.push_back(i);
  Node r = axes.empty() ? t : ReduceSum(t, axes);
  return Reshape(r, s.dims());
}

Axes inverse_permutation(const Axes& perm) {
  Axes inv(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inv[size_t(perm[i])] = int64_t(i);
  return inv;
}

Node dilate(Node t, int axis, int64_t factor) {
  int64_t n = t.shape()[axis];
  if (factor == 1 || n <= 1) return t;
  // [.., n, ..] -> [.., n, 1, ..] -> pad the new axis to `factor` -> [.., n*factor, ..] -> drop the tail.
  std::vector<int64_t> dims = t.shape().dims();
  std::vector<int64_t> expanded = dims;
  expanded.insert(expanded.begin() + axis + 1, 1);
  Node e = Reshape(t, expanded);
  Axes lo(expanded.size(), 0), hi(expanded.size(), 0);
  hi[size_t(axis + 1)] = factor - 1;
  e = Pad(e, lo, hi);
  dims[size_t(axis)] = n * factor;
  Node merged = Reshape(e, dims);
  Axes clo(dims.size(), 0), chi(dims.size(), 0);
  chi[size_t(axis)] = -(factor - 1);
  return Pad(merged, clo, chi);
}

Node pad_or_crop(Node t, const Axes& low, const Axes& high) {
  bool nothing = std::all_of(low.begin(), low.end(), [](int64_t v) { return v == 0; }) &&
                 std::all_of(high.begin(), high.end(), [](int64_t v) { return v == 0; });
  return nothing ? t : Pad(t, low, high);
}

Node slice_transpose(Node ct, const Shape& x_shape, const Axes& starts, const Axes& limits, const Axes& strides) {
  int r = x_shape.rank();
  Node t = ct;
  Axes lo(static_cast<size_t>(r), 0), hi(static_cast<size_t>(r), 0);
  for (int i = 0; i < r; ++i) {
    int64_t s = strides.empty() ? 1 : strides[size_t(i)];
    t = dilate(t, i, s);
    int64_t len = t.shape()[i];
    lo[size_t(i)] = starts[size_t(i)];
    hi[size_t(i)] = x_shape[i] - starts[size_t(i)] - len;
    (void)limits;
  }
  // An empty slice contributes nothing; Pad of an empty axis is fine, but guard zero-length results.
  if (ct.shape().size() == 0) return Zeros(*ct.graph(), ct.dtype(), x_shape);
  return pad_or_crop(t, lo, hi);
}

}  // namespace graft::autodiff
