// Finite-difference checks of Sort, TopK, ReduceWindow (pooling) and Convolution gradient rules.
#include "grad_check.h"

namespace graft {
namespace {

using testing::random_tensor;
using N = const std::vector<Node>&;

TEST(SortGrad, SortValuesAndCarriedOperand) {
  EXPECT_GRADIENTS({random_tensor({3, 5}, 1)}, [](N p) { return Sort({p[0]}, -1)[0]; });
  EXPECT_GRADIENTS({random_tensor({4, 3}, 2)}, [](N p) { return Sort({p[0]}, 0, /*descending=*/true)[0]; });
  // Sorting a second operand by the first: both get the permuted cotangent.
  EXPECT_GRADIENTS({random_tensor({2, 4}, 3), random_tensor({2, 4}, 4)}, [](N p) {
    auto s = Sort({p[0], p[1]}, 1);
    return s[0] * s[1];
  });
}

TEST(SortGrad, TopK) {
  EXPECT_GRADIENTS({random_tensor({3, 6}, 1)}, [](N p) { return TopK(p[0], 3, -1, true).first; });
  EXPECT_GRADIENTS({random_tensor({5, 2}, 2)}, [](N p) { return TopK(p[0], 2, 0, false).first; });
}

TEST(WindowGrad, MaxPool) {
  EXPECT_GRADIENTS({random_tensor({1, 2, 5, 5}, 1)}, [](N p) { return MaxPool(p[0], {2, 2}, {2, 2}); });
  EXPECT_GRADIENTS({random_tensor({2, 1, 6, 5}, 2)},
                   [](N p) { return MaxPool(p[0], {3, 2}, {2, 1}, {1, 0}, {1, 1}, {1, 2}); });
  EXPECT_GRADIENTS({random_tensor({1, 1, 7}, 3)}, [](N p) {
    ReduceWindowAttrs a;
    a.op = ReduceOp::Min;
    a.window = {1, 1, 3};
    a.strides = {1, 1, 2};
    a.pad_low = {0, 0, 1};
    a.pad_high = {0, 0, 1};
    return ReduceWindow(p[0], a);
  });
}

TEST(WindowGrad, AvgPoolAndWindowSum) {
  EXPECT_GRADIENTS({random_tensor({1, 2, 5, 4}, 1)}, [](N p) { return AvgPool(p[0], {2, 2}, {1, 2}); });
  EXPECT_GRADIENTS({random_tensor({1, 1, 5, 5}, 2)},
                   [](N p) { return AvgPool(p[0], {3, 3}, {2, 2}, {1, 1}, {1, 1}, /*count_include_pad=*/false); });
  EXPECT_GRADIENTS({random_tensor({1, 1, 5, 5}, 3)},
                   [](N p) { return AvgPool(p[0], {3, 3}, {2, 2}, {1, 1}, {1, 1}, /*count_include_pad=*/true); });
  EXPECT_GRADIENTS({random_tensor({3, 8}, 4)}, [](N p) {
    ReduceWindowAttrs a;
    a.op = ReduceOp::Sum;
    a.window = {2, 3};
    a.strides = {1, 2};
    a.dilations = {1, 2};
    a.pad_low = {1, 0};
    a.pad_high = {0, 2};
    return ReduceWindow(p[0], a);
  });
}

struct ConvCase {
  const char* name;
  Shape x, w;
  ConvolutionAttrs attrs;
};

void PrintTo(const ConvCase& c, std::ostream* os) { *os << c.name; }

class ConvGrad : public ::testing::TestWithParam<ConvCase> {};

TEST_P(ConvGrad, MatchesFiniteDifferences) {
  const ConvCase& c = GetParam();
  ConvolutionAttrs a = c.attrs;
  EXPECT_GRADIENTS({random_tensor(c.x, 1), random_tensor(c.w, 2)}, [a](N p) { return Convolution(p[0], p[1], a); });
}

ConvolutionAttrs conv(std::vector<int64_t> strides, std::vector<int64_t> dil, std::vector<int64_t> lo,
                      std::vector<int64_t> hi, int64_t groups = 1, bool transposed = false,
                      std::vector<int64_t> out_pad = {}) {
  ConvolutionAttrs a;
  a.strides = strides, a.dilations = dil, a.pad_low = lo, a.pad_high = hi, a.groups = groups;
  a.transposed = transposed, a.output_padding = out_pad;
  return a;
}

INSTANTIATE_TEST_SUITE_P(
    All, ConvGrad,
    ::testing::Values(ConvCase{"Plain1d", {2, 3, 7}, {4, 3, 3}, conv({1}, {1}, {0}, {0})},
                      ConvCase{"Strided2dPadded", {1, 2, 6, 5}, {3, 2, 3, 2}, conv({2, 2}, {1, 1}, {1, 0}, {1, 1})},
                      ConvCase{"Dilated2d", {1, 2, 7, 6}, {2, 2, 2, 3}, conv({1, 2}, {2, 1}, {0, 2}, {1, 0})},
                      ConvCase{"Grouped2d", {2, 4, 5, 5}, {6, 2, 3, 3}, conv({1, 1}, {1, 1}, {1, 1}, {1, 1}, 2)},
                      ConvCase{"Depthwise1d", {1, 3, 8}, {3, 1, 3}, conv({2}, {2}, {2}, {1}, 3)},
                      ConvCase{"Transposed1d", {2, 3, 4}, {3, 2, 3}, conv({2}, {1}, {1}, {0}, 1, true, {1})},
                      ConvCase{"Transposed2dGrouped", {1, 4, 3, 3}, {4, 1, 2, 3},
                               conv({2, 1}, {1, 2}, {0, 1}, {1, 0}, 2, true, {0, 0})}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace graft
