#include "backend/cpu/quantized_conv.h"

#include <cmath>
#include <optional>

#include "backend/cpu/graph_rewrite.h"
#include "backend/cpu/lowered.h"
#include "graft/graph/ops.h"

namespace graft::cpu {

namespace {

// The lhs of a convolution as dequantized 8-bit activations: Convert(x8, T) [- zero_point] [· scale].
struct Dequantized {
  ValueRef x;
  std::optional<ValueRef> zero_point;
  double scale = 1.0;
};

std::optional<Dequantized> dequantized(const Graph& g, ValueRef r, DType t) {
  Dequantized d;
  const Shape& shape = type_of(g, r).shape;
  if (const Op& mul = g.op(r.op); mul.kind == OpKind::Mul) {
    for (int side : {1, 0}) {
      auto s = scalar_constant(g, mul.inputs[size_t(side)], t);
      if (!s || !std::isfinite(*s) || *s == 0 || type_of(g, mul.inputs[size_t(1 - side)]).shape != shape) continue;
      d.scale = *s;
      r = mul.inputs[size_t(1 - side)];
      break;
    }
    if (d.scale == 1.0) return std::nullopt;  // no constant scalar scale: not a dequantization
  }
  if (const Op& sub = g.op(r.op); sub.kind == OpKind::Sub) {
    const ValueType& z = type_of(g, sub.inputs[1]);
    if (z.dtype != t || z.shape.size() != 1 || z.shape.rank() != 0 || type_of(g, sub.inputs[0]).shape != shape)
      return std::nullopt;
    d.zero_point = sub.inputs[1];
    r = sub.inputs[0];
  }
  const Op& cv = g.op(r.op);
  if (cv.kind != OpKind::Convert || cv.outputs[0].dtype != t) return std::nullopt;
  DType src = type_of(g, cv.inputs[0]).dtype;
  if (src != DType::U8 && src != DType::I8) return std::nullopt;
  d.x = cv.inputs[0];
  return d;
}

// Constant weights as int8 times one scale per slice along `axis` (the output channels: axis 0 of a
// convolution's [O, C/G, k...], axis 1 of a product's [K, N]), when every slice is on an int8 grid (see
// quantized_conv.h); else nullopt.
std::optional<std::pair<Tensor, std::vector<double>>> int8_weights(const Graph& g, const ValueRef& r, int axis) {
  const Op& op = g.op(r.op);
  if (op.kind != OpKind::Constant) return std::nullopt;
  const Tensor& w = std::get<ConstantAttrs>(op.attrs).value;
  if ((w.dtype() != DType::F32 && w.dtype() != DType::F64) || w.shape().rank() <= axis || w.size() == 0)
    return std::nullopt;
  // [outer, o, inner]: element (a, c, b) at (a * o + c) * inner + b.
  const int64_t o = w.shape()[axis], inner = w.size() / o / (axis == 0 ? 1 : w.shape()[0]);
  const int64_t outer = w.size() / o / inner;
  std::vector<double> v = w.to_vector<double>(), scales(size_t(o), 1.0);
  Tensor q = Tensor::uninitialized(DType::I8, w.shape());
  int8_t* qp = q.data<int8_t>();
  for (int64_t c = 0; c < o; ++c) {
    auto at = [&](int64_t i) { return (i / inner * o + c) * inner + i % inner; };
    const int64_t per = outer * inner;
    double m = 0;
    for (int64_t i = 0; i < per; ++i) m = std::max(m, std::abs(v[size_t(at(i))]));
    if (!std::isfinite(m)) return std::nullopt;
    // The grids to try: integers, then the slice's largest magnitude as k steps, k = 127, 128, 126, ..., 1
    // (symmetric quantization puts it at 127; per-tensor scales leave some slices with smaller maxima).
    // Float weights fail the first candidates' first elements, so trying many costs little.
    std::vector<double> steps{1.0, m / 127, m / 128};
    for (int k = 126; k >= 1; --k) steps.push_back(m / k);
    bool found = false;
    for (double step : steps) {
      if (step <= 0) continue;
      bool ok = true;
      for (int64_t i = 0; i < per && ok; ++i) {
        double k = v[size_t(at(i))] / step, rk = std::nearbyint(k);
        // Integers exactly (ConvInteger must stay exact); other grids to float rounding.
        ok = rk >= -128 && rk <= 127 && (step == 1.0 ? k == rk : std::abs(k - rk) <= 1e-4);
      }
      if (!ok) continue;
      for (int64_t i = 0; i < per; ++i) qp[at(i)] = int8_t(std::nearbyint(v[size_t(at(i))] / step));
      scales[size_t(c)] = step;
      found = true;
      break;
    }
    if (!found) return std::nullopt;
  }
  return std::pair{std::move(q), std::move(scales)};
}

// Integer weights [O, C/G, k...] whose output channels each span at most 256 consecutive integers but do not
// all fit int8 — ConvInteger's u8 weights minus a zero point other than 128 (w - z in [-z, 255 - z]) — as
// int8 q plus one integer offset per output channel: w = q + offsets[o]. Else nullopt.
std::optional<std::pair<Tensor, std::vector<int32_t>>> offset_int8_weights(const Graph& g, const ValueRef& r) {
  const Op& op = g.op(r.op);
  if (op.kind != OpKind::Constant) return std::nullopt;
  const Tensor& w = std::get<ConstantAttrs>(op.attrs).value;
  if (w.dtype() != DType::F64 || w.shape().rank() < 2 || w.size() == 0) return std::nullopt;
  const int64_t o = w.shape()[0], per = w.size() / o;
  const std::vector<double> v = w.to_vector<double>();
  Tensor q = Tensor::uninitialized(DType::I8, w.shape());
  int8_t* qp = q.data<int8_t>();
  std::vector<int32_t> offsets(static_cast<size_t>(o));
  for (int64_t c = 0; c < o; ++c) {
    const double* wc = v.data() + c * per;
    double lo = wc[0], hi = wc[0];
    for (int64_t i = 0; i < per; ++i) {
      if (wc[i] != std::nearbyint(wc[i]) || std::abs(wc[i]) > 1e6) return std::nullopt;  // not integers
      lo = std::min(lo, wc[i]);
      hi = std::max(hi, wc[i]);
    }
    if (hi - lo > 255) return std::nullopt;
    // No offset where the channel already fits; else the one that puts its smallest weight at -128.
    const int32_t off = lo >= -128 && hi <= 127 ? 0 : int32_t(lo) + 128;
    offsets[size_t(c)] = off;
    for (int64_t i = 0; i < per; ++i) qp[c * per + i] = int8_t(int32_t(wc[i]) - off);
  }
  return std::pair{std::move(q), std::move(offsets)};
}

struct Match {
  int conv = -1, last = -1;  // last: the op whose value the fused op replaces (a Convert to i32 for f64)
  std::vector<int> chain;    // the ops after the convolution it absorbs, up to `last`
  Dequantized lhs;
  Tensor weights;
  QuantizedConvolution form;
  std::vector<ValueRef> epilogue_inputs;  // bias, residual of a cpu.convolution
};

// A QuantizeLinear of the result as its only reader — Convert(Min(Max(Round(y / s) [+ zp], lo), hi), u8/s8)
// with constant scalars and [lo, hi] the 8-bit type's range — is absorbed: the convolution writes the 8-bit
// values (oneDNN's output scale divided by s, its destination zero point, its saturating round-to-nearest-even
// conversion). Not with a residual (oneDNN would add it in the 8-bit domain).
void requantized_output(const Graph& g, const Uses& u, Match& m) {
  std::vector<int> chain;
  int head = m.last;
  const Shape& shape = g.op(head).outputs[0].shape;
  // The next op if it is the single reader of `head`, an f32 binary op of `head` and a constant scalar
  // (returned in `c`) with `head` as its first operand, or a unary op of the given kind.
  auto next = [&](OpKind kind, double* c) -> int {
    if (!u.single(head)) return -1;
    const int j = u.user[size_t(head)];
    const Op& op = g.op(j);
    if (op.kind != kind || op.outputs[0].shape != shape || op.inputs[0].op != head) return -1;
    if (c) {
      if (op.inputs.size() != 2 || op.outputs[0].dtype != DType::F32) return -1;
      auto v = scalar_constant(g, op.inputs[1], DType::F32);
      if (!v) return -1;
      *c = *v;
    }
    return j;
  };
  double s = 0, zp = 0, lo = 0, hi = 0;
  int j = next(OpKind::Div, &s);
  if (j < 0 || !(s > 0) || !std::isfinite(s)) return;
  chain.push_back(head = j);
  if ((j = next(OpKind::Round, nullptr)) < 0) return;
  chain.push_back(head = j);
  if ((j = next(OpKind::Add, &zp)) >= 0) chain.push_back(head = j);
  if ((j = next(OpKind::Max, &lo)) < 0) return;
  chain.push_back(head = j);
  if ((j = next(OpKind::Min, &hi)) < 0) return;
  chain.push_back(head = j);
  if ((j = next(OpKind::Convert, nullptr)) < 0) return;
  const DType q = g.op(j).outputs[0].dtype;
  const bool full_range = (q == DType::U8 && lo == 0 && hi == 255) || (q == DType::I8 && lo == -128 && hi == 127);
  if (!full_range || zp != std::nearbyint(zp) || zp < lo || zp > hi) return;
  chain.push_back(j);
  m.chain = std::move(chain);
  m.last = j;
  m.form.out_scale = s;
  m.form.out_zero_point = int(zp);
}

std::optional<Match> match(const Graph& g, const Uses& u, int i) {
  const Op& op = g.op(i);
  ConvolutionEpilogue ep;
  if (op.kind == OpKind::Convolution && op.inputs.size() == 2) {
    ep.conv = std::get<ConvolutionAttrs>(op.attrs);
  } else if (const ConvolutionEpilogue* f = lowered_form<ConvolutionEpilogue>(op)) {
    ep = *f;
  } else {
    return std::nullopt;
  }
  const DType t = op.outputs[0].dtype;
  const int rank = op.outputs[0].shape.rank();
  if (ep.conv.transposed || (t != DType::F32 && t != DType::F64) || rank < 3 || rank > 5 ||
      op.outputs[0].shape.size() == 0)
    return std::nullopt;
  if (type_of(g, op.inputs[1]).shape.rank() != rank) return std::nullopt;
  for (int64_t d : ep.conv.pad_low) if (d < 0) return std::nullopt;
  for (int64_t d : ep.conv.pad_high) if (d < 0) return std::nullopt;
  Match m;
  m.conv = m.last = i;
  auto lhs = dequantized(g, op.inputs[0], t);
  if (!lhs) return std::nullopt;
  auto w = int8_weights(g, op.inputs[1], 0);
  if (!w && t == DType::F64) {
    if (auto offset = offset_int8_weights(g, op.inputs[1])) {
      w.emplace(std::move(offset->first), std::vector<double>(offset->second.size(), 1.0));
      m.form.weight_offsets = std::move(offset->second);
    }
  }
  if (!w) return std::nullopt;
  m.lhs = *lhs;
  m.weights = std::move(w->first);
  m.form.conv = ep.conv;
  m.form.has_zero_point = lhs->zero_point.has_value();
  if (t == DType::F64) {
    // ConvInteger: exact integers, converted to int32 by the single reader; no scale.
    if (lhs->scale != 1.0 || !u.single(i)) return std::nullopt;
    for (double s : w->second) if (s != 1.0) return std::nullopt;
    const Op& cv = g.op(u.user[size_t(i)]);
    if (cv.kind != OpKind::Convert || cv.outputs[0].dtype != DType::I32) return std::nullopt;
    m.last = u.user[size_t(i)];
    m.chain = {m.last};
    return m;
  }
  bool per_channel = false;
  for (double s : w->second) per_channel |= s != w->second[0];
  for (size_t c = 0; c < (per_channel ? w->second.size() : 1); ++c)
    m.form.scales.push_back(float(lhs->scale * w->second[c]));
  m.form.has_bias = ep.has_bias;
  m.form.has_residual = ep.has_residual;
  m.form.clip_lo = ep.clip_lo;
  m.form.clip_hi = ep.clip_hi;
  for (size_t k = 2; k < op.inputs.size(); ++k) m.epilogue_inputs.push_back(op.inputs[k]);
  if (!ep.has_residual) requantized_output(g, u, m);
  return m;
}

// What a QuantizedConvolution computes, in the graph's ops (T = f32, or f64 for ConvInteger): the reference
// the composite decomposes into.
CompositeAttrs::Decompose lowered_reference(const QuantizedConvolution& form, DType t) {
  return [form, t](std::span<const Node> p) {
    Node x = Convert(p[0], t);
    if (form.has_zero_point) x = x - p[1];
    Node w = Convert(p[size_t(form.weight_input())], t);
    if (!form.weight_offsets.empty()) {
      std::vector<double> offsets(form.weight_offsets.begin(), form.weight_offsets.end());
      std::vector<int64_t> per_channel(size_t(w.rank()), 1);
      per_channel[0] = int64_t(offsets.size());
      w = w + Convert(w.graph()->constant(Tensor::from_vector(offsets, Shape(per_channel))), t);
    }
    Node y = Convolution(x, w, form.conv);
    if (t == DType::F64) return std::vector<Node>{Convert(y, DType::I32)};
    std::vector<int64_t> per_channel(size_t(y.rank()), 1);
    per_channel[1] = int64_t(form.scales.size());
    y = y * Reshape(y.graph()->constant(Tensor::from_vector(form.scales, Shape{int64_t(form.scales.size())})),
                    per_channel);
    if (form.has_bias) {
      per_channel[1] = y.dim(1);
      y = y + Reshape(p[size_t(form.bias_input())], per_channel);
    }
    if (form.has_residual) y = y + p[size_t(form.residual_input())];
    if (form.clip_lo != -INFINITY) y = Max(y, ScalarLike(y, form.clip_lo));
    if (form.clip_hi != INFINITY) y = Min(y, ScalarLike(y, form.clip_hi));
    if (form.out_scale > 0) {  // QuantizeLinear's arithmetic
      const bool u8 = form.out_type == DType::U8;
      y = Round(y / ScalarLike(y, form.out_scale));
      if (form.out_zero_point != 0) y = y + ScalarLike(y, form.out_zero_point);
      y = Convert(Min(Max(y, ScalarLike(y, u8 ? 0 : -128)), ScalarLike(y, u8 ? 255 : 127)), form.out_type);
    }
    return std::vector<Node>{y};
  };
}

}  // namespace

Graph fuse_quantized_convolutions(const Graph& g, int* fused) {
  const int n = g.num_ops();
  const Uses u(g);
  std::vector<std::optional<Match>> ending(static_cast<size_t>(n));  // by the match's last op
  std::vector<bool> replaced(size_t(n), false);
  for (int i = 0; i < n; ++i)
    if (auto m = match(g, u, i)) {
      replaced[size_t(m->conv)] = true;
      for (int k : m->chain) replaced[size_t(k)] = true;
      int last = m->last;
      ending[size_t(last)] = std::move(m);
    }
  // What is still read once the matches are replaced: the dequantization chains the fused ops read through
  // are dropped unless something else reads them.
  const std::vector<bool> live = live_after_fusion(g, [&](int i) -> std::optional<std::vector<ValueRef>> {
    const auto& m = ending[size_t(i)];
    if (!m) return std::nullopt;
    std::vector<ValueRef> reads{m->lhs.x};
    if (m->lhs.zero_point) reads.push_back(*m->lhs.zero_point);
    reads.insert(reads.end(), m->epilogue_inputs.begin(), m->epilogue_inputs.end());
    return reads;
  });
  *fused = 0;
  return rewrite(g, [&](int i, const Mapped& mapped, Graph& out) -> std::optional<std::vector<Node>> {
    const auto& m = ending[size_t(i)];
    if (!m) {
      if (!live[size_t(i)] || replaced[size_t(i)]) return std::vector<Node>{};
      return std::nullopt;
    }
    QuantizedConvolution form = m->form;
    form.out_type = g.op(i).outputs[0].dtype;
    const DType t = g.op(m->conv).outputs[0].dtype;
    out.set_current_name(g.op(m->conv).name);
    std::vector<Node> in{mapped(m->lhs.x)};
    if (m->lhs.zero_point) in.push_back(mapped(*m->lhs.zero_point));
    in.push_back(out.constant(m->weights));
    for (const ValueRef& r : m->epilogue_inputs) in.push_back(mapped(r));
    ++*fused;
    return record_lowered(form, in, g.op(i).outputs, lowered_reference(form, t));
  });
}

}  // namespace graft::cpu

