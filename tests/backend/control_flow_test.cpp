// If and While on the CPU backend: sub-graphs compiled inside the kernels and run on the operands.
#include <gtest/gtest.h>

#include "graft/graft.h"

using namespace graft;

namespace {

Tensor run1(const Graph& g, std::vector<Tensor> inputs, size_t output = 0) {
  auto exe = cpu_backend()->compile(g);
  return exe->run(std::span<const Tensor>(inputs))[output];
}

// cond: i < n.
Graph counter_cond(int64_t n) {
  Graph c("i_below_n");
  Node i = c.parameter("i", DType::I64, Shape{});
  c.parameter("acc", DType::I64, Shape{});
  c.set_outputs({Less(i, c.scalar<int64_t>(n))});
  return c;
}

// body: (i, acc) -> (i + 1, acc + i).
Graph counter_body() {
  Graph b("accumulate");
  Node i = b.parameter("i", DType::I64, Shape{});
  Node acc = b.parameter("acc", DType::I64, Shape{});
  b.set_outputs({i + 1.0, acc + i});
  return b;
}

}  // namespace

TEST(WhileLoop, CounterSumsToN) {
  for (int64_t n : {1, 7, 100, 1000}) {
    Graph g("sum");
    Node i0 = g.parameter("i0", DType::I64, Shape{});
    Node a0 = g.parameter("a0", DType::I64, Shape{});
    std::vector<Node> r = While(counter_cond(n), counter_body(), {i0, a0});
    g.set_outputs(r);
    auto exe = cpu_backend()->compile(g);
    std::vector<Tensor> out = exe->run({Tensor::scalar<int64_t>(0), Tensor::scalar<int64_t>(0)});
    EXPECT_EQ(out[0].item<int64_t>(), n);
    EXPECT_EQ(out[1].item<int64_t>(), n * (n - 1) / 2) << "n = " << n;
    // Same executable, other start: sum of 10..n-1.
    out = exe->run({Tensor::scalar<int64_t>(10), Tensor::scalar<int64_t>(5)});
    int64_t from = std::min<int64_t>(10, n);
    EXPECT_EQ(out[0].item<int64_t>(), std::max<int64_t>(10, n));
    EXPECT_EQ(out[1].item<int64_t>(), 5 + (n * (n - 1) / 2 - from * (from - 1) / 2));
  }
}

TEST(WhileLoop, ZeroIterationsReturnsInitialState) {
  Graph g("none");
  Node i0 = g.parameter("i0", DType::I64, Shape{});
  Node a0 = g.parameter("a0", DType::I64, Shape{});
  g.set_outputs(While(counter_cond(3), counter_body(), {i0, a0}));
  auto exe = cpu_backend()->compile(g);
  std::vector<Tensor> out = exe->run({Tensor::scalar<int64_t>(3), Tensor::scalar<int64_t>(42)});
  EXPECT_EQ(out[0].item<int64_t>(), 3);
  EXPECT_EQ(out[1].item<int64_t>(), 42);
  out = exe->run({Tensor::scalar<int64_t>(50), Tensor::scalar<int64_t>(-1)});
  EXPECT_EQ(out[0].item<int64_t>(), 50);
  EXPECT_EQ(out[1].item<int64_t>(), -1);
}

TEST(WhileLoop, InputsAreNotWritten) {
  // A vector state doubled until its sum exceeds 100; the caller's input must keep its values.
  Graph cond("small");
  Node cv = cond.parameter("v", DType::F32, {3});
  cond.set_outputs({Less(ReduceSum(cv), cond.scalar<float>(100.f))});
  Graph body("double");
  Node bv = body.parameter("v", DType::F32, {3});
  body.set_outputs({bv * 2.0});
  Graph g("grow");
  Node v = g.parameter("v", DType::F32, {3});
  g.set_outputs({While(cond, body, {v})[0], v + 0.0});
  Tensor in = Tensor::from_vector<float>({1.f, 2.f, 3.f});
  auto exe = cpu_backend()->compile(g);
  std::vector<Tensor> out = exe->run({in});
  // 6 -> 12 -> 24 -> 48 -> 96 -> 192: five doublings.
  EXPECT_EQ(out[0].to_vector<float>(), (std::vector<float>{32.f, 64.f, 96.f}));
  EXPECT_EQ(in.to_vector<float>(), (std::vector<float>{1.f, 2.f, 3.f}));
  EXPECT_EQ(out[1].to_vector<float>(), (std::vector<float>{1.f, 2.f, 3.f}));
}

