// DotGeneral. Every dot-general is a batched matrix product [B, M, K] x [B, K, N] -> [B, M, N] once its
// axes are grouped; when the operands' strides can express that view, oneDNN reads them in place
// (transposed operands cost nothing), otherwise they are first copied into that layout. f32 goes to
// oneDNN; f16/bf16 are widened to f32 around it; f64 and integers use plain loops.
// With CompileOptions::precision BF16 (and a CPU with native bf16), an f32 product runs on oneDNN's bf16
// matmul: the operands are converted to dense bf16 by a oneDNN reorder per run (constant weights once, at
// compile time, straight into the packed layout), accumulation, bias, activation and result stay f32.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <span>
#include <unordered_map>

#include "backend/cpu/kernel.h"
#include "backend/cpu/lowered.h"
#include "backend/cpu/onednn.h"
#include "backend/cpu/parallel.h"
#include "backend/cpu/strided_copy.h"

namespace graft::cpu {

namespace {

using dnnl::memory;

// One operand seen as a 3-d [B, X, Y] strided view (or a copy plan when its axes cannot be grouped).
struct OperandView {
  int64_t b = 1, x = 1, y = 1;
  int64_t sb = 0, sx = 0, sy = 0;  // element strides
  bool needs_copy = false;
  std::vector<int64_t> perm;       // axis order B.., X.., Y.. for the copy
  std::vector<int64_t> perm_dims;
};

// Tries to express the axes `group` (in order) of a tensor as one axis; returns its stride or -1.
int64_t group_stride(const std::vector<int64_t>& axes, const Shape& s, const std::vector<int64_t>& strides,
                     int64_t* extent) {
  *extent = 1;
  int64_t prev_stride = -1;
  std::vector<int64_t> kept;
  for (int64_t a : axes) {
    *extent *= s[int(a)];
    if (s[int(a)] != 1) kept.push_back(a);
  }
  if (kept.empty()) return 1;
  for (size_t i = 0; i + 1 < kept.size(); ++i)
    if (strides[size_t(kept[i])] != strides[size_t(kept[i + 1])] * s[int(kept[i + 1])]) return -1;
  prev_stride = strides[size_t(kept.back())];
  return prev_stride;
}

OperandView make_view(const Shape& s, const std::vector<int64_t>& batch, const std::vector<int64_t>& xs,
                      const std::vector<int64_t>& ys) {
  OperandView v;
  std::vector<int64_t> st = s.strides();
  int64_t sb = group_stride(batch, s, st, &v.b);
  int64_t sx = group_stride(xs, s, st, &v.x);
  int64_t sy = group_stride(ys, s, st, &v.y);
  v.sb = sb, v.sx = sx, v.sy = sy;
  // oneDNN wants one of the two matrix axes dense.
  bool dense = (v.sy == 1 || v.y == 1) || (v.sx == 1 || v.x == 1);
  if (sb < 0 || sx < 0 || sy < 0 || !dense) {
    v.needs_copy = true;
    for (auto* g : {&batch, &xs, &ys})
      for (int64_t a : *g) {
        v.perm.push_back(a);
        v.perm_dims.push_back(s[int(a)]);
      }
    v.sy = 1;
    v.sx = v.y;
    v.sb = v.x * v.y;
  }
  if (v.x == 1) v.sx = v.y * std::max<int64_t>(v.sy, 1);
  if (v.y == 1) v.sy = 1;
  if (v.b == 1) v.sb = v.x * v.y * 1;
  return v;
}

std::vector<int64_t> free_axes(int rank, const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  std::vector<int64_t> out;
  for (int i = 0; i < rank; ++i)
    if (std::find(a.begin(), a.end(), i) == a.end() && std::find(b.begin(), b.end(), i) == b.end()) out.push_back(i);
  return out;
}

// Copies the operand into [B, X, Y] contiguous order when its view needed it.
const void* materialize(const void* src, const OperandView& v, const Shape& s, size_t es, std::vector<char>& buf) {
  if (!v.needs_copy) return src;
  std::vector<int64_t> own = s.strides();
  StridedView from{0, {}};
  for (int64_t a : v.perm) from.strides.push_back(own[size_t(a)]);
  strided_copy(src, from, buf.data(), StridedView{0, contiguous_strides(v.perm_dims)}, v.perm_dims, es);
  return buf.data();
}

template <typename D, typename S>
void widen(const S* s, D* d, int64_t n) {
  for (int64_t i = 0; i < n; ++i) d[i] = D(to_compute(s[i]));
}

class DotKernel final : public Kernel {
 public:
  explicit DotKernel(const KernelArgs& a) : lhs_shape_(a.inputs[0].shape), rhs_shape_(a.inputs[1].shape) {
    // A plain DotGeneral, or a cpu.product: the same product with a bias, an activation and a residual
    // applied by oneDNN.
    const ProductEpilogue* fused = lowered_form<ProductEpilogue>(a.op);
    const DotGeneralAttrs& d = fused ? fused->dot : std::get<DotGeneralAttrs>(a.op.attrs);
    lt_ = a.inputs[0].dtype;
    rt_ = a.inputs[1].dtype;
    ot_ = a.outputs[0].dtype;
    lv_ = make_view(lhs_shape_, d.lhs_batch, free_axes(lhs_shape_.rank(), d.lhs_batch, d.lhs_contract), d.lhs_contract);
    rv_ = make_view(rhs_shape_, d.rhs_batch, d.rhs_contract, free_axes(rhs_shape_.rank(), d.rhs_batch, d.rhs_contract));
    B_ = lv_.b, M_ = lv_.x, K_ = lv_.y, N_ = rv_.y;
    has_bias_ = fused != nullptr;
    has_residual_ = fused && fused->has_residual;
    activation_ = fused ? fused->activation : ProductEpilogue::Activation::None;
    if (lv_.needs_copy) lbuf_.resize(size_t(lhs_shape_.size()) * dtype_size(lt_));
    if (rv_.needs_copy) rbuf_.resize(size_t(rhs_shape_.size()) * dtype_size(rt_));
    use_onednn_ = (lt_ == DType::F32 || lt_ == DType::F16 || lt_ == DType::BF16) && lt_ == rt_ && M_ * N_ * B_ > 0;
    if (use_onednn_) {
      if (lt_ != DType::F32) {
        // Widen to dense f32 copies; the views become contiguous.
        wl_.resize(size_t(B_ * M_ * K_));
        wr_.resize(size_t(B_ * K_ * N_));
      }
      if (lt_ != DType::F32 || ot_ != DType::F32) wo_.resize(size_t(B_ * M_ * N_));  // f32 result, narrowed after
      auto md = [](int64_t b, int64_t x, int64_t y, int64_t sb, int64_t sx, int64_t sy) {
        return memory::desc({b, x, y}, memory::data_type::f32, memory::dims{sb, sx, sy});
      };
      bool widened = lt_ != DType::F32;
      bf16_ = !widened && ot_ == DType::F32 && products_in_bf16(a.options);
      memory::desc a_md = widened ? md(B_, M_, K_, M_ * K_, K_, 1) : md(B_, M_, K_, lv_.sb, lv_.sx, lv_.sy);
      memory::desc b_md = widened ? md(B_, K_, N_, K_ * N_, N_, 1) : md(B_, K_, N_, rv_.sb, rv_.sx, rv_.sy);
      memory::desc c_md = md(B_, M_, N_, M_ * N_, N_, 1);
      // bf16: the primitive reads dense bf16 copies; a_md / b_md stay the f32 views they are made from.
      const auto bf16 = memory::data_type::bf16;
      memory::desc a_prim = bf16_ ? memory::desc({B_, M_, K_}, bf16, memory::format_tag::abc) : a_md;
      memory::desc b_prim = bf16_ ? memory::desc({B_, K_, N_}, bf16, memory::format_tag::abc) : b_md;
      auto& eng = onednn_engine();
      dnnl::primitive_attr attr;
      dnnl::post_ops po;
      if (activation_ != ProductEpilogue::Activation::None) {
        dnnl::algorithm alg = activation_ == ProductEpilogue::Activation::GeluErf ? dnnl::algorithm::eltwise_gelu_erf
                                                                                   : dnnl::algorithm::eltwise_gelu_tanh;
        po.append_eltwise(1.f, alg, 0.f, 0.f);
      }
      if (has_residual_) {  // the residual has the result's (dense) shape: added while the tile is in registers
        residual_post_op_ = po.len();
        po.append_binary(dnnl::algorithm::binary_add, c_md);
        residual_mem_ = memory(c_md, eng, DNNL_MEMORY_NONE);
      }
      if (po.len() > 0) attr.set_post_ops(po);
      memory::desc bias_md = md(1, 1, N_, N_, N_, 1);
      // Weights that are a compile-time constant (a layer's weight matrix at inference) are packed into
      // the layout oneDNN's kernel wants once, here, instead of being repacked on every run.
      const void* const_b = !widened && !rv_.needs_copy ? a.constant_input(1) : nullptr;
      memory::desc b_req =
          const_b ? memory::desc({B_, K_, N_}, bf16_ ? bf16 : memory::data_type::f32, memory::format_tag::any) : b_prim;
      auto make_pd = [&](const memory::desc& w) {
        return has_bias_ ? dnnl::matmul::primitive_desc(dnnl::matmul::desc(a_prim, w, bias_md, c_md), attr, eng)
                         : dnnl::matmul::primitive_desc(dnnl::matmul::desc(a_prim, w, c_md), attr, eng);
      };
      dnnl::matmul::primitive_desc pd = make_pd(b_req);
      bias_mem_ = memory(bias_md, eng, DNNL_MEMORY_NONE);
      prim_ = dnnl::matmul(pd);
      a_mem_ = memory(a_prim, eng, DNNL_MEMORY_NONE);
      b_mem_ = memory(b_prim, eng, DNNL_MEMORY_NONE);
      if (bf16_) {  // the per-run conversions of the f32 operands (b's only when it is not constant)
        a_f32_ = memory(a_md, eng, DNNL_MEMORY_NONE);
        a_cvt_ = dnnl::reorder(a_f32_, a_mem_);
        abuf_.resize(size_t(B_ * M_ * K_));
        a_mem_.set_data_handle(abuf_.data());
        if (!const_b) {
          b_f32_ = memory(b_md, eng, DNNL_MEMORY_NONE);
          b_cvt_ = dnnl::reorder(b_f32_, b_mem_);
          bbuf_.resize(size_t(B_ * K_ * N_));
          b_mem_.set_data_handle(bbuf_.data());
        }
      }
      if (const_b) {
        if (pd.weights_desc() == b_md) {
          b_mem_.set_data_handle(const_cast<void*>(const_b));
        } else {
          packed_b_ = memory(pd.weights_desc(), eng);  // owned by oneDNN, lives with the kernel
          memory user_b(b_md, eng, const_cast<void*>(const_b));
          dnnl::stream s(eng);
          dnnl::reorder(user_b, packed_b_).execute(s, user_b, packed_b_);
          s.wait();
          b_mem_ = packed_b_;
        }
        b_constant_ = true;
      }
      c_mem_ = memory(c_md, eng, DNNL_MEMORY_NONE);
      stream_ = dnnl::stream(eng);
    }
  }

