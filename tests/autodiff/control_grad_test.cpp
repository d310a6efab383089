// Finite-difference checks of the If and While gradient rules.
#include "grad_check.h"

namespace graft {
namespace {

using testing::random_tensor;
using N = const std::vector<Node>&;

// then: x * sin(y), else: x * x + y   (x, y float; k int passes through untouched)
std::pair<Graph, Graph> branches(Shape s) {
  Graph t("then"), e("else");
  {
    Node x = t.parameter("x", DType::F64, s), y = t.parameter("y", DType::F64, s);
    Node k = t.parameter("k", DType::I64, {});
    t.set_outputs({x * Sin(y), k});
  }
  {
    Node x = e.parameter("x", DType::F64, s), y = e.parameter("y", DType::F64, s);
    Node k = e.parameter("k", DType::I64, {});
    e.set_outputs({x * x + y, k + ScalarLike(k, 1.0)});
  }
  return {t, e};
}

TEST(ControlGrad, IfBothBranches) {
  for (bool which : {true, false}) {
    auto [t, e] = branches(Shape{3});
    Tensor pred = Tensor::from_vector(std::vector<bool>{which}, Shape{});
    EXPECT_GRADIENTS({pred, random_tensor({3}, 1), random_tensor({3}, 2), Tensor::scalar<int64_t>(4)},
                     [&, t = t, e = e](N p) { return If(p[0], t, e, {p[1], p[2], p[3]})[0]; });
  }
}

TEST(ControlGrad, WhileLoop) {
  // state (i, x, w): while i < 3: x = tanh(x * w) + w, i += 1
  Graph cond("cond"), body("body");
  {
    Node i = cond.parameter("i", DType::I64, {});
    cond.parameter("x", DType::F64, {3});
    cond.parameter("w", DType::F64, {3});
    cond.set_outputs({Less(i, ScalarLike(i, 3.0))});
  }
  {
    Node i = body.parameter("i", DType::I64, {});
    Node x = body.parameter("x", DType::F64, {3});
    Node w = body.parameter("w", DType::F64, {3});
    body.set_outputs({i + ScalarLike(i, 1.0), Tanh(x * w) + w, w});
  }
  EXPECT_GRADIENTS({Tensor::scalar<int64_t>(0), random_tensor({3}, 1), random_tensor({3}, 2)}, [&](N p) {
    auto out = While(cond, body, {p[0], p[1], p[2]});
    return out[1] * out[2];
  });
}

}  // namespace
}  // namespace graft

namespace graft {
namespace {

TEST(ControlGrad, WhileWithZeroTripsIsIdentity) {
  Graph cond("cond"), body("body");
  {
    cond.parameter("x", DType::F64, {2});
    Node n = cond.parameter("n", DType::I64, {});
    cond.set_outputs({Greater(n, ScalarLike(n, 0.0))});
  }
  {
    Node x = body.parameter("x", DType::F64, {2});
    Node n = body.parameter("n", DType::I64, {});
    body.set_outputs({x * x, n - ScalarLike(n, 1.0)});
  }
  for (int64_t trips : {0, 1, 2}) {
    Graph g;
    Node x = g.parameter("x", DType::F64, {2});
    Node n = g.parameter("n", DType::I64, {});
    Node y = While(cond, body, {x, n})[0];
    auto grads = Gradient(ReduceSum(y), {x, n});
    g.set_outputs(grads);
    Tensor xv({1.5, -0.5});
    std::vector<Tensor> in{xv, Tensor::scalar<int64_t>(trips)};
    auto out = cpu_backend()->compile(g)->run(std::span<const Tensor>(in));
    for (int k = 0; k < 2; ++k) {
      double v = xv.data<double>()[k];
      double want = trips == 0 ? 1.0 : trips == 1 ? 2 * v : 4 * v * v * v;  // d/dx of x, x^2, x^4
      EXPECT_NEAR(out[0].data<double>()[k], want, 1e-12) << trips;
    }
    EXPECT_EQ(out[1].item<int64_t>(), 0);
  }
}

TEST(ControlGrad, IfOnAComputedPredicate) {
  auto make = [](bool neg) {
    Graph b(neg ? "neg" : "pos");
    Node x = b.parameter("x", DType::F64, {3});
    b.set_outputs({neg ? -(x * x * x) : Exp(x)});
    return b;
  };
  Graph t = make(false), e = make(true);
  for (uint64_t seed : {1, 2, 3})
    EXPECT_GRADIENTS({testing::random_tensor({3}, seed)}, [&](const std::vector<Node>& p) {
      Node pred = Greater(ReduceSum(p[0]), ScalarLike(p[0], 0.0));
      return If(pred, t, e, {p[0]})[0] * p[0];
    });
}

}  // namespace
}  // namespace graft
