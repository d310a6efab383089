// optimize() / eliminate_dead_code(): the rewrites they promise, checked on the graph structure.
#include <gtest/gtest.h>

#include "graft/graph/ops.h"
#include "graft/graph/passes.h"

using namespace graft;

namespace {

int count_kind(const Graph& g, OpKind k) {
  int n = 0;
  for (const Op& op : g.ops()) n += op.kind == k;
  return n;
}

const Op& output_op(const Graph& g, size_t i) { return g.op(g.outputs().at(i).op); }

ValueType output_type(const Graph& g, size_t i) {
  const ValueRef& r = g.outputs().at(i);
  return g.op(r.op).outputs[size_t(r.output)];
}

// The signature optimize() promises to keep.
void expect_same_signature(const Graph& a, const Graph& b) {
  ASSERT_EQ(a.parameters().size(), b.parameters().size());
  for (size_t i = 0; i < a.parameters().size(); ++i) {
    const Op& pa = a.op(a.parameters()[i]);
    const Op& pb = b.op(b.parameters()[i]);
    EXPECT_EQ(pa.outputs[0], pb.outputs[0]) << "parameter " << i;
    EXPECT_EQ(std::get<ParameterAttrs>(pa.attrs).name, std::get<ParameterAttrs>(pb.attrs).name) << "parameter " << i;
    EXPECT_EQ(std::get<ParameterAttrs>(pb.attrs).index, int(i));
  }
  ASSERT_EQ(a.outputs().size(), b.outputs().size());
  for (size_t i = 0; i < a.outputs().size(); ++i) EXPECT_EQ(output_type(a, i), output_type(b, i)) << "output " << i;
}

}  // namespace

TEST(Passes, DeadCodeIsRemovedButParametersStay) {
  Graph g("dce");
  Node x = g.parameter("x", DType::F32, {4});
  Node unused = g.parameter("unused", DType::I32, {2});
  Node dead = Exp(x) * 3.0;
  Node dead2 = Sin(dead);
  Node y = Neg(x);
  Node z = g.parameter("z", DType::F32, {4});
  g.set_outputs({y, z});
  for (int mode = 0; mode < 2; ++mode) {
    Graph o = mode ? eliminate_dead_code(g) : optimize(g, PassOptions{});
    expect_same_signature(g, o);
    EXPECT_EQ(o.num_ops(), 4) << o.dump();  // 3 parameters + Neg
    EXPECT_EQ(count_kind(o, OpKind::Exp), 0);
    EXPECT_EQ(count_kind(o, OpKind::Sin), 0);
    EXPECT_EQ(count_kind(o, OpKind::Mul), 0);
    EXPECT_EQ(output_op(o, 0).kind, OpKind::Neg);
    EXPECT_EQ(output_op(o, 1).kind, OpKind::Parameter);
    EXPECT_EQ(std::get<ParameterAttrs>(output_op(o, 1).attrs).name, "z");
    EXPECT_EQ(o.name(), "dce");
  }
  (void)unused;
  (void)dead2;
}

TEST(Passes, CommonSubexpressionsAreMerged) {
  Graph g;
  Node x = g.parameter("x", DType::F32, {2, 3});
  Node a = Exp(x), b = Exp(x);
  Node t1 = Transpose(x, {1, 0}), t2 = Transpose(x, {1, 0});
  Node r1 = ReduceSum(x, {0}), r2 = ReduceSum(x, {0}), r3 = ReduceSum(x, {1});
  Node c1 = g.scalar(2.0f), c2 = g.scalar(2.0f), c3 = g.scalar(3.0f);
  g.set_outputs({a + b, t1 * t2, r1 + r2, Reshape(r3, {1, 2}), x * c1 + x * c2 + x * c3});
  PassOptions opt;
  Graph o = optimize(g, opt);
  expect_same_signature(g, o);
  EXPECT_EQ(count_kind(o, OpKind::Exp), 1) << o.dump();
  EXPECT_EQ(count_kind(o, OpKind::Transpose), 1) << o.dump();
  EXPECT_EQ(count_kind(o, OpKind::Reduce), 2) << o.dump();  // axes {0} and {1} differ
  EXPECT_EQ(count_kind(o, OpKind::Constant), 2) << o.dump();  // 2.0 twice -> once, 3.0
  EXPECT_EQ(count_kind(o, OpKind::Mul), 3) << o.dump();       // t1*t2, x*2, x*3
  // The Add of the two Exps now reads the same value twice.
  const Op& add = output_op(o, 0);
  ASSERT_EQ(add.kind, OpKind::Add);
  EXPECT_EQ(add.inputs[0], add.inputs[1]);

  PassOptions no_cse;
  no_cse.cse = false;
  Graph n = optimize(g, no_cse);
  EXPECT_EQ(count_kind(n, OpKind::Exp), 2) << n.dump();
  EXPECT_EQ(count_kind(n, OpKind::Transpose), 2) << n.dump();
}

