// DotGeneral. Axes are grouped into a batched product [B, M, K] x [B, K, N]; operands whose axes cannot be
// grouped into single strides are first copied into that order. f16/bf16/f32 products go to cuBLASLt
// (f32 stays f32 unless CompileOptions::allow_tf32; with a bf16/f16 precision policy f32 operands are
// rounded to 16 bits first and accumulate in f32); f64, integer products, and layouts cuBLASLt declines
// run a plain kernel (double or wrapping 64-bit accumulation).
#include <algorithm>

#include "backend/cuda/check.h"
#include "backend/cuda/gemm.h"
#include "backend/cuda/kernel.h"
#include "backend/cuda/kernels/launch.h"

namespace graft::cuda {

namespace {

size_t align256(size_t n) { return (n + 255) / 256 * 256; }

// The axes `axes` of a tensor as one axis: its extent, and its stride, or -1 when they are not evenly
// strided (then the operand is copied).
int64_t group_stride(const std::vector<int64_t>& axes, const Shape& s, const std::vector<int64_t>& st, int64_t* extent) {
  *extent = 1;
  std::vector<int64_t> kept;
  for (int64_t a : axes) {
    *extent *= s[int(a)];
    if (s[int(a)] != 1) kept.push_back(a);
  }
  if (kept.empty()) return 1;
  for (size_t i = 0; i + 1 < kept.size(); ++i)
    if (st[size_t(kept[i])] != st[size_t(kept[i + 1])] * s[int(kept[i + 1])]) return -1;
  return st[size_t(kept.back())];
}

// One operand as [b, x, y] with element strides; `copy` when it must first be copied into that order.
struct OperandView {
  int64_t b = 1, x = 1, y = 1, sb = 0, sx = 0, sy = 0;
  bool copy = false;
  StridedCopy plan;
};

OperandView make_view(const Shape& s, const std::vector<int64_t>& batch, const std::vector<int64_t>& xs,
                      const std::vector<int64_t>& ys, const std::string& op) {
  OperandView v;
  const std::vector<int64_t> st = s.strides();
  v.sb = group_stride(batch, s, st, &v.b);
  v.sx = group_stride(xs, s, st, &v.x);
  v.sy = group_stride(ys, s, st, &v.y);
  if (v.sb < 0 || v.sx < 0 || v.sy < 0) {
    v.copy = true;
    std::vector<int64_t> dims, src;
    for (const auto* g : {&batch, &xs, &ys})
      for (int64_t a : *g) {
        dims.push_back(s[int(a)]);
        src.push_back(st[size_t(a)]);
      }
    GRAFT_CHECK(int(dims.size()) <= kMaxRank, op, ": rank ", dims.size(), " exceeds the CUDA backend's ", kMaxRank);
    const std::vector<int64_t> dst = strides_of(dims);
    v.plan.rank = int(dims.size());
    v.plan.count = s.size();
    for (size_t i = 0; i < dims.size(); ++i) {
      v.plan.dims[i] = dims[i];
      v.plan.src_strides[i] = src[i];
      v.plan.dst_strides[i] = dst[i];
    }
    v.sb = v.x * v.y, v.sx = v.y, v.sy = 1;
  }
  if (v.b == 1) v.sb = 0;
  return v;
}

std::vector<int64_t> free_axes(int rank, const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  std::vector<int64_t> out;
  for (int i = 0; i < rank; ++i)
    if (std::find(a.begin(), a.end(), i) == a.end() && std::find(b.begin(), b.end(), i) == b.end()) out.push_back(i);
  return out;
}

bool cublas_type(DType t) { return t == DType::F16 || t == DType::BF16 || t == DType::F32; }

class DotKernel final : public Kernel {
 public:
  explicit DotKernel(const KernelArgs& a) : name_(a.describe()) {
    const auto& d = std::get<DotGeneralAttrs>(a.op.attrs);
    GRAFT_CHECK(!d.has_bias && d.epilogue == Epilogue::None, name_,
                ": bias/activation epilogues are set by the CPU backend's own passes, not in graphs given to the CUDA backend");
    const Shape& ls = a.inputs[0].shape;
    const Shape& rs = a.inputs[1].shape;
    lt_ = a.inputs[0].dtype, rt_ = a.inputs[1].dtype, ot_ = a.outputs[0].dtype;
    lv_ = make_view(ls, d.lhs_batch, free_axes(ls.rank(), d.lhs_batch, d.lhs_contract), d.lhs_contract, name_);
    rv_ = make_view(rs, d.rhs_batch, d.rhs_contract, free_axes(rs.rank(), d.rhs_batch, d.rhs_contract), name_);
    B_ = lv_.b, M_ = lv_.x, K_ = lv_.y, N_ = rv_.y;
    out_bytes_ = size_t(B_ * M_ * N_) * dtype_size(ot_);
    l_elems_ = ls.size(), r_elems_ = rs.size();
    if (B_ * M_ * N_ == 0 || K_ == 0) return;  // nothing, or zeros
    // Workspace: operand copies, 16-bit copies (autocast), an f32 result to narrow, cuBLASLt's scratch.
    if (lv_.copy) l_copy_ = take(size_t(l_elems_) * dtype_size(lt_));
    if (rv_.copy) r_copy_ = take(size_t(r_elems_) * dtype_size(rt_));
    bool use_blas = lt_ == rt_ && cublas_type(lt_) && (ot_ == lt_ || cublas_type(ot_));
    DType ab = lt_;
    const Precision prec = a.ctx.options().precision;
    if (use_blas && lt_ == DType::F32 && prec != Precision::F32) {
      ab = prec == Precision::BF16 ? DType::BF16 : DType::F16;
      autocast_ = true;
      half_ = int(ab);
      const Tensor* w = a.constant(1);
      if (w && !rv_.copy) {  // constant weights: rounded once, here
        const void* src = a.ctx.device().constant(*w)->data();
        void* dst = a.ctx.allocate(size_t(r_elems_) * dtype_size(ab));
        check_launch(launch_convert_float(src, int(DType::F32), dst, int(ab), r_elems_, nullptr), name_,
                     "rounding constant weights");
        GRAFT_CUDA(cudaStreamSynchronize(nullptr), name_, ": rounding constant weights");
        r_converted_ = dst;
      } else {
        r_half_ = take(size_t(r_elems_) * dtype_size(ab));
      }
      l_half_ = take(size_t(l_elems_) * dtype_size(ab));
    }
    if (use_blas) {
      const DType c = (ot_ == ab || ot_ == DType::F32) ? ot_ : DType::F32;
      if (c != ot_) f32_out_ = take(size_t(B_ * M_ * N_) * sizeof(float));
      GemmSpec s;
      s.batch = B_, s.m = M_, s.n = N_, s.k = K_;
      s.a_b = lv_.sb, s.a_m = lv_.sx, s.a_k = lv_.sy;
      s.b_b = rv_.sb, s.b_k = rv_.sx, s.b_n = rv_.sy;
      s.c_b = M_ * N_;
      s.ab = ab, s.c = c;
      s.tf32 = a.ctx.options().allow_tf32;
      std::string why;
      gemm_ = Gemm::plan(a.ctx.device(), s, &why);
      if (gemm_) {
        gemm_ws_ = take(gemm_->workspace_bytes());
        variant_ = "cuBLASLt";
      } else {
        variant_ = "plain kernel (" + why + ")";
        autocast_ = false;  // the plain kernel reads the f32 operands as they are
      }
    } else {
      variant_ = "plain kernel";
    }
    if (!gemm_) {
      p_.B = B_, p_.M = M_, p_.N = N_, p_.K = K_;
      p_.a_b = lv_.sb, p_.a_m = lv_.sx, p_.a_k = lv_.sy;
      p_.b_b = rv_.sb, p_.b_k = rv_.sx, p_.b_n = rv_.sy;
      p_.lhs_dtype = int(lt_), p_.rhs_dtype = int(rt_), p_.out_dtype = int(ot_);
    }
  }

