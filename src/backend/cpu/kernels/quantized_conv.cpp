// cpu.quantized_conv (QuantizedConvolution, backend/cpu/quantized_conv.h): (x - zero_point) conv w on oneDNN's
// int8 convolution — u8 or s8 activations with a run-time zero point, s8 weights reordered once into the
// primitive's layout (with the compensation its VNNI kernels need), per-channel output scales, then bias,
// residual (a sum post-op) and clamp, into an f32 (or, for ConvInteger, int32) result. The activations are
// reordered into the primitive's layout (channels-last for the int8 kernels) and the result back on every
// run, through per-thread scratch. Geometries oneDNN declines run a direct int32 loop. ConvInteger weights
// shifted into int8 (weight_offsets) get offset · window sum of the activations added to the int32 result.
#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include "backend/cpu/kernel.h"
#include "backend/cpu/kernels/epilogue_math.h"
#include "backend/cpu/lowered.h"
#include "backend/cpu/onednn.h"
#include "backend/cpu/thread_scratch.h"
#include "backend/cpu/parallel.h"
#include "backend/cpu/quantized_conv.h"

namespace graft::cpu {

namespace {

using dnnl::memory;

memory::format_tag plain_format(int rank) {
  return rank == 3 ? memory::format_tag::abc : rank == 4 ? memory::format_tag::abcd : memory::format_tag::abcde;
}

// [N, spatial..., C]: how the executable stores values between convolutions (KernelArgs::channels_last_*).
memory::format_tag channels_last_format(int rank) {
  return rank == 3 ? memory::format_tag::acb : rank == 4 ? memory::format_tag::acdb : memory::format_tag::acdeb;
}

// The reordered activations and result, and add_weight_offsets' window sums, live in per-thread scratch
// (thread_scratch.h).
void* scratch(ScratchRole role, size_t bytes) { return thread_scratch(role, bytes, "cpu.quantized_conv"); }

int32_t read_integer(const void* p, DType t) {
  switch (t) {
    case DType::U8: return *static_cast<const uint8_t*>(p);
    case DType::I8: return *static_cast<const int8_t*>(p);
    case DType::I32: return *static_cast<const int32_t*>(p);
    case DType::F32: return int32_t(std::lrint(*static_cast<const float*>(p)));
    case DType::F64: return int32_t(std::lrint(*static_cast<const double*>(p)));
    default: fail("cpu.quantized_conv: zero point of type ", dtype_name(t));
  }
}

// The convolution's spatial geometry with 1 to 3 spatial axes padded to 3 (leading 1s), for the loops that walk
// windows by hand: the direct loop and the weight-offset correction.
struct WindowGeometry {
  std::array<int64_t, 3> in{1, 1, 1}, out{1, 1, 1}, k{1, 1, 1}, stride{1, 1, 1}, dilation{1, 1, 1}, pad{0, 0, 0};
  int64_t in_size = 1, out_size = 1, taps = 1;  // flattened spatial sizes and taps per window

  WindowGeometry() = default;
  WindowGeometry(const Shape& x, const Shape& w, const Shape& y, const ConvolutionAttrs& conv) {
    const int s = x.rank() - 2, off = 3 - s;
    for (int i = 0; i < s; ++i) {
      const auto a = size_t(off + i), b = size_t(i);
      in[a] = x[i + 2], out[a] = y[i + 2], k[a] = w[i + 2];
      stride[a] = conv.strides[b], dilation[a] = conv.dilations[b], pad[a] = conv.pad_low[b];
    }
    in_size = in[0] * in[1] * in[2], out_size = out[0] * out[1] * out[2], taps = k[0] * k[1] * k[2];
  }

