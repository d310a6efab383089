#pragma once
// Batched matrix products through cuBLASLt, planned once. graft's products are row-major
// C[b][m][n] = A[b][m][k] * B[b][k][n] with each operand a strided view (one of its two matrix strides 1);
// cuBLASLt is column-major, so the plan computes C^T = B^T A^T, which reads the same memory.
#include <cublasLt.h>

#include <memory>
#include <string>

#include "backend/cuda/runtime.h"

namespace graft::cuda {

struct GemmSpec {
  int64_t batch = 1, m = 1, n = 1, k = 1;
  // Element strides: A(b, i, kk) at b*a_b + i*a_m + kk*a_k; B(b, kk, j) at b*b_b + kk*b_k + j*b_n; C is dense
  // [m][n] per batch, batches c_b apart.
  int64_t a_b = 0, a_m = 0, a_k = 0, b_b = 0, b_k = 0, b_n = 0, c_b = 0;
  DType ab = DType::F32;  // A and B (f16, bf16 or f32)
  DType c = DType::F32;   // C (f32, or ab)
  bool tf32 = false;      // f32 products on TF32 tensor cores
  // Byte alignment the plan may assume of the A, B and C pointers (256 for arena buffers).
  int align_a = 256, align_b = 256, align_c = 256;
};

// How a GemmSpec maps onto cuBLASLt's column-major D (n x m, ld n) = op(P) (n x k) * op(Q) (k x m), where P
// is B's memory and Q is A's: each stored as a column-major matrix of rows x cols with leading dimension
// ld, transposed or not. ok is false when an operand has no unit stride (it must be copied first).
struct GemmLayout {
  bool ok = false;
  bool trans_p = false, trans_q = false;
  uint64_t p_rows = 0, p_cols = 0, q_rows = 0, q_cols = 0;
  int64_t ld_p = 0, ld_q = 0;
};
GemmLayout gemm_layout(const GemmSpec& spec);

class Gemm {
 public:
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;
  // A plan, or nullptr with the reason in *why when cuBLASLt cannot do this product (a layout with no unit
  // stride, no algorithm for these types). Needs the GPU (asks cuBLASLt's heuristics).
  static std::unique_ptr<Gemm> plan(CudaDevice& device, const GemmSpec& spec, std::string* why);
  // C = A * B, on the stream; `workspace` holds workspace_bytes().
  void run(const void* a, const void* b, void* c, void* workspace, cudaStream_t stream, const std::string& op) const;
  size_t workspace_bytes() const { return workspace_; }

 private:
  Gemm() = default;
  cublasLtHandle_t handle_ = nullptr;
  cublasLtMatmulDesc_t desc_ = nullptr;
  cublasLtMatrixLayout_t p_ = nullptr, q_ = nullptr, d_ = nullptr;  // cuBLASLt's A (our B), B (our A), D (our C)
  cublasLtMatmulAlgo_t algo_{};
  size_t workspace_ = 0;
};

// cuBLASLt's type for a graft dtype (f16, bf16, f32).
cudaDataType_t cuda_data_type(DType t);

}  // namespace graft::cuda
