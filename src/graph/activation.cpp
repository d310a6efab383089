// Activation composites: softmax, log_softmax, gelu (erf and tanh forms), silu.
#include <cmath>

#include "graft/graph/ops.h"
#include "graph/composite_defs.h"

namespace graft {

using detail::check_floating;
using detail::normalize_axis;
using detail::record_composite;

namespace detail {

std::vector<Node> decompose(const SoftmaxParams& p, std::span<const Node> in) {
  Node m = StopGradient(ReduceMax(in[0], {p.axis}, true));
  Node e = Exp(in[0] - m);
  return {e / ReduceSum(e, {p.axis}, true)};
}

std::vector<Node> decompose(const LogSoftmaxParams& p, std::span<const Node> in) {
  Node shifted = in[0] - StopGradient(ReduceMax(in[0], {p.axis}, true));
  return {shifted - Log(ReduceSum(Exp(shifted), {p.axis}, true))};
}

std::vector<Node> decompose(const GeluParams& p, std::span<const Node> in) {
  Node v = in[0];
  if (p.tanh_approximation) {
    Node inner = (v + v * v * v * 0.044715) * std::sqrt(2.0 / M_PI);
    return {v * 0.5 * (Tanh(inner) + 1.0)};
  }
  return {v * 0.5 * (Erf(v * M_SQRT1_2) + 1.0)};
}

std::vector<Node> decompose(const SiluParams&, std::span<const Node> in) { return {in[0] * Logistic(in[0])}; }

}  // namespace detail

Node Softmax(Node x, int axis) {
  check_floating(x, "Softmax");
  return record_composite(SoftmaxParams{normalize_axis(x, axis, "Softmax")}, {x})[0];
}

Node LogSoftmax(Node x, int axis) {
  check_floating(x, "LogSoftmax");
  return record_composite(LogSoftmaxParams{normalize_axis(x, axis, "LogSoftmax")}, {x})[0];
}

Node Gelu(Node x, bool tanh_approximation) {
  check_floating(x, "Gelu");
  return record_composite(GeluParams{tanh_approximation}, {x})[0];
}

Node Silu(Node x) {
  check_floating(x, "Silu");
  return record_composite(SiluParams{}, {x})[0];
}

}  // namespace graft
