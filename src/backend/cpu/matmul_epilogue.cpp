#include "backend/cpu/matmul_epilogue.h"

#include "graft/graph/ops.h"

namespace graft::cpu {

namespace {

struct Match {
  int dot = -1, add = -1, act = -1;
  int bias_input = 0;  // operand index of the bias in the Add
  Epilogue epilogue = Epilogue::None;
};

}  // namespace

Graph fuse_matmul_epilogues(const Graph& g, int* fused) {
  const int n = g.num_ops();
  std::vector<int> uses(static_cast<size_t>(n), 0);
  std::vector<int> user(static_cast<size_t>(n), -1);
  for (int i = 0; i < n; ++i)
    for (const ValueRef& r : g.op(i).inputs) {
      ++uses[size_t(r.op)];
      user[size_t(r.op)] = i;
    }
  for (const ValueRef& r : g.outputs()) uses[size_t(r.op)] += 2;  // graph outputs must stay as they are

  std::vector<Match> by_dot(static_cast<size_t>(n));
  std::vector<int> role(static_cast<size_t>(n), 0);  // 1: dot, 2: add, 3: activation of a match
  for (int i = 0; i < n; ++i) {
    const Op& d = g.op(i);
    if (d.kind != OpKind::DotGeneral || d.outputs[0].dtype != DType::F32 || uses[size_t(i)] != 1) continue;
    const auto& da = std::get<DotGeneralAttrs>(d.attrs);
    if (da.has_bias || d.inputs.size() != 2) continue;
    for (const ValueRef& r : d.inputs)
      if (g.op(r.op).outputs[size_t(r.output)].dtype != DType::F32) goto next;
    {
      int a = user[size_t(i)];
      const Op& add = g.op(a);
      if (add.kind != OpKind::Add || add.outputs[0].shape != d.outputs[0].shape) continue;
      if (role[size_t(a)] != 0) continue;  // Add(dot, dot): the other product already claimed this Add
      int bias_input = add.inputs[0].op == i ? 1 : 0;
      const ValueType& bt = g.op(add.inputs[size_t(bias_input)].op).outputs[size_t(add.inputs[size_t(bias_input)].output)];
      int64_t N = d.outputs[0].shape[-1];
      if (bt.shape.rank() == 0 || bt.shape[-1] != N || bt.shape.size() != N || N == 1) continue;
      Match m{i, a, -1, bias_input, Epilogue::None};
      if (uses[size_t(a)] == 1) {
        const Op& act = g.op(user[size_t(a)]);
        if (act.kind == OpKind::Composite) {
          const auto& ca = std::get<CompositeAttrs>(act.attrs);
          if (ca.name == "gelu") {
            m.act = user[size_t(a)];
            m.epilogue = ca.ints[0] ? Epilogue::GeluTanh : Epilogue::GeluErf;
          }
        }
        // Relu stays a separate op: graft's Max propagates NaN, oneDNN's relu post-op does not.
      }
      by_dot[size_t(i)] = m;
      role[size_t(i)] = 1;
      role[size_t(a)] = 2;
      if (m.act >= 0) role[size_t(m.act)] = 3;
    }
  next:;
  }

  Graph out(g.name());
  std::vector<std::vector<Node>> map(static_cast<size_t>(n));
  std::vector<int> dot_of_add(static_cast<size_t>(n), -1);
  for (int i = 0; i < n; ++i)
    if (role[size_t(i)] == 1) dot_of_add[size_t(by_dot[size_t(i)].add)] = i;
  *fused = 0;
  for (int i = 0; i < n; ++i) {
    const Op& op = g.op(i);
    out.set_current_name(op.name);
    if (op.kind == OpKind::Parameter) {
      map[size_t(i)] = {out.parameter(std::get<ParameterAttrs>(op.attrs).name, op.outputs[0].dtype, op.outputs[0].shape)};
      continue;
    }
    if (role[size_t(i)] == 1) continue;  // emitted at its Add
    if (role[size_t(i)] == 3) continue;  // mapped at the Add
    if (role[size_t(i)] == 2) {
      const Match& m = by_dot[size_t(dot_of_add[size_t(i)])];
      const Op& d = g.op(m.dot);
      const ValueRef& br = op.inputs[size_t(m.bias_input)];
      Node bias = map[size_t(br.op)][size_t(br.output)];
      bias = Reshape(bias, {d.outputs[0].shape[-1]});
      std::vector<Node> dot_in;
      for (const ValueRef& r : d.inputs) dot_in.push_back(map[size_t(r.op)][size_t(r.output)]);
      dot_in.push_back(bias);
      DotGeneralAttrs attrs = std::get<DotGeneralAttrs>(d.attrs);
      attrs.has_bias = true;
      attrs.epilogue = m.epilogue;
      out.set_current_name(d.name);
      std::vector<ValueType> types = m.act >= 0 ? g.op(m.act).outputs : op.outputs;
      std::vector<Node> res = out.add_op(OpKind::DotGeneral, dot_in, attrs, types);
      map[size_t(i)] = res;
      if (m.act >= 0) map[size_t(m.act)] = res;
      ++*fused;
      continue;
    }
    std::vector<Node> in;
    for (const ValueRef& r : op.inputs) in.push_back(map[size_t(r.op)][size_t(r.output)]);
    map[size_t(i)] = out.add_op(op.kind, in, op.attrs, op.outputs);
  }
  std::vector<Node> outs;
  for (const ValueRef& r : g.outputs()) outs.push_back(map[size_t(r.op)][size_t(r.output)]);
  out.set_outputs(outs);
  return out;
}

}  // namespace graft::cpu
