// Composite ops: each is one node that carries its decomposition into primitives. Autodiff and every
// backend can work through the decomposition; a backend may instead run the node with a fused kernel,
// keyed by the composite's name and its ints/floats (documented at each builder).
#include <cmath>
#include <numeric>

#include "graft/graph/ops.h"
#include "graph/builder_util.h"

namespace graft {

Node Composite(std::string name, std::vector<Node> inputs, std::vector<int64_t> ints, std::vector<double> floats,
               CompositeAttrs::Decompose decompose) {
  GRAFT_CHECK(!inputs.empty(), "Composite ", name, ": no inputs");
  Graph* g = inputs[0].graph();
  // Infer the output types (and check the operands) by building the decomposition once in a scratch graph.
  Graph scratch(name);
  std::vector<Node> params;
  for (size_t i = 0; i < inputs.size(); ++i)
    params.push_back(scratch.parameter("in" + std::to_string(i), inputs[i].dtype(), inputs[i].shape()));
  std::vector<Node> outs = decompose(params);
  std::vector<ValueType> types;
  for (const Node& o : outs) types.push_back(o.type());
  CompositeAttrs attrs{std::move(name), std::move(ints), std::move(floats), std::move(decompose)};
  return g->add_op(OpKind::Composite, std::move(inputs), std::move(attrs), std::move(types))[0];
}

std::vector<Node> Decompose(Node composite) {
  const Op& op = composite.op();
  GRAFT_CHECK(op.kind == OpKind::Composite, "Decompose: ", composite.describe(), " is not a composite");
  const auto& attrs = std::get<CompositeAttrs>(op.attrs);
  std::vector<Node> inputs;
  for (const ValueRef& r : op.inputs) inputs.push_back(composite.graph()->node(r));
  auto decompose = attrs.decompose;  // copy: recording ops must not invalidate what we call
  return decompose(inputs);
}

namespace {
int norm_axis(Node x, int axis, const char* what) {
  return int(detail::normalize_axes({axis}, x.rank(), std::string(what) + " of " + x.describe())[0]);
}
Axes trailing_axes(int from, int rank) {
  Axes a(size_t(rank - from));
  std::iota(a.begin(), a.end(), from);
  return a;
}
void check_float(Node x, const char* what) {
  GRAFT_CHECK(is_floating(x.dtype()), what, " of ", x.describe(), ": operand is ", x.type().str(),
              ", expected floating point");
}
}  // namespace

// ints = {axis}
Node Softmax(Node x, int axis) {
  check_float(x, "Softmax");
  axis = norm_axis(x, axis, "Softmax");
  return Composite("softmax", {x}, {axis}, {}, [axis](std::span<const Node> in) {
    Node m = StopGradient(ReduceMax(in[0], {axis}, true));
    Node e = Exp(in[0] - m);
    return std::vector<Node>{e / ReduceSum(e, {axis}, true)};
  });
}

// ints = {axis}
Node LogSoftmax(Node x, int axis) {
  check_float(x, "LogSoftmax");
  axis = norm_axis(x, axis, "LogSoftmax");
  return Composite("log_softmax", {x}, {axis}, {}, [axis](std::span<const Node> in) {
    Node shifted = in[0] - StopGradient(ReduceMax(in[0], {axis}, true));
    return std::vector<Node>{shifted - Log(ReduceSum(Exp(shifted), {axis}, true))};
  });
}

// ints = {axis, has_scale, has_bias}, floats = {epsilon}; inputs x[, scale][, bias]
Node LayerNorm(Node x, std::optional<Node> scale, std::optional<Node> bias, int axis, double epsilon) {
  check_float(x, "LayerNorm");
  axis = norm_axis(x, axis, "LayerNorm");
  std::vector<Node> inputs{x};
  if (scale) inputs.push_back(*scale);
  if (bias) inputs.push_back(*bias);
  bool hs = scale.has_value(), hb = bias.has_value();
  return Composite("layer_norm", inputs, {axis, hs, hb}, {epsilon}, [=](std::span<const Node> in) {
    Axes axes = trailing_axes(axis, in[0].rank());
    Node mean = ReduceMean(in[0], axes, true);
    Node centered = in[0] - mean;
    Node var = ReduceMean(centered * centered, axes, true);
    Node y = centered * Rsqrt(var + epsilon);
    size_t i = 1;
    if (hs) y = y * in[i++];
    if (hb) y = y + in[i++];
    return std::vector<Node>{y};
  });
}

// ints = {axis, has_scale}, floats = {epsilon}
Node RmsNorm(Node x, std::optional<Node> scale, int axis, double epsilon) {
  check_float(x, "RmsNorm");
  axis = norm_axis(x, axis, "RmsNorm");
  std::vector<Node> inputs{x};
  if (scale) inputs.push_back(*scale);
  bool hs = scale.has_value();
  return Composite("rms_norm", inputs, {axis, hs}, {epsilon}, [=](std::span<const Node> in) {
    Node ms = ReduceMean(in[0] * in[0], trailing_axes(axis, in[0].rank()), true);
    Node y = in[0] * Rsqrt(ms + epsilon);
    if (hs) y = y * in[1];
    return std::vector<Node>{y};
  });
}

namespace {
// Reshapes a [C] per-channel vector to [1, C, 1, ...] to broadcast against [N, C, spatial...].
Node per_channel(Node v, int rank) {
  std::vector<int64_t> dims(size_t(rank), 1);
  dims[1] = v.shape().size();
  return Reshape(v, dims);
}
}  // namespace

// ints = {groups}, floats = {epsilon}; inputs x, scale[C], bias[C]
Node GroupNorm(Node x, Node scale, Node bias, int64_t groups, double epsilon) {
  check_float(x, "GroupNorm");
  GRAFT_CHECK(x.rank() >= 2 && groups >= 1 && x.shape()[1] % groups == 0, "GroupNorm of ", x.describe(), ": ",
              x.shape(), " channels not divisible into ", groups, " groups");
  GRAFT_CHECK(scale.shape().size() == x.shape()[1] && bias.shape().size() == x.shape()[1], "GroupNorm of ",
              x.describe(), ": scale/bias must have ", x.shape()[1], " elements");
  return Composite("group_norm", {x, scale, bias}, {groups}, {epsilon}, [=](std::span<const Node> in) {
    Shape s = in[0].shape();
    Node g = Reshape(in[0], {s[0], groups, -1});
    Node mean = ReduceMean(g, {2}, true);
    Node c = g - mean;
    Node var = ReduceMean(c * c, {2}, true);
    Node y = Reshape(c * Rsqrt(var + epsilon), s.dims());
    return std::vector<Node>{y * per_channel(in[1], s.rank()) + per_channel(in[2], s.rank())};
  });
}

Node InstanceNorm(Node x, Node scale, Node bias, double epsilon) {
  GRAFT_CHECK(x.rank() >= 2, "InstanceNorm of ", x.describe(), ": needs [N, C, ...] input, got ", x.shape());
  return GroupNorm(x, scale, bias, x.shape()[1], epsilon);
}

// floats = {epsilon}; inputs x, scale, bias, mean, var (all [C])
Node BatchNormInference(Node x, Node scale, Node bias, Node mean, Node var, double epsilon) {
  check_float(x, "BatchNorm");
  GRAFT_CHECK(x.rank() >= 2, "BatchNorm of ", x.describe(), ": needs [N, C, ...] input, got ", x.shape());
  for (Node v : {scale, bias, mean, var})
    GRAFT_CHECK(v.shape().size() == x.shape()[1], "BatchNorm of ", x.describe(), ": ", v.describe(), " has shape ",
                v.shape(), ", expected ", x.shape()[1], " channels");
  return Composite("batch_norm", {x, scale, bias, mean, var}, {}, {epsilon}, [=](std::span<const Node> in) {
    int r = in[0].rank();
    Node inv = Rsqrt(per_channel(in[4], r) + epsilon) * per_channel(in[1], r);
    return std::vector<Node>{(in[0] - per_channel(in[3], r)) * inv + per_channel(in[2], r)};
  });
}

// ints = {tanh_approximation}
Node Gelu(Node x, bool tanh_approximation) {
  check_float(x, "Gelu");
  return Composite("gelu", {x}, {tanh_approximation}, {}, [=](std::span<const Node> in) {
    Node v = in[0];
    if (tanh_approximation) {
      Node inner = (v + v * v * v * 0.044715) * std::sqrt(2.0 / M_PI);
      return std::vector<Node>{v * 0.5 * (Tanh(inner) + 1.0)};
    }
    return std::vector<Node>{v * 0.5 * (Erf(v * M_SQRT1_2) + 1.0)};
  });
}

Node Silu(Node x) {
  check_float(x, "Silu");
  return Composite("silu", {x}, {}, {}, [](std::span<const Node> in) {
    return std::vector<Node>{in[0] * Logistic(in[0])};
  });
}

// ints = {causal, has_mask}, floats = {scale}; inputs q, k, v[, mask]
Node ScaledDotProductAttention(Node q, Node k, Node v, std::optional<Node> mask, bool causal,
                               std::optional<double> scale) {
  std::string what = "ScaledDotProductAttention of " + q.describe();
  check_float(q, "ScaledDotProductAttention");
  GRAFT_CHECK(q.rank() >= 3 && k.rank() == q.rank() && v.rank() == q.rank(), what,
              ": q, k, v must share a rank >= 3 ([..., heads, length, dim]); got ", q.shape(), ", ", k.shape(), ", ",
              v.shape());
  int r = q.rank();
  int64_t hq = q.shape()[r - 3], hkv = k.shape()[r - 3];
  GRAFT_CHECK(hkv > 0 && hq % hkv == 0 && v.shape()[r - 3] == hkv, what, ": query heads ", hq,
              " must be a multiple of key/value heads ", hkv);
  GRAFT_CHECK(q.shape()[r - 1] == k.shape()[r - 1] && k.shape()[r - 2] == v.shape()[r - 2], what, ": q ", q.shape(),
              ", k ", k.shape(), ", v ", v.shape(), " do not fit");
  double s = scale.value_or(1.0 / std::sqrt(double(q.shape()[r - 1])));
  std::vector<Node> inputs{q, k, v};
  if (mask) inputs.push_back(*mask);
  bool has_mask = mask.has_value();
  return Composite("sdpa", inputs, {causal, has_mask}, {s}, [=](std::span<const Node> in) {
    Node qq = in[0], kk = in[1], vv = in[2];
    int64_t lq = qq.shape()[r - 2], lk = kk.shape()[r - 2];
    auto repeat_heads = [&](Node t) {
      if (hq == hkv) return t;
      // [..., Hkv, L, D] -> [..., Hkv, rep, L, D] -> [..., Hq, L, D]
      std::vector<int64_t> d = t.shape().dims();
      std::vector<int64_t> expanded = d;
      expanded.insert(expanded.begin() + (r - 2), hq / hkv);
      Axes dims(static_cast<size_t>(r));
      std::iota(dims.begin(), dims.end(), 0);
      for (int i = r - 2; i < r; ++i) dims[size_t(i)] = i + 1;
      Node b = BroadcastInDim(t, Shape(expanded), dims);
      d[size_t(r - 3)] = hq;
      return Reshape(b, d);
    };
    kk = repeat_heads(kk);
    vv = repeat_heads(vv);
    Node scores = MatMul(qq, Transpose(kk, [&] {
                           Axes p(static_cast<size_t>(r));
                           std::iota(p.begin(), p.end(), 0);
                           std::swap(p[size_t(r - 1)], p[size_t(r - 2)]);
                           return p;
                         }())) * s;
    Node neg_inf = ScalarLike(scores, -INFINITY);
    if (has_mask) {
      Node m = in[3];
      if (m.dtype() == DType::Bool)
        scores = Select(m, scores, neg_inf);
      else
        scores = scores + Convert(m, scores.dtype());
    }
    if (causal) {
      Graph& g = *qq.graph();
      Node row = Iota(g, DType::I64, Shape{lq, lk}, 0), col = Iota(g, DType::I64, Shape{lq, lk}, 1);
      scores = Select(LessEqual(col, row), scores, neg_inf);  // top-left aligned, as PyTorch's is_causal
    }
    return std::vector<Node>{MatMul(Softmax(scores, -1), vv)};
  });
}

}  // namespace graft
