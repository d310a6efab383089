#include "backend/cpu/quantized_product.h"

#include <cmath>
#include <map>
#include <optional>
#include <tuple>

#include "backend/cpu/graph_rewrite.h"
#include "backend/cpu/lowered.h"
#include "backend/cpu/matmul_epilogue.h"
#include "graft/graph/ops.h"

namespace graft::cpu {

namespace {

bool is_8bit(DType t) { return t == DType::U8 || t == DType::I8; }

// The operand of a Convert to int32 from an 8-bit type, or nullopt.
std::optional<ValueRef> widened_8bit(const Graph& g, const ValueRef& r) {
  const Op& op = g.op(r.op);
  if (op.kind != OpKind::Convert || type_of(g, r).dtype != DType::I32) return std::nullopt;
  if (!is_8bit(type_of(g, op.inputs[0]).dtype)) return std::nullopt;
  return op.inputs[0];
}

// A constant int32 matrix whose values all fit int8 (what folding makes of Convert(w, i32) - w_zero_point for
// constant 8-bit weights), narrowed to int8; else nullopt.
std::optional<Tensor> constant_int8_weights(const Graph& g, const ValueRef& r) {
  const Op& op = g.op(r.op);
  if (op.kind != OpKind::Constant || type_of(g, r).dtype != DType::I32) return std::nullopt;
  const Tensor& t = std::get<ConstantAttrs>(op.attrs).value;
  const int32_t* v = t.data<int32_t>();
  Tensor out = Tensor::uninitialized(DType::I8, t.shape());
  int8_t* o = out.data<int8_t>();
  for (int64_t i = 0; i < t.size(); ++i) {
    if (v[i] < -128 || v[i] > 127) return std::nullopt;
    o[i] = int8_t(v[i]);
  }
  return out;
}

struct Match {
  int dot = -1, convert = -1, mul = -1;  // the ops replaced (with those of the epilogue); the last one emits the fused op
  ValueRef a;
  std::optional<ValueRef> zero_point;  // an int32 scalar
  std::optional<ValueRef> weights;     // int8 [K, N] ...
  Tensor constant_weights;             // ... or narrowed from an int32 constant
  std::optional<ValueRef> scale;
  std::optional<BiasEpilogue> epilogue;  // after the scale: bias [-> gelu] (matmul_epilogue.h's matcher)
  ValueRef bias;
  int residual_add = -1;  // then Add(., residual) of the same shape
  ValueRef residual;
  int last() const {
    if (residual_add >= 0) return residual_add;
    if (epilogue) return epilogue->last();
    return mul >= 0 ? mul : convert >= 0 ? convert : dot;
  }
  std::vector<int> ops() const {
    std::vector<int> r;
    for (int k : {dot, convert, mul, epilogue ? epilogue->add : -1, epilogue ? epilogue->act : -1, residual_add})
      if (k >= 0) r.push_back(k);
    return r;
  }
};

std::optional<Match> match(const Graph& g, const Uses& u, int i, bool epilogues) {
  const Op& d = g.op(i);
  if (d.kind != OpKind::DotGeneral || d.outputs[0].dtype != DType::I32 || d.inputs.size() != 2) return std::nullopt;
  const auto& attrs = std::get<DotGeneralAttrs>(d.attrs);
  const ValueType& lt = type_of(g, d.inputs[0]);
  const ValueType& rt = type_of(g, d.inputs[1]);
  // [..., K] x [K, N]: the lhs's leading axes are rows of one product.
  if (!attrs.lhs_batch.empty() || rt.shape.rank() != 2 || attrs.rhs_contract != std::vector<int64_t>{0} ||
      attrs.lhs_contract != std::vector<int64_t>{lt.shape.rank() - 1})
    return std::nullopt;
  if (lt.shape.size() == 0 || rt.shape.size() == 0) return std::nullopt;
  Match m;
  m.dot = i;
  // The activations: Convert(a8, i32), or that minus an int32 scalar zero point.
  const Op& l = g.op(d.inputs[0].op);
  if (auto a = widened_8bit(g, d.inputs[0])) {
    m.a = *a;
  } else if (l.kind == OpKind::Sub && type_of(g, l.inputs[1]).shape.size() == 1 &&
             type_of(g, l.inputs[1]).shape.rank() == 0) {
    auto a = widened_8bit(g, l.inputs[0]);
    if (!a || type_of(g, *a).shape != lt.shape) return std::nullopt;
    m.a = *a;
    m.zero_point = l.inputs[1];
  } else {
    return std::nullopt;
  }
  // The weights: Convert(w_s8, i32), or an int32 constant with int8 values.
  if (auto w = widened_8bit(g, d.inputs[1]); w && type_of(g, *w).dtype == DType::I8) {
    m.weights = *w;
  } else if (auto c = constant_int8_weights(g, d.inputs[1])) {
    m.constant_weights = std::move(*c);
  } else {
    return std::nullopt;
  }
  // Then Convert(., f32) · scale (both or neither), each the single reader of what comes before.
  if (!u.single(i)) return m;
  int convert = u.user[size_t(i)];
  const Op& cv = g.op(convert);
  if (cv.kind != OpKind::Convert || cv.outputs[0].dtype != DType::F32 || !u.single(convert)) return m;
  const Op& mul = g.op(u.user[size_t(convert)]);
  if (mul.kind != OpKind::Mul || mul.outputs[0].shape != d.outputs[0].shape) return m;
  int other = mul.inputs[0].op == convert ? 1 : 0;
  if (mul.inputs[size_t(1 - other)].op != convert) return m;
  const ValueType& st = type_of(g, mul.inputs[size_t(other)]);
  int64_t n = rt.shape[1];
  bool per_tensor = st.shape.size() == 1, per_column = st.shape.rank() >= 1 && st.shape[-1] == n && st.shape.size() == n;
  if (st.dtype != DType::F32 || !(per_tensor || per_column)) return m;
  m.convert = convert;
  m.mul = u.user[size_t(convert)];
  m.scale = mul.inputs[size_t(other)];
  if (!epilogues) return m;
  // Then the f32 epilogue cpu.product takes — bias [-> gelu] — and a residual Add.
  if ((m.epilogue = match_bias_epilogue(g, u, m.mul))) m.bias = g.op(m.epilogue->add).inputs[size_t(m.epilogue->bias_input)];
  if (auto r = residual_after(g, u, m.epilogue ? m.epilogue->last() : m.mul)) std::tie(m.residual_add, m.residual) = *r;
  return m;
}

}  // namespace

Graph fuse_quantized_products(const Graph& g, bool epilogues, int* fused, int* with_epilogue) {
  const int n = g.num_ops();
  const Uses u(g);
  std::vector<std::optional<Match>> ending(size_t(n), std::nullopt);  // by the match's last op
  std::vector<bool> replaced(size_t(n), false);
  for (int i = 0; i < n; ++i) {
    auto m = match(g, u, i, epilogues);
    if (!m) continue;
    // Add(p1, p2) of two products: the first claims it, as its residual or bias; the second stops before it.
    auto claimed = [&](int k) { return k >= 0 && replaced[size_t(k)]; };
    if (claimed(m->residual_add)) m->residual_add = -1;
    if (m->epilogue && (claimed(m->epilogue->add) || claimed(m->epilogue->act))) m->epilogue.reset(), m->residual_add = -1;
    for (int k : m->ops()) replaced[size_t(k)] = true;
    int last = m->last();
    ending[size_t(last)] = std::move(m);
  }
  // What is still read once the matches are replaced (the Converts to int32 and zero-point subtractions they
  // read directly are not): everything else is dropped.
  const std::vector<bool> live = live_after_fusion(g, [&](int i) -> std::optional<std::vector<ValueRef>> {
    const auto& m = ending[size_t(i)];
    if (!m) return std::nullopt;
    std::vector<ValueRef> reads{m->a};
    for (const auto& r : {m->zero_point, m->weights, m->scale})
      if (r) reads.push_back(*r);
    if (m->epilogue) reads.push_back(m->bias);
    if (m->residual_add >= 0) reads.push_back(m->residual);
    return reads;
  });
  *fused = 0;
  *with_epilogue = 0;
  return rewrite(g, [&](int i, const Mapped& mapped, Graph& out) -> std::optional<std::vector<Node>> {
    const auto& m = ending[size_t(i)];
    if (!m) {
      if (!live[size_t(i)] || replaced[size_t(i)]) return std::vector<Node>{};
      return std::nullopt;
    }
    QuantizedProduct form{m->zero_point.has_value(), m->scale.has_value()};
    if (m->epilogue) form.has_bias = true, form.activation = m->epilogue->activation;
    form.has_residual = m->residual_add >= 0;
    out.set_current_name(g.op(m->dot).name);
    std::vector<Node> in{mapped(m->a)};
    if (m->zero_point) in.push_back(mapped(*m->zero_point));
    in.push_back(m->weights ? mapped(*m->weights) : out.constant(m->constant_weights));
    if (m->scale) in.push_back(mapped(*m->scale));
    const int64_t cols = g.op(m->dot).outputs[0].shape[-1];
    if (form.has_bias) in.push_back(Reshape(mapped(m->bias), {cols}));
    if (form.has_residual) in.push_back(mapped(m->residual));
    ++*fused;
    if (form.has_bias || form.has_residual) ++*with_epilogue;
    DotGeneralAttrs dot = std::get<DotGeneralAttrs>(g.op(m->dot).attrs);
    return record_lowered(form, in, g.op(i).outputs, [form, dot](std::span<const Node> p) {
      Node a = Convert(p[0], DType::I32);
      if (form.has_zero_point) a = a - p[1];
      Node y = DotGeneral(a, Convert(p[size_t(form.weight_input())], DType::I32), dot);
      if (form.has_scale) y = Convert(y, DType::F32) * p[size_t(form.scale_input())];
      if (form.has_bias) y = y + p[size_t(form.bias_input())];
      if (form.activation != ProductEpilogue::Activation::None)
        y = Gelu(y, form.activation == ProductEpilogue::Activation::GeluTanh);
      if (form.has_residual) y = y + p[size_t(form.residual_input())];
      return std::vector<Node>{y};
    });
  });
}

namespace {

// A full reduction (every axis) of an f32 value by `op`.
bool full_reduction(const Graph& g, const Op& op, ReduceOp which) {
  if (op.kind != OpKind::Reduce || std::get<ReduceAttrs>(op.attrs).op != which) return false;
  const ValueType& x = type_of(g, op.inputs[0]);
  return x.dtype == DType::F32 && op.outputs[0].shape.size() == 1 && x.shape.size() > 0 &&
         std::get<ReduceAttrs>(op.attrs).axes.size() == size_t(x.shape.rank());
}

}  // namespace

Graph fuse_min_max(const Graph& g, int* fused) {
  const int n = g.num_ops();
  // Per value (op, output) read by a full ReduceMin: that op; then the ReduceMax of the same value pairs with it.
  std::map<std::pair<int, int>, int> min_of;
  for (int i = 0; i < n; ++i)
    if (full_reduction(g, g.op(i), ReduceOp::Min)) min_of.emplace(std::pair{g.op(i).inputs[0].op, g.op(i).inputs[0].output}, i);
  std::vector<int> partner(size_t(n), -1);
  for (int i = 0; i < n; ++i) {
    if (!full_reduction(g, g.op(i), ReduceOp::Max)) continue;
    auto it = min_of.find({g.op(i).inputs[0].op, g.op(i).inputs[0].output});
    if (it == min_of.end() || partner[size_t(it->second)] >= 0) continue;
    if (g.op(it->second).outputs[0].shape != g.op(i).outputs[0].shape) continue;
    partner[size_t(i)] = it->second;
    partner[size_t(it->second)] = i;
  }
  std::map<int, std::vector<Node>> emitted;  // by the pair's first op: {min, max}
  *fused = 0;
  return rewrite(g, [&](int i, const Mapped& mapped, Graph& out) -> std::optional<std::vector<Node>> {
    int j = partner[size_t(i)];
    if (j < 0) return std::nullopt;
    bool is_min = std::get<ReduceAttrs>(g.op(i).attrs).op == ReduceOp::Min;
    if (j < i) return std::vector<Node>{emitted.at(j)[is_min ? 0 : 1]};
    const Op& mn = g.op(is_min ? i : j);
    const Op& mx = g.op(is_min ? j : i);
    out.set_current_name(g.op(i).name);
    ++*fused;
    std::vector<Node> r = record_lowered(MinMax{}, {mapped(g.op(i).inputs[0])}, {mn.outputs[0], mx.outputs[0]},
                                         [](std::span<const Node> p) {
                                           return std::vector<Node>{Reduce(p[0], ReduceOp::Min, {}),
                                                                    Reduce(p[0], ReduceOp::Max, {})};
                                         });
    emitted[i] = r;
    return std::vector<Node>{r[is_min ? 0 : 1]};
  });
}

namespace {

bool is_f32_scalar(const Graph& g, const ValueRef& r) {
  const ValueType& t = type_of(g, r);
  return t.dtype == DType::F32 && t.shape.rank() == 0;
}

struct QuantizeMatch {
  ValueRef x, scale;
  std::optional<ValueRef> zero_point;
  std::vector<int> ops;  // Div, Round, [Add,] Max, Min (the Convert emits the fused op)
};

// Convert(Min(Max(Round(x / s) [+ zp], lo), hi), u8|s8) with scalar f32 s and zp, [lo, hi] the type's range and
// every intermediate read once: what DynamicQuantizeLinear and a per-tensor QuantizeLinear import as.
std::optional<QuantizeMatch> match_quantize(const Graph& g, const Uses& u, int i) {
  const Op& cv = g.op(i);
  if (cv.kind != OpKind::Convert || (cv.outputs[0].dtype != DType::U8 && cv.outputs[0].dtype != DType::I8)) return std::nullopt;
  const double lo = cv.outputs[0].dtype == DType::U8 ? 0 : -128, hi = cv.outputs[0].dtype == DType::U8 ? 255 : 127;
  QuantizeMatch m;
  // Walks from the Convert up: each step's op must be the single reader's operand of the expected kind.
  auto step = [&](const ValueRef& r, OpKind kind) -> const Op* {
    const Op& op = g.op(r.op);
    if (op.kind != kind || !u.single(r.op) || op.outputs[0].dtype != DType::F32 || op.outputs[0].shape != cv.outputs[0].shape)
      return nullptr;
    m.ops.push_back(r.op);
    return &op;
  };
  // Min(v, hi) / Max(v, lo), the constant on either side: v.
  auto bounded = [&](const Op& op, double c) -> std::optional<ValueRef> {
    if (scalar_constant(g, op.inputs[1]) == c) return op.inputs[0];
    if (scalar_constant(g, op.inputs[0]) == c) return op.inputs[1];
    return std::nullopt;
  };
  const Op* mn = step(cv.inputs[0], OpKind::Min);
  std::optional<ValueRef> max_ref = mn ? bounded(*mn, hi) : std::nullopt;
  const Op* mx = max_ref ? step(*max_ref, OpKind::Max) : nullptr;
  std::optional<ValueRef> v = mx ? bounded(*mx, lo) : std::nullopt;
  if (!v) return std::nullopt;
  const ValueRef v_ref = *v;
  ValueRef round_ref = v_ref;
  if (g.op(v_ref.op).kind == OpKind::Add) {
    const Op* add = step(v_ref, OpKind::Add);
    if (!add) return std::nullopt;
    bool first = g.op(add->inputs[0].op).kind == OpKind::Round;
    round_ref = add->inputs[first ? 0 : 1];
    m.zero_point = add->inputs[first ? 1 : 0];
    if (!is_f32_scalar(g, *m.zero_point)) return std::nullopt;
  }
  const Op* round = step(round_ref, OpKind::Round);
  if (!round) return std::nullopt;
  const Op* div = step(round->inputs[0], OpKind::Div);
  if (!div || !is_f32_scalar(g, div->inputs[1])) return std::nullopt;
  m.x = div->inputs[0];
  m.scale = div->inputs[1];
  if (type_of(g, m.x).shape != cv.outputs[0].shape) return std::nullopt;
  return m;
}

}  // namespace

Graph fuse_quantize(const Graph& g, int* fused) {
  const int n = g.num_ops();
  const Uses u(g);
  std::vector<std::optional<QuantizeMatch>> at(static_cast<size_t>(n));
  std::vector<bool> dropped(size_t(n), false);
  for (int i = 0; i < n; ++i)
    if ((at[size_t(i)] = match_quantize(g, u, i)))
      for (int k : at[size_t(i)]->ops) dropped[size_t(k)] = true;
  *fused = 0;
  return rewrite(g, [&](int i, const Mapped& mapped, Graph& out) -> std::optional<std::vector<Node>> {
    if (dropped[size_t(i)]) return std::vector<Node>{};
    const auto& m = at[size_t(i)];
    if (!m) return std::nullopt;
    Quantize form{m->zero_point.has_value(), g.op(i).outputs[0].dtype};
    std::vector<Node> in{mapped(m->x), mapped(m->scale)};
    if (m->zero_point) in.push_back(mapped(*m->zero_point));
    out.set_current_name(g.op(i).name);
    ++*fused;
    return record_lowered(form, in, g.op(i).outputs, [form](std::span<const Node> p) {
      Node v = Round(p[0] / p[1]);
      if (form.has_zero_point) v = v + p[2];
      const bool u8 = form.out == DType::U8;
      v = Clamp(v, ScalarLike(v, u8 ? 0 : -128), ScalarLike(v, u8 ? 255 : 127));
      return std::vector<Node>{Convert(v, form.out)};
    });
  });
}

}  // namespace graft::cpu
