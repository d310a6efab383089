// small_gemm (backend/cpu/kernels/small_gemm.h), the products inside fused attention heads: every blocking
// path (strips of 32 and 16 columns, a partial strip, blocks of 6 rows and single rows, K of 0) against a
// double-precision loop, with padded row strides so that a read past a row would show.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "backend/cpu/kernels/small_gemm.h"

namespace graft::cpu {
namespace {

void check(int64_t m, int64_t n, int64_t k) {
  SCOPED_TRACE(::testing::Message() << "m " << m << " n " << n << " k " << k);
  const int64_t lda = k + 3, ldb = n + 5, ldc = n + 7;
  std::mt19937 rng(uint32_t(m * 1000003 + n * 1009 + k));
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> a(size_t(m * lda + 1)), b(size_t(k * ldb + 1));
  for (float& x : a) x = u(rng);
  for (float& x : b) x = u(rng);
  // The padding between rows holds NaN: a kernel that reads it poisons its result.
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = k; j < lda; ++j) a[size_t(i * lda + j)] = NAN;
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = n; j < ldb; ++j) b[size_t(i * ldb + j)] = NAN;
  const float sentinel = 12345.f;
  std::vector<float> c(size_t(m * ldc + 1), sentinel);
  small_gemm(m, n, k, a.data(), lda, b.data(), ldb, c.data(), ldc);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double want = 0, scale = 0;
      for (int64_t p = 0; p < k; ++p) {
        want += double(a[size_t(i * lda + p)]) * double(b[size_t(p * ldb + j)]);
        scale += std::fabs(double(a[size_t(i * lda + p)]) * double(b[size_t(p * ldb + j)]));
      }
      ASSERT_NEAR(c[size_t(i * ldc + j)], want, 1e-6 * (scale + 1)) << "at " << i << ", " << j;
    }
    for (int64_t j = n; j < ldc && i * ldc + j < int64_t(c.size()); ++j)
      ASSERT_EQ(c[size_t(i * ldc + j)], sentinel) << "wrote past row " << i << " at column " << j;
  }
}

TEST(SmallGemm, EveryBlockingPathMatchesDoubleLoops) {
  for (int64_t m : {1, 5, 6, 7, 13, 128})
    for (int64_t n : {1, 15, 16, 17, 32, 45, 48, 64, 130})
      for (int64_t k : {0, 1, 8, 32, 64, 129}) check(m, n, k);
}

}  // namespace
}  // namespace graft::cpu
