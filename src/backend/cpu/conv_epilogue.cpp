#include "backend/cpu/conv_epilogue.h"

#include "backend/cpu/graph_rewrite.h"
#include "backend/cpu/lowered.h"

#include <cmath>

#include "graft/graph/ops.h"

namespace graft::cpu {

namespace {

using Gate = ConvolutionEpilogue::Gate;

struct Match {
  int conv = -1;
  int last = -1;  // the op whose value the fused convolution replaces; emitted at its position
  std::vector<int> chain;  // the absorbed ops after the convolution, in order
  ValueRef bias{-1, 0}, residual{-1, 0};
  double lo = -INFINITY, hi = INFINITY;
  Gate gate = Gate::None;
};

// The value of a one-element f32 constant, or NaN when `r` is not one.
double f32_scalar(const Graph& g, const ValueRef& r) { return scalar_constant(g, r, DType::F32).value_or(NAN); }

// The gate y · f(y) that reads value `h` (output 0 of op h) through exactly its two uses: HardSwish as the
// ONNX importer writes it, y · Min(Max(y · 1/6 + 0.5, 0), 1), or SiLU, y · Logistic(y). Every op of it
// has the convolution's output type and is not yet part of a match; those between its first op and the
// final Mul have one use. Appends the gate's ops to `ops` in order (the final Mul last).
std::optional<Gate> match_gate(const Graph& g, int h, const ValueType& y, const std::vector<std::vector<int>>& users,
                               const Uses& u, const std::vector<int>& role, std::vector<int>* ops) {
  const std::vector<int>& us = users[size_t(h)];
  if (u.count[size_t(h)] != 2 || us.size() != 2 || us[0] == us[1]) return std::nullopt;
  auto typed = [&](int i) {
    const Op& op = g.op(i);
    return role[size_t(i)] == 0 && op.outputs.size() == 1 && op.outputs[0].dtype == y.dtype &&
           op.outputs[0].shape == y.shape;
  };
  // Op i reads `from` as operand 0 and a scalar constant equal to `c` (in f32) as operand 1.
  auto scalar_step = [&](int i, OpKind kind, int from, float c) {
    const Op& op = g.op(i);
    return op.kind == kind && typed(i) && op.inputs.size() == 2 && op.inputs[0] == ValueRef{from, 0} &&
           f32_scalar(g, op.inputs[1]) == double(c);
  };
  auto next = [&](int i) { return u.single(i) ? u.user[size_t(i)] : -1; };
  for (int k = 0; k < 2; ++k) {
    const int first = us[size_t(k)], fin = us[size_t(1 - k)];
    const Op& f = g.op(fin);
    if (f.kind != OpKind::Mul || !typed(fin) || f.inputs.size() != 2) continue;
    const int self = f.inputs[0] == ValueRef{h, 0} ? 0 : f.inputs[1] == ValueRef{h, 0} ? 1 : -1;
    if (self < 0) continue;
    const ValueRef gated = f.inputs[size_t(1 - self)];
    const Op& a = g.op(first);
    if (a.kind == OpKind::Logistic && typed(first) && gated == ValueRef{first, 0} && next(first) == fin) {
      ops->insert(ops->end(), {first, fin});
      return Gate::Swish;
    }
    const int add = next(first), max = add >= 0 ? next(add) : -1, min = max >= 0 ? next(max) : -1;
    if (scalar_step(first, OpKind::Mul, h, float(1.0 / 6.0)) && add >= 0 &&
        scalar_step(add, OpKind::Add, first, 0.5f) && max >= 0 && scalar_step(max, OpKind::Max, add, 0.f) &&
        min >= 0 && scalar_step(min, OpKind::Min, max, 1.f) && gated == ValueRef{min, 0} && next(min) == fin) {
      ops->insert(ops->end(), {first, add, max, min, fin});
      return Gate::HardSwish;
    }
  }
  return std::nullopt;
}

// True when a value of type `b` broadcasts against [N, O, spatial...] as one value per channel.
bool is_channel_bias(const ValueType& b, const Shape& y) {
  if (b.dtype != DType::F32 || b.shape.rank() > y.rank() || b.shape.size() != y[1]) return false;
  const int off = y.rank() - b.shape.rank();
  for (int i = 0; i < b.shape.rank(); ++i)
    if (b.shape[i] != (i + off == 1 ? y[1] : 1)) return false;
  return b.shape.rank() >= y.rank() - 1;  // the channel axis must be present
}

}  // namespace

Graph fuse_conv_epilogues(const Graph& g, int* fused) {
  const int n = g.num_ops();
  const Uses u(g);
  const std::vector<int>& uses = u.count;
  const std::vector<int>& user = u.user;

  std::vector<std::vector<int>> users(static_cast<size_t>(n));  // (for the gates, which read a value twice)
  for (int i = 0; i < n; ++i)
    for (const ValueRef& r : g.op(i).inputs)
      if (r.output == 0) users[size_t(r.op)].push_back(i);

  std::vector<Match> matches;
  std::vector<int> role(static_cast<size_t>(n), 0);  // 1: fused convolution, 2: absorbed op
  std::vector<int> match_of_last(static_cast<size_t>(n), -1);
  for (int i = 0; i < n; ++i) {
    const Op& c = g.op(i);
    if (c.kind != OpKind::Convolution || c.inputs.size() != 2 || c.outputs[0].dtype != DType::F32) continue;
    if (type_of(g, c.inputs[0]).dtype != DType::F32 || type_of(g, c.inputs[1]).dtype != DType::F32) continue;
    const Shape& ys = c.outputs[0].shape;
    Match m;
    m.conv = i;
    int head = i;  // the op whose single use may extend the chain
    enum { kBias, kResidual, kMax, kMin, kDone } stage = kBias;
    while (stage != kDone && uses[size_t(head)] == 1) {
      const int u = user[size_t(head)];
      const Op& op = g.op(u);
      if (role[size_t(u)] != 0 || op.inputs.size() != 2 || op.outputs[0].dtype != DType::F32 ||
          op.outputs[0].shape != ys)
        break;
      const int self = op.inputs[0].op == head ? 0 : 1;
      if (op.inputs[size_t(self)].op != head || op.inputs[size_t(1 - self)].op == head) break;
      const ValueRef other = op.inputs[size_t(1 - self)];
      if (op.kind == OpKind::Add && stage <= kBias && is_channel_bias(type_of(g, other), ys)) {
        m.bias = other;
        stage = kResidual;
      } else if (op.kind == OpKind::Add && stage <= kResidual && type_of(g, other).shape == ys &&
                 type_of(g, other).dtype == DType::F32) {
        m.residual = other;
        stage = kMax;
      } else if (op.kind == OpKind::Max && stage <= kMax && self == 0 && !std::isnan(f32_scalar(g, other))) {
        // Only Max(x, c): graft's Max(c, x) returns c's zero for (+0, -0) ties, so keep the operand order.
        m.lo = f32_scalar(g, other);
        stage = kMin;
      } else if (op.kind == OpKind::Min && stage <= kMin && self == 0 && !std::isnan(f32_scalar(g, other))) {
        m.hi = f32_scalar(g, other);
        stage = kDone;
      } else {
        break;
      }
      m.chain.push_back(u);
      head = u;
    }
    // A gate last, where no clamp came before (the kernel clamps by hand after the primitive's post-ops).
    if (m.lo == -INFINITY && m.hi == INFINITY) {
      std::vector<int> gate_ops;
      if (auto gate = match_gate(g, head, c.outputs[0], users, u, role, &gate_ops)) {
        m.gate = *gate;
        m.chain.insert(m.chain.end(), gate_ops.begin(), gate_ops.end());
      }
    }
    if (m.chain.empty()) continue;
    m.last = m.chain.back();
    role[size_t(i)] = 1;
    for (int u : m.chain) role[size_t(u)] = 2;
    match_of_last[size_t(m.last)] = int(matches.size());
    matches.push_back(std::move(m));
  }

  *fused = 0;
  return rewrite(g, [&](int i, const Mapped& mapped, Graph& out) -> std::optional<std::vector<Node>> {
    if (match_of_last[size_t(i)] >= 0) {
      const Match& m = matches[size_t(match_of_last[size_t(i)])];
      const Op& c = g.op(m.conv);
      std::vector<Node> in{mapped(c.inputs[0]), mapped(c.inputs[1])};
      ConvolutionEpilogue form;
      form.conv = std::get<ConvolutionAttrs>(c.attrs);
      if (m.bias.op >= 0) {
        in.push_back(Reshape(mapped(m.bias), {c.outputs[0].shape[1]}));
        form.has_bias = true;
      }
      if (m.residual.op >= 0) {
        in.push_back(mapped(m.residual));
        form.has_residual = true;
      }
      form.clip_lo = m.lo;
      form.clip_hi = m.hi;
      form.gate = m.gate;
      out.set_current_name(c.name);
      ++*fused;
      return record_lowered(form, in, g.op(i).outputs, [form](std::span<const Node> p) {
        Node y = Convolution(p[0], p[1], form.conv);
        size_t k = 2;
        if (form.has_bias) {
          std::vector<int64_t> dims(size_t(y.rank()), 1);
          dims[1] = y.dim(1);
          y = y + Reshape(p[k++], dims);
        }
        if (form.has_residual) y = y + p[k++];
        if (form.clip_lo != -INFINITY) y = Max(y, ScalarLike(y, form.clip_lo));
        if (form.clip_hi != INFINITY) y = Min(y, ScalarLike(y, form.clip_hi));
        if (form.gate == Gate::HardSwish)
          y = y * Min(Max(y * ScalarLike(y, 1.0 / 6.0) + ScalarLike(y, 0.5), ScalarLike(y, 0)), ScalarLike(y, 1));
        else if (form.gate == Gate::Swish)
          y = y * Logistic(y);
        return std::vector<Node>{y};
      });
    }
    if (role[size_t(i)] != 0) return std::vector<Node>{};  // absorbed: only the last op's value is read
    return std::nullopt;
  });
}

}  // namespace graft::cpu