TEST(WhileLoop, StateOfSeveralDTypes) {
  // State: i32 counter, f64 vector, f16 matrix, bool flag, u8 bytes, bf16 scalar passed through.
  auto params = [](Graph& h) {
    return std::vector<Node>{h.parameter("i", DType::I32, Shape{}),   h.parameter("v", DType::F64, {4}),
                             h.parameter("h", DType::F16, {2, 3}),    h.parameter("flag", DType::Bool, Shape{}),
                             h.parameter("bytes", DType::U8, {5}),    h.parameter("keep", DType::BF16, Shape{})};
  };
  Graph cond("i_below_5");
  std::vector<Node> c = params(cond);
  cond.set_outputs({Less(c[0], cond.scalar<int32_t>(5))});
  Graph body("step");
  std::vector<Node> b = params(body);
  body.set_outputs({b[0] + 1.0, b[1] * 2.0 + 1.0, b[2] + 0.5, Not(b[3]), b[4] + 3.0, b[5]});
  Graph g("loop");
  std::vector<Node> init = params(g);
  g.set_outputs(While(cond, body, init));
  auto exe = cpu_backend()->compile(g);
  std::vector<Tensor> in{Tensor::scalar<int32_t>(0),
                         Tensor::from_vector<double>({0.0, 1.0, -1.0, 0.5}),
                         Tensor::full(DType::F16, {2, 3}, 1.0),
                         Tensor::scalar<bool>(true),
                         Tensor::from_vector<uint8_t>({0, 1, 2, 250, 100}),
                         Tensor::full(DType::BF16, {}, 1.5)};
  std::vector<Tensor> out = exe->run(std::span<const Tensor>(in));
  ASSERT_EQ(out.size(), 6u);
  EXPECT_EQ(out[0].item<int32_t>(), 5);
  // v -> 2v + 1 five times: 32 v + 31.
  EXPECT_EQ(out[1].to_vector<double>(), (std::vector<double>{31.0, 63.0, -1.0, 47.0}));
  EXPECT_EQ(out[2].dtype(), DType::F16);
  for (float f : out[2].to_vector<float>()) EXPECT_EQ(f, 3.5f);
  EXPECT_EQ(out[3].item<bool>(), false);  // flipped five times
  EXPECT_EQ(out[4].to_vector<int>(), (std::vector<int>{15, 16, 17, 9, 115}));  // u8 wraps: 250 + 15 = 265 - 256
  EXPECT_EQ(out[5].to_vector<float>(), (std::vector<float>{1.5f}));
  // Inputs untouched.
  EXPECT_EQ(in[1].to_vector<double>(), (std::vector<double>{0.0, 1.0, -1.0, 0.5}));
  EXPECT_EQ(in[4].to_vector<int>(), (std::vector<int>{0, 1, 2, 250, 100}));
}

TEST(IfOp, SelectsBetweenComputations) {
  Graph then_g("scale_add");
  {
    Node x = then_g.parameter("x", DType::F32, {2, 2});
    Node y = then_g.parameter("y", DType::F32, {2, 2});
    then_g.set_outputs({x * 2.0 + y, ReduceSum(x)});
  }
  Graph else_g("matmul");
  {
    Node x = else_g.parameter("x", DType::F32, {2, 2});
    Node y = else_g.parameter("y", DType::F32, {2, 2});
    else_g.set_outputs({MatMul(x, y), ReduceMax(y)});
  }
  Graph g("choose");
  Node p = g.parameter("p", DType::Bool, Shape{});
  Node x = g.parameter("x", DType::F32, {2, 2});
  Node y = g.parameter("y", DType::F32, {2, 2});
  g.set_outputs(If(p, then_g, else_g, {x, y}));
  auto exe = cpu_backend()->compile(g);
  Tensor a{{1.f, 2.f}, {3.f, 4.f}};
  Tensor b{{5.f, 6.f}, {7.f, 8.f}};
  std::vector<Tensor> t = exe->run({Tensor::scalar<bool>(true), a, b});
  EXPECT_EQ(t[0].to_vector<float>(), (std::vector<float>{7.f, 10.f, 13.f, 16.f}));
  EXPECT_EQ(t[1].item<float>(), 10.f);
  std::vector<Tensor> e = exe->run({Tensor::scalar<bool>(false), a, b});
  EXPECT_EQ(e[0].to_vector<float>(), (std::vector<float>{19.f, 22.f, 43.f, 50.f}));
  EXPECT_EQ(e[1].item<float>(), 8.f);
}

