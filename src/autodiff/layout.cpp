// Gradient rules of the layout ops: broadcast, reshape, transpose, slices, concatenation, padding,
// reversal. Each is the op's adjoint: a reduction, the inverse permutation, a zero-padded scatter, ...
#include <algorithm>

#include "autodiff/rules.h"

namespace graft::autodiff {

namespace {

std::vector<Node> broadcast_in_dim(const GradContext& c) {
  const auto& a = c.attrs<BroadcastInDimAttrs>();
  Node x = c.in[0], ct = c.ct[0];
  Axes sum;
  for (int i = 0; i < ct.rank(); ++i) {
    auto it = std::find(a.dims.begin(), a.dims.end(), int64_t(i));
    if (it == a.dims.end() || (x.shape()[int(it - a.dims.begin())] == 1 && ct.shape()[i] != 1)) sum.push_back(i);
  }
  Node r = sum.empty() ? ct : ReduceSum(ct, sum);
  return {Reshape(r, x.shape().dims())};
}

std::vector<Node> reshape(const GradContext& c) { return {Reshape(c.ct[0], c.in[0].shape().dims())}; }

std::vector<Node> transpose(const GradContext& c) {
  return {Transpose(c.ct[0], inverse_permutation(c.attrs<TransposeAttrs>().perm))};
}

std::vector<Node> slice(const GradContext& c) {
  const auto& a = c.attrs<SliceAttrs>();
  return {slice_transpose(c.ct[0], c.in[0].shape(), a.starts, a.limits, a.strides)};
}

std::vector<Node> reverse(const GradContext& c) { return {Reverse(c.ct[0], c.attrs<ReverseAttrs>().axes)}; }

std::vector<Node> concatenate(const GradContext& c) {
  int axis = c.attrs<ConcatenateAttrs>().axis;
  Node ct = c.ct[0];
  std::vector<Node> grads;
  int64_t offset = 0;
  for (size_t i = 0; i < c.in.size(); ++i) {
    int64_t len = c.in[i].shape()[axis];
    if (c.need[i]) {
      Axes starts(static_cast<size_t>(ct.rank()), 0), limits = ct.shape().dims();
      starts[size_t(axis)] = offset;
      limits[size_t(axis)] = offset + len;
      grads.push_back(Slice(ct, starts, limits));
    } else {
      grads.emplace_back();
    }
    offset += len;
  }
  return grads;
}

std::vector<Node> dynamic_slice(const GradContext& c) {
  std::vector<Node> starts(c.in.begin() + 1, c.in.end());
  std::vector<Node> grads(c.in.size());
  grads[0] = DynamicUpdateSlice(zeros_like(c.in[0]), c.ct[0], starts);
  return grads;
}

std::vector<Node> dynamic_update_slice(const GradContext& c) {
  std::vector<Node> starts(c.in.begin() + 2, c.in.end());
  std::vector<Node> grads(c.in.size());
  Node ct = c.ct[0], update = c.in[1];
  if (c.need[0]) grads[0] = DynamicUpdateSlice(ct, zeros_like(update), starts);
  if (c.need[1]) grads[1] = DynamicSlice(ct, starts, update.shape().dims());
  return grads;
}


// Adjoint of padding one axis of extent d: every output position sends its cotangent to its source.
// The positions are grouped into runs whose sources move by +1 (a slice), -1 (a reversed slice) or 0
// (an edge repeated: a sum); each run is placed at its sources with a zero pad and the runs are added.
Node pad_axis_transpose(Node ct, int axis, int64_t d, int64_t lo, int64_t hi, PadMode mode) {
  std::vector<int64_t> map = pad_source_map(d, lo, hi, mode);
  int64_t n = int64_t(map.size());
  int r = ct.rank();
  std::vector<int64_t> x_dims = ct.shape().dims();
  x_dims[size_t(axis)] = d;
  Node total;
  auto take = [&](int64_t j0, int64_t j1) {  // ct[j0, j1) along axis
    Axes starts(static_cast<size_t>(r), 0), limits = ct.shape().dims();
    starts[size_t(axis)] = j0;
    limits[size_t(axis)] = j1;
    return Slice(ct, starts, limits);
  };
  for (int64_t j = 0; j < n;) {
    if (map[size_t(j)] < 0) {
      ++j;
      continue;
    }
    int64_t step = 0;
    if (j + 1 < n && map[size_t(j + 1)] >= 0) {
      int64_t s = map[size_t(j + 1)] - map[size_t(j)];
      if (s >= -1 && s <= 1) step = s;
    }
    int64_t k = j;
    if (j + 1 < n && map[size_t(j + 1)] >= 0 && map[size_t(j + 1)] - map[size_t(j)] == step)
      while (k + 1 < n && map[size_t(k + 1)] >= 0 && map[size_t(k + 1)] - map[size_t(k)] == step) ++k;
    Node piece = take(j, k + 1);
    int64_t at;
    if (step == 1) {
      at = map[size_t(j)];
    } else if (step == -1) {
      piece = Reverse(piece, {axis});
      at = map[size_t(k)];
    } else {
      piece = k > j ? ReduceSum(piece, {axis}, true) : piece;
      at = map[size_t(j)];
    }
    Axes plo(static_cast<size_t>(r), 0), phi(static_cast<size_t>(r), 0);
    plo[size_t(axis)] = at;
    phi[size_t(axis)] = d - at - piece.shape()[axis];
    piece = pad_or_crop(piece, plo, phi);
    total = total.valid() ? total + piece : piece;
    j = k + 1;
  }
  return total.valid() ? total : Zeros(*ct.graph(), ct.dtype(), Shape(x_dims));
}

std::vector<Node> pad(const GradContext& c) {
  const auto& a = c.attrs<PadAttrs>();
  Node x = c.in[0], ct = c.ct[0];
  std::vector<Node> grads(2);
  if (a.mode == PadMode::Constant) {
    Axes lo = a.low, hi = a.high;
    for (auto& v : lo) v = -v;
    for (auto& v : hi) v = -v;
    Node gx = pad_or_crop(ct, lo, hi);
    if (c.need[0]) grads[0] = gx;
    // Every output element is either the pad value or an element of x.
    if (c.need[1]) grads[1] = ReduceSum(ct) - ReduceSum(gx);
    return grads;
  }
  Node t = ct;
  for (int i = 0; i < x.rank(); ++i)
    if (a.low[size_t(i)] != 0 || a.high[size_t(i)] != 0)
      t = pad_axis_transpose(t, i, x.shape()[i], a.low[size_t(i)], a.high[size_t(i)], a.mode);
  grads[0] = t;
  return grads;  // the pad value is unused outside Constant mode
}

}  // namespace

void register_layout_rules(RuleTable& t) {
  t.add(OpKind::BroadcastInDim, broadcast_in_dim);
  t.add(OpKind::Reshape, reshape);
  t.add(OpKind::Transpose, transpose);
  t.add(OpKind::Slice, slice);
  t.add(OpKind::Reverse, reverse);
  t.add(OpKind::Concatenate, concatenate);
  t.add(OpKind::DynamicSlice, dynamic_slice);
  t.add(OpKind::DynamicUpdateSlice, dynamic_update_slice);
  t.add(OpKind::Pad, pad);
}

}  // namespace graft::autodiff
