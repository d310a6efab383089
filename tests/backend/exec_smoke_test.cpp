#include <gtest/gtest.h>

#include "graft/graft.h"

using namespace graft;

TEST(ExecSmoke, MatMulPlusOne) {
  auto f = Exec(cpu_backend(), [](Node x, Node y) { return MatMul(x, y) + 1.0; });
  Tensor a{{1.f, 2.f}, {3.f, 4.f}};
  Tensor b{{5.f, 6.f}, {7.f, 8.f}};
  Tensor c = f(a, b);
  EXPECT_EQ(c.shape(), (Shape{2, 2}));
  EXPECT_FLOAT_EQ((c.at<float>({0, 0})), 1 * 5 + 2 * 7 + 1);
  EXPECT_FLOAT_EQ((c.at<float>({1, 1})), 3 * 6 + 4 * 8 + 1);
}
