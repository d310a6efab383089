// Normalization composites: layer_norm, rms_norm, group_norm (and InstanceNorm as one group per
// channel), batch_norm in its inference form.
#include "graft/graph/ops.h"
#include "graph/composite_defs.h"

namespace graft {

using detail::check_floating;
using detail::normalize_axis;
using detail::per_channel;
using detail::record_composite;
using detail::trailing_axes;

namespace detail {

std::vector<Node> decompose(const LayerNormParams& p, std::span<const Node> in) {
  Axes axes = trailing_axes(p.axis, in[0].rank());
  Node mean = ReduceMean(in[0], axes, true);
  Node centered = in[0] - mean;
  Node var = ReduceMean(centered * centered, axes, true);
  Node y = centered * Rsqrt(var + p.epsilon);
  size_t i = 1;
  if (p.has_scale) y = y * in[i++];
  if (p.has_bias) y = y + in[i++];
  return {y};
}

std::vector<Node> decompose(const RmsNormParams& p, std::span<const Node> in) {
  Node ms = ReduceMean(in[0] * in[0], trailing_axes(p.axis, in[0].rank()), true);
  Node y = in[0] * Rsqrt(ms + p.epsilon);
  if (p.has_scale) y = y * in[1];
  return {y};
}

std::vector<Node> decompose(const GroupNormParams& p, std::span<const Node> in) {
  Shape s = in[0].shape();
  Node g = Reshape(in[0], {s[0], p.groups, -1});
  Node mean = ReduceMean(g, {2}, true);
  Node c = g - mean;
  Node var = ReduceMean(c * c, {2}, true);
  Node y = Reshape(c * Rsqrt(var + p.epsilon), s.dims());
  return {y * per_channel(in[1], s.rank()) + per_channel(in[2], s.rank())};
}

std::vector<Node> decompose(const BatchNormParams& p, std::span<const Node> in) {
  int r = in[0].rank();
  Node inv = Rsqrt(per_channel(in[4], r) + p.epsilon) * per_channel(in[1], r);
  return {(in[0] - per_channel(in[3], r)) * inv + per_channel(in[2], r)};
}

}  // namespace detail

Node LayerNorm(Node x, std::optional<Node> scale, std::optional<Node> bias, int axis, double epsilon) {
  check_floating(x, "LayerNorm");
  LayerNormParams p{normalize_axis(x, axis, "LayerNorm"), scale.has_value(), bias.has_value(), epsilon};
  std::vector<Node> inputs{x};
  if (scale) inputs.push_back(*scale);
  if (bias) inputs.push_back(*bias);
  return record_composite(p, inputs)[0];
}

Node RmsNorm(Node x, std::optional<Node> scale, int axis, double epsilon) {
  check_floating(x, "RmsNorm");
  RmsNormParams p{normalize_axis(x, axis, "RmsNorm"), scale.has_value(), epsilon};
  std::vector<Node> inputs{x};
  if (scale) inputs.push_back(*scale);
  return record_composite(p, inputs)[0];
}

Node GroupNorm(Node x, Node scale, Node bias, int64_t groups, double epsilon) {
  check_floating(x, "GroupNorm");
  GRAFT_CHECK(x.rank() >= 2 && groups >= 1 && x.shape()[1] % groups == 0, "GroupNorm of ", x.describe(), ": ",
              x.shape(), " channels not divisible into ", groups, " groups");
  GRAFT_CHECK(scale.shape().size() == x.shape()[1] && bias.shape().size() == x.shape()[1], "GroupNorm of ",
              x.describe(), ": scale/bias must have ", x.shape()[1], " elements");
  return record_composite(GroupNormParams{groups, epsilon}, {x, scale, bias})[0];
}

Node InstanceNorm(Node x, Node scale, Node bias, double epsilon) {
  GRAFT_CHECK(x.rank() >= 2, "InstanceNorm of ", x.describe(), ": needs [N, C, ...] input, got ", x.shape());
  return GroupNorm(x, scale, bias, x.shape()[1], epsilon);
}

Node BatchNormInference(Node x, Node scale, Node bias, Node mean, Node var, double epsilon) {
  check_floating(x, "BatchNorm");
  GRAFT_CHECK(x.rank() >= 2, "BatchNorm of ", x.describe(), ": needs [N, C, ...] input, got ", x.shape());
  for (Node v : {scale, bias, mean, var})
    GRAFT_CHECK(v.shape().size() == x.shape()[1], "BatchNorm of ", x.describe(), ": ", v.describe(), " has shape ",
                v.shape(), ", expected ", x.shape()[1], " channels");
  return record_composite(BatchNormParams{epsilon}, {x, scale, bias, mean, var})[0];
}

}  // namespace graft
