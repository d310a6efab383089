#include "backend/cpu/attention_fusion.h"

#include "backend/cpu/graph_rewrite.h"
#include "backend/cpu/lowered.h"

#include <optional>
#include <span>

#include "graft/graph/ops.h"
#include "graft/graph/passes.h"

namespace graft::cpu {

namespace {

const std::vector<int64_t> kIdentity{0, 1, 2, 3};

struct Match {
  int qk = -1, scale_op = -1, add = -1, softmax = -1, pv = -1, out_transpose = -1;
  double scale = 1.0;
  ValueRef q, k, v;  // sources, read through the permutations below
  std::optional<ValueRef> mask;
  std::vector<int64_t> q_perm, k_perm, v_perm, out_perm;
  int replaced() const { return out_transpose >= 0 ? out_transpose : pv; }
};

class Matcher {
 public:
  explicit Matcher(const Graph& g) : g_(g), uses_(g) {}

  std::optional<Match> at_softmax(int i) const {
    const Op& sm = g_.op(i);
    if (sm.kind != OpKind::Composite) return std::nullopt;
    const auto* ca = std::get<CompositeAttrs>(sm.attrs).get_if<SoftmaxParams>();
    const ValueType& st = sm.outputs[0];
    if (!ca || st.dtype != DType::F32 || st.shape.rank() != 4 || ca->axis != 3) return std::nullopt;
    if (uses_.count[size_t(i)] != 1 || st.shape[3] == 0) return std::nullopt;
    Match m;
    m.softmax = i;
    // p V
    int pv = uses_.user[size_t(i)];
    const Op& o = g_.op(pv);
    if (!is_batched_product(o, {3}, {2}) || o.inputs[0].op != i || o.inputs[0].output != 0) return std::nullopt;
    m.pv = pv;
    // The scores, with an optional mask and scale in front.
    ValueRef cur = sm.inputs[0];
    const Op& first = g_.op(cur.op);
    if (first.kind == OpKind::Add && single_use(cur) && first.outputs[0].shape == st.shape) {
      bool found = false;
      for (int side = 0; side < 2 && !found; ++side) {
        Match t = m;
        const ValueRef& other = first.inputs[size_t(1 - side)];
        const ValueType& mt = type(other);
        if (mt.dtype != DType::F32 || mt.shape.rank() > 4) continue;
        if (scores(first.inputs[size_t(side)], t)) {
          t.add = cur.op;
          t.mask = other;
          m = t;
          found = true;
        }
      }
      if (!found) return std::nullopt;
    } else if (!scores(cur, m)) {
      return std::nullopt;
    }
    // Q, K and V through the transposes that made them.
    const Op& qk = g_.op(m.qk);
    const auto& qa = std::get<DotGeneralAttrs>(qk.attrs);
    std::vector<int64_t> kt_perm;
    unwrap(qk.inputs[0], &m.q, &m.q_perm);
    unwrap(qk.inputs[1], &m.k, &kt_perm);
    if (qa.rhs_contract[0] == 2) {  // the operand is K^T [B, H, D, T]: K = swap its last two axes
      m.k_perm = {kt_perm[0], kt_perm[1], kt_perm[3], kt_perm[2]};
    } else {
      m.k_perm = kt_perm;
    }
    unwrap(o.inputs[1], &m.v, &m.v_perm);
    m.out_perm = kIdentity;
    if (uses_.count[size_t(pv)] == 1) {
      const Op& t = g_.op(uses_.user[size_t(pv)]);
      if (t.kind == OpKind::Transpose) {
        m.out_transpose = uses_.user[size_t(pv)];
        m.out_perm = std::get<TransposeAttrs>(t.attrs).perm;
      }
    }
    return m;
  }

 private:
  const ValueType& type(const ValueRef& r) const { return g_.op(r.op).outputs[size_t(r.output)]; }
  bool single_use(const ValueRef& r) const { return uses_.count[size_t(r.op)] == 1 && g_.op(r.op).outputs.size() == 1; }

