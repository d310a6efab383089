// Finite-difference checks of Reduce, DotGeneral and Cumulative gradient rules.
#include "grad_check.h"

namespace graft {
namespace {

using testing::check_gradients;
using testing::random_tensor;
using N = const std::vector<Node>&;

TEST(ReduceGrad, SumMeanNegativeAxesKeepdims) {
  EXPECT_GRADIENTS({random_tensor({2, 3, 4}, 1)}, [](N p) { return ReduceSum(p[0], {-1, 0}); });
  EXPECT_GRADIENTS({random_tensor({2, 3, 4}, 2)}, [](N p) { return ReduceMean(p[0], {1}, true); });
  EXPECT_GRADIENTS({random_tensor({2, 3}, 3)}, [](N p) { return ReduceSum(p[0]); });
}

TEST(ReduceGrad, MaxMin) {
  EXPECT_GRADIENTS({random_tensor({3, 4}, 1)}, [](N p) { return ReduceMax(p[0], {-1}); });
  EXPECT_GRADIENTS({random_tensor({3, 4, 2}, 2)}, [](N p) { return ReduceMin(p[0], {0, 2}, true); });
}

TEST(ReduceGrad, MaxTiesSplitEvenly) {
  Graph g;
  Node x = g.parameter("x", DType::F64, {2, 3});
  g.set_outputs({Gradient(ReduceSum(ReduceMax(x, {1})), x)});
  auto out = cpu_backend()->compile(g)->run({Tensor({{1.0, 3.0, 3.0}, {2.0, 2.0, 2.0}})})[0];
  std::vector<double> want{0, 0.5, 0.5, 1.0 / 3, 1.0 / 3, 1.0 / 3};
  auto got = out.to_vector<double>();
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-15);
}

TEST(ReduceGrad, ProdIncludingZeros) {
  EXPECT_GRADIENTS({random_tensor({3, 4}, 1, 0.5, 1.5)}, [](N p) { return ReduceProd(p[0], {1}); });
  EXPECT_GRADIENTS({random_tensor({2, 3, 2}, 2, 0.5, 1.5)}, [](N p) { return ReduceProd(p[0], {0, -1}); });
  Tensor z = Tensor({{0.0, 2.0, 3.0}, {0.0, 0.0, 4.0}});
  EXPECT_GRADIENTS({z}, [](N p) { return ReduceProd(p[0], {1}); });
}

TEST(ReduceGrad, ArgMaxIsNotDifferentiableButHarmless) {
  EXPECT_GRADIENTS({random_tensor({3, 4}, 1)}, [](N p) {
    return Convert(ArgMax(p[0], 1), DType::F64) * ReduceSum(p[0], {1});
  });
}

TEST(DotGrad, MatMulShapes) {
  EXPECT_GRADIENTS({random_tensor({3, 4}, 1), random_tensor({4, 2}, 2)}, [](N p) { return MatMul(p[0], p[1]); });
  EXPECT_GRADIENTS({random_tensor({2, 3, 4}, 3), random_tensor({4, 2}, 4)}, [](N p) { return MatMul(p[0], p[1]); });
  EXPECT_GRADIENTS({random_tensor({2, 1, 3, 4}, 5), random_tensor({3, 4, 2}, 6)},
                              [](N p) { return MatMul(p[0], p[1]); });
  EXPECT_GRADIENTS({random_tensor({4}, 7), random_tensor({4, 3}, 8)}, [](N p) { return MatMul(p[0], p[1]); });
  EXPECT_GRADIENTS({random_tensor({3, 4}, 9), random_tensor({4}, 10)}, [](N p) { return MatMul(p[0], p[1]); });
}

TEST(DotGrad, GeneralDimensionNumbers) {
  // lhs [c0=3, b=2, f=4, c1=2], rhs [f2=5, c1=2, b=2, c0=3]: batch (1,2), contract (0,3) x (3,1)
  EXPECT_GRADIENTS({random_tensor({3, 2, 4, 2}, 1), random_tensor({5, 2, 2, 3}, 2)}, [](N p) {
    return DotGeneral(p[0], p[1], {{1}, {2}, {0, 3}, {3, 1}});
  });
  // no contraction: outer product with a batch axis
  EXPECT_GRADIENTS({random_tensor({2, 3}, 3), random_tensor({4, 2}, 4)},
                              [](N p) { return DotGeneral(p[0], p[1], {{0}, {1}, {}, {}}); });
}

TEST(ScanGrad, CumSumAllModes) {
  for (bool exclusive : {false, true})
    for (bool reverse : {false, true})
      EXPECT_GRADIENTS({random_tensor({3, 4}, 1)}, [=](N p) { return CumSum(p[0], -1, exclusive, reverse); });
}

TEST(ScanGrad, CumProdAllModesWithZeros) {
  for (bool exclusive : {false, true})
    for (bool reverse : {false, true}) {
      EXPECT_GRADIENTS({random_tensor({2, 5}, 1, 0.5, 1.5)},
                                  [=](N p) { return CumProd(p[0], 1, exclusive, reverse); });
      EXPECT_GRADIENTS({Tensor({{1.5, 0.0, 2.0, -1.0}, {0.0, 0.5, 0.0, 3.0}})},
                                  [=](N p) { return CumProd(p[0], -1, exclusive, reverse); });
    }
  EXPECT_GRADIENTS({random_tensor({4, 2, 3}, 2, 0.5, 1.5)}, [](N p) { return CumProd(p[0], 0); });
}

}  // namespace
}  // namespace graft
