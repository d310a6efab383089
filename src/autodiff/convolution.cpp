// Gradient rules of Convolution.
//
// Convolution (one spatial axis shown; every spatial axis is independent), with stride s, dilation d,
// low pad pl, kernel extent K, input extent X, output extent P, G groups:
//   y[n, o, p] = sum_{c in o's group, k} x[n, c, p*s + k*d - pl] * w[o, c, k]
// * dx is a transposed convolution, written as a plain one: the cotangent dilated by s, padded by
//   (K-1)*d - pl below, convolved (dilation d) with the spatially flipped kernel whose in/out channel
//   roles are swapped within each group.
// * dw correlates x with the cotangent: a convolution whose "batch" is x's channels (within a group),
//   whose reduction runs over the real batch, with stride d and dilation s (the roles swap).
// A transposed convolution is the adjoint of a plain one, so its two gradients are plain convolutions
// as well (see conv_transposed_grads).
#include <numeric>

#include "autodiff/rules.h"

namespace graft::autodiff {

namespace {

// `count` consecutive axes from `first`.
Axes spatial_iota(int count, int64_t first) {
  Axes v(static_cast<size_t>(count));
  std::iota(v.begin(), v.end(), first);
  return v;
}

// [A, B, rest...] -> [A/G... ] helpers: reshape axis `axis` of extent G*m into [G, m].
Node split_axis(Node t, int axis, int64_t groups) {
  std::vector<int64_t> d = t.shape().dims();
  int64_t m = d[size_t(axis)] / groups;
  d[size_t(axis)] = m;
  d.insert(d.begin() + axis, groups);
  return Reshape(t, d);
}

Node merge_axes(Node t, int axis) {  // merges axis and axis+1
  std::vector<int64_t> d = t.shape().dims();
  d[size_t(axis)] *= d[size_t(axis + 1)];
  d.erase(d.begin() + axis + 1);
  return Reshape(t, d);
}

// Pads (or crops) the spatial axes of an [N, C, spatial...] tensor.
Node pad_spatial(Node t, const Axes& lo, const Axes& hi) {
  Axes l{0, 0}, h{0, 0};
  l.insert(l.end(), lo.begin(), lo.end());
  h.insert(h.end(), hi.begin(), hi.end());
  return pad_or_crop(t, l, h);
}

ConvolutionAttrs plain_conv(Axes strides, Axes dilations, int64_t groups) {
  ConvolutionAttrs a;
  a.strides = std::move(strides);
  a.dilations = std::move(dilations);
  a.pad_low.assign(a.strides.size(), 0);
  a.pad_high.assign(a.strides.size(), 0);
  a.output_padding.assign(a.strides.size(), 0);
  a.groups = groups;
  return a;
}

// x [N, G*Cg, S...] -> [Cg, G*N, S...]: channels within a group become the batch, (group, batch) the channels.
Node batch_channel_swap(Node t, int64_t groups) {
  int r = t.rank();
  Node s = split_axis(t, 1, groups);  // [N, G, Cg, S...]
  Axes perm{2, 1, 0};
  Axes sp = spatial_iota(r - 2, 3);
  perm.insert(perm.end(), sp.begin(), sp.end());
  return merge_axes(Transpose(s, perm), 1);  // [Cg, G*N, S...]
}

Node swap01(Node t) {
  Axes perm{1, 0};
  Axes sp = spatial_iota(t.rank() - 2, 2);
  perm.insert(perm.end(), sp.begin(), sp.end());
  return Transpose(t, perm);
}

std::vector<Node> conv_plain_grads(const GradContext& c, const ConvolutionAttrs& a) {
  Node x = c.in[0], w = c.in[1], ct = c.ct[0];
  int r = x.rank();
  size_t ns = size_t(r - 2);
  int64_t G = a.groups;
  std::vector<Node> grads(2);
  if (c.need[0]) {
    Node t = ct;
    for (size_t i = 0; i < ns; ++i) t = dilate(t, int(i + 2), a.strides[i]);
    Axes lo(ns), hi(ns);
    for (size_t i = 0; i < ns; ++i) {
      int64_t K = w.shape()[int(i + 2)], X = x.shape()[int(i + 2)], P = ct.shape()[int(i + 2)];
      lo[i] = (K - 1) * a.dilations[i] - a.pad_low[i];
      hi[i] = X - 1 + a.pad_low[i] - (P - 1) * a.strides[i];
    }
    t = pad_spatial(t, lo, hi);
    // w [G*Og, Cg, K...] -> flipped, [G, Og, Cg, K...] -> [G, Cg, Og, K...] -> [G*Cg, Og, K...]
    Node wf = Reverse(w, spatial_iota(r - 2, 2));
    Node s = split_axis(wf, 0, G);
    Axes perm{0, 2, 1};
    Axes sp = spatial_iota(r - 2, 3);
    perm.insert(perm.end(), sp.begin(), sp.end());
    Node wt = merge_axes(Transpose(s, perm), 0);
    grads[0] = Convolution(t, wt, plain_conv(Axes(ns, 1), a.dilations, G));
  }
  if (c.need[1]) {
    Axes lo(ns), hi(ns);
    for (size_t i = 0; i < ns; ++i) {
      int64_t K = w.shape()[int(i + 2)], X = x.shape()[int(i + 2)], P = ct.shape()[int(i + 2)];
      int64_t needed = (P - 1) * a.strides[i] + (K - 1) * a.dilations[i] + 1;
      lo[i] = a.pad_low[i];
      hi[i] = needed - X - a.pad_low[i];
    }
    Node in = batch_channel_swap(pad_spatial(x, lo, hi), G);  // [Cg, G*N, S...]
    Node ker = swap01(ct);                                    // [O, N, P...]
    Node out = Convolution(in, ker, plain_conv(a.dilations, a.strides, G));  // [Cg, O, K...]
    grads[1] = swap01(out);
  }
  return grads;
}

// Transposed: x [N, G*Cg, X...], w [G*Cg, Og, K...], y [N, G*Og, Y...] with
//   full[n, o, i*s + k*d] += x[n, c, i] * w[c, o_local, k],  y[.., j] = full[.., j + pl]
std::vector<Node> conv_transposed_grads(const GradContext& c, const ConvolutionAttrs& a) {
  Node x = c.in[0], w = c.in[1], ct = c.ct[0];
  int r = x.rank();
  size_t ns = size_t(r - 2);
  int64_t G = a.groups;
  Axes lo(ns), hi(ns);
  for (size_t i = 0; i < ns; ++i) {
    int64_t K = w.shape()[int(i + 2)], X = x.shape()[int(i + 2)], Y = ct.shape()[int(i + 2)];
    int64_t full = (X - 1) * a.strides[i] + (K - 1) * a.dilations[i] + 1;
    lo[i] = a.pad_low[i];
    hi[i] = full - Y - a.pad_low[i];
  }
  Node t = pad_spatial(ct, lo, hi);  // the cotangent of `full`
  std::vector<Node> grads(2);
  if (c.need[0]) grads[0] = Convolution(t, w, plain_conv(a.strides, a.dilations, G));
  if (c.need[1]) {
    Node in = batch_channel_swap(t, G);  // [Og, G*N, F...]
    Node ker = swap01(x);                // [C, N, X...]
    Node out = Convolution(in, ker, plain_conv(a.dilations, a.strides, G));  // [Og, C, K...]
    grads[1] = swap01(out);
  }
  return grads;
}

std::vector<Node> convolution(const GradContext& c) {
  const auto& a = c.attrs<ConvolutionAttrs>();
  return a.transposed ? conv_transposed_grads(c, a) : conv_plain_grads(c, a);
}

}  // namespace

void register_convolution_rules(RuleTable& t) { t.add(OpKind::Convolution, convolution); }

}  // namespace graft::autodiff
