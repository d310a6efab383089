// Gradient rules of the activation composites softmax, log_softmax, gelu (erf and tanh forms) and silu:
// closed forms, a handful of element-wise ops and reductions, no recomputed decomposition.
#include <cmath>

#include "autodiff/rules.h"

namespace graft::autodiff {

namespace {

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

void register_activation_rules(RuleTable& t) {
  t.add(CompositeKind::Softmax, softmax);
  t.add(CompositeKind::LogSoftmax, log_softmax);
  t.add(CompositeKind::Gelu, gelu);
  t.add(CompositeKind::Silu, silu);
}

}  // namespace graft::autodiff