namespace graft::cpu {

// QDQ products: DotGeneral(dequantized x8 [..., K], W [K, N] on an int8 grid per column), f32, becomes
// Convert(DotGeneral(Convert(x8, i32) - zero_point, W8 as int32), f32) · (x_scale · w_scale[column]) — the
// exact integer product and scale that fuse_quantized_products runs on oneDNN's int8 matmul.
Graph canonicalize_qdq_products(const Graph& g, int* rewritten) {
  const int n = g.num_ops();
  struct Product {
    Dequantized lhs;
    Tensor weights;
    std::vector<float> scales;
  };
  std::vector<std::optional<Product>> found(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const Op& op = g.op(i);
    if (op.kind != OpKind::DotGeneral || op.inputs.size() != 2 || op.outputs[0].dtype != DType::F32) continue;
    const auto& attrs = std::get<DotGeneralAttrs>(op.attrs);
    const ValueType& lt = type_of(g, op.inputs[0]);
    const ValueType& rt = type_of(g, op.inputs[1]);
    if (!attrs.lhs_batch.empty() || rt.shape.rank() != 2 || attrs.rhs_contract != std::vector<int64_t>{0} ||
        attrs.lhs_contract != std::vector<int64_t>{lt.shape.rank() - 1} || lt.shape.size() == 0)
      continue;
    auto lhs = dequantized(g, op.inputs[0], DType::F32);
    if (!lhs) continue;
    auto w = int8_weights(g, op.inputs[1], 1);
    if (!w) continue;
    Product p{*lhs, std::move(w->first), {}};
    bool per_column = false;
    for (double s : w->second) per_column |= s != w->second[0];
    for (size_t c = 0; c < (per_column ? w->second.size() : 1); ++c) p.scales.push_back(float(lhs->scale * w->second[c]));
    found[size_t(i)] = std::move(p);
  }
  *rewritten = 0;
  return rewrite(g, [&](int i, const Mapped& mapped, Graph& out) -> std::optional<std::vector<Node>> {
    const auto& p = found[size_t(i)];
    if (!p) return std::nullopt;
    out.set_current_name(g.op(i).name);
    Node a = Convert(mapped(p->lhs.x), DType::I32);
    if (p->lhs.zero_point) a = a - Convert(Round(mapped(*p->lhs.zero_point)), DType::I32);
    Node acc = DotGeneral(a, out.constant(p->weights.cast(DType::I32)), std::get<DotGeneralAttrs>(g.op(i).attrs));
    Node scale = p->scales.size() == 1 ? out.constant(Tensor::scalar(p->scales[0]))
                                       : out.constant(Tensor::from_vector(p->scales, Shape{int64_t(p->scales.size())}));
    ++*rewritten;
    return std::vector<Node>{Convert(acc, DType::F32) * scale};
  });
}

}  // namespace graft::cpu