  // The input coordinates of tap 0 of output pixel p's window (may lie in the padding).
  std::array<int64_t, 3> window_origin(int64_t p) const {
    const int64_t o0 = p / (out[1] * out[2]), o1 = p / out[2] % out[1], o2 = p % out[2];
    return {o0 * stride[0] - pad[0], o1 * stride[1] - pad[1], o2 * stride[2] - pad[2]};
  }
  // The flattened input position tap t of a window reads, or -1 where it falls in the zero padding.
  int64_t input_position(const std::array<int64_t, 3>& origin, int64_t t) const {
    const int64_t i0 = origin[0] + t / (k[1] * k[2]) * dilation[0], i1 = origin[1] + t / k[2] % k[1] * dilation[1],
                  i2 = origin[2] + t % k[2] * dilation[2];
    if (i0 < 0 || i0 >= in[0] || i1 < 0 || i1 >= in[1] || i2 < 0 || i2 >= in[2]) return -1;
    return (i0 * in[1] + i1) * in[2] + i2;
  }
};

class QuantizedConvKernel final : public Kernel {
 public:
  explicit QuantizedConvKernel(const KernelArgs& a) : form_(*lowered_form<QuantizedConvolution>(a.op)) {
    const Shape& x = a.inputs[0].shape;
    const Shape& w = a.inputs[size_t(form_.weight_input())].shape;
    const Shape& y = a.outputs[0].shape;
    src_type_ = a.inputs[0].dtype;
    out_type_ = a.outputs[0].dtype;
    out_f32_ = out_type_ == DType::F32;
    out_8bit_ = out_type_ == DType::U8 || out_type_ == DType::I8;
    if (form_.has_zero_point) zp_type_ = a.inputs[1].dtype;
    rank_ = x.rank();
    n_ = x[0], c_ = x[1], o_ = y[1], groups_ = form_.conv.groups;
    geometry_ = WindowGeometry(x, w, y, form_.conv);
    y_elems_ = y.size();
    const void* const_w = a.constant_input(size_t(form_.weight_input()));
    GRAFT_CHECK(const_w, a.describe(), ": the weights must be a compile-time constant");
    w_host_.assign(static_cast<const int8_t*>(const_w), static_cast<const int8_t*>(const_w) + w.size());
    scales_.resize(size_t(o_));
    for (int64_t oc = 0; oc < o_; ++oc) scales_[size_t(oc)] = form_.scales.empty() ? 1.f : form_.scales[form_.scales.size() == 1 ? 0 : size_t(oc)];
    src_cl_ = (a.channels_last_inputs & 1u) != 0;
    dst_cl_ = a.channels_last_output;
    res_cl_ = form_.has_residual && ((a.channels_last_inputs >> form_.residual_input()) & 1u) != 0;
    hand_clamp_ = form_.clip_lo != -INFINITY || form_.clip_hi != INFINITY;
    if (const float* b = form_.has_bias ? static_cast<const float*>(a.constant_input(size_t(form_.bias_input()))) : nullptr) {
      finite_constant_bias_ = true;
      for (int64_t oc = 0; oc < o_; ++oc) finite_constant_bias_ &= std::isfinite(b[oc]);
    }
    if (y_elems_ == 0 || x.size() == 0) return;
    try {
      build(x, w, y);
    } catch (const dnnl::error&) {
      prim_.reset();  // the direct loop below covers it
      hand_clamp_ = form_.clip_lo != -INFINITY || form_.clip_hi != INFINITY;
    }
  }

  bool can_run_in_place(int input) const override { return input == form_.residual_input() && res_cl_ == dst_cl_; }

  void run(std::span<const void* const> in, std::span<void* const> out) override {
    if (y_elems_ == 0) return;
    const int32_t zp = form_.has_zero_point ? read_integer(in[1], zp_type_) : 0;
    const float* bias = form_.has_bias ? static_cast<const float*>(in[size_t(form_.bias_input())]) : nullptr;
    const float* res = form_.has_residual ? static_cast<const float*>(in[size_t(form_.residual_input())]) : nullptr;
    if (prim_)
      run_onednn(in[0], zp, bias, res, out[0]);
    else
      run_direct(in[0], zp, bias, res, out[0]);
    if (!form_.weight_offsets.empty()) add_weight_offsets(in[0], zp, static_cast<int32_t*>(out[0]));
    if (out_f32_ && hand_clamp_) clamp(static_cast<float*>(out[0]));  // (8-bit results: clamped above)
  }

