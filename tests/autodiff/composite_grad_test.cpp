// Finite-difference checks of the composite gradient rules (custom ones and through-decomposition).
#include "grad_check.h"

namespace graft {
namespace {

using testing::check_gradients;
using testing::random_tensor;
using N = const std::vector<Node>&;

TEST(CompositeGrad, Softmax) {
  EXPECT_GRADIENTS({random_tensor({3, 5}, 1, -3, 3)}, [](N p) { return Softmax(p[0], -1); });
  EXPECT_GRADIENTS({random_tensor({3, 2, 4}, 2, -3, 3)}, [](N p) { return Softmax(p[0], 0); });
}

TEST(CompositeGrad, LogSoftmax) {
  EXPECT_GRADIENTS({random_tensor({3, 5}, 1, -3, 3)}, [](N p) { return LogSoftmax(p[0], -1); });
  EXPECT_GRADIENTS({random_tensor({4, 3}, 2, -3, 3)}, [](N p) { return LogSoftmax(p[0], 0); });
}

TEST(CompositeGrad, LayerNorm) {
  EXPECT_GRADIENTS({random_tensor({3, 6}, 1, -2, 2), random_tensor({6}, 2), random_tensor({6}, 3)},
                              [](N p) { return LayerNorm(p[0], p[1], p[2], -1, 1e-5); });
  EXPECT_GRADIENTS({random_tensor({2, 3, 4}, 4, -2, 2)},
                              [](N p) { return LayerNorm(p[0], std::nullopt, std::nullopt, -2, 1e-3); });
  EXPECT_GRADIENTS({random_tensor({2, 3, 4}, 5, -2, 2), random_tensor({3, 1}, 6)},
                              [](N p) { return LayerNorm(p[0], p[1], std::nullopt, 1, 1e-5); });
  EXPECT_GRADIENTS({random_tensor({2, 4}, 7, -2, 2), random_tensor({4}, 8)},
                              [](N p) { return LayerNorm(p[0], std::nullopt, p[1], -1, 1e-5); });
}

TEST(CompositeGrad, RmsNorm) {
  EXPECT_GRADIENTS({random_tensor({3, 6}, 1, -2, 2), random_tensor({6}, 2)},
                              [](N p) { return RmsNorm(p[0], p[1], -1, 1e-6); });
  EXPECT_GRADIENTS({random_tensor({2, 3, 4}, 3, -2, 2)},
                              [](N p) { return RmsNorm(p[0], std::nullopt, 1, 1e-4); });
}

TEST(CompositeGrad, Gelu) {
  EXPECT_GRADIENTS({random_tensor({2, 5}, 1, -3, 3)}, [](N p) { return Gelu(p[0], false); });
  EXPECT_GRADIENTS({random_tensor({2, 5}, 2, -3, 3)}, [](N p) { return Gelu(p[0], true); });
}

TEST(CompositeGrad, Silu) {
  EXPECT_GRADIENTS({random_tensor({2, 5}, 1, -4, 4)}, [](N p) { return Silu(p[0]); });
}

TEST(CompositeGrad, AttentionThroughDecomposition) {
  Tensor q = random_tensor({1, 2, 3, 4}, 1), k = random_tensor({1, 2, 5, 4}, 2), v = random_tensor({1, 2, 5, 4}, 3);
  EXPECT_GRADIENTS({q, k, v}, [](N p) { return ScaledDotProductAttention(p[0], p[1], p[2]); });
  EXPECT_GRADIENTS({random_tensor({2, 4, 4}, 4), random_tensor({2, 4, 4}, 5), random_tensor({2, 4, 4}, 6)},
                              [](N p) { return ScaledDotProductAttention(p[0], p[1], p[2], std::nullopt, true); });
  // Additive float mask (differentiable) and grouped-query heads (4 query heads over 2 key/value heads).
  EXPECT_GRADIENTS({random_tensor({4, 3, 2}, 7), random_tensor({2, 3, 2}, 8), random_tensor({2, 3, 2}, 9),
                               random_tensor({3, 3}, 10)},
                              [](N p) { return ScaledDotProductAttention(p[0], p[1], p[2], p[3], false, 0.7); });
}

TEST(CompositeGrad, AttentionBoolMaskAndSharedOperand) {
  Tensor mask = Tensor::from_vector(std::vector<bool>{true, false, true, true, true, false, true, true, true}, Shape{3, 3});
  EXPECT_GRADIENTS({random_tensor({2, 3, 4}, 1), mask}, [](N p) {
    return ScaledDotProductAttention(p[0], p[0], p[0], p[1]);  // self-attention on one tensor
  });
}

TEST(CompositeGrad, NormsThroughDecomposition) {
  EXPECT_GRADIENTS({random_tensor({2, 4, 3}, 1, -2, 2), random_tensor({4}, 2), random_tensor({4}, 3)},
                              [](N p) { return GroupNorm(p[0], p[1], p[2], 2); });
  EXPECT_GRADIENTS({random_tensor({2, 3, 2}, 4), random_tensor({3}, 5), random_tensor({3}, 6),
                               random_tensor({3}, 7), random_tensor({3}, 8, 0.5, 1.5)},
                              [](N p) { return BatchNormInference(p[0], p[1], p[2], p[3], p[4]); });
}

TEST(CompositeGrad, UserCompositeThroughDecomposition) {
  EXPECT_GRADIENTS({random_tensor({3, 2}, 1), random_tensor({2}, 2)}, [](N p) {
    return Composite("my_op", {p[0], p[1]}, {}, {}, [](std::span<const Node> in) {
      return std::vector<Node>{Tanh(in[0] * in[1]) + Softmax(in[0], 0)};
    });
  });
}

}  // namespace
}  // namespace graft
