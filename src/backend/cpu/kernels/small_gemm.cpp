#include "backend/cpu/kernels/small_gemm.h"

#include "backend/cpu/vec16.h"

namespace graft::cpu {

namespace {

// An R x (16 NV) block of C in registers: each step of k broadcasts R values of A's column k against NV
// vectors of B's row k. With Part (NV == 1), only the first `cols` (< 16) columns are read and written.
template <int R, int NV, bool Part>
GRAFT_INLINE void block(int64_t kk, const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc,
                        int64_t cols) {
  v16 acc[R][NV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = v16{};
  for (int64_t k = 0; k < kk; ++k) {
    v16 bv[NV];
    const float* brow = b + k * ldb;
    for (int v = 0; v < NV; ++v) bv[v] = Part ? load16_part(brow, cols) : load16(brow + 16 * v);
    for (int r = 0; r < R; ++r) {
      const float x = a[r * lda + k];
      for (int v = 0; v < NV; ++v) acc[r][v] += x * bv[v];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) {
      if (Part)
        store16_part(c + r * ldc, acc[r][v], cols);
      else
        store16(c + r * ldc + 16 * v, acc[r][v]);
    }
}

// All rows of one column strip: blocks of 6 rows, then one at a time.
template <int NV, bool Part = false>
GRAFT_INLINE void strip(int64_t m, int64_t kk, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                        int64_t ldc, int64_t cols) {
  constexpr int R = 6;
  int64_t i = 0;
  for (; i + R <= m; i += R) block<R, NV, Part>(kk, a + i * lda, lda, b, ldb, c + i * ldc, ldc, cols);
  for (; i < m; ++i) block<1, NV, Part>(kk, a + i * lda, lda, b, ldb, c + i * ldc, ldc, cols);
}

}  // namespace

GRAFT_CLONES void small_gemm(int64_t m, int64_t n, int64_t kk, const float* a, int64_t lda, const float* b,
                             int64_t ldb, float* c, int64_t ldc) {
  int64_t j = 0;
  for (; j + 32 <= n; j += 32) strip<2>(m, kk, a, lda, b + j, ldb, c + j, ldc, 32);
  for (; j + 16 <= n; j += 16) strip<1>(m, kk, a, lda, b + j, ldb, c + j, ldc, 16);
  if (j < n) strip<1, true>(m, kk, a, lda, b + j, ldb, c + j, ldc, n - j);
}

}  // namespace graft::cpu