 private:
  void build(const Shape& x, const Shape& w, const Shape& y) {
    auto& eng = onednn_engine();
    const int s = rank_ - 2;
    memory::dims src_dims(x.dims().begin(), x.dims().end()), dst_dims(y.dims().begin(), y.dims().end());
    memory::dims strides, dilates, pad_l, pad_r, wdims;
    for (int i = 0; i < s; ++i) {
      strides.push_back(form_.conv.strides[size_t(i)]);
      dilates.push_back(form_.conv.dilations[size_t(i)] - 1);  // oneDNN counts the gaps
      pad_l.push_back(form_.conv.pad_low[size_t(i)]);
      pad_r.push_back(form_.conv.pad_high[size_t(i)]);
    }
    const int64_t G = groups_;
    if (G > 1) wdims = {G, o_ / G, c_ / G};
    else wdims = {o_, c_};
    for (int i = 2; i < rank_; ++i) wdims.push_back(w[i]);
    const auto src_dt = src_type_ == DType::U8 ? memory::data_type::u8 : memory::data_type::s8;
    const auto dst_dt = out_f32_ ? memory::data_type::f32
                        : out_type_ == DType::U8 ? memory::data_type::u8
                        : out_type_ == DType::I8 ? memory::data_type::s8
                                                 : memory::data_type::s32;
    const auto tag = plain_format(rank_);
    memory::desc src_md(src_dims, src_dt, src_cl_ ? channels_last_format(rank_) : tag);
    memory::desc dst_md(dst_dims, dst_dt, dst_cl_ ? channels_last_format(rank_) : tag);
    memory::desc res_md(dst_dims, dst_dt, res_cl_ ? channels_last_format(rank_) : tag);
    memory::desc user_w_md(wdims, memory::data_type::s8,
                           G > 1 ? (rank_ == 3 ? memory::format_tag::abcd : rank_ == 4 ? memory::format_tag::abcde
                                                                                        : memory::format_tag::abcdef)
                                 : tag);
    has_bias_ = form_.has_bias;
    memory::desc bias_md = has_bias_ ? memory::desc({o_}, memory::data_type::f32, memory::format_tag::a) : memory::desc();
    dnnl::primitive_attr attr;
    if (form_.has_zero_point) attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
    // An 8-bit result: oneDNN scales by scale / out_scale, adds the destination zero point and converts
    // (round to nearest even, saturating), which is QuantizeLinear's arithmetic.
    const bool per_channel = form_.scales.size() > 1;
    const float requant = out_8bit_ ? float(1.0 / form_.out_scale) : 1.f;
    std::vector<float> oscales(per_channel ? scales_.size() : 1);
    for (size_t k = 0; k < oscales.size(); ++k) oscales[k] = scales_[k] * requant;
    if (!form_.scales.empty()) attr.set_output_scales(per_channel ? 1 << 1 : 0, oscales);
    if (out_8bit_ && form_.out_zero_point != 0) attr.set_zero_points(DNNL_ARG_DST, 0, {DNNL_RUNTIME_S32_VAL});
    dnnl::post_ops po;
    if (form_.has_residual) po.append_sum(1.f);
    // The clamp as a post-op only where no NaN can reach it (int8 operands, finite scales, a finite constant
    // bias; a residual or run-time bias may hold NaN, which oneDNN's relu/clip would turn into 0 while graft's
    // Max/Min propagate it).
    // (An 8-bit result always: NaN has no 8-bit value anyway. The post-op sees the value already divided by
    // out_scale > 0, so the bounds are too.)
    const bool clamp_post_op =
        hand_clamp_ && (out_8bit_ || (!form_.has_residual && (!form_.has_bias || finite_constant_bias_)));
    if (clamp_post_op) {
      if (form_.clip_lo == 0 && form_.clip_hi == INFINITY)
        po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
      else
        po.append_eltwise(1.f, dnnl::algorithm::eltwise_clip, float(std::max(form_.clip_lo * requant, -3.4e38)),
                          float(std::min(form_.clip_hi * requant, 3.4e38)));
    }
    attr.set_post_ops(po);
    memory::desc src_any(src_dims, src_dt, memory::format_tag::any), dst_any(dst_dims, dst_dt, memory::format_tag::any);
    memory::desc w_any(wdims, memory::data_type::s8, memory::format_tag::any);
    dnnl::convolution_forward::primitive_desc pd(
        dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                        src_any, w_any, bias_md, dst_any, strides, dilates, pad_l, pad_r),
        attr, eng);
    prim_ = std::make_unique<dnnl::convolution_forward>(pd);
    if (clamp_post_op) hand_clamp_ = false;
    stream_ = dnnl::stream(eng);
    src_mem_ = memory(src_md, eng, DNNL_MEMORY_NONE);
    dst_mem_ = memory(dst_md, eng, DNNL_MEMORY_NONE);
    // The weights, once, into the primitive's layout.
    memory user_w(user_w_md, eng, w_host_.data());
    w_mem_ = memory(pd.weights_desc(), eng);
    dnnl::reorder(user_w, w_mem_).execute(stream_, user_w, w_mem_);
    stream_.wait();
    if (pd.src_desc() != src_md) {
      prim_src_ = memory(pd.src_desc(), eng, DNNL_MEMORY_NONE);
      src_reorder_ = dnnl::reorder(src_mem_, prim_src_);
      src_bytes_ = pd.src_desc().get_size();
      reorder_src_ = true;
    }
    if (pd.dst_desc() != dst_md) {
      prim_dst_ = memory(pd.dst_desc(), eng, DNNL_MEMORY_NONE);
      dst_reorder_ = dnnl::reorder(prim_dst_, dst_mem_);
      dst_bytes_ = pd.dst_desc().get_size();
      reorder_dst_ = true;
    }
    if (form_.has_residual && (reorder_dst_ || res_md != dst_md)) {  // the residual into the primitive's destination
      res_mem_ = memory(res_md, eng, DNNL_MEMORY_NONE);
      res_reorder_ = dnnl::reorder(res_mem_, reorder_dst_ ? prim_dst_ : dst_mem_);
      reorder_res_ = true;
    }
    dst_bytes_plain_ = dst_md.get_size();
    if (has_bias_) {
      // oneDNN 2.x adds the bias before the output scale: bias / scale brings ours (added after) there.
      bias_mem_ = memory(bias_md, eng, DNNL_MEMORY_NONE);
      scaled_bias_.resize(size_t(o_));
    }
    zp_mem_ = memory(memory::desc({1}, memory::data_type::s32, memory::format_tag::a), eng, &zp_value_);
    dst_zp_value_ = form_.out_zero_point;
    dst_zp_mem_ = memory(memory::desc({1}, memory::data_type::s32, memory::format_tag::a), eng, &dst_zp_value_);
    w_host_.clear();  // oneDNN has its own copy
    w_host_.shrink_to_fit();
  }

