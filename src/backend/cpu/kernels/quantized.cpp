// The CPU kernels of the quantized path. cpu.quantized_product: (a - a_zero_point) · w [· scale] [+ bias [-> gelu]]
// [+ residual] on oneDNN's int8 matmul, u8 or s8 activations with a run-time zero point, s8 weights (constant
// ones reordered into oneDNN's layout once, here), run-time output scales per tensor or per column, the f32
// epilogue as post-ops, int32 or f32 results. VNNI/AMX are oneDNN's to pick. cpu.quantize: the activation
// quantization in front of it. cpu.min_max: the activation's range.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "backend/cpu/kernel.h"
#include "backend/cpu/lowered.h"
#include "backend/cpu/onednn.h"
#include "backend/cpu/parallel.h"
#include "backend/cpu/vector_math.h"

namespace graft::cpu {

namespace {

using dnnl::memory;

class QuantizedProductKernel final : public Kernel {
 public:
  explicit QuantizedProductKernel(const KernelArgs& args) : form_(*lowered_form<QuantizedProduct>(args.op)) {
    const ValueType& a = args.inputs[0];
    const ValueType& w = args.inputs[size_t(form_.weight_input())];
    k_ = w.shape[0], n_ = w.shape[1];
    m_ = a.shape.size() / k_;
    out_dtype_ = args.outputs[0].dtype;
    if (form_.has_zero_point) zero_point_type_ = args.inputs[1].dtype;
    if (form_.has_scale) per_column_ = args.inputs[size_t(form_.scale_input())].shape.size() == n_ && n_ > 1;
    if (m_ * n_ == 0 || k_ == 0) return;  // run() writes zeros
    auto& eng = onednn_engine();
    auto src_type = a.dtype == DType::U8 ? memory::data_type::u8 : memory::data_type::s8;
    memory::desc src_md({m_, k_}, src_type, memory::dims{k_, 1});
    memory::desc w_md({k_, n_}, memory::data_type::s8, memory::dims{n_, 1});
    memory::desc dst_md({m_, n_}, out_dtype_ == DType::F32 ? memory::data_type::f32 : memory::data_type::s32,
                        memory::dims{n_, 1});
    dnnl::primitive_attr attr;
    if (form_.has_zero_point) attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
    // The scale, then the epilogue — bias (one value per column), GELU, residual (the result's shape) — as
    // post-ops while the result is in registers. The scale is a binary multiply, not oneDNN's output scales:
    // run-time output scales (the activation's scale changes every run) make oneDNN 2.6 fall back from its
    // VNNI brgemm kernel to gemm:jit, which repacks the weights on every call (~2x slower on MiniLM), while a
    // binary post-op with a run-time operand keeps brgemm. Same arithmetic: f32(acc) * scale. The bias is a
    // binary add rather than oneDNN's bias argument, whose int8 semantics place it before the scale.
    dnnl::post_ops po;
    if (form_.has_scale) {
      const int64_t cols = per_column_ ? n_ : 1;
      scale_ = memory(memory::desc({1, cols}, memory::data_type::f32, memory::dims{cols, 1}), eng, DNNL_MEMORY_NONE);
      po.append_binary(dnnl::algorithm::binary_mul, scale_.get_desc());
    }
    if (form_.has_bias) {
      bias_ = memory(memory::desc({1, n_}, memory::data_type::f32, memory::dims{n_, 1}), eng, DNNL_MEMORY_NONE);
      po.append_binary(dnnl::algorithm::binary_add, bias_.get_desc());
    }
    if (form_.activation != ProductEpilogue::Activation::None)
      po.append_eltwise(1.f, form_.activation == ProductEpilogue::Activation::GeluErf ? dnnl::algorithm::eltwise_gelu_erf
                                                                                      : dnnl::algorithm::eltwise_gelu_tanh,
                        0.f, 0.f);
    if (form_.has_residual) {
      residual_ = memory(memory::desc({m_, n_}, memory::data_type::f32, memory::dims{n_, 1}), eng, DNNL_MEMORY_NONE);
      po.append_binary(dnnl::algorithm::binary_add, residual_.get_desc());
    }
    if (po.len() > 0) attr.set_post_ops(po);
    const void* const_w = args.constant_input(size_t(form_.weight_input()));
    memory::desc w_req = const_w ? memory::desc({k_, n_}, memory::data_type::s8, memory::format_tag::any) : w_md;
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src_md, w_req, dst_md), attr, eng);
    prim_ = dnnl::matmul(pd);
    src_ = memory(src_md, eng, DNNL_MEMORY_NONE);
    dst_ = memory(dst_md, eng, DNNL_MEMORY_NONE);
    w_ = memory(w_md, eng, DNNL_MEMORY_NONE);
    zero_point_ = memory(memory::desc({1}, memory::data_type::s32, memory::dims{1}), eng, &zero_point_value_);
    stream_ = dnnl::stream(eng);
    if (const_w) {
      // Constant weights (a layer's matrix) go into the layout oneDNN's kernel wants once, with the
      // compensation terms it needs, instead of being reordered on every run.
      if (pd.weights_desc() == w_md) {
        w_.set_data_handle(const_cast<void*>(const_w));
      } else {
        memory user(w_md, eng, const_cast<void*>(const_w));
        w_ = memory(pd.weights_desc(), eng);
        dnnl::reorder(user, w_).execute(stream_, user, w_);
        stream_.wait();
      }
      w_constant_ = true;
    }
  }