  void run(std::span<const void* const> in, std::span<void* const> out) override {
    const void* l = materialize(in[0], lv_, lhs_shape_, dtype_size(lt_), lbuf_);
    const void* r = materialize(in[1], rv_, rhs_shape_, dtype_size(rt_), rbuf_);
    if (B_ * M_ * N_ == 0) return;
    if (K_ == 0) {
      std::memset(out[0], 0, size_t(B_ * M_ * N_) * dtype_size(ot_));
      if (has_bias_) apply_epilogue_by_hand(in, static_cast<float*>(out[0]));
      return;
    }
    if (use_onednn_) {
      if (bf16_) {
        a_f32_.set_data_handle(const_cast<void*>(l));
        a_cvt_.execute(stream_, a_f32_, a_mem_);
        if (!b_constant_) {
          b_f32_.set_data_handle(const_cast<void*>(r));
          b_cvt_.execute(stream_, b_f32_, b_mem_);
        }
      } else if (lt_ == DType::F32) {
        a_mem_.set_data_handle(const_cast<void*>(l));
        if (!b_constant_) b_mem_.set_data_handle(const_cast<void*>(r));
      } else {
        visit_dtype(lt_, [&](auto tag) {
          using T = decltype(tag);
          gather_dense<T>(static_cast<const T*>(l), lv_, wl_.data(), B_, M_, K_);
          gather_dense<T>(static_cast<const T*>(r), rv_, wr_.data(), B_, K_, N_);
        });
        a_mem_.set_data_handle(wl_.data());
        b_mem_.set_data_handle(wr_.data());
      }
      c_mem_.set_data_handle(ot_ == DType::F32 ? out[0] : wo_.data());
      std::unordered_map<int, memory> args{{DNNL_ARG_SRC, a_mem_}, {DNNL_ARG_WEIGHTS, b_mem_}, {DNNL_ARG_DST, c_mem_}};
      if (has_bias_) {
        bias_mem_.set_data_handle(const_cast<void*>(in[2]));
        args[DNNL_ARG_BIAS] = bias_mem_;
      }
      if (has_residual_) {
        residual_mem_.set_data_handle(const_cast<void*>(in[3]));
        args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(residual_post_op_) | DNNL_ARG_SRC_1] = residual_mem_;
      }
      prim_.execute(stream_, args);
      stream_.wait();
      if (ot_ != DType::F32) {
        visit_dtype(ot_, [&](auto tag) {
          using T = decltype(tag);
          T* o = static_cast<T*>(out[0]);
          for (size_t i = 0; i < wo_.size(); ++i) {
            if constexpr (std::is_same_v<T, float16> || std::is_same_v<T, bfloat16>)
              o[i] = T(wo_[i]);
            else
              o[i] = static_cast<T>(wo_[i]);
          }
        });
      }
      return;
    }
    loops(l, r, out[0]);
    if (has_bias_) apply_epilogue_by_hand(in, static_cast<float*>(out[0]));
  }

