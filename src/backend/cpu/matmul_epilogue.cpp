#include "backend/cpu/matmul_epilogue.h"

#include "graft/graph/ops.h"

namespace graft::cpu {

std::optional<BiasEpilogue> match_bias_epilogue(const Graph& g, const Uses& u, int product) {
  const Op& d = g.op(product);
  if (!u.single(product) || d.outputs[0].dtype != DType::F32 || d.outputs[0].shape.rank() == 0) return std::nullopt;
  int a = u.user[size_t(product)];
  const Op& add = g.op(a);
  if (add.kind != OpKind::Add || add.outputs[0].shape != d.outputs[0].shape) return std::nullopt;
  BiasEpilogue m;
  m.add = a;
  m.bias_input = add.inputs[0].op == product ? 1 : 0;
  const ValueRef& b = add.inputs[size_t(m.bias_input)];
  const ValueType& bt = g.op(b.op).outputs[size_t(b.output)];
  int64_t N = d.outputs[0].shape[-1];
  if (bt.shape.rank() == 0 || bt.shape[-1] != N || bt.shape.size() != N || N == 1) return std::nullopt;
  if (u.single(a)) {
    const Op& act = g.op(u.user[size_t(a)]);
    if (composite_kind(act) == CompositeKind::Gelu) {
      m.act = u.user[size_t(a)];
      m.activation = composite_params<GeluParams>(act).tanh_approximation ? ProductEpilogue::Activation::GeluTanh
                                                                          : ProductEpilogue::Activation::GeluErf;
    }
    // Relu stays a separate op: graft's Max propagates NaN, oneDNN's relu post-op does not.
  }
  return m;
}

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

  std::vector<Match> by_dot(static_cast<size_t>(n));
  std::vector<int> role(static_cast<size_t>(n), 0);  // 1: dot, 2: add, 3: activation of a match
  for (int i = 0; i < n; ++i) {
    const Op& d = g.op(i);
    if (d.kind != OpKind::DotGeneral || d.inputs.size() != 2) continue;
    bool f32 = true;
    for (const ValueRef& r : d.inputs) f32 = f32 && g.op(r.op).outputs[size_t(r.output)].dtype == DType::F32;
    if (!f32) continue;
    auto e = match_bias_epilogue(g, u, i);
    if (!e || role[size_t(e->add)] != 0) continue;  // Add(dot, dot): the other product already claimed this Add
    Match m{i, e->add, e->act, e->bias_input, e->activation};
    by_dot[size_t(i)] = m;
    role[size_t(i)] = 1;
    role[size_t(m.add)] = 2;
    if (m.act >= 0) role[size_t(m.act)] = 3;
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