TEST(Passes, TransposeOfTransposeIsFolded) {
  Graph g;
  Node x = g.parameter("x", DType::F32, {2, 3, 4});
  Node identity = Transpose(Transpose(x, {1, 2, 0}), {2, 0, 1});
  Node composed = Transpose(Transpose(x, {1, 0, 2}), {0, 2, 1});  // x axes (1, 2, 0)
  Node triple = Transpose(Transpose(Transpose(x, {2, 1, 0}), {1, 0, 2}), {0, 2, 1});
  g.set_outputs({identity, composed, triple});
  Graph o = optimize(g, PassOptions{});
  expect_same_signature(g, o);
  EXPECT_EQ(output_op(o, 0).kind, OpKind::Parameter) << o.dump();
  const Op& c = output_op(o, 1);
  ASSERT_EQ(c.kind, OpKind::Transpose) << o.dump();
  EXPECT_EQ(std::get<TransposeAttrs>(c.attrs).perm, (std::vector<int64_t>{1, 2, 0}));
  EXPECT_EQ(c.inputs[0].op, o.parameters()[0]);
  EXPECT_EQ(output_type(o, 1).shape, (Shape{3, 4, 2}));
  // (2,1,0) then (1,0,2) then (0,2,1): axis i of the result is x axis [1, 0, 2][...] -> (1, 0, 2)... worked out:
  // t1 = x.T(2,1,0): t1 axes = x(2,1,0); t2 = t1.T(1,0,2): x(1,2,0); t3 = t2.T(0,2,1): x(1,0,2).
  const Op& t = output_op(o, 2);
  ASSERT_EQ(t.kind, OpKind::Transpose) << o.dump();
  EXPECT_EQ(std::get<TransposeAttrs>(t.attrs).perm, (std::vector<int64_t>{1, 0, 2}));
  EXPECT_EQ(t.inputs[0].op, o.parameters()[0]);
  EXPECT_EQ(count_kind(o, OpKind::Transpose), 2) << o.dump();
}

TEST(Passes, ReshapeChainsAndIdentityArithmeticAreRemoved) {
  Graph g;
  Node x = g.parameter("x", DType::F32, {2, 3});
  Node i = g.parameter("i", DType::I32, {5});
  Node ones = g.constant(Tensor{{1.f, 1.f, 1.f}, {1.f, 1.f, 1.f}});
  g.set_outputs({
      x * 1.0,                          // 0
      1.0 * x,                          // 1
      x + 0.0,                          // 2
      0.0 + x,                          // 3
      x - 0.0,                          // 4
      x / 1.0,                          // 5
      Neg(Neg(x)),                      // 6
      x * ones,                         // 7: a full tensor of ones
      i * g.scalar(int32_t(1)) + g.scalar(int32_t(0)),  // 8
      Reshape(Reshape(x, {6}), {3, 2}),                 // 9
      Reshape(Reshape(x, {6}), {2, 3}),                 // 10: back to x
  });
  Graph o = optimize(g, PassOptions{});
  expect_same_signature(g, o);
  for (size_t k : {0, 1, 2, 3, 4, 5, 6, 7, 10})
    EXPECT_EQ(output_op(o, k).kind, OpKind::Parameter) << "output " << k << "\n" << o.dump();
  EXPECT_EQ(output_op(o, 8).kind, OpKind::Parameter) << o.dump();
  const Op& r = output_op(o, 9);
  ASSERT_EQ(r.kind, OpKind::Reshape);
  EXPECT_EQ(r.inputs[0].op, o.parameters()[0]);
  EXPECT_EQ(count_kind(o, OpKind::Reshape), 1) << o.dump();
  EXPECT_EQ(count_kind(o, OpKind::Mul) + count_kind(o, OpKind::Add) + count_kind(o, OpKind::Neg), 0) << o.dump();

  PassOptions off;
  off.simplify = false;
  Graph n = optimize(g, off);
  EXPECT_EQ(output_op(n, 0).kind, OpKind::Mul);
  EXPECT_EQ(output_op(n, 6).kind, OpKind::Neg);
}

