#pragma once
// C = A · B for the small f32 products inside one attention head (scores Q·K^T with K of a few dozen, and
// probabilities · V with N of a few dozen). Register tiles of 6 rows x 32 columns: alone on one core
// MiniLM's [128 x 32] x [32 x 128] and [128 x 128] x [128 x 32] heads run at 165 and 135 GFLOPS
// (docs/performance.md, session 23).
#include <cstdint>

namespace graft::cpu {

// C[i][j] = sum_k A[i][k] * B[k][j] for i < m, j < n, k < kk; rows of A, B and C start lda, ldb and ldc
// floats apart, and each row is contiguous. C is overwritten (with zeros when kk == 0).
void small_gemm(int64_t m, int64_t n, int64_t kk, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                int64_t ldc);

}  // namespace graft::cpu