  void run(std::span<const void* const> in, std::span<void* const> out) override {
    if (m_ * n_ == 0) return;
    if (k_ == 0) {  // an empty sum: zeros (times the scale), then the epilogue
      std::memset(out[0], 0, size_t(m_ * n_) * 4);
      if (form_.has_bias || form_.has_residual) epilogue_by_hand(in, static_cast<float*>(out[0]));
      return;
    }
    src_.set_data_handle(const_cast<void*>(in[0]));
    if (!w_constant_) w_.set_data_handle(const_cast<void*>(in[size_t(form_.weight_input())]));
    dst_.set_data_handle(out[0]);
    std::unordered_map<int, memory> io{{DNNL_ARG_SRC, src_}, {DNNL_ARG_WEIGHTS, w_}, {DNNL_ARG_DST, dst_}};
    if (form_.has_zero_point) {
      zero_point_value_ = read_int(in[1], zero_point_type_);
      io[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC] = zero_point_;
    }
    int post_op = 0;
    if (form_.has_scale) {
      scale_.set_data_handle(const_cast<void*>(in[size_t(form_.scale_input())]));
      io[DNNL_ARG_ATTR_MULTIPLE_POST_OP(post_op++) | DNNL_ARG_SRC_1] = scale_;
    }
    if (form_.has_bias) {
      bias_.set_data_handle(const_cast<void*>(in[size_t(form_.bias_input())]));
      io[DNNL_ARG_ATTR_MULTIPLE_POST_OP(post_op) | DNNL_ARG_SRC_1] = bias_;
    }
    post_op += form_.has_bias ? 1 : 0;
    post_op += form_.activation != ProductEpilogue::Activation::None ? 1 : 0;
    if (form_.has_residual) {
      residual_.set_data_handle(const_cast<void*>(in[size_t(form_.residual_input())]));
      io[DNNL_ARG_ATTR_MULTIPLE_POST_OP(post_op) | DNNL_ARG_SRC_1] = residual_;
    }
    prim_.execute(stream_, io);
    stream_.wait();
  }

 private:
  static int32_t read_int(const void* p, DType t) {
    switch (t) {
      case DType::U8: return *static_cast<const uint8_t*>(p);
      case DType::I8: return *static_cast<const int8_t*>(p);
      default: return *static_cast<const int32_t*>(p);
    }
  }

  // K == 0 only: bias, activation and residual on a zero product, the decomposition's arithmetic.
  void epilogue_by_hand(std::span<const void* const> in, float* y) const {
    const float* bias = form_.has_bias ? static_cast<const float*>(in[size_t(form_.bias_input())]) : nullptr;
    const float* res = form_.has_residual ? static_cast<const float*>(in[size_t(form_.residual_input())]) : nullptr;
    for (int64_t i = 0; i < m_; ++i)
      for (int64_t j = 0; j < n_; ++j) {
        float v = y[i * n_ + j];
        if (bias) v += bias[j];
        if (form_.activation == ProductEpilogue::Activation::GeluErf) v = 0.5f * v * (1 + std::erf(v * float(M_SQRT1_2)));
        if (form_.activation == ProductEpilogue::Activation::GeluTanh)
          v = 0.5f * v * (1 + std::tanh(0.7978845608028654f * (v + 0.044715f * v * v * v)));
        if (res) v += res[i * n_ + j];
        y[i * n_ + j] = v;
      }
  }

  QuantizedProduct form_;
  int64_t m_ = 0, k_ = 0, n_ = 0;
  DType out_dtype_ = DType::I32, zero_point_type_ = DType::I32;
  bool per_column_ = false, w_constant_ = false;
  int32_t zero_point_value_ = 0;
  dnnl::matmul prim_;
  memory src_, w_, dst_, zero_point_, scale_, bias_, residual_;
  dnnl::stream stream_;
};

std::unique_ptr<Kernel> quantized_product(const KernelArgs& a) { return std::make_unique<QuantizedProductKernel>(a); }

// cpu.min_max: min and max of an f32 tensor in one pass, in parallel chunks, NaN-propagating like graft's
// Min/Max reductions (a NaN anywhere makes both results NaN).
struct Range {
  float lo = std::numeric_limits<float>::infinity(), hi = -std::numeric_limits<float>::infinity();
  bool nan = false;
};

