// Finite-difference checks of the element-wise gradient rules.
#include "grad_check.h"

namespace graft {
namespace {

using testing::check_gradients;
using testing::random_away_from_zero;
using testing::random_tensor;
using N = const std::vector<Node>&;

struct UnaryCase {
  const char* name;
  Node (*fn)(Node);
  double lo, hi;  // input range (positive), sign randomized when `signed_inputs`
  bool signed_inputs;
};

class UnaryGrad : public ::testing::TestWithParam<UnaryCase> {};

TEST_P(UnaryGrad, MatchesFiniteDifferences) {
  const UnaryCase& c = GetParam();
  Tensor x = c.signed_inputs ? random_away_from_zero({2, 3}, 11, c.lo, c.hi) : random_tensor({2, 3}, 11, c.lo, c.hi);
  auto fn = c.fn;
  EXPECT_GRADIENTS({x}, [fn](N p) { return fn(p[0]); });
}

INSTANTIATE_TEST_SUITE_P(
    All, UnaryGrad,
    ::testing::Values(UnaryCase{"Neg", Neg, 0.2, 2, true}, UnaryCase{"Abs", Abs, 0.2, 2, true},
                      UnaryCase{"Exp", Exp, 0.1, 1.5, true}, UnaryCase{"Expm1", Expm1, 0.1, 1.5, true},
                      UnaryCase{"Log", Log, 0.3, 3, false}, UnaryCase{"Log1p", Log1p, 0.1, 2, false},
                      UnaryCase{"Sqrt", Sqrt, 0.3, 3, false}, UnaryCase{"Rsqrt", Rsqrt, 0.3, 3, false},
                      UnaryCase{"Reciprocal", Reciprocal, 0.3, 3, true}, UnaryCase{"Sin", Sin, 0.1, 3, true},
                      UnaryCase{"Cos", Cos, 0.1, 3, true}, UnaryCase{"Tan", Tan, 0.1, 1.2, true},
                      UnaryCase{"Asin", Asin, 0.05, 0.9, true}, UnaryCase{"Acos", Acos, 0.05, 0.9, true},
                      UnaryCase{"Atan", Atan, 0.1, 3, true}, UnaryCase{"Sinh", Sinh, 0.1, 2, true},
                      UnaryCase{"Cosh", Cosh, 0.1, 2, true}, UnaryCase{"Tanh", Tanh, 0.1, 2, true},
                      UnaryCase{"Asinh", Asinh, 0.1, 3, true}, UnaryCase{"Acosh", Acosh, 1.2, 3, false},
                      UnaryCase{"Atanh", Atanh, 0.05, 0.9, true}, UnaryCase{"Erf", Erf, 0.05, 2, true},
                      UnaryCase{"Logistic", Logistic, 0.1, 3, true}, UnaryCase{"Sign", Sign, 0.2, 2, true},
                      UnaryCase{"Floor", Floor, 0.1, 0.9, false}, UnaryCase{"Ceil", Ceil, 0.1, 0.9, false},
                      UnaryCase{"Round", Round, 0.1, 0.4, false}),
    [](const auto& info) { return std::string(info.param.name); });

struct BinaryCase {
  const char* name;
  Node (*fn)(Node, Node);
  Shape a, b;
  bool positive_a;
};

class BinaryGrad : public ::testing::TestWithParam<BinaryCase> {};

TEST_P(BinaryGrad, MatchesFiniteDifferences) {
  const BinaryCase& c = GetParam();
  Tensor a = c.positive_a ? random_tensor(c.a, 3, 0.5, 2.0) : random_away_from_zero(c.a, 3);
  Tensor b = random_away_from_zero(c.b, 4, 0.3, 1.7);
  auto fn = c.fn;
  EXPECT_GRADIENTS({a, b}, [fn](N p) { return fn(p[0], p[1]); });
}

std::vector<BinaryCase> binary_cases() {
  std::vector<BinaryCase> v;
  std::vector<std::pair<Shape, Shape>> shapes = {
      {{2, 3}, {2, 3}}, {{2, 3}, {3}}, {{2, 1}, {1, 3}}, {{4}, {}}, {{}, {2, 2}}, {{2, 1, 3}, {4, 1}}};
  struct Op {
    const char* name;
    Node (*fn)(Node, Node);
    bool positive_a;
  };
  Op ops[] = {{"Add", Add, false}, {"Sub", Sub, false}, {"Mul", Mul, false}, {"Div", Div, false},
              {"Pow", Pow, true},  {"Max", Max, false}, {"Min", Min, false}, {"Atan2", Atan2, false},
              {"Rem", Rem, false}, {"Fmod", Fmod, false}};
  for (const Op& op : ops)
    for (auto& [a, b] : shapes) v.push_back({op.name, op.fn, a, b, op.positive_a});
  return v;
}

INSTANTIATE_TEST_SUITE_P(All, BinaryGrad, ::testing::ValuesIn(binary_cases()), [](const auto& info) {
  return std::string(info.param.name) + "_" + std::to_string(info.index);
});

TEST(ElementwiseGrad, SameOperandTwice) {
  EXPECT_GRADIENTS({random_tensor({3, 2}, 1)}, [](N p) { return p[0] * p[0] + p[0] / (p[0] * p[0] + 1.0); });
}

TEST(ElementwiseGrad, PowWithNegativeBaseAndIntegerExponent) {
  Tensor a = Tensor::from_vector(std::vector<double>{-1.5, -0.5, 0.7, 2.0}, Shape{4});
  Graph g;
  Node x = g.parameter("x", DType::F64, {4});
  Node y = ReduceSum(Pow(x, ScalarLike(x, 3.0)));
  g.set_outputs({Gradient(y, x)});
  Tensor gx = cpu_backend()->compile(g)->run({a})[0];
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(gx.data<double>()[i], 3 * a.data<double>()[i] * a.data<double>()[i], 1e-12);
}

TEST(ElementwiseGrad, MaxTiesSplitEvenly) {
  Graph g;
  Node x = g.parameter("x", DType::F64, {3});
  Node y = g.parameter("y", DType::F64, {3});
  auto grads = Gradient(ReduceSum(Max(x, y)), {x, y});
  g.set_outputs(grads);
  auto out = cpu_backend()->compile(g)->run({Tensor({1.0, 2.0, 3.0}), Tensor({1.0, 1.0, 4.0})});
  EXPECT_EQ(out[0].to_vector<double>(), (std::vector<double>{0.5, 1, 0}));
  EXPECT_EQ(out[1].to_vector<double>(), (std::vector<double>{0.5, 0, 1}));
}

TEST(ElementwiseGrad, SelectWithBroadcastPredicate) {
  Tensor pred = Tensor::from_vector(std::vector<bool>{true, false, true}, Shape{3});
  EXPECT_GRADIENTS({pred, random_tensor({2, 3}, 5), random_tensor({2, 1}, 6)},
                              [](N p) { return Select(p[0], p[1], p[2]); });
}

TEST(ElementwiseGrad, ClampRoutesInsideValues) {
  EXPECT_GRADIENTS({random_tensor({5}, 9, -2, 2)}, [](N p) {
    return Clamp(p[0], ScalarLike(p[0], -0.5), ScalarLike(p[0], 0.75)) * p[0];
  });
}

TEST(ElementwiseGrad, ConvertBetweenFloatTypes) {
  Graph g;
  Node x = g.parameter("x", DType::F64, {3});
  Node y = Convert(Convert(x, DType::F32) * Convert(x, DType::F32), DType::F64);
  g.set_outputs({Gradient(ReduceSum(y), x)});
  auto out = cpu_backend()->compile(g)->run({Tensor({0.5, -1.25, 2.0})})[0];
  EXPECT_EQ(out.dtype(), DType::F64);
  EXPECT_EQ(out.to_vector<double>(), (std::vector<double>{1.0, -2.5, 4.0}));
}

TEST(ElementwiseGrad, ConvertToIntegerHasNoGradient) {
  EXPECT_GRADIENTS({random_tensor({4}, 2, 0.1, 3)}, [](N p) {
    return Convert(Convert(p[0] * 2.0, DType::I32), DType::F64) + p[0];
  });
}

TEST(ElementwiseGrad, StopGradientBlocks) {
  Graph g;
  Node x = g.parameter("x", DType::F64, {3});
  Node y = ReduceSum(x * StopGradient(x));  // d/dx = stop(x)
  g.set_outputs({Gradient(y, x)});
  auto out = cpu_backend()->compile(g)->run({Tensor({0.5, -1.0, 2.0})})[0];
  EXPECT_EQ(out.to_vector<double>(), (std::vector<double>{0.5, -1.0, 2.0}));
}

}  // namespace
}  // namespace graft