TEST(IfOp, PredicateComputedInGraph) {
  // y = x > 0 ? x * 3 : -x, with the predicate from a reduction over x.
  Graph pos("triple");
  pos.set_outputs({pos.parameter("x", DType::F64, {3}) * 3.0});
  Graph neg("negate");
  neg.set_outputs({-neg.parameter("x", DType::F64, {3})});
  Graph g("sign_branch");
  Node x = g.parameter("x", DType::F64, {3});
  Node pred = Greater(ReduceSum(x), g.scalar<double>(0.0));
  g.set_outputs(If(pred, pos, neg, {x}));
  auto exe = cpu_backend()->compile(g);
  EXPECT_EQ(exe->run({Tensor::from_vector<double>({1, 2, -1})})[0].to_vector<double>(),
            (std::vector<double>{3, 6, -3}));
  EXPECT_EQ(exe->run({Tensor::from_vector<double>({1, -2, -1})})[0].to_vector<double>(),
            (std::vector<double>{-1, 2, 1}));
}

TEST(IfOp, BranchReturningOperandUnchanged) {
  Graph id("identity");
  id.set_outputs({id.parameter("x", DType::I32, {4})});
  Graph inc("increment");
  inc.set_outputs({inc.parameter("x", DType::I32, {4}) + 1.0});
  Graph g("maybe_inc");
  Node p = g.parameter("p", DType::Bool, Shape{});
  Node x = g.parameter("x", DType::I32, {4});
  g.set_outputs(If(p, id, inc, {x}));
  Tensor in = Tensor::from_vector<int32_t>({1, 2, 3, 4});
  EXPECT_EQ(run1(g, {Tensor::scalar<bool>(true), in}).to_vector<int32_t>(), (std::vector<int32_t>{1, 2, 3, 4}));
  EXPECT_EQ(run1(g, {Tensor::scalar<bool>(false), in}).to_vector<int32_t>(), (std::vector<int32_t>{2, 3, 4, 5}));
}

TEST(IfOp, ConstantPredicateFolds) {
  // A predicate known at compile time: constant folding may evaluate the If right away.
  Graph a("ten");
  a.set_outputs({a.parameter("x", DType::F32, Shape{}) * 10.0});
  Graph b("half");
  b.set_outputs({b.parameter("x", DType::F32, Shape{}) * 0.5});
  Graph g("fixed");
  Node x = g.parameter("x", DType::F32, Shape{});
  g.set_outputs(If(g.scalar<bool>(false), a, b, {x}));
  EXPECT_EQ(run1(g, {Tensor::scalar<float>(4.f)}).item<float>(), 2.f);
}

TEST(ControlFlow, NestedIfInsideWhile) {
  // acc += (i even ? i * i : -i) for i in [0, n).
  const int64_t n = 20;
  Graph add_sq("add_square");
  {
    Node acc = add_sq.parameter("acc", DType::I64, Shape{});
    Node i = add_sq.parameter("i", DType::I64, Shape{});
    add_sq.set_outputs({acc + i * i});
  }
  Graph sub("subtract");
  {
    Node acc = sub.parameter("acc", DType::I64, Shape{});
    Node i = sub.parameter("i", DType::I64, Shape{});
    sub.set_outputs({acc - i});
  }
  Graph body("step");
  {
    Node i = body.parameter("i", DType::I64, Shape{});
    Node acc = body.parameter("acc", DType::I64, Shape{});
    Node even = Equal(Rem(i, body.scalar<int64_t>(2)), body.scalar<int64_t>(0));
    Node next = If(even, add_sq, sub, {acc, i})[0];
    body.set_outputs({i + 1.0, next});
  }
  Graph g("outer");
  Node i0 = g.parameter("i0", DType::I64, Shape{});
  Node a0 = g.parameter("a0", DType::I64, Shape{});
  g.set_outputs(While(counter_cond(n), body, {i0, a0}));
  auto exe = cpu_backend()->compile(g);
  std::vector<Tensor> out = exe->run({Tensor::scalar<int64_t>(0), Tensor::scalar<int64_t>(0)});
  int64_t want = 0;
  for (int64_t i = 0; i < n; ++i) want += i % 2 == 0 ? i * i : -i;
  EXPECT_EQ(out[0].item<int64_t>(), n);
  EXPECT_EQ(out[1].item<int64_t>(), want);
}

