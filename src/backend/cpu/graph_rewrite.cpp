#include "backend/cpu/graph_rewrite.h"

namespace graft::cpu {

Uses::Uses(const Graph& g) : count(size_t(g.num_ops()), 0), user(size_t(g.num_ops()), -1) {
  for (int i = 0; i < g.num_ops(); ++i)
    for (const ValueRef& r : g.op(i).inputs) {
      ++count[size_t(r.op)];
      user[size_t(r.op)] = i;
    }
  for (const ValueRef& r : g.outputs()) count[size_t(r.op)] += 2;
}

Graph rewrite(const Graph& g, const Replace& replace) {
  const int n = g.num_ops();
  Graph out(g.name());
  std::vector<std::vector<Node>> map(static_cast<size_t>(n));
  Mapped mapped = [&](const ValueRef& r) { return map[size_t(r.op)][size_t(r.output)]; };
  for (int i = 0; i < n; ++i) {
    const Op& op = g.op(i);
    out.set_current_name(op.name);
    if (op.kind == OpKind::Parameter) {
      map[size_t(i)] = {out.parameter(std::get<ParameterAttrs>(op.attrs).name, op.outputs[0].dtype, op.outputs[0].shape)};
      continue;
    }
    if (auto r = replace(i, mapped, out)) {
      map[size_t(i)] = std::move(*r);
      continue;
    }
    std::vector<Node> in;
    for (const ValueRef& r : op.inputs) in.push_back(mapped(r));
    map[size_t(i)] = out.add_op(op.kind, in, op.attrs, op.outputs);
  }
  std::vector<Node> outs;
  for (const ValueRef& r : g.outputs()) outs.push_back(mapped(r));
  out.set_outputs(outs);
  return out;
}

std::optional<double> scalar_constant(const Graph& g, const ValueRef& r, std::optional<DType> only) {
  const Op& op = g.op(r.op);
  if (op.kind != OpKind::Constant) return std::nullopt;
  const Tensor& t = std::get<ConstantAttrs>(op.attrs).value;
  if (t.size() != 1 || (only ? t.dtype() != *only : !is_floating(t.dtype()))) return std::nullopt;
  return t.value_as_double(0);
}

std::vector<bool> live_after_fusion(const Graph& g, const MatchReads& match_reads) {
  const int n = g.num_ops();
  std::vector<bool> live(size_t(n), false);
  for (const ValueRef& r : g.outputs()) live[size_t(r.op)] = true;
  for (int i = n - 1; i >= 0; --i) {
    if (!live[size_t(i)]) continue;
    if (auto reads = match_reads(i))
      for (const ValueRef& r : *reads) live[size_t(r.op)] = true;
    else
      for (const ValueRef& r : g.op(i).inputs) live[size_t(r.op)] = true;
  }
  return live;
}

}  // namespace graft::cpu
