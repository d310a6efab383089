#include "backend/cpu/matmul_epilogue.h"

#include "backend/cpu/graph_rewrite.h"
#include "backend/cpu/lowered.h"

#include "graft/graph/ops.h"

namespace graft::cpu {

namespace {

struct Match {
  int dot = -1, add = -1, act = -1;
  int bias_input = 0;  // operand index of the bias in the Add
  ProductEpilogue::Activation activation = ProductEpilogue::Activation::None;
};

}  // namespace

Graph fuse_matmul_epilogues(const Graph& g, int* fused) {
  const int n = g.num_ops();
  const Uses u(g);
  const std::vector<int>& uses = u.count;
  const std::vector<int>& user = u.user;

  std::vector<Match> by_dot(static_cast<size_t>(n));
  std::vector<int> role(static_cast<size_t>(n), 0);  // 1: dot, 2: add, 3: activation of a match
  for (int i = 0; i < n; ++i) {
    const Op& d = g.op(i);
    if (d.kind != OpKind::DotGeneral || d.outputs[0].dtype != DType::F32 || uses[size_t(i)] != 1) continue;
    if (d.inputs.size() != 2) continue;
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
      Match m{i, a, -1, bias_input, ProductEpilogue::Activation::None};
      if (uses[size_t(a)] == 1) {
        const Op& act = g.op(user[size_t(a)]);
        if (composite_kind(act) == CompositeKind::Gelu) {
          m.act = user[size_t(a)];
          m.activation = composite_params<GeluParams>(act).tanh_approximation ? ProductEpilogue::Activation::GeluTanh
                                                                              : ProductEpilogue::Activation::GeluErf;
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

  std::vector<int> dot_of_add(static_cast<size_t>(n), -1);
  for (int i = 0; i < n; ++i)
    if (role[size_t(i)] == 1) dot_of_add[size_t(by_dot[size_t(i)].add)] = i;
  *fused = 0;
  return rewrite(g, [&](int i, const Mapped& mapped, Graph& out) -> std::optional<std::vector<Node>> {
    if (role[size_t(i)] == 1) return std::vector<Node>{};  // the product is emitted at its Add
    // A fused activation stands for the product that now includes it: the Add's replacement.
    if (role[size_t(i)] == 3) return std::vector<Node>{mapped(g.op(i).inputs[0])};
    if (role[size_t(i)] != 2) return std::nullopt;
    const Op& op = g.op(i);
    const Match& m = by_dot[size_t(dot_of_add[size_t(i)])];
    const Op& d = g.op(m.dot);
    Node bias = Reshape(mapped(op.inputs[size_t(m.bias_input)]), {d.outputs[0].shape[-1]});
    std::vector<Node> dot_in;
    for (const ValueRef& r : d.inputs) dot_in.push_back(mapped(r));
    dot_in.push_back(bias);
    ProductEpilogue form{std::get<DotGeneralAttrs>(d.attrs), m.activation};
    out.set_current_name(d.name);
    ++*fused;
    return record_lowered(form, dot_in, m.act >= 0 ? g.op(m.act).outputs : op.outputs,
                          [form](std::span<const Node> p) {
                            Node y = DotGeneral(p[0], p[1], form.dot);
                            y = y + Convert(p[2], y.dtype());
                            if (form.activation != ProductEpilogue::Activation::None)
                              y = Gelu(y, form.activation == ProductEpilogue::Activation::GeluTanh);
                            return std::vector<Node>{y};
                          });
  });
}

}  // namespace graft::cpu
