// Finite-difference checks of the layout gradient rules.
#include "grad_check.h"

namespace graft {
namespace {

using testing::check_gradients;
using testing::random_tensor;
using N = const std::vector<Node>&;

TEST(LayoutGrad, BroadcastInDim) {
  EXPECT_GRADIENTS({random_tensor({3, 1}, 1)},
                              [](N p) { return BroadcastInDim(p[0], Shape{2, 3, 4}, {1, 2}); });
  EXPECT_GRADIENTS({random_tensor({3}, 2)}, [](N p) { return BroadcastTo(p[0], Shape{2, 3}); });
  EXPECT_GRADIENTS({random_tensor({}, 3)}, [](N p) { return BroadcastTo(p[0], Shape{2, 2}); });
}

TEST(LayoutGrad, ReshapeTransposeSqueeze) {
  EXPECT_GRADIENTS({random_tensor({2, 3, 4}, 1)}, [](N p) {
    return Transpose(Reshape(p[0], {4, -1, 2}), {2, 0, -2});
  });
  EXPECT_GRADIENTS({random_tensor({2, 1, 3}, 2)}, [](N p) { return ExpandDims(Squeeze(p[0], {1}), -1); });
}

TEST(LayoutGrad, SliceWithStrides) {
  EXPECT_GRADIENTS({random_tensor({5, 7}, 1)}, [](N p) { return Slice(p[0], {1, 0}, {5, 7}, {2, 3}); });
  EXPECT_GRADIENTS({random_tensor({6, 4}, 2)}, [](N p) { return Slice(p[0], {0, 1}, {6, 3}); });
}

TEST(LayoutGrad, SliceAxisNegativeStep) {
  EXPECT_GRADIENTS({random_tensor({3, 8}, 3)}, [](N p) { return SliceAxis(p[0], -1, -2, 0, -3); });
  EXPECT_GRADIENTS({random_tensor({3, 8}, 4)}, [](N p) { return SliceAxis(p[0], 0, -2, std::nullopt); });
}

TEST(LayoutGrad, ConcatenateNegativeAxis) {
  EXPECT_GRADIENTS({random_tensor({2, 3}, 1), random_tensor({2, 1}, 2), random_tensor({2, 2}, 3)},
                              [](N p) { return Concatenate({p[0], p[1], p[2], p[0]}, -1); });
}

TEST(LayoutGrad, Reverse) {
  EXPECT_GRADIENTS({random_tensor({2, 3, 2}, 1)}, [](N p) { return Reverse(p[0], {0, -1}); });
}

TEST(LayoutGrad, PadConstantWithValueAndCrop) {
  EXPECT_GRADIENTS({random_tensor({3, 4}, 1), random_tensor({}, 2)}, [](N p) {
    return Pad(p[0], {1, -1}, {2, 1}, PadMode::Constant, p[1]);
  });
}

class PadModeGrad : public ::testing::TestWithParam<PadMode> {};

TEST_P(PadModeGrad, MatchesFiniteDifferences) {
  PadMode m = GetParam();
  EXPECT_GRADIENTS({random_tensor({4, 5}, 1)}, [m](N p) { return Pad(p[0], {2, 3}, {3, 1}, m); });
  EXPECT_GRADIENTS({random_tensor({2, 6}, 2)}, [m](N p) { return Pad(p[0], {0, 1}, {1, 0}, m); });
  if (m != PadMode::Reflect)  // reflect needs pads shorter than the axis
    EXPECT_GRADIENTS({random_tensor({3}, 3)}, [m](N p) { return Pad(p[0], {7}, {5}, m); });
  EXPECT_GRADIENTS({random_tensor({5}, 4)}, [m](N p) { return Pad(p[0], {-1}, {3}, m); });
}

INSTANTIATE_TEST_SUITE_P(All, PadModeGrad, ::testing::Values(PadMode::Reflect, PadMode::Edge, PadMode::Wrap),
                         [](const auto& info) {
                           switch (info.param) {
                             case PadMode::Reflect: return std::string("Reflect");
                             case PadMode::Edge: return std::string("Edge");
                             default: return std::string("Wrap");
                           }
                         });

TEST(LayoutGrad, DynamicSliceIntegerStartsGetNoGradient) {
  Tensor i0 = Tensor::scalar<int64_t>(1), i1 = Tensor::scalar<int64_t>(5);  // 5 clamps to 2
  EXPECT_GRADIENTS({random_tensor({4, 5}, 1), i0, i1},
                              [](N p) { return DynamicSlice(p[0], {p[1], p[2]}, {2, 3}); });
}

TEST(LayoutGrad, DynamicUpdateSlice) {
  Tensor i0 = Tensor::scalar<int32_t>(2), i1 = Tensor::scalar<int32_t>(1);
  EXPECT_GRADIENTS({random_tensor({4, 5}, 1), random_tensor({2, 3}, 2), i0, i1},
                              [](N p) { return DynamicUpdateSlice(p[0], p[1] * p[1], {p[2], p[3]}); });
}

}  // namespace
}  // namespace graft
