// Normalization: LayerNormalization, RMSNormalization, BatchNormalization (inference and training), Instance- and
// GroupNormalization, LpNormalization, MeanVarianceNormalization, and LRN (local response normalization, a
// window sum across channels). Lowered to graft's composites where graft has one.
#include "onnx/converter.h"

namespace graft::onnx {

namespace {

void layer_norm_op(OpContext& c) {
  Node x = c.input(0);
  int axis = normalize_axis(c, c.attr_int("axis", -1), x.rank());
  double eps = c.attr_float("epsilon", 1e-5);
  std::optional<Node> scale = c.optional_input(1), bias = c.optional_input(2);
  c.set_output(0, LayerNorm(x, scale, bias, axis, eps));
  if (c.has_output(1) || c.has_output(2)) {
    Axes axes;
    for (int i = axis; i < x.rank(); ++i) axes.push_back(i);
    Node xf = Convert(x, DType::F32);
    Node mean = ReduceMean(xf, axes, true);
    Node d = xf - mean;
    Node inv = Rsqrt(ReduceMean(d * d, axes, true) + eps);
    c.set_output(1, mean);
    c.set_output(2, inv);
  }
}

void rms_norm_op(OpContext& c) {
  Node x = c.input(0);
  int axis = normalize_axis(c, c.attr_int("axis", -1), x.rank());
  c.set_output(0, RmsNorm(x, c.optional_input(1), axis, c.attr_float("epsilon", 1e-5)));
}

// BatchNormalization. Inference: running statistics. Training (training_mode=1 from opset 14, training
// outputs requested before it, or TraceOptions::training): batch statistics over every axis but 1, and
//   running_mean = mean * momentum + batch_mean * (1 - momentum)
//   running_var  = var * momentum + batch_var * (1 - momentum)      (population variance, as ONNX's reference)
// Before opset 14 the optional outputs are mean, var (the running ones), saved_mean, saved_var (batch).
// In training the new running statistics of initializer inputs are also reported as state updates.
void batch_norm_op(OpContext& c) {
  Node x = c.input(0);
  if (x.rank() < 2) c.fail("input must be [N, C, ...], got ", x.shape());
  double eps = c.attr_float("epsilon", 1e-5);
  const TraceOptions* opts = c.tracer().state().options;
  bool training = (opts && opts->training) || (c.opset() >= 14 && c.attr_int("training_mode", 0) != 0);
  if (c.opset() < 14)
    for (int i = 1; i < c.num_outputs(); ++i) training = training || c.has_output(i);
  if (!training) {
    c.set_output(0, BatchNormInference(x, c.input(1), c.input(2), c.input(3), c.input(4), eps));
    return;
  }
  if (c.opset() < 9 && c.attr_int("spatial", 1) == 0) c.fail("training with spatial=0 is not supported");
  double momentum = c.attr_float("momentum", 0.9);
  Axes axes{0};
  for (int d = 2; d < x.rank(); ++d) axes.push_back(d);
  std::vector<int64_t> bshape(size_t(x.rank()), 1);
  bshape[1] = x.dim(1);
  auto per_channel = [&](Node v) {
    if (v.dtype() != x.dtype()) v = Convert(v, x.dtype());
    return Reshape(v, bshape);
  };
  Node mean = ReduceMean(x, axes, true);
  Node d = x - mean;
  Node var = ReduceMean(d * d, axes, true);
  Node y = d * Rsqrt(var + eps) * per_channel(c.input(1)) + per_channel(c.input(2));
  c.set_output(0, y);
  Node bm = Reshape(mean, {x.dim(1)}), bv = Reshape(var, {x.dim(1)});
  auto running = [&](int input, Node batch) {
    Node r = c.input(input);
    Node b = batch.dtype() == r.dtype() ? batch : Convert(batch, r.dtype());
    return r * momentum + b * (1.0 - momentum);
  };
  // Running statistics read straight from initializers are model state: report their new values
  // (TraceResult::state_updates) so a train step can write them back, as PyTorch's BatchNorm does.
  TraceState& st = c.tracer().state();
  for (int input : {3, 4}) {
    Node r = running(input, input == 3 ? bm : bv);
    if (c.has_output(input - 2)) c.set_output(input - 2, r);
    const std::string& name = c.node().input(input);
    if (!st.state_updates || !st.initializer_nodes) continue;
    auto it = st.initializer_nodes->find(name);
    Node in = c.input(input);
    if (it != st.initializer_nodes->end() && it->second.graph() == in.graph() && it->second.ref() == in.ref())
      (*st.state_updates)[name] = r;
  }
  if (c.has_output(3)) c.set_output(3, bm);
  if (c.has_output(4)) c.set_output(4, bv);
}

void group_norm_op(OpContext& c) {
  Node x = c.input(0), scale = c.input(1), bias = c.input(2);
  int64_t g = c.attr_int("num_groups", 0);
  if (x.rank() < 3) c.fail("input must be [N, C, spatial...], got ", x.shape());
  int64_t ch = x.dim(1);
  if (g <= 0 || ch % g) c.fail("channels ", ch, " not divisible by num_groups ", g);
  if (c.opset() < 21 && scale.shape().size() == g && g != ch) {
    // opset 18: one scale/bias per group; repeat each for the group's channels.
    auto per_channel = [&](Node v) {
      return Reshape(BroadcastTo(Reshape(v, {g, 1}), Shape{g, ch / g}), {ch});
    };
    scale = per_channel(scale);
    bias = per_channel(bias);
  }
  c.set_output(0, GroupNorm(x, scale, bias, g, c.attr_float("epsilon", 1e-5)));
}

void lp_norm_op(OpContext& c) {
  Node x = c.input(0);
  int axis = normalize_axis(c, c.attr_int("axis", -1), x.rank());
  int64_t p = c.attr_int("p", 2);
  Node n;
  if (p == 1)
    n = ReduceSum(Abs(x), {axis}, true);
  else if (p == 2)
    n = Sqrt(ReduceSum(x * x, {axis}, true));
  else
    c.fail("p must be 1 or 2, got ", p);
  c.set_output(0, x / n);
}

void mvn_op(OpContext& c) {
  Node x = c.input(0);
  std::vector<int64_t> axes = normalize_axes(c, c.attr_ints("axes", {0, 2, 3}), x.rank());
  Node mean = ReduceMean(x, axes, true);
  Node var = ReduceMean(x * x, axes, true) - mean * mean;
  c.set_output(0, (x - mean) / (Sqrt(var) + 1e-9));
}

void lrn_op(OpContext& c) {
  Node x = c.input(0);
  int64_t size = c.attr_int("size", 1);
  double alpha = c.attr_float("alpha", 1e-4), beta = c.attr_float("beta", 0.75), bias = c.attr_float("bias", 1.0);
  ReduceWindowAttrs a;
  a.op = ReduceOp::Sum;
  a.window.assign(size_t(x.rank()), 1);
  a.window[1] = size;
  a.pad_low.assign(size_t(x.rank()), 0);
  a.pad_high.assign(size_t(x.rank()), 0);
  a.pad_low[1] = (size - 1) / 2;
  a.pad_high[1] = size - 1 - (size - 1) / 2;
  Node sq = ReduceWindow(x * x, a);
  c.set_output(0, x / Pow(sq * (alpha / double(size)) + bias, ScalarLike(x, beta)));
}

}  // namespace

void register_normalization_ops(Registry& r) {
  // Since 1: ONNX Runtime exports used it in the default domain before opset 17 made it standard.
  r.add("", "LayerNormalization", 1, layer_norm_op);
  r.add("", "RMSNormalization", 23, rms_norm_op);
  r.add("", "BatchNormalization", 7, batch_norm_op);
  r.add("", "InstanceNormalization", 6, [](OpContext& c) {
    c.set_output(0, InstanceNorm(c.input(0), c.input(1), c.input(2), c.attr_float("epsilon", 1e-5)));
  });
  r.add("", "GroupNormalization", 18, group_norm_op);
  r.add("", "LpNormalization", 1, lp_norm_op);
  r.add("", "MeanVarianceNormalization", 9, mvn_op);
  r.add("", "LRN", 1, lrn_op);
}

}  // namespace graft::onnx
