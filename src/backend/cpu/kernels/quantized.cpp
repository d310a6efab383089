// The CPU kernels of the quantized path. cpu.quantized_product: (a - a_zero_point) · w [· scale] on oneDNN's int8 matmul, u8 or s8 activations
// with a run-time zero point, s8 weights (constant ones reordered into oneDNN's layout once, here), run-time
// output scales per tensor or per column, int32 or f32 results. VNNI/AMX are oneDNN's to pick.
#include <algorithm>
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
    if (form_.has_scale) attr.set_output_scales(per_column_ ? 1 << 1 : 0, {DNNL_RUNTIME_F32_VAL});
    const void* const_w = args.constant_input(size_t(form_.weight_input()));
    memory::desc w_req = const_w ? memory::desc({k_, n_}, memory::data_type::s8, memory::format_tag::any) : w_md;
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src_md, w_req, dst_md), attr, eng);
    prim_ = dnnl::matmul(pd);
    src_ = memory(src_md, eng, DNNL_MEMORY_NONE);
    dst_ = memory(dst_md, eng, DNNL_MEMORY_NONE);
    w_ = memory(w_md, eng, DNNL_MEMORY_NONE);
    zero_point_ = memory(memory::desc({1}, memory::data_type::s32, memory::dims{1}), eng, &zero_point_value_);
    scale_ = memory(memory::desc({per_column_ ? n_ : 1}, memory::data_type::f32, memory::dims{1}), eng,
                    DNNL_MEMORY_NONE);
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
    if (k_ == 0) {  // an empty sum: zeros (times the scale)
      std::memset(out[0], 0, size_t(m_ * n_) * 4);
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
    if (form_.has_scale) {
      scale_.set_data_handle(const_cast<void*>(in[size_t(form_.scale_input())]));
      io[DNNL_ARG_ATTR_OUTPUT_SCALES] = scale_;
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

  QuantizedProduct form_;
  int64_t m_ = 0, k_ = 0, n_ = 0;
  DType out_dtype_ = DType::I32, zero_point_type_ = DType::I32;
  bool per_column_ = false, w_constant_ = false;
  int32_t zero_point_value_ = 0;
  dnnl::matmul prim_;
  memory src_, w_, dst_, zero_point_, scale_;
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

}  // namespace

void register_quantized_kernels(KernelRegistry& r) {
  r.add_custom_composite(QuantizedProduct::kName, quantized_product);
  r.add_custom_composite(MinMax::kName, min_max);
}

}  // namespace graft::cpu
