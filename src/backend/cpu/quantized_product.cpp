#include "backend/cpu/quantized_product.h"

#include <map>
#include <optional>

#include "backend/cpu/graph_rewrite.h"
#include "backend/cpu/lowered.h"
#include "graft/graph/ops.h"

namespace graft::cpu {

namespace {

bool is_8bit(DType t) { return t == DType::U8 || t == DType::I8; }

const ValueType& type_of(const Graph& g, const ValueRef& r) { return g.op(r.op).outputs[size_t(r.output)]; }

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
  int dot = -1, convert = -1, mul = -1;  // the ops replaced; the last one present emits the fused op
  ValueRef a;
  std::optional<ValueRef> zero_point;  // an int32 scalar
  std::optional<ValueRef> weights;     // int8 [K, N] ...
  Tensor constant_weights;             // ... or narrowed from an int32 constant
  std::optional<ValueRef> scale;
  int last() const { return mul >= 0 ? mul : convert >= 0 ? convert : dot; }
};

std::optional<Match> match(const Graph& g, const Uses& u, int i) {
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
  return m;
}

}  // namespace

Graph fuse_quantized_products(const Graph& g, int* fused) {
  const int n = g.num_ops();
  const Uses u(g);
  std::vector<std::optional<Match>> ending(size_t(n), std::nullopt);  // by the match's last op
  std::vector<bool> replaced(size_t(n), false);
  for (int i = 0; i < n; ++i)
    if (auto m = match(g, u, i)) {
      for (int k : {m->dot, m->convert, m->mul})
        if (k >= 0) replaced[size_t(k)] = true;
      int last = m->last();
      ending[size_t(last)] = std::move(m);
    }
  // What is still read once the matches are replaced (the Converts to int32 and zero-point subtractions they
  // read directly are not): everything else is dropped.
  std::vector<bool> live(size_t(n), false);
  for (const ValueRef& r : g.outputs()) live[size_t(r.op)] = true;
  for (int i = n - 1; i >= 0; --i) {
    if (!live[size_t(i)]) continue;
    if (const auto& m = ending[size_t(i)]) {
      live[size_t(m->a.op)] = true;
      if (m->zero_point) live[size_t(m->zero_point->op)] = true;
      if (m->weights) live[size_t(m->weights->op)] = true;
      if (m->scale) live[size_t(m->scale->op)] = true;
    } else {
      for (const ValueRef& r : g.op(i).inputs) live[size_t(r.op)] = true;
    }
  }
  *fused = 0;
  return rewrite(g, [&](int i, const Mapped& mapped, Graph& out) -> std::optional<std::vector<Node>> {
    const auto& m = ending[size_t(i)];
    if (!m) {
      if (!live[size_t(i)] || replaced[size_t(i)]) return std::vector<Node>{};
      return std::nullopt;
    }
    QuantizedProduct form{m->zero_point.has_value(), m->scale.has_value()};
    out.set_current_name(g.op(m->dot).name);
    std::vector<Node> in{mapped(m->a)};
    if (m->zero_point) in.push_back(mapped(*m->zero_point));
    in.push_back(m->weights ? mapped(*m->weights) : out.constant(m->constant_weights));
    if (m->scale) in.push_back(mapped(*m->scale));
    ++*fused;
    DotGeneralAttrs dot = std::get<DotGeneralAttrs>(g.op(m->dot).attrs);
    return record_lowered(form, in, g.op(i).outputs, [form, dot](std::span<const Node> p) {
      Node a = Convert(p[0], DType::I32);
      if (form.has_zero_point) a = a - p[1];
      Node y = DotGeneral(a, Convert(p[size_t(form.weight_input())], DType::I32), dot);
      if (form.has_scale) y = Convert(y, DType::F32) * p[size_t(form.scale_input())];
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

}  // namespace graft::cpu