  size_t workspace_bytes() const override { return ws_; }
  std::string variant() const override { return variant_; }

  void launch(const LaunchArgs& a) override {
    if (B_ * M_ * N_ == 0) return;
    if (K_ == 0) {  // empty sums
      GRAFT_CUDA(cudaMemsetAsync(a.out[0], 0, out_bytes_, a.stream), name_, ": zeroing the result");
      return;
    }
    char* ws = static_cast<char*>(a.workspace);
    const void* l = a.in[0];
    const void* r = a.in[1];
    if (lv_.copy) {
      check_launch(launch_strided_copy(l, ws + l_copy_, int(dtype_size(lt_)), lv_.plan, nullptr, a.stream), name_,
                   "arranging the left operand");
      l = ws + l_copy_;
    }
    if (rv_.copy) {
      check_launch(launch_strided_copy(r, ws + r_copy_, int(dtype_size(rt_)), rv_.plan, nullptr, a.stream), name_,
                   "arranging the right operand");
      r = ws + r_copy_;
    }
    if (!gemm_) {
      check_launch(launch_dot(l, r, a.out[0], p_, a.stream), name_, "a matrix product");
      return;
    }
    if (autocast_) {
      const int half = half_;
      check_launch(launch_convert_float(l, int(DType::F32), ws + l_half_, half, l_elems_, a.stream), name_,
                   "rounding the left operand");
      l = ws + l_half_;
      if (r_converted_) {
        r = r_converted_;
      } else {
        check_launch(launch_convert_float(r, int(DType::F32), ws + r_half_, half, r_elems_, a.stream), name_,
                     "rounding the right operand");
        r = ws + r_half_;
      }
    }
    void* c = f32_out_ != kNone ? static_cast<void*>(ws + f32_out_) : a.out[0];
    gemm_->run(l, r, c, ws + gemm_ws_, a.stream, name_);
    if (f32_out_ != kNone)
      check_launch(launch_convert_float(c, int(DType::F32), a.out[0], int(ot_), B_ * M_ * N_, a.stream), name_,
                   "narrowing the result");
  }

 private:
  static constexpr size_t kNone = ~size_t(0);
  size_t take(size_t bytes) {
    size_t at = ws_;
    ws_ += align256(bytes);
    return at;
  }

  std::string name_, variant_;
  DType lt_, rt_, ot_;
  OperandView lv_, rv_;
  int64_t B_ = 1, M_ = 1, K_ = 1, N_ = 1, l_elems_ = 0, r_elems_ = 0;
  size_t out_bytes_ = 0, ws_ = 0;
  size_t l_copy_ = kNone, r_copy_ = kNone, l_half_ = kNone, r_half_ = kNone, f32_out_ = kNone, gemm_ws_ = 0;
  bool autocast_ = false;
  int half_ = int(DType::BF16);  // the 16-bit type f32 operands are rounded to (autocast)
  const void* r_converted_ = nullptr;
  std::unique_ptr<Gemm> gemm_;
  DotParams p_;
};

std::unique_ptr<Kernel> dot_general(const KernelArgs& a) { return std::make_unique<DotKernel>(a); }

}  // namespace

void register_linalg_kernels(KernelRegistry& r) { r.add(OpKind::DotGeneral, dot_general); }

}  // namespace graft::cuda
