#include "backend/cuda/gemm.h"

#include <algorithm>

#include "backend/cuda/check.h"

namespace graft::cuda {

namespace {

constexpr size_t kMaxWorkspace = size_t(32) << 20;  // what cuBLASLt recommends for Hopper

// One operand as cuBLASLt wants it: op(X) must equal a logical rows x cols matrix whose element (r, c) is
// at r*rs + c*cs, with X a column-major matrix (element (r, c) at r + c*ld) stored in that memory.
struct Stored {
  bool ok = false;
  bool transposed = false;  // op(X) = X^T
  uint64_t rows = 0, cols = 0;  // of X as stored
  int64_t ld = 0;
};

Stored stored(int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  if (rows == 1 || rs == 1) {  // the memory is the logical matrix, column-major: X = it, op N
    const int64_t ld = cols == 1 ? std::max<int64_t>(rows, 1) : cs;
    if (ld >= rows) return Stored{true, false, uint64_t(rows), uint64_t(cols), ld};
  }
  if (cols == 1 || cs == 1) {  // the memory is its transpose, column-major: X = cols x rows, op T
    const int64_t ld = rows == 1 ? std::max<int64_t>(cols, 1) : rs;
    if (ld >= cols) return Stored{true, true, uint64_t(cols), uint64_t(rows), ld};
  }
  return Stored{};
}

}  // namespace

GemmLayout gemm_layout(const GemmSpec& s) {
  const Stored p = stored(s.n, s.k, s.b_n, s.b_k);  // B^T: element (j, kk) at j*b_n + kk*b_k
  const Stored q = stored(s.k, s.m, s.a_k, s.a_m);  // A^T: element (kk, i) at kk*a_k + i*a_m
  GemmLayout l;
  l.ok = p.ok && q.ok;
  l.trans_p = p.transposed, l.trans_q = q.transposed;
  l.p_rows = p.rows, l.p_cols = p.cols, l.q_rows = q.rows, l.q_cols = q.cols;
  l.ld_p = p.ld, l.ld_q = q.ld;
  return l;
}

cudaDataType_t cuda_data_type(DType t) {
  switch (t) {
    case DType::F16: return CUDA_R_16F;
    case DType::BF16: return CUDA_R_16BF;
    case DType::F64: return CUDA_R_64F;
    default: return CUDA_R_32F;
  }
}

Gemm::~Gemm() {
  if (desc_) cublasLtMatmulDescDestroy(desc_);
  if (p_) cublasLtMatrixLayoutDestroy(p_);
  if (q_) cublasLtMatrixLayoutDestroy(q_);
  if (d_) cublasLtMatrixLayoutDestroy(d_);
}

std::unique_ptr<Gemm> Gemm::plan(CudaDevice& device, const GemmSpec& s, std::string* why) {
  auto no = [&](std::string reason) -> std::unique_ptr<Gemm> {
    if (why) *why = std::move(reason);
    return nullptr;
  };
  if (s.ab != DType::F32 && s.ab != DType::F16 && s.ab != DType::BF16) return no("operand type");
  if (s.c != DType::F32 && s.c != s.ab) return no("result type");
  const GemmLayout l = gemm_layout(s);
  if (!l.ok) return no("operand layout without a unit stride");
  std::unique_ptr<Gemm> g(new Gemm());
  g->handle_ = device.blas();
  const cublasComputeType_t compute =
      s.ab == DType::F32 && s.tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  GRAFT_CUBLAS(cublasLtMatmulDescCreate(&g->desc_, compute, CUDA_R_32F), "creating a matmul descriptor");
  const cublasOperation_t op_p = l.trans_p ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_q = l.trans_q ? CUBLAS_OP_T : CUBLAS_OP_N;
  GRAFT_CUBLAS(cublasLtMatmulDescSetAttribute(g->desc_, CUBLASLT_MATMUL_DESC_TRANSA, &op_p, sizeof op_p), "");
  GRAFT_CUBLAS(cublasLtMatmulDescSetAttribute(g->desc_, CUBLASLT_MATMUL_DESC_TRANSB, &op_q, sizeof op_q), "");
  const cudaDataType_t ab = cuda_data_type(s.ab), c = cuda_data_type(s.c);
  GRAFT_CUBLAS(cublasLtMatrixLayoutCreate(&g->p_, ab, l.p_rows, l.p_cols, l.ld_p), "creating a matrix layout");
  GRAFT_CUBLAS(cublasLtMatrixLayoutCreate(&g->q_, ab, l.q_rows, l.q_cols, l.ld_q), "creating a matrix layout");
  GRAFT_CUBLAS(cublasLtMatrixLayoutCreate(&g->d_, c, uint64_t(s.n), uint64_t(s.m), s.n), "creating a matrix layout");
  if (s.batch > 1) {
    const int32_t count = int32_t(s.batch);
    const int64_t sp = s.b_b, sq = s.a_b, sd = s.c_b;
    for (auto [layout, stride] : {std::pair{g->p_, sp}, std::pair{g->q_, sq}, std::pair{g->d_, sd}}) {
      GRAFT_CUBLAS(cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof count), "");
      GRAFT_CUBLAS(cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride,
                                                    sizeof stride),
                   "");
    }
  }
  cublasLtMatmulPreference_t pref;
  GRAFT_CUBLAS(cublasLtMatmulPreferenceCreate(&pref), "creating a matmul preference");
  size_t max_ws = kMaxWorkspace;
  const uint32_t al_p = uint32_t(s.align_b), al_q = uint32_t(s.align_a), al_d = uint32_t(s.align_c);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &max_ws, sizeof max_ws);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_p, sizeof al_p);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_q, sizeof al_q);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_d, sizeof al_d);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_d, sizeof al_d);
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(g->handle_, g->desc_, g->p_, g->q_, g->d_, g->d_, pref, 1, &result,
                                                     &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (st != CUBLAS_STATUS_SUCCESS || found == 0)
    return no(std::string("no cuBLASLt algorithm (") + cublasLtGetStatusName(st) + ")");
  g->algo_ = result.algo;
  g->workspace_ = result.workspaceSize;
  return g;
}

void Gemm::run(const void* a, const void* b, void* c, void* workspace, cudaStream_t stream, const std::string& op) const {
  const float one = 1.0f, zero = 0.0f;
  GRAFT_CUBLAS(cublasLtMatmul(handle_, desc_, &one, b, p_, a, q_, &zero, c, d_, c, d_, &algo_, workspace, workspace_, stream),
               op, ": the matrix product");
}

}  // namespace graft::cuda