  bool runs_bf16() const override { return bf16_; }

 private:
  template <typename T>
  static void gather_dense(const T* src, const OperandView& v, float* dst, int64_t b, int64_t x, int64_t y) {
    for (int64_t i = 0; i < b; ++i)
      for (int64_t j = 0; j < x; ++j)
        for (int64_t k = 0; k < y; ++k) dst[(i * x + j) * y + k] = float(to_compute(src[i * v.sb + j * v.sx + k * v.sy]));
  }

  // The epilogue for the paths oneDNN does not take (only f32 products get epilogues).
  void apply_epilogue_by_hand(std::span<const void* const> in, float* c) const {
    const float* bias = static_cast<const float*>(in[2]);
    const float* residual = has_residual_ ? static_cast<const float*>(in[3]) : nullptr;
    for (int64_t i = 0; i < B_ * M_; ++i)
      for (int64_t j = 0; j < N_; ++j) {
        float& v = c[i * N_ + j];
        v += bias[j];
        if (activation_ == ProductEpilogue::Activation::GeluErf) v = 0.5f * v * (1 + std::erf(v * float(M_SQRT1_2)));
        if (activation_ == ProductEpilogue::Activation::GeluTanh)
          v = 0.5f * v * (1 + std::tanh(0.7978845608f * (v + 0.044715f * v * v * v)));
        if (residual) v += residual[i * N_ + j];
      }
  }

