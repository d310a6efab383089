// The mapping of graft's row-major strided products onto cuBLASLt's column-major GEMM (gemm.h), checked
// without a GPU: cuBLASLt's documented semantics (D = op(A) op(B), column-major, leading dimensions) are
// simulated on the host for the layouts the plan chooses, and must give the plain row-major product.
#include <gtest/gtest.h>

#include <random>

#include "backend/cuda/gemm.h"

using namespace graft;
using graft::cuda::GemmLayout;
using graft::cuda::GemmSpec;

namespace {

// Column-major element (r, c) of a stored matrix, read through op (transposed or not).
double op_at(const std::vector<double>& mem, int64_t base, bool trans, int64_t ld, int64_t r, int64_t c) {
  return trans ? mem[size_t(base + c + r * ld)] : mem[size_t(base + r + c * ld)];
}

// A [m][k] and B [k][n] with the given strides (one of each operand's two strides 1), both orders.
void check(int64_t batch, int64_t m, int64_t n, int64_t k, bool a_col, bool b_col, std::mt19937& rng) {
  GemmSpec s;
  s.batch = batch, s.m = m, s.n = n, s.k = k;
  s.a_m = a_col ? 1 : k, s.a_k = a_col ? m : 1, s.a_b = m * k;
  s.b_k = b_col ? 1 : n, s.b_n = b_col ? k : 1, s.b_b = k * n;
  s.c_b = m * n;
  const GemmLayout l = cuda::gemm_layout(s);
  ASSERT_TRUE(l.ok);
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<double> A(size_t(batch * m * k)), B(size_t(batch * k * n));
  for (auto& v : A) v = u(rng);
  for (auto& v : B) v = u(rng);
  // Stored matrices have as many rows as op needs (op(P) is n x k, op(Q) is k x m).
  EXPECT_EQ(l.trans_p ? l.p_cols : l.p_rows, uint64_t(n));
  EXPECT_EQ(l.trans_q ? l.q_cols : l.q_rows, uint64_t(k));
  EXPECT_GE(l.ld_p, int64_t(l.p_rows));
  EXPECT_GE(l.ld_q, int64_t(l.q_rows));
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double want = 0, got = 0;
        for (int64_t kk = 0; kk < k; ++kk) {
          want += A[size_t(b * s.a_b + i * s.a_m + kk * s.a_k)] * B[size_t(b * s.b_b + kk * s.b_k + j * s.b_n)];
          // D(j, i) = sum op(P)(j, kk) * op(Q)(kk, i), P = B's memory, Q = A's.
          got += op_at(B, b * s.b_b, l.trans_p, l.ld_p, j, kk) * op_at(A, b * s.a_b, l.trans_q, l.ld_q, kk, i);
        }
        ASSERT_NEAR(got, want, 1e-12) << "b=" << b << " i=" << i << " j=" << j << " a_col=" << a_col << " b_col=" << b_col;
      }
}

}  // namespace

TEST(GemmLayout, ColumnMajorPlanComputesTheRowMajorProduct) {
  std::mt19937 rng(7);
  for (bool a_col : {false, true})
    for (bool b_col : {false, true})
      for (auto [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{3, 5, 4}, {1, 7, 3}, {6, 1, 2}, {4, 3, 1}, {1, 1, 5}}) {
        SCOPED_TRACE(testing::Message() << m << "x" << n << "x" << k);
        check(2, m, n, k, a_col, b_col, rng);
      }
}

TEST(GemmLayout, OperandsWithoutAUnitStrideAreRefused) {
  GemmSpec s;
  s.m = 4, s.n = 4, s.k = 4;
  s.a_m = 8, s.a_k = 2;  // every other element: must be copied first
  s.b_k = 4, s.b_n = 1;
  EXPECT_FALSE(cuda::gemm_layout(s).ok);
}
