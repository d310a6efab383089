// Gradient rules of composite ops. softmax, log_softmax, layer_norm, rms_norm, gelu and silu have
// closed-form rules (a handful of element-wise ops and reductions, no recomputed decomposition). Every
// other composite (attention, group_norm, batch_norm, rnn_scan, user composites) is differentiated through its
// decomposition: Decompose() records the primitives once more and the reverse sweep runs over them,
// stopping at the composite's operands. For attention that recomputes the attention scores in the backward
// graph (as memory-efficient attention kernels do) and uses the softmax rule below for the rest.
#include <cmath>
#include <numeric>

#include "autodiff/rules.h"

namespace graft::autodiff {

namespace {

Axes trailing(int from, int rank) {
  Axes a(static_cast<size_t>(rank - from));
  std::iota(a.begin(), a.end(), from);
  return a;
}

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

template <typename P>
const P& params(const GradContext& c) {
  return composite_params<P>(c.op);
}

std::vector<Node> softmax(const GradContext& c) {
  const int axis = params<SoftmaxParams>(c).axis;
  Node y = c.out[0], ct = c.ct[0];
  return {y * (ct - ReduceSum(ct * y, {axis}, true))};
}

std::vector<Node> log_softmax(const GradContext& c) {
  const int axis = params<LogSoftmaxParams>(c).axis;
  Node y = c.out[0], ct = c.ct[0];
  return {ct - Exp(y) * ReduceSum(ct, {axis}, true)};
}

// y = xhat * scale + bias with xhat = (x - mean) / sqrt(var + eps) over the trailing axes from `axis`:
//   dxhat = ct * scale,  dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
std::vector<Node> layer_norm(const GradContext& c) {
  const auto& p = params<LayerNormParams>(c);
  const int axis = p.axis;
  const bool hs = p.has_scale, hb = p.has_bias;
  const double eps = p.epsilon;
  Node x = c.in[0], ct = c.ct[0];
  if (c.out[0].shape() != x.shape()) return through_decomposition(c);  // scale/bias widened the output
  Axes axes = trailing(axis, x.rank());
  Node xc = x - ReduceMean(x, axes, true);
  Node rstd = Rsqrt(ReduceMean(xc * xc, axes, true) + eps);
  Node xhat = xc * rstd;
  std::vector<Node> grads(c.in.size());
  size_t i = 1;
  Node scale = hs ? c.in[i++] : Node();
  if (c.need[0]) {
    Node dxhat = hs ? ct * scale : ct;
    grads[0] = rstd * (dxhat - ReduceMean(dxhat, axes, true) - xhat * ReduceMean(dxhat * xhat, axes, true));
  }
  if (hs && c.need[1]) grads[1] = sum_to_shape(ct * xhat, scale.shape());
  if (hb && c.need[i]) grads[i] = sum_to_shape(ct, c.in[i].shape());
  return grads;
}

// y = x * r * scale with r = 1 / sqrt(mean(x^2) + eps):  dx = r * (dxhat - xhat * mean(dxhat * xhat))
std::vector<Node> rms_norm(const GradContext& c) {
  const auto& p = params<RmsNormParams>(c);
  const int axis = p.axis;
  const bool hs = p.has_scale;
  const double eps = p.epsilon;
  Node x = c.in[0], ct = c.ct[0];
  if (c.out[0].shape() != x.shape()) return through_decomposition(c);
  Axes axes = trailing(axis, x.rank());
  Node r = Rsqrt(ReduceMean(x * x, axes, true) + eps);
  Node xhat = x * r;
  std::vector<Node> grads(c.in.size());
  if (c.need[0]) {
    Node dxhat = hs ? ct * c.in[1] : ct;
    grads[0] = r * (dxhat - xhat * ReduceMean(dxhat * xhat, axes, true));
  }
  if (hs && c.need[1]) grads[1] = sum_to_shape(ct * xhat, c.in[1].shape());
  return grads;
}

std::vector<Node> gelu(const GradContext& c) {
  Node x = c.in[0], ct = c.ct[0];
  if (params<GeluParams>(c).tanh_approximation) {
    // y = x/2 (1 + tanh u), u = k (x + 0.044715 x^3), k = sqrt(2/pi)
    double k = std::sqrt(2.0 / M_PI);
    Node x2 = x * x;
    Node t = Tanh((x + x2 * x * 0.044715) * k);
    Node du = (x2 * (3.0 * 0.044715) + 1.0) * k;
    return {ct * ((t + 1.0) * 0.5 + x * 0.5 * (1.0 - t * t) * du)};
  }
  // y = x Phi(x):  dy = Phi(x) + x phi(x)
  Node cdf = (Erf(x * M_SQRT1_2) + 1.0) * 0.5;
  Node pdf = Exp(x * x * -0.5) * (1.0 / std::sqrt(2.0 * M_PI));
  return {ct * (cdf + x * pdf)};
}

std::vector<Node> silu(const GradContext& c) {
  Node x = c.in[0], ct = c.ct[0];
  Node s = Logistic(x);
  return {ct * s * (x * (1.0 - s) + 1.0)};
}

}  // namespace

void register_composite_rules(RuleTable& t) {
  t.add(CompositeKind::Softmax, softmax);
  t.add(CompositeKind::LogSoftmax, log_softmax);
  t.add(CompositeKind::Gelu, gelu);
  t.add(CompositeKind::Silu, silu);
  t.add(CompositeKind::LayerNorm, layer_norm);
  t.add(CompositeKind::RmsNorm, rms_norm);
  // Through their decompositions: for attention that recomputes the scores in the backward graph (as
  // memory-efficient attention kernels do); for rnn_scan it is backpropagation through time over the
  // unrolled steps.
  for (CompositeKind k : {CompositeKind::GroupNorm, CompositeKind::BatchNorm, CompositeKind::Attention,
                          CompositeKind::RnnScan, CompositeKind::Custom})
    t.add(k, through_decomposition);
}

}  // namespace graft::autodiff