TEST(ControlFlow, NestedWhileInsideWhile) {
  // Outer loop over j in [0, 4): acc += inner sum of [0, 5) = 10 each time.
  Graph inner_cond("inner_cond");
  {
    Node k = inner_cond.parameter("k", DType::I64, Shape{});
    inner_cond.parameter("acc", DType::I64, Shape{});
    inner_cond.set_outputs({Less(k, inner_cond.scalar<int64_t>(5))});
  }
  Graph outer_body("outer_body");
  {
    Node j = outer_body.parameter("i", DType::I64, Shape{});
    Node acc = outer_body.parameter("acc", DType::I64, Shape{});
    std::vector<Node> r = While(inner_cond, counter_body(), {outer_body.scalar<int64_t>(0), acc});
    outer_body.set_outputs({j + 1.0, r[1]});
  }
  Graph g("nested");
  Node j0 = g.parameter("j0", DType::I64, Shape{});
  Node a0 = g.parameter("a0", DType::I64, Shape{});
  g.set_outputs(While(counter_cond(4), outer_body, {j0, a0}));
  std::vector<Tensor> out =
      cpu_backend()->compile(g)->run({Tensor::scalar<int64_t>(0), Tensor::scalar<int64_t>(1)});
  EXPECT_EQ(out[1].item<int64_t>(), 1 + 4 * 10);
}

TEST(ControlFlow, WhileWithConvolutionBody) {
  // A loop-carried f32 image smoothed by a 3x3 box filter three times (cross-family check).
  Graph cond("three_times");
  {
    Node i = cond.parameter("i", DType::I32, Shape{});
    cond.parameter("x", DType::F32, {1, 1, 5, 5});
    cond.set_outputs({Less(i, cond.scalar<int32_t>(3))});
  }
  Graph body("smooth");
  {
    Node i = body.parameter("i", DType::I32, Shape{});
    Node x = body.parameter("x", DType::F32, {1, 1, 5, 5});
    ConvolutionAttrs a;
    a.pad_low = {1, 1};
    a.pad_high = {1, 1};
    Node w = Full(body, DType::F32, {1, 1, 3, 3}, 1.0);
    body.set_outputs({i + 1.0, Convolution(x, w, a)});
  }
  Graph g("loop");
  Node i0 = g.parameter("i0", DType::I32, Shape{});
  Node x0 = g.parameter("x0", DType::F32, {1, 1, 5, 5});
  g.set_outputs(While(cond, body, {i0, x0}));
  Tensor x = Tensor::zeros(DType::F32, {1, 1, 5, 5});
  x.data<float>()[12] = 1.f;  // a centered impulse
  std::vector<Tensor> out = cpu_backend()->compile(g)->run({Tensor::scalar<int32_t>(0), x});
  // Three box filters of an impulse: the center is the number of 3-step walks with steps in
  // {-1, 0, 1}^2 returning to the origin = 7 * 7.
  EXPECT_FLOAT_EQ(out[1].to_vector<float>()[12], 49.f);
  EXPECT_EQ(x.to_vector<float>()[12], 1.f);
}

TEST(ControlFlow, BuilderRejectsMismatchedBody) {
  Graph cond("forever");
  cond.parameter("i", DType::I64, Shape{});
  cond.set_outputs({cond.scalar<bool>(true)});
  Graph wrong("wrong_type");
  wrong.set_outputs({wrong.parameter("i", DType::I32, Shape{})});
  Graph g;
  Node i0 = g.parameter("i0", DType::I64, Shape{});
  try {
    While(cond, wrong, {i0});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("wrong_type"), std::string::npos) << e.what();
  }
}
