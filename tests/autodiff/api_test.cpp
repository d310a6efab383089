// The Gradient / VJP interface: zeros for unrelated and integer inputs, errors, cotangents,
// intermediate nodes, higher-order gradients.
#include "grad_check.h"

namespace graft {
namespace {

using testing::random_tensor;

std::vector<Tensor> run(Graph& g, std::vector<Node> outs, std::vector<Tensor> inputs) {
  g.set_outputs(std::move(outs));
  return cpu_backend()->compile(g)->run(std::span<const Tensor>(inputs));
}

TEST(GradientApi, UnrelatedAndIntegerInputsGetZeros) {
  Graph g;
  Node x = g.parameter("x", DType::F64, {2});
  Node unused = g.parameter("unused", DType::F32, {3});
  Node idx = g.parameter("idx", DType::I64, {2});
  Node loss = ReduceSum(x * Convert(idx, DType::F64));
  auto grads = Gradient(loss, {x, unused, idx});
  ASSERT_EQ(grads.size(), 3u);
  EXPECT_EQ(grads[1].type(), unused.type());
  EXPECT_EQ(grads[2].type(), idx.type());
  auto out = run(g, grads, {Tensor({1.0, 2.0}), Tensor({1.f, 2.f, 3.f}), Tensor({int64_t(3), int64_t(-4)})});
  EXPECT_EQ(out[0].to_vector<double>(), (std::vector<double>{3, -4}));
  EXPECT_EQ(out[1].to_vector<float>(), (std::vector<float>{0, 0, 0}));
  EXPECT_EQ(out[2].to_vector<int64_t>(), (std::vector<int64_t>{0, 0}));
}

TEST(GradientApi, LossMustBeAFloatScalar) {
  Graph g;
  Node x = g.parameter("x", DType::F32, {2});
  try {
    Gradient(x * 2.0, x);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected a floating-point scalar"), std::string::npos) << e.what();
  }
  Node i = g.parameter("i", DType::I32, {});
  EXPECT_THROW(Gradient(i, x), Error);
  // A single-element tensor is fine.
  EXPECT_NO_THROW(Gradient(ReduceSum(x, {0}, true), x));
}

TEST(GradientApi, VjpWithSeveralOutputsAndAMissingCotangent) {
  Graph g;
  Node x = g.parameter("x", DType::F64, {3});
  Node a = x * x, b = Sin(x), c = Exp(x);
  Node ca = g.constant(Tensor({1.0, 2.0, 3.0}));
  Node cb = g.constant(Tensor({-1.0, 0.5, 0.0}));
  auto grads = VJP({a, b, c}, {ca, cb, Node()}, {x});
  Tensor xv({0.1, -0.7, 1.3});
  auto out = run(g, grads, {xv});
  std::vector<double> cav{1.0, 2.0, 3.0}, cbv{-1.0, 0.5, 0.0};
  for (int k = 0; k < 3; ++k) {
    double xx = xv.data<double>()[k];
    EXPECT_NEAR(out[0].data<double>()[k], cav[size_t(k)] * 2 * xx + cbv[size_t(k)] * std::cos(xx), 1e-12);
  }
}

TEST(GradientApi, VjpChecksCotangentTypes) {
  Graph g;
  Node x = g.parameter("x", DType::F64, {3});
  EXPECT_THROW(VJP({x * 2.0}, {g.constant(Tensor({1.0, 2.0}))}, {x}), Error);
}

TEST(GradientApi, IntermediateNodeGetsTotalDerivative) {
  Graph g;
  Node x = g.parameter("x", DType::F64, {2});
  Node y = x * 3.0;
  Node loss = ReduceSum(y * y + y * x);
  auto grads = Gradient(loss, {y, x});
  auto out = run(g, grads, {Tensor({1.0, -2.0})});
  // d/dy = 2y + x; d/dx (total) = 3 (2y + x) + y = 18x + 3x + 3x = 24x
  EXPECT_EQ(out[0].to_vector<double>(), (std::vector<double>{7, -14}));
  EXPECT_EQ(out[1].to_vector<double>(), (std::vector<double>{24, -48}));
}

TEST(GradientApi, SecondOrder) {
  Graph g;
  Node x = g.parameter("x", DType::F64, {3});
  Node dx = Gradient(ReduceSum(x * x * x), x);  // 3x^2
  Node ddx = Gradient(ReduceSum(dx), x);        // 6x
  auto out = run(g, {dx, ddx}, {Tensor({1.0, -2.0, 0.5})});
  EXPECT_EQ(out[0].to_vector<double>(), (std::vector<double>{3, 12, 0.75}));
  EXPECT_EQ(out[1].to_vector<double>(), (std::vector<double>{6, -12, 3}));
}

TEST(GradientApi, SecondOrderThroughSoftmax) {
  // Hessian-vector product of log-sum-exp, FD-checked as the gradient of <grad f, v>.
  Tensor v = random_tensor({4}, 9);
  EXPECT_GRADIENTS({random_tensor({4}, 1, -2, 2)}, [&](const std::vector<Node>& p) {
    Node gradient = Gradient(ReduceSum(LogSoftmax(p[0] * p[0], 0) * p[0]), p[0]);
    return gradient * p[0].graph()->constant(v);
  });
}

TEST(GradientApi, NonDifferentiableScatterNamesTheOp) {
  Graph g;
  Node x = g.parameter("x", DType::F32, {4});
  Node idx = g.constant(Tensor({int64_t(1), int64_t(1)}));
  Node upd = g.parameter("u", DType::F32, {2});
  Node y = ScatterAlongAxis(x, idx, upd, 0, ReduceOp::Max);
  try {
    Gradient(ReduceSum(y), {x, upd});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("Scatter"), std::string::npos) << m;
    EXPECT_NE(m.find("not differentiable"), std::string::npos) << m;
  }
}

TEST(GradientApi, BackwardOpsCarryTheForwardName) {
  Graph g;
  Node x = g.parameter("x", DType::F32, {2});
  g.set_current_name("layer0/tanh");
  Node y = Tanh(x);
  g.set_current_name("");
  Node gx = Gradient(ReduceSum(y), x);
  bool found = false;
  for (const Op& op : g.ops()) found |= op.name == "layer0/tanh/grad";
  EXPECT_TRUE(found);
  EXPECT_EQ(gx.type(), x.type());
}

}  // namespace
}  // namespace graft