  // f64 and integer products: i-k-j loops, accumulating in double or int64.
  void loops(const void* l, const void* r, void* o) {
    visit_dtype(lt_, [&](auto ltag) {
      visit_dtype(rt_, [&](auto rtag) {
        visit_dtype(ot_, [&](auto otag) {
          using L = decltype(ltag);
          using R = decltype(rtag);
          using O = decltype(otag);
          if constexpr (!std::is_same_v<L, bool> && !std::is_same_v<R, bool>) {
            using Acc = std::conditional_t<std::is_integral_v<L> && std::is_integral_v<R>, int64_t, double>;
            const L* a = static_cast<const L*>(l);
            const R* b = static_cast<const R*>(r);
            O* c = static_cast<O*>(o);
            int64_t B = B_, M = M_, K = K_, N = N_;
            OperandView lv = lv_, rv = rv_;
            // One output row per item: (batch, row) pairs split across threads.
            parallel_for(B * M, B * M * N * K, [&](int64_t lo, int64_t hi) {
              for (int64_t row = lo; row < hi; ++row) {
                const int64_t bi = row / M, i = row % M;
                std::vector<Acc> acc(static_cast<size_t>(N), Acc(0));
                for (int64_t k = 0; k < K; ++k) {
                  Acc av = Acc(to_compute(a[bi * lv.sb + i * lv.sx + k * lv.sy]));
                  const R* brow = b + bi * rv.sb + k * rv.sx;
                  for (int64_t j = 0; j < N; ++j) acc[size_t(j)] += av * Acc(to_compute(brow[j * rv.sy]));
                }
                for (int64_t j = 0; j < N; ++j) {
                  if constexpr (std::is_same_v<O, float16> || std::is_same_v<O, bfloat16>)
                    c[(bi * M + i) * N + j] = O(float(acc[size_t(j)]));
                  else
                    c[(bi * M + i) * N + j] = static_cast<O>(acc[size_t(j)]);
                }
              }
            }, /*min_work=*/int64_t(1) << 16);
          }
        });
      });
    });
  }

