// Finite-difference checks of Gather / Scatter gradient rules (and the NumPy-style helpers on them).
// Index operands are graph inputs of integer type: they must get a zero gradient, not an error.
#include "grad_check.h"

namespace graft {
namespace {

using testing::indices;
using testing::random_tensor;
using N = const std::vector<Node>&;

TEST(IndexingGrad, TakeWithRepeatsAndNegativeIndices) {
  EXPECT_GRADIENTS({random_tensor({4, 3}, 1), indices({2, -1, 0, 2, 3}, Shape{5})},
                   [](N p) { return Take(p[0], p[1], 0); });
  EXPECT_GRADIENTS({random_tensor({2, 4, 3}, 2), indices({1, 1, 3, 0}, Shape{2, 2})},
                   [](N p) { return Take(p[0], p[1], -2); });
}

TEST(IndexingGrad, TakeAlongAxis) {
  EXPECT_GRADIENTS({random_tensor({3, 4}, 1), indices({0, 3, 3, 1, 1, 1, 2, 0, -1}, Shape{3, 3})},
                   [](N p) { return TakeAlongAxis(p[0], p[1], 1); });
}

TEST(IndexingGrad, GatherWithWindows) {
  // Slices of 2 rows x 2 columns at (row, col) starts.
  GatherAttrs a;
  a.offset_dims = {1, 2};
  a.start_index_map = {0, 1};
  a.slice_sizes = {2, 2};
  a.index_vector_dim = 1;
  EXPECT_GRADIENTS({random_tensor({4, 5}, 1), indices({0, 0, 2, 3, 1, 1}, Shape{3, 2})},
                   [a](N p) { return Gather(p[0], p[1], a); });
}

TEST(IndexingGrad, ScatterAddAndReplace) {
  Tensor idx = indices({2, 0, 2}, Shape{3});
  EXPECT_GRADIENTS({random_tensor({4, 2}, 1), idx, random_tensor({3, 2}, 2)}, [](N p) {
    Node coords = Reshape(p[1], {3, 1});
    ScatterAttrs s;
    s.update_window_dims = {1};
    s.inserted_window_dims = {0};
    s.scatter_dims_to_operand_dims = {0};
    s.index_vector_dim = 1;
    s.combiner = ReduceOp::Sum;
    return Scatter(p[0], coords, p[2] * p[2], s);
  });
  // Replace with distinct indices (with repeats only one update lands; see docs/autodiff.md).
  EXPECT_GRADIENTS({random_tensor({3, 4}, 3), indices({3, 0, 1, 2, 2, 0}, Shape{3, 2}), random_tensor({3, 2}, 4)},
                   [](N p) { return ScatterAlongAxis(p[0], p[1], p[2], 1, ReduceOp::Replace); });
  EXPECT_GRADIENTS({random_tensor({3, 4}, 5), indices({3, 3, 1, 2, 2, 0}, Shape{3, 2}), random_tensor({3, 2}, 6)},
                   [](N p) { return ScatterAlongAxis(p[0], p[1], p[2], 1, ReduceOp::Sum); });
}

}  // namespace
}  // namespace graft