  void run_onednn(const void* x, int32_t zp, const float* bias, const float* res, void* y) {
    src_mem_.set_data_handle(const_cast<void*>(x));
    dst_mem_.set_data_handle(y);
    if (reorder_src_) {
      prim_src_.set_data_handle(scratch(ScratchRole::Source, src_bytes_));
      src_reorder_.execute(stream_, src_mem_, prim_src_);
    }
    if (reorder_dst_) prim_dst_.set_data_handle(scratch(ScratchRole::Result, dst_bytes_));
    if (res) {
      if (reorder_res_) {  // (not in place: the layouts differ)
        res_mem_.set_data_handle(const_cast<float*>(res));
        res_reorder_.execute(stream_, res_mem_, reorder_dst_ ? prim_dst_ : dst_mem_);
      } else if (res != y) {
        stream_.wait();
        std::memcpy(y, res, dst_bytes_plain_);
      }
    }
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, reorder_src_ ? prim_src_ : src_mem_},
                                         {DNNL_ARG_WEIGHTS, w_mem_},
                                         {DNNL_ARG_DST, reorder_dst_ ? prim_dst_ : dst_mem_}};
    if (has_bias_) {
      for (int64_t oc = 0; oc < o_; ++oc) scaled_bias_[size_t(oc)] = bias[oc] / scales_[size_t(oc)];
      bias_mem_.set_data_handle(scaled_bias_.data());
      args.emplace(DNNL_ARG_BIAS, bias_mem_);
    }
    if (form_.has_zero_point) {
      zp_value_ = zp;
      args.emplace(DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, zp_mem_);
    }
    if (out_8bit_ && form_.out_zero_point != 0) args.emplace(DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_DST, dst_zp_mem_);
    prim_->execute(stream_, args);
    if (reorder_dst_) dst_reorder_.execute(stream_, prim_dst_, dst_mem_);
    stream_.wait();
  }

  // The same arithmetic as a direct loop (int32 accumulation), for what oneDNN declines.
  void run_direct(const void* xv, int32_t zp, const float* bias, const float* res, void* yv) {
    const int64_t cg = c_ / groups_, og = o_ / groups_;
    const WindowGeometry& g = geometry_;
    const int64_t in_sz = g.in_size, out_sz = g.out_size, k_sz = g.taps;
    auto src = [&](int64_t i) -> int32_t {
      return src_type_ == DType::U8 ? int32_t(static_cast<const uint8_t*>(xv)[i]) : int32_t(static_cast<const int8_t*>(xv)[i]);
    };
    parallel_for(n_ * o_, n_ * o_ * out_sz * cg * k_sz, [&](int64_t lo, int64_t hi) {
      for (int64_t no = lo; no < hi; ++no) {
        const int64_t n = no / o_, oc = no % o_, grp = oc / og;
        for (int64_t p = 0; p < out_sz; ++p) {
          const auto origin = g.window_origin(p);
          int32_t acc = 0;
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t t = 0; t < k_sz; ++t) {
              const int64_t pos = g.input_position(origin, t);
              if (pos < 0) continue;
              const int64_t ic = grp * cg + ci;
              const int64_t xi = src_cl_ ? (n * in_sz + pos) * c_ + ic : (n * c_ + ic) * in_sz + pos;
              acc += (src(xi) - zp) * int32_t(w_host_[size_t((oc * cg + ci) * k_sz + t)]);
            }
          const int64_t yi = dst_cl_ ? (n * out_sz + p) * o_ + oc : no * out_sz + p;
          const int64_t ri = res_cl_ ? (n * out_sz + p) * o_ + oc : no * out_sz + p;
          if (out_type_ == DType::I32) {
            static_cast<int32_t*>(yv)[yi] = acc;
            continue;
          }
          float v = float(acc) * scales_[size_t(oc)];
          if (bias) v += bias[oc];
          if (res) v += res[ri];
          if (out_f32_) {
            static_cast<float*>(yv)[yi] = v;
            continue;
          }
          // Clamp, then QuantizeLinear.
          const float lo = float(form_.clip_lo), hi = float(form_.clip_hi);
          v = std::min(std::max(v, lo), hi);
          float q = std::nearbyint(v / float(form_.out_scale)) + float(form_.out_zero_point);
          if (out_type_ == DType::U8)
            static_cast<uint8_t*>(yv)[yi] = uint8_t(std::min(std::max(q, 0.f), 255.f));
          else
            static_cast<int8_t*>(yv)[yi] = int8_t(std::min(std::max(q, -128.f), 127.f));
        }
      }
    });
  }

  // The convolution ran with int8 weights w; the model's are w + weight_offsets[o] (quantized_conv.h), so
  // y[n, o, p] += weight_offsets[o] · S[n, g, p], S the window sum of x - zp over group g's channels and the
  // taps of output pixel p (zero padding, as the convolution pads x - zp with zeros). The channel sums are one
  // pass over x; each S is k taps of them: far less than the convolution. Exact in int32.
  void add_weight_offsets(const void* xv, int32_t zp, int32_t* y) const {
    const int64_t cg = c_ / groups_, og = o_ / groups_;
    const WindowGeometry& g = geometry_;
    const int64_t in_sz = g.in_size, out_sz = g.out_size, k_sz = g.taps;
    // sums[(n * G + g) * in_sz + pos] = sum over the group's channels of x - zp.
    auto* sums = static_cast<int32_t*>(scratch(ScratchRole::Extra, size_t(n_ * groups_ * in_sz) * sizeof(int32_t)));
    const bool u8 = src_type_ == DType::U8;
    parallel_for(n_ * groups_, n_ * c_ * in_sz, [&](int64_t lo, int64_t hi) {
      for (int64_t ng = lo; ng < hi; ++ng) {
        const int64_t n = ng / groups_, c0 = ng % groups_ * cg;
        int32_t* dst = sums + ng * in_sz;
        auto accumulate = [&](auto* x) {
          if (src_cl_) {  // [N, pos, C]: the group's channels are contiguous
            for (int64_t pos = 0; pos < in_sz; ++pos) {
              const auto* px = x + (n * in_sz + pos) * c_ + c0;
              int32_t acc = 0;
              for (int64_t c = 0; c < cg; ++c) acc += int32_t(px[c]);
              dst[pos] = acc - int32_t(cg) * zp;
            }
          } else {  // [N, C, pos]: channel by channel, contiguous over positions
            for (int64_t pos = 0; pos < in_sz; ++pos) dst[pos] = -int32_t(cg) * zp;
            for (int64_t c = 0; c < cg; ++c) {
              const auto* px = x + (n * c_ + c0 + c) * in_sz;
              for (int64_t pos = 0; pos < in_sz; ++pos) dst[pos] += int32_t(px[pos]);
            }
          }
        };
        if (u8) accumulate(static_cast<const uint8_t*>(xv));
        else accumulate(static_cast<const int8_t*>(xv));
      }
    });
    // Output pixels in chunks: their window sums first, then each channel's row (plain layout) or each
    // pixel's channels (channels-last) updated contiguously.
    constexpr int64_t kChunk = 256;
    const int64_t chunks = (out_sz + kChunk - 1) / kChunk;
    parallel_for(n_ * groups_ * chunks, n_ * groups_ * out_sz * (k_sz + og), [&](int64_t lo, int64_t hi) {
      int32_t window[kChunk];
      for (int64_t i = lo; i < hi; ++i) {
        const int64_t ng = i / chunks, p0 = i % chunks * kChunk, p1 = std::min(out_sz, p0 + kChunk);
        const int64_t n = ng / groups_, grp = ng % groups_;
        const int32_t* src = sums + ng * in_sz;
        for (int64_t p = p0; p < p1; ++p) {
          const auto origin = g.window_origin(p);
          int32_t acc = 0;
          for (int64_t t = 0; t < k_sz; ++t) {
            const int64_t pos = g.input_position(origin, t);
            if (pos >= 0) acc += src[pos];
          }
          window[p - p0] = acc;
        }
        const int32_t* offsets = form_.weight_offsets.data();
        if (dst_cl_) {
          for (int64_t p = p0; p < p1; ++p) {
            int32_t* row = y + (n * out_sz + p) * o_;
            for (int64_t oc = grp * og; oc < (grp + 1) * og; ++oc) row[oc] += offsets[oc] * window[p - p0];
          }
        } else {
          for (int64_t oc = grp * og; oc < (grp + 1) * og; ++oc) {
            int32_t* row = y + (n * o_ + oc) * out_sz;
            for (int64_t p = p0; p < p1; ++p) row[p] += offsets[oc] * window[p - p0];
          }
        }
      }
    });
  }

  // graft's Max then Min, NaN propagating.
  void clamp(float* y) const {
    const float lo = float(form_.clip_lo), hi = float(form_.clip_hi);
    parallel_for(y_elems_, y_elems_, [&](int64_t b, int64_t e) { clamp_span(y + b, e - b, lo, hi); },
                 int64_t(1) << 16);
  }

  QuantizedConvolution form_;
  DType src_type_ = DType::U8, zp_type_ = DType::I32;
  DType out_type_ = DType::F32;
  bool out_f32_ = true, out_8bit_ = false, has_bias_ = false, hand_clamp_ = false, finite_constant_bias_ = false;
  int rank_ = 4;
  int64_t n_ = 0, c_ = 0, o_ = 0, groups_ = 1, y_elems_ = 0;
  WindowGeometry geometry_;  // for the loops that walk the windows by hand
  std::vector<int8_t> w_host_;  // the weights as given, kept only for the direct loop
  std::vector<float> scales_, scaled_bias_;
  std::unique_ptr<dnnl::convolution_forward> prim_;
  dnnl::stream stream_;
  dnnl::reorder src_reorder_, dst_reorder_, res_reorder_;
  memory src_mem_, dst_mem_, prim_src_, prim_dst_, w_mem_, bias_mem_, res_mem_, zp_mem_, dst_zp_mem_;
  bool reorder_src_ = false, reorder_dst_ = false, reorder_res_ = false;
  bool src_cl_ = false, dst_cl_ = false, res_cl_ = false;  // operands stored [N, spatial..., C]
  size_t src_bytes_ = 0, dst_bytes_ = 0, dst_bytes_plain_ = 0;
  int32_t zp_value_ = 0, dst_zp_value_ = 0;
};

}  // namespace

void register_quantized_conv_kernels(KernelRegistry& r) {
  r.add_custom_composite(QuantizedConvolution::kName,
                         [](const KernelArgs& a) -> std::unique_ptr<Kernel> { return std::make_unique<QuantizedConvKernel>(a); });
}

}  // namespace graft::cpu