  Shape lhs_shape_, rhs_shape_;
  DType lt_, rt_, ot_;
  OperandView lv_, rv_;
  int64_t B_ = 1, M_ = 1, K_ = 1, N_ = 1;
  std::vector<char> lbuf_, rbuf_;
  std::vector<float> wl_, wr_, wo_;
  bool use_onednn_ = false;
  dnnl::matmul prim_;
  memory a_mem_, b_mem_, c_mem_, bias_mem_;
  memory packed_b_;          // constant weights in oneDNN's layout (when it differs from ours)
  bool b_constant_ = false;  // b_mem_ already holds the (constant) weights
  bool bf16_ = false;        // multiplies bf16 copies of the f32 operands (CompileOptions::precision)
  memory a_f32_, b_f32_;     // bf16: the f32 operands, converted into a_mem_ / b_mem_ by these reorders
  dnnl::reorder a_cvt_, b_cvt_;
  std::vector<uint16_t> abuf_, bbuf_;
  bool has_bias_ = false;
  bool has_residual_ = false;  // input 3, added by a binary post-op (the last one)
  int residual_post_op_ = 0;
  memory residual_mem_;
  ProductEpilogue::Activation activation_ = ProductEpilogue::Activation::None;
  dnnl::stream stream_;
};

std::unique_ptr<Kernel> dot_general(const KernelArgs& a) { return std::make_unique<DotKernel>(a); }

}  // namespace

void register_linalg_kernels(KernelRegistry& r) {
  r.add(OpKind::DotGeneral, dot_general);
  r.add_custom_composite(ProductEpilogue::kName, dot_general);
}

}  // namespace graft::cpu
