// Gradient rules of the normalization composites: closed forms for layer_norm and rms_norm (the
// standard ones, with rstd recomputed from x); group_norm and batch_norm through their decompositions.
#include <numeric>

#include "autodiff/rules.h"

namespace graft::autodiff {

namespace {

Axes trailing(int from, int rank) {
  Axes a(static_cast<size_t>(rank - from));
  std::iota(a.begin(), a.end(), from);
  return a;
}

template <typename P>
const P& params(const GradContext& c) {
  return composite_params<P>(c.op);
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

}  // namespace

void register_normalization_rules(RuleTable& t) {
  t.add(CompositeKind::LayerNorm, layer_norm);
  t.add(CompositeKind::RmsNorm, rms_norm);
  t.add(CompositeKind::GroupNorm, through_decomposition);
  t.add(CompositeKind::BatchNorm, through_decomposition);
}

}  // namespace graft::autodiff