TEST(Passes, IdentityArithmeticThatBroadcastsIsKept) {
  Graph g;
  Node x = g.parameter("x", DType::F32, {3});
  Node ones = g.constant(Tensor{{1.f, 1.f, 1.f}, {1.f, 1.f, 1.f}});  // [2, 3]
  Node zeros = Zeros(g, DType::F32, Shape{4, 3});
  Node two = g.constant(Tensor{1.f, 2.f, 1.f});
  g.set_outputs({x * ones, x + zeros, x * two});
  Graph o = optimize(g, PassOptions{});
  expect_same_signature(g, o);
  EXPECT_EQ(output_type(o, 0).shape, (Shape{2, 3}));
  EXPECT_EQ(output_op(o, 0).kind, OpKind::Mul) << o.dump();
  EXPECT_EQ(output_type(o, 1).shape, (Shape{4, 3}));
  EXPECT_NE(output_op(o, 1).kind, OpKind::Parameter) << o.dump();
  EXPECT_EQ(output_op(o, 2).kind, OpKind::Mul) << o.dump();  // not all ones
}

TEST(Passes, CompositesExpandUnlessKept) {
  Graph g;
  Node x = g.parameter("x", DType::F32, {2, 8});
  Node s = g.parameter("scale", DType::F32, {8});
  g.set_outputs({Softmax(x, -1), LayerNorm(x, s, std::nullopt), Gelu(x)});
  ASSERT_EQ(count_kind(g, OpKind::Composite), 3);

  Graph all = optimize(g, PassOptions{});
  expect_same_signature(g, all);
  EXPECT_EQ(count_kind(all, OpKind::Composite), 0) << all.dump();
  EXPECT_GT(count_kind(all, OpKind::Exp), 0);
  EXPECT_GT(count_kind(all, OpKind::Reduce), 0);
  EXPECT_GT(count_kind(all, OpKind::Rsqrt), 0);
  EXPECT_GT(count_kind(all, OpKind::Erf), 0);
  EXPECT_EQ(count_kind(all, OpKind::StopGradient), 0) << "dropped by default";

  PassOptions keep_sg;
  keep_sg.drop_stop_gradient = false;
  EXPECT_EQ(count_kind(optimize(g, keep_sg), OpKind::StopGradient), 1);

  PassOptions keep_ln;
  keep_ln.keep_composite = [](const Op& op) { return composite_kind(op) == CompositeKind::LayerNorm; };
  Graph some = optimize(g, keep_ln);
  expect_same_signature(g, some);
  ASSERT_EQ(count_kind(some, OpKind::Composite), 1) << some.dump();
  EXPECT_EQ(output_op(some, 1).kind, OpKind::Composite);
  EXPECT_EQ(std::get<CompositeAttrs>(output_op(some, 1).attrs).name(), "layer_norm");
  EXPECT_EQ(count_kind(some, OpKind::Erf), 1);

  Graph none = eliminate_dead_code(g);
  EXPECT_EQ(count_kind(none, OpKind::Composite), 3);
}

TEST(Passes, FoldCallbackSeesAllConstantOps) {
  Graph g;
  Node x = g.parameter("x", DType::F32, {2});
  Node c = Neg(g.constant(Tensor{1.f, 2.f}));
  g.set_outputs({x + c});
  int calls = 0;
  PassOptions opt;
  opt.fold = [&](const Op& op, const std::vector<ValueType>& types, const std::vector<Tensor>& in)
      -> std::optional<std::vector<Tensor>> {
    ++calls;
    EXPECT_EQ(op.kind, OpKind::Neg);
    EXPECT_EQ(types.size(), 1u);
    std::vector<float> v = in[0].to_vector<float>();
    for (float& f : v) f = -f;
    return std::vector<Tensor>{Tensor::from_vector(v, in[0].shape())};
  };
  Graph o = optimize(g, opt);
  EXPECT_GE(calls, 1);
  EXPECT_EQ(count_kind(o, OpKind::Neg), 0) << o.dump();
  const Op& add = output_op(o, 0);
  ASSERT_EQ(add.kind, OpKind::Add);
  const Op& k = o.op(add.inputs[1].op);
  ASSERT_EQ(k.kind, OpKind::Constant);
  EXPECT_EQ(std::get<ConstantAttrs>(k.attrs).value.to_vector<float>(), (std::vector<float>{-1.f, -2.f}));
}

TEST(Passes, OptimizeLeavesTheSourceGraphAlone) {
  Graph g;
  Node x = g.parameter("x", DType::F32, {2});
  g.set_outputs({Softmax(x * 1.0)});
  std::string before = g.dump();
  Graph o = optimize(g, PassOptions{});
  EXPECT_EQ(g.dump(), before);
  EXPECT_NE(o.dump(), before);
}