  // A rank-4 f32 product with batch axes {0, 1} and the given contracting axes, no fused bias.
  bool is_batched_product(const Op& op, std::vector<int64_t> lhs_contract, std::vector<int64_t> rhs_contract) const {
    if (op.kind != OpKind::DotGeneral || op.inputs.size() != 2) return false;
    const auto& a = std::get<DotGeneralAttrs>(op.attrs);
    if (a.lhs_batch != std::vector<int64_t>{0, 1} || a.rhs_batch != std::vector<int64_t>{0, 1}) return false;
    if (a.lhs_contract != lhs_contract || a.rhs_contract != rhs_contract) return false;
    for (const ValueRef& r : op.inputs)
      if (type(r).dtype != DType::F32 || type(r).shape.rank() != 4) return false;
    return op.outputs[0].dtype == DType::F32;
  }

  // [scale] -> Q K^T, recording the ops in `m`.
  bool scores(ValueRef r, Match& m) const {
    const Op& op = g_.op(r.op);
    if ((op.kind == OpKind::Mul || op.kind == OpKind::Div) && single_use(r)) {
      for (int side = 0; side < 2; ++side) {
        if (op.kind == OpKind::Div && side == 0) continue;  // only x / c
        std::optional<double> c = scalar_constant(op.inputs[size_t(side)]);
        if (!c || *c == 0.0) continue;
        Match t = m;
        if (!product(op.inputs[size_t(1 - side)], t)) continue;
        t.scale_op = r.op;
        t.scale = op.kind == OpKind::Mul ? *c : 1.0 / *c;
        m = t;
        return true;
      }
      return false;
    }
    return product(r, m);
  }

  bool product(ValueRef r, Match& m) const {
    const Op& op = g_.op(r.op);
    if (!single_use(r)) return false;
    if (!is_batched_product(op, {3}, {2}) && !is_batched_product(op, {3}, {3})) return false;
    m.qk = r.op;
    return true;
  }

  std::optional<double> scalar_constant(const ValueRef& r) const { return cpu::scalar_constant(g_, r); }

  // A rank-4 operand: the input of the transpose that made it (with that permutation), or itself.
  void unwrap(const ValueRef& r, ValueRef* src, std::vector<int64_t>* perm) const {
    const Op& op = g_.op(r.op);
    if (op.kind == OpKind::Transpose && type(op.inputs[0]).shape.rank() == 4) {
      *src = op.inputs[0];
      *perm = std::get<TransposeAttrs>(op.attrs).perm;
    } else {
      *src = r;
      *perm = kIdentity;
    }
  }

  const Graph& g_;
  Uses uses_;
};

}  // namespace

Graph fuse_attention(const Graph& g, int* fused) {
  *fused = 0;
  const int n = g.num_ops();
  Matcher matcher(g);
  std::vector<std::optional<Match>> at_replaced(static_cast<size_t>(n));
  std::vector<char> skip(static_cast<size_t>(n), 0);
  for (int i = 0; i < n; ++i) {
    std::optional<Match> m = matcher.at_softmax(i);
    if (!m) continue;
    for (int op : {m->qk, m->scale_op, m->add, m->softmax, m->pv})
      if (op >= 0) skip[size_t(op)] = 1;
    skip[size_t(m->replaced())] = 0;
    at_replaced[size_t(m->replaced())] = m;
  }
  Graph out = rewrite(g, [&](int i, const Mapped& mapped, Graph& out) -> std::optional<std::vector<Node>> {
    if (skip[size_t(i)]) return std::vector<Node>{};
    const auto& m = at_replaced[size_t(i)];
    if (!m) return std::nullopt;
    std::vector<Node> in{mapped(m->q), mapped(m->k), mapped(m->v)};
    if (m->mask) in.push_back(mapped(*m->mask));
    FusedAttention form{m->mask.has_value(), m->q_perm, m->k_perm, m->v_perm, m->out_perm, m->scale};
    out.set_current_name(g.op(m->softmax).name);
    ++*fused;
    return record_lowered(form, in, g.op(i).outputs, [form](std::span<const Node> x) {
      Node q = Transpose(x[0], form.q_perm), k = Transpose(x[1], form.k_perm), v = Transpose(x[2], form.v_perm);
      Node s = MatMul(q, Transpose(k, {0, 1, 3, 2}));
      s = s * ScalarLike(s, form.scale);
      if (form.has_mask) s = s + x[3];
      return std::vector<Node>{Transpose(MatMul(Softmax(s, -1), v), form.out_perm)};
    });
  });
  return *fused ? eliminate_dead_code(out) : out;
}

}  // namespace graft::cpu