GRAFT_CLONES Range range_of(const float* x, int64_t n) {
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  int nan = 0;
#pragma omp simd reduction(min : lo) reduction(max : hi) reduction(| : nan)
  for (int64_t i = 0; i < n; ++i) {
    lo = x[i] < lo ? x[i] : lo;
    hi = x[i] > hi ? x[i] : hi;
    nan |= x[i] != x[i];
  }
  return {lo, hi, nan != 0};
}

std::unique_ptr<Kernel> min_max(const KernelArgs& a) {
  const int64_t n = a.inputs[0].shape.size();
  constexpr int64_t kChunks = 16;
  return lambda_kernel([n](std::span<const void* const> in, std::span<void* const> out) {
    const float* x = static_cast<const float*>(in[0]);
    Range parts[kChunks];
    const int64_t chunk = (n + kChunks - 1) / kChunks;
    parallel_for(kChunks, n, [&](int64_t lo, int64_t hi) {
      for (int64_t c = lo; c < hi; ++c) {
        int64_t b = std::min(n, c * chunk), e = std::min(n, b + chunk);
        parts[c] = range_of(x + b, e - b);
      }
    }, /*min_work=*/int64_t(1) << 16);
    Range r;
    for (const Range& p : parts) {
      r.lo = std::min(r.lo, p.lo), r.hi = std::max(r.hi, p.hi);
      r.nan |= p.nan;
    }
    *static_cast<float*>(out[0]) = r.nan ? std::numeric_limits<float>::quiet_NaN() : r.lo;
    *static_cast<float*>(out[1]) = r.nan ? std::numeric_limits<float>::quiet_NaN() : r.hi;
  });
}

// cpu.quantize: f32 -> u8 / s8 by a scalar scale and zero point in one pass. Round-half-to-even of x / scale
// (a division, as the decomposition has it, not a multiplication by the reciprocal, so ties round the same) by
// adding and removing 1.5 * 2^23, which vectorizes where std::nearbyint does not; |x / scale| is first clamped
// to 2^22, where that trick is exact and which saturates the result as the larger value would. NaN gives 0,
// as Convert does.
template <typename Q>
GRAFT_INLINE void quantize_body(const float* x, int64_t n, float scale, float zero_point, float lo, float hi, Q* y) {
  for (int64_t i = 0; i < n; ++i) {
    float q = x[i] / scale;
    q = select(q > 4194304.0f, 4194304.0f, q);
    q = select(q < -4194304.0f, -4194304.0f, q);
    float v = ((q + 12582912.0f) - 12582912.0f) + zero_point;
    v = select(v != v, 0.0f, v);
    v = select(v < lo, lo, v);
    v = select(v > hi, hi, v);
    y[i] = Q(int32_t(v));
  }
}

GRAFT_CLONES void quantize_u8(const float* x, int64_t n, float scale, float zero_point, uint8_t* y) {
  quantize_body(x, n, scale, zero_point, 0.0f, 255.0f, y);
}

GRAFT_CLONES void quantize_s8(const float* x, int64_t n, float scale, float zero_point, int8_t* y) {
  quantize_body(x, n, scale, zero_point, -128.0f, 127.0f, y);
}

std::unique_ptr<Kernel> quantize(const KernelArgs& a) {
  const Quantize form = *lowered_form<Quantize>(a.op);
  const int64_t n = a.inputs[0].shape.size();
  return lambda_kernel([form, n](std::span<const void* const> in, std::span<void* const> out) {
    const float* x = static_cast<const float*>(in[0]);
    const float scale = *static_cast<const float*>(in[1]);
    const float zero_point = form.has_zero_point ? *static_cast<const float*>(in[2]) : 0.0f;
    constexpr int64_t kBlock = 4096;  // enough blocks that two or more threads get even shares
    parallel_for((n + kBlock - 1) / kBlock, n, [&](int64_t lo, int64_t hi) {
      for (int64_t b = lo; b < hi; ++b) {
        int64_t begin = b * kBlock, len = std::min(n, begin + kBlock) - begin;
        if (form.out == DType::U8)
          quantize_u8(x + begin, len, scale, zero_point, static_cast<uint8_t*>(out[0]) + begin);
        else
          quantize_s8(x + begin, len, scale, zero_point, static_cast<int8_t*>(out[0]) + begin);
      }
    });
  });
}

}  // namespace

void register_quantized_kernels(KernelRegistry& r) {
  r.add_custom_composite(QuantizedProduct::kName, quantized_product);
  r.add_custom_composite(MinMax::kName, min_max);
  r.add_custom_composite(Quantize::kName, quantize);
}

}  // namespace graft::cpu
