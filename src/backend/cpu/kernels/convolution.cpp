// Convolution and transposed convolution (deconvolution) over [N, C, spatial...] tensors with 1 to 3
// spatial axes, ONNX layout: kernels are [O, C/groups, k...], or [C, O/groups, k...] when transposed.
//
// f32 runs through oneDNN (convolution_forward / deconvolution_forward). Weights that are a compile-time
// constant are reordered into oneDNN's layout once, others on every run; the user's weights
// are described to oneDNN with strides, which is also how the ONNX transposed-convolution kernel
// [C, O/G, k...] is presented as oneDNN's [G, O/G, C/G, k...] without a copy of our own. Activations
// are reordered to and from oneDNN's preferred layout per run (see OnednnConvolution for why), except
// values the executable keeps channels-last between convolutions (KernelArgs::channels_last_*). A
// cpu.convolution op (ConvolutionEpilogue: bias / residual / clamp / gate) runs bias, residual and the
// HardSwish or SiLU gate in oneDNN and the NaN-propagating clamp by hand.
// With CompileOptions::precision BF16 (and a CPU with native bf16), an f32 convolution runs on oneDNN's
// bf16 primitive: activations are converted by the reorder into the primitive's layout (which runs
// anyway), constant weights once at compile time; bias, residual, accumulation and result stay f32.
// f16/bf16 are widened to f32 around the same primitive. f64, and any geometry oneDNN declines
// (negative padding, output_padding beyond pad_high, empty axes), use a direct loop accumulating in
// double.
#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <unordered_map>
#include <cstdlib>
#include <cstring>

#include "backend/cpu/kernel.h"
#include "backend/cpu/lowered.h"
#include "backend/cpu/onednn.h"
#include "backend/cpu/parallel.h"
#include "backend/cpu/thread_scratch.h"
#include "backend/cpu/kernels/epilogue_math.h"

namespace graft::cpu {

namespace {

using dnnl::memory;

// The geometry with the spatial axes padded to three (leading axes of extent 1), so one loop nest
// serves 1-d, 2-d and 3-d.
struct ConvGeometry {
  int spatial = 0;
  int64_t n = 0, c = 0, o = 0, groups = 1;
  std::array<int64_t, 3> in{1, 1, 1}, out{1, 1, 1}, k{1, 1, 1}, stride{1, 1, 1}, dil{1, 1, 1}, pad{0, 0, 0};
  bool transposed = false;

  int64_t in_size() const { return in[0] * in[1] * in[2]; }
  int64_t out_size() const { return out[0] * out[1] * out[2]; }
  int64_t k_size() const { return k[0] * k[1] * k[2]; }
};

// A plain Convolution, or a cpu.convolution with its epilogue.
ConvolutionEpilogue convolution_form(const Op& op) {
  if (const ConvolutionEpilogue* f = lowered_form<ConvolutionEpilogue>(op)) return *f;
  return ConvolutionEpilogue{std::get<ConvolutionAttrs>(op.attrs)};
}

ConvGeometry make_geometry(const KernelArgs& a) {
  const ConvolutionAttrs at = convolution_form(a.op).conv;
  const Shape& x = a.inputs[0].shape;
  const Shape& w = a.inputs[1].shape;
  const Shape& y = a.outputs[0].shape;
  ConvGeometry g;
  g.spatial = x.rank() - 2;
  GRAFT_CHECK(g.spatial >= 1 && g.spatial <= 3, a.describe(), ": ", g.spatial,
              " spatial axes; the CPU backend supports 1 to 3");
  g.n = x[0];
  g.c = x[1];
  g.o = y[1];
  g.groups = at.groups;
  g.transposed = at.transposed;
  int off = 3 - g.spatial;
  for (int i = 0; i < g.spatial; ++i) {
    g.in[size_t(off + i)] = x[i + 2];
    g.out[size_t(off + i)] = y[i + 2];
    g.k[size_t(off + i)] = w[i + 2];
    g.stride[size_t(off + i)] = at.strides[size_t(i)];
    g.dil[size_t(off + i)] = at.dilations[size_t(i)];
    g.pad[size_t(off + i)] = at.pad_low[size_t(i)];
  }
  return g;
}

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// The positions p in [0, count) with p * stride + offset inside [0, limit).
std::pair<int64_t, int64_t> valid_range(int64_t offset, int64_t stride, int64_t limit, int64_t count) {
  int64_t lo = -floor_div(offset, stride);  // ceil(-offset / stride)
  int64_t hi = floor_div(limit - 1 - offset, stride) + 1;
  return {std::max<int64_t>(lo, 0), std::min(hi, count)};
}

// Direct loops accumulating in double, one (image, output channel) plane per task. For each input
// channel and kernel tap the plane is updated row by row with a unit-stride inner loop over the
// output (convolution: y[p] += w * x[p*s - pad + k*d]) or over the input (transposed:
// y[i*s - pad + k*d] += w * x[i], with w read from the [C, O/G, k...] kernel).
template <typename T>
void direct_convolution(const ConvGeometry& g, const T* x, const T* w, T* y) {
  const int64_t cg = g.c / g.groups, og = g.o / g.groups;
  const int64_t in_sz = g.in_size(), out_sz = g.out_size(), k_sz = g.k_size();
  const int64_t no = g.n * g.o;
parallel_for(no, no * out_sz * cg * k_sz, [&](int64_t lo, int64_t hi) {
    std::vector<double> acc(static_cast<size_t>(out_sz));
    for (int64_t nc = lo; nc < hi; ++nc) {
      const int64_t n = nc / g.o, oc = nc % g.o, grp = oc / og;
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t ci = 0; ci < cg; ++ci) {
        const int64_t ic = grp * cg + ci;
        const T* xp = x + (n * g.c + ic) * in_sz;
        const T* wp = g.transposed ? w + (ic * og + oc % og) * k_sz : w + (oc * cg + ci) * k_sz;
        for (int64_t k0 = 0; k0 < g.k[0]; ++k0)
          for (int64_t k1 = 0; k1 < g.k[1]; ++k1)
            for (int64_t k2 = 0; k2 < g.k[2]; ++k2) {
              const double wv = double(to_compute(wp[(k0 * g.k[1] + k1) * g.k[2] + k2]));
              const int64_t kk[3] = {k0, k1, k2};
              int64_t off[3];  // input offset (convolution) or output offset (transposed) of this tap
              std::pair<int64_t, int64_t> r[3];
              for (int d = 0; d < 3; ++d) {
                off[d] = kk[d] * g.dil[size_t(d)] - g.pad[size_t(d)];
                r[d] = g.transposed ? valid_range(off[d], g.stride[size_t(d)], g.out[size_t(d)], g.in[size_t(d)])
                                    : valid_range(off[d], g.stride[size_t(d)], g.in[size_t(d)], g.out[size_t(d)]);
              }
              const int64_t s2 = g.stride[2];
              for (int64_t a0 = r[0].first; a0 < r[0].second; ++a0)
                for (int64_t a1 = r[1].first; a1 < r[1].second; ++a1) {
                  const int64_t b0 = a0 * g.stride[0] + off[0], b1 = a1 * g.stride[1] + off[1];
                  if (!g.transposed) {
                    double* arow = acc.data() + (a0 * g.out[1] + a1) * g.out[2];
                    const T* xrow = xp + (b0 * g.in[1] + b1) * g.in[2] + off[2];
                    for (int64_t a2 = r[2].first; a2 < r[2].second; ++a2)
                      arow[a2] += wv * double(to_compute(xrow[a2 * s2]));
                  } else {
                    double* arow = acc.data() + (b0 * g.out[1] + b1) * g.out[2] + off[2];
                    const T* xrow = xp + (a0 * g.in[1] + a1) * g.in[2];
                    for (int64_t a2 = r[2].first; a2 < r[2].second; ++a2)
                      arow[a2 * s2] += wv * double(to_compute(xrow[a2]));
                  }
                }
            }
      }
      T* yp = y + nc * out_sz;
      for (int64_t i = 0; i < out_sz; ++i) {
        if constexpr (std::is_same_v<T, float16> || std::is_same_v<T, bfloat16>)
          yp[i] = T(float(acc[size_t(i)]));
        else
          yp[i] = static_cast<T>(acc[size_t(i)]);
      }
    }
  });
}

memory::format_tag channels_last_tag(int rank) {
  switch (rank) {
    case 3: return memory::format_tag::acb;
    case 4: return memory::format_tag::acdb;
    default: return memory::format_tag::acdeb;
  }
}

// Which operands are stored channels-last ([N, spatial..., C], see KernelArgs).
struct ConvLayouts {
  bool src = false, dst = false, residual = false;
};

memory::format_tag plain_tag(int rank) {
  switch (rank) {
    case 3: return memory::format_tag::abc;
    case 4: return memory::format_tag::abcd;
    case 5: return memory::format_tag::abcde;
    default: return memory::format_tag::abcdef;
  }
}

// Winograd for 3x3 stride-1 f32 convolutions (ResNet's and VGG's bodies). oneDNN's own choice
// (`convolution_auto`) never takes it on this CPU, but measured per layer with the reorders to and from its
// blocked layout included (docs/performance.md, session 22), F(2x2, 3x3) beat brgconv on every shape it
// accepts (ResNet-50 b2: 64ch 56x56 1.55 + 0.35 vs 2.81 ms; 512ch 7x7 1.84 + 0.06 vs 2.51 ms; ResNet-18 b1:
// 256ch 14x14 0.94 vs 1.35 ms), and F(4x4, 3x3) where its 4x4 output tiles cover the image exactly
// (128ch 28x28: 1.64 + 0.29 vs 2.70 ms) but not where they overhang it (256ch 14x14 at b2: 5.03 vs 4.49 ms).
// Both keep f32 accuracy well inside what the models are checked to (the transforms of F(2x2, 3x3) are exact
// in binary; ResNet outputs moved by < 1e-6 relative). The pick is a rule of the shapes, so every compile of
// a model computes the same way.
bool winograd_candidate(const ConvGeometry& g, const memory::dims& kdims, const memory::dims& strides,
                        const memory::dims& dilates, memory::data_type compute) {
  if (g.transposed || g.groups != 1 || g.spatial != 2 || compute != memory::data_type::f32) return false;
  for (size_t i = 0; i < 2; ++i)
    if (kdims[i] != 3 || strides[i] != 1 || dilates[i] != 0) return false;
  return g.c >= 16 && g.o >= 16;  // the blocked layouts pad channels to 16
}

// Fills `pd` with a Winograd implementation by the rule above, or returns false (then: direct).
bool pick_winograd(dnnl::convolution_forward::primitive_desc& pd, const memory::dims& src_dims,
                   const memory::dims& dst_dims, memory::data_type compute, const memory::desc& w_md,
                   const memory::desc& bias_md, const memory::dims& strides, const memory::dims& dilates,
                   const memory::dims& pad_l, const memory::dims& pad_r, const dnnl::primitive_attr& attr,
                   const ConvGeometry& g) {
  // oneDNN lists the implementations that accept the descriptor, best first by its own heuristics; a fresh
  // primitive_desc starts the list again. Its iterator keeps a pointer to the operation descriptor (not a
  // copy), so `op` must outlive every next_impl() call: built from a temporary descriptor, next_impl() read
  // a dead stack frame and crashed inside oneDNN (ResNet-18's 256-channel 14x14 layers, Release build).
  const dnnl::convolution_forward::desc op(
      dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_winograd,
      memory::desc(src_dims, compute, memory::format_tag::any), w_md, bias_md,
      memory::desc(dst_dims, memory::data_type::f32, memory::format_tag::any), strides, dilates, pad_l, pad_r);
  auto first = [&] { return dnnl::convolution_forward::primitive_desc(op, attr, onednn_engine()); };
  auto is = [&](const char* kernel) { return std::string(pd.impl_info_str()).find(kernel) != std::string::npos; };
  try {
    pd = first();
  } catch (const dnnl::error&) {
    return false;  // no Winograd implementation for this shape, post-ops or CPU
  }
  const bool tiles_fit = g.out[1] % 4 == 0 && g.out[2] % 4 == 0;
  bool four = false;
  do {
    if (is("wino_2x3")) return true;
    four |= tiles_fit && is("wino_4x3");
  } while (pd.next_impl());
  if (!four) return false;
  for (pd = first(); !is("wino_4x3");)  // back to the first F(4x4, 3x3) one
    if (!pd.next_impl()) return false;
  return true;
}

// The reordered weights and activations live in per-thread scratch (thread_scratch.h).
void* scratch(ScratchRole role, size_t bytes) { return thread_scratch(role, bytes, "Convolution"); }

// One f32 convolution as a oneDNN primitive, with the reorders that bring the weights and, where it
// pays, the activations into the primitive's layouts. Weights that are a compile-time constant are
// reordered once, here; run-time weights on every run. With `epilogue`, the bias (DNNL_ARG_BIAS) and the
// residual (a sum post-op: the residual is put in the destination first) are applied by oneDNN; the
// clamp never is (oneDNN's relu/clip post-ops turn NaN into 0, graft's Max/Min propagate it).
class OnednnConvolution {
 public:
  // Throws dnnl::error when oneDNN has no implementation for the geometry.
  // `layout_choice`: let oneDNN pick the activation layout where that pays (see below); false keeps
  // the plain one. `const_w`: the weights when they are a compile-time constant, else null.
  // `compute`: the type the primitive reads its source and weights in (f32, or bf16 for autocast).
  OnednnConvolution(const ConvGeometry& g, const ConvolutionEpilogue& ep, bool layout_choice, bool epilogue,
                    const float* const_w, ConvLayouts layouts = {},
                    memory::data_type compute = memory::data_type::f32) {
    const ConvolutionAttrs& at = ep.conv;
    const int s = g.spatial;
    const int off = 3 - s;
    memory::dims src_dims{g.n, g.c}, dst_dims{g.n, g.o}, kdims, strides, dilates, pad_l, pad_r;
    for (int i = 0; i < s; ++i) {
      src_dims.push_back(g.in[size_t(off + i)]);
      dst_dims.push_back(g.out[size_t(off + i)]);
      kdims.push_back(g.k[size_t(off + i)]);
      strides.push_back(at.strides[size_t(i)]);
      dilates.push_back(at.dilations[size_t(i)] - 1);  // oneDNN counts the gaps: 0 is dense
      pad_l.push_back(at.pad_low[size_t(i)]);
      // oneDNN derives the transposed output size from the padding alone, so output_padding is
      // folded into the high padding.
      pad_r.push_back(at.pad_high[size_t(i)] - (g.transposed ? at.output_padding[size_t(i)] : 0));
    }
    const int64_t G = g.groups, cg = g.c / G, og = g.o / G;
    int64_t k_sz = 1;
    for (int64_t d : kdims) k_sz *= d;
    // The user's weights as oneDNN sees them: [O, C/G, k...] or [G, O/G, C/G, k...]. For the
    // transposed kernel, stored [C, O/G, k...] = [G, C/G, O/G, k...], the O/G and C/G strides swap.
    memory::dims wdims, wstrides;
    const int64_t o_stride = g.transposed ? k_sz : cg * k_sz;
    const int64_t c_stride = g.transposed ? og * k_sz : k_sz;
    if (G > 1) {
      wdims = {G, og, cg};
      wstrides = {og * cg * k_sz, o_stride, c_stride};
    } else {
      wdims = {og, cg};
      wstrides = {o_stride, c_stride};
    }
    int64_t inner = k_sz;
    for (int i = 0; i < s; ++i) {
      wdims.push_back(kdims[size_t(i)]);
      inner /= kdims[size_t(i)];
      wstrides.push_back(inner);
    }
    auto& eng = onednn_engine();
    const auto f32 = memory::data_type::f32;
    memory::desc src_md(src_dims, f32, layouts.src ? channels_last_tag(s + 2) : plain_tag(s + 2));
    memory::desc dst_md(dst_dims, f32, layouts.dst ? channels_last_tag(s + 2) : plain_tag(s + 2));
    memory::desc res_md(dst_dims, f32, layouts.residual ? channels_last_tag(s + 2) : plain_tag(s + 2));
    memory::desc user_w_md(wdims, f32, wstrides);
    memory::desc any_w_md(wdims, compute, memory::format_tag::any);
    has_bias_ = epilogue && ep.has_bias;
    has_sum_ = epilogue && ep.has_residual;
    memory::desc bias_md = has_bias_ ? memory::desc({g.o}, f32, memory::format_tag::a) : memory::desc();
    // Activations: oneDNN's own layout (channels-last or channel-blocked, picked by `any`) with a reorder
    // in and out on every run measured 1.5-7x faster than its plain-layout (im2col + gemm) path on
    // 3x3, 7x7, depthwise, grouped, 3-d and transposed cases, reorders included. An unstrided,
    // unpadded 1x1 convolution is a plain matrix product on NCHW, where the reorders cost more than
    // they save (0.6 vs 1.1 ms for 256->64 at 56x56), so it keeps the plain layout.
    bool pointwise = !g.transposed && G == 1;
    for (int i = 0; i < s; ++i)
      pointwise &= kdims[size_t(i)] == 1 && strides[size_t(i)] == 1 && pad_l[size_t(i)] == 0 && pad_r[size_t(i)] == 0;
    // Where the neighbours keep the activations channels-last, the 1x1 one runs channels-last too.
    bool any_act = layout_choice && !pointwise;
    memory::desc src_req = any_act ? memory::desc(src_dims, compute, memory::format_tag::any)
                                   : memory::desc(src_dims, compute, layouts.src ? channels_last_tag(s + 2) : plain_tag(s + 2));
    memory::desc dst_req = any_act ? memory::desc(dst_dims, f32, memory::format_tag::any) : dst_md;
    if (layout_choice && pointwise && (layouts.src || layouts.dst)) {
      src_req = memory::desc(src_dims, compute, channels_last_tag(s + 2));
      dst_req = memory::desc(dst_dims, f32, channels_last_tag(s + 2));
    }
    const bool plain_src = !any_act && !layouts.src && !(layout_choice && pointwise && layouts.dst);
    dnnl::primitive_attr attr;
    // The residual, then the gate: HardSwish is x · min(max(x + 3, 0), 6) / 6 in oneDNN (NaN stays NaN
    // through the final product, ±inf as graft's form gives them), SiLU x / (1 + exp(-x)); both agree with
    // graft's element-wise forms to a few ulps. Not on the plain-layout (gemm) path, which an eltwise
    // post-op makes ~7x slower (1x1 96->240 at 48x48: 0.42 -> 2.9 ms): there the kernel applies the gate
    // by hand after the primitive (gate_in_primitive()).
    gate_in_primitive_ = epilogue && ep.gate != ConvolutionEpilogue::Gate::None && !plain_src;
    dnnl::post_ops po;
    if (has_sum_) po.append_sum(1.f);
    if (gate_in_primitive_ && ep.gate == ConvolutionEpilogue::Gate::HardSwish)
      po.append_eltwise(1.f, dnnl::algorithm::eltwise_hardswish, 0.f, 0.f);
    else if (gate_in_primitive_ && ep.gate == ConvolutionEpilogue::Gate::Swish)
      po.append_eltwise(1.f, dnnl::algorithm::eltwise_swish, 1.f, 0.f);
    if (po.len() > 0) attr.set_post_ops(po);
    memory::desc prim_w_md, prim_src_md, prim_dst_md;
    if (!g.transposed) {
      dnnl::convolution_forward::primitive_desc pd;
      const bool winograd = layout_choice && winograd_candidate(g, kdims, strides, dilates, compute) &&
                            pick_winograd(pd, src_dims, dst_dims, compute, any_w_md, bias_md, strides, dilates, pad_l,
                                          pad_r, attr, g);
      if (!winograd)
        pd = dnnl::convolution_forward::primitive_desc(
            dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                            src_req, any_w_md, bias_md, dst_req, strides, dilates, pad_l, pad_r),
            attr, eng);
      prim_w_md = pd.weights_desc();
      prim_src_md = pd.src_desc();
      prim_dst_md = pd.dst_desc();
      prim_ = dnnl::convolution_forward(pd);
    } else {
      dnnl::deconvolution_forward::primitive_desc pd(
          dnnl::deconvolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct,
                                            src_req, any_w_md, bias_md, dst_req, strides, dilates, pad_l, pad_r),
          attr, eng);
      prim_w_md = pd.weights_desc();
      prim_src_md = pd.src_desc();
      prim_dst_md = pd.dst_desc();
      prim_ = dnnl::deconvolution_forward(pd);
    }
    src_mem_ = memory(src_md, eng, DNNL_MEMORY_NONE);
    dst_mem_ = memory(dst_md, eng, DNNL_MEMORY_NONE);
    user_w_mem_ = memory(user_w_md, eng, DNNL_MEMORY_NONE);
    if (has_bias_) bias_mem_ = memory(bias_md, eng, DNNL_MEMORY_NONE);
    stream_ = dnnl::stream(eng);
    dst_bytes_plain_ = dst_md.get_size();
    // The reordered copies of run-time operands live in per-thread scratch (set per run); reorders into
    // blocked layouts write the padding lanes too, so nothing left there by another kernel leaks in.
    if (prim_w_md != user_w_md) {
      prim_w_mem_ = memory(prim_w_md, eng, DNNL_MEMORY_NONE);
      w_reorder_ = dnnl::reorder(user_w_mem_, prim_w_mem_);
      w_bytes_ = prim_w_md.get_size();
      reorder_w_ = true;
      if (const_w) {  // once: the kernel keeps its own copy in the primitive's layout
        const_w_.reset(static_cast<float*>(std::aligned_alloc(64, (w_bytes_ + 63) / 64 * 64)));
        if (!const_w_) fail("Convolution: cannot allocate ", w_bytes_, " bytes for the reordered weights");
        user_w_mem_.set_data_handle(const_cast<float*>(const_w));
        prim_w_mem_.set_data_handle(const_w_.get());
        w_reorder_.execute(stream_, user_w_mem_, prim_w_mem_);
        stream_.wait();
        reorder_w_ = false;
      }
    }
    if (prim_src_md != src_md) {
      prim_src_mem_ = memory(prim_src_md, eng, DNNL_MEMORY_NONE);
      src_reorder_ = dnnl::reorder(src_mem_, prim_src_mem_);
      src_bytes_ = prim_src_md.get_size();
      reorder_src_ = true;
    }
    if (prim_dst_md != dst_md) {
      prim_dst_mem_ = memory(prim_dst_md, eng, DNNL_MEMORY_NONE);
      dst_reorder_ = dnnl::reorder(prim_dst_mem_, dst_mem_);
      dst_bytes_ = prim_dst_md.get_size();
      reorder_dst_ = true;
    }
    if (has_sum_ && (reorder_dst_ || res_md != dst_md)) {  // the residual into the primitive's destination
      res_mem_ = memory(res_md, eng, DNNL_MEMORY_NONE);
      res_reorder_ = dnnl::reorder(res_mem_, reorder_dst_ ? prim_dst_mem_ : dst_mem_);
      reorder_res_ = true;
    }
  }

  bool gate_in_primitive() const { return gate_in_primitive_; }

  // `bias` and `residual` are read only when the primitive applies them (epilogue); `residual` may be `y`.
  void run(const float* x, const float* w, const float* bias, const float* residual, float* y) {
    src_mem_.set_data_handle(const_cast<float*>(x));
    dst_mem_.set_data_handle(y);
    if (reorder_w_) {
      user_w_mem_.set_data_handle(const_cast<float*>(w));
      prim_w_mem_.set_data_handle(scratch(ScratchRole::Weights, w_bytes_));
    } else if (!const_w_) {
      user_w_mem_.set_data_handle(const_cast<float*>(w));
    }
    if (has_bias_) bias_mem_.set_data_handle(const_cast<float*>(bias));
    if (reorder_src_) prim_src_mem_.set_data_handle(scratch(ScratchRole::Source, src_bytes_));
    if (reorder_dst_) prim_dst_mem_.set_data_handle(scratch(ScratchRole::Result, dst_bytes_));
    if (reorder_w_) w_reorder_.execute(stream_, user_w_mem_, prim_w_mem_);
    if (reorder_src_) src_reorder_.execute(stream_, src_mem_, prim_src_mem_);
    if (has_sum_) {
      if (reorder_res_) {  // (the kernel does not run in place when the layouts differ)
        res_mem_.set_data_handle(const_cast<float*>(residual));
        res_reorder_.execute(stream_, res_mem_, reorder_dst_ ? prim_dst_mem_ : dst_mem_);
      } else if (residual != y) {
        stream_.wait();
        std::memcpy(y, residual, dst_bytes_plain_);
      }
    }
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, reorder_src_ ? prim_src_mem_ : src_mem_},
                                         {DNNL_ARG_WEIGHTS, reorder_w_ || const_w_ ? prim_w_mem_ : user_w_mem_},
                                         {DNNL_ARG_DST, reorder_dst_ ? prim_dst_mem_ : dst_mem_}};
    if (has_bias_) args.emplace(DNNL_ARG_BIAS, bias_mem_);
    prim_.execute(stream_, args);
    if (reorder_dst_) dst_reorder_.execute(stream_, prim_dst_mem_, dst_mem_);
    stream_.wait();
  }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  dnnl::primitive prim_;
  dnnl::reorder w_reorder_, src_reorder_, dst_reorder_, res_reorder_;
  bool reorder_w_ = false, reorder_src_ = false, reorder_dst_ = false, reorder_res_ = false, has_bias_ = false,
       has_sum_ = false, gate_in_primitive_ = false;
  size_t w_bytes_ = 0, src_bytes_ = 0, dst_bytes_ = 0, dst_bytes_plain_ = 0;
  memory src_mem_, dst_mem_, user_w_mem_, prim_w_mem_, prim_src_mem_, prim_dst_mem_, bias_mem_, res_mem_;
  std::unique_ptr<float, Free> const_w_;  // constant weights, reordered once
  dnnl::stream stream_;
};

// y = gate(clamp((y + bias[channel]) + residual)) by hand, for the paths where oneDNN applies none or only
// part of it; the clamp is graft's Max then Min, NaN propagating. `residual` may be `y`'s old value
// only if the caller saved it: it is read after y is written.
void apply_epilogue(const ConvGeometry& g, float* y, const float* bias, const float* residual, float lo, float hi,
                    ConvolutionEpilogue::Gate gate = ConvolutionEpilogue::Gate::None) {
  const int64_t plane = g.out_size(), total = g.n * g.o * plane;
  const bool clamp = lo != -INFINITY || hi != INFINITY;
  if (!bias && !residual && !clamp && gate == ConvolutionEpilogue::Gate::None) return;
  parallel_for(g.n * g.o, total, [&](int64_t lo_nc, int64_t hi_nc) {
  for (int64_t nc = lo_nc; nc < hi_nc; ++nc) {
    float* yp = y + nc * plane;
    const float b = bias ? bias[nc % g.o] : 0.f;
    if (bias)
      for (int64_t i = 0; i < plane; ++i) yp[i] += b;
    if (residual) {
      const float* rp = residual + nc * plane;
      for (int64_t i = 0; i < plane; ++i) yp[i] += rp[i];
    }
    if (clamp) clamp_span(yp, plane, lo, hi);
    // The gates as graft's element-wise forms compute them (conv_epilogue.cpp).
    if (gate == ConvolutionEpilogue::Gate::HardSwish)
      hardswish_span(yp, plane);
    else if (gate == ConvolutionEpilogue::Gate::Swish)
      for (int64_t i = 0; i < plane; ++i) yp[i] = yp[i] * (1.f / (1.f + std::exp(-yp[i])));
  }
  });
}

class ConvolutionKernel final : public Kernel {
 public:
  explicit ConvolutionKernel(const KernelArgs& a) : g_(make_geometry(a)), dtype_(a.inputs[0].dtype) {
    ep_ = convolution_form(a.op);
    at_ = ep_.conv;
    has_epilogue_ = ep_.has_bias || ep_.has_residual || ep_.clip_lo != -INFINITY || ep_.clip_hi != INFINITY ||
                    ep_.gate != ConvolutionEpilogue::Gate::None;
    x_elems_ = a.inputs[0].shape.size();
    w_elems_ = a.inputs[1].shape.size();
    y_elems_ = a.outputs[0].shape.size();
    size_t next = 2;
    if (ep_.has_bias) bias_input_ = int(next++);
    if (ep_.has_residual) residual_input_ = int(next++);
    GRAFT_CHECK(a.inputs.size() == next, a.describe(), ": expected ", next, " operands, got ", a.inputs.size());
    GRAFT_CHECK(!has_epilogue_ || dtype_ == DType::F32, a.describe(), ": a fused epilogue needs f32");
    lo_ = float(ep_.clip_lo);
    hi_ = float(ep_.clip_hi);
    bool nonempty = x_elems_ > 0 && w_elems_ > 0 && y_elems_ > 0;
    bool nonnegative_pads = true;
    for (size_t i = 0; i < at_.pad_low.size(); ++i)
      nonnegative_pads &= at_.pad_low[i] >= 0 && at_.pad_high[i] - (g_.transposed ? at_.output_padding[i] : 0) >= 0;
    const float* const_w = dtype_ == DType::F32 ? static_cast<const float*>(a.constant_input(1)) : nullptr;
    layouts_.src = (a.channels_last_inputs & 1u) != 0;
    layouts_.dst = a.channels_last_output;
    layouts_.residual = residual_input_ >= 0 && ((a.channels_last_inputs >> residual_input_) & 1u) != 0;
    GRAFT_CHECK(dtype_ == DType::F32 || !(layouts_.src || layouts_.dst), a.describe(), ": channels-last needs f32");
    // bf16 first when asked for; a geometry oneDNN has no bf16 kernel for runs f32.
    const bool want_bf16 = dtype_ == DType::F32 && products_in_bf16(a.options);
    for (bool bf16 : {true, false}) {
      if (onednn_ || (bf16 && !want_bf16) || dtype_ == DType::F64 || !nonempty || !nonnegative_pads) continue;
      bf16_ = bf16;
      // Bias and residual inside the primitive where oneDNN takes them, else by hand afterwards (on
      // plain copies of channels-last operands).
      for (bool epilogue : {true, false}) {
        if (!epilogue && !has_epilogue_ && !(layouts_.src || layouts_.dst)) continue;
        for (bool layout_choice : {true, false}) {
          try {
            const bool fused = epilogue && (has_epilogue_ || layouts_.src || layouts_.dst);
            onednn_ = std::make_unique<OnednnConvolution>(g_, ep_, layout_choice, fused && has_epilogue_, const_w,
                                                          fused ? layouts_ : ConvLayouts{},
                                                          bf16_ ? memory::data_type::bf16 : memory::data_type::f32);
            onednn_epilogue_ = fused;
            break;
          } catch (const dnnl::error&) {
            onednn_.reset();  // with neither layout, the direct loop covers it
          }
        }
        if (onednn_) break;
      }
    }
    bf16_ = bf16_ && onednn_;
    if (dtype_ == DType::F16 || dtype_ == DType::BF16) {
      wx_.resize(size_t(x_elems_));
      ww_.resize(size_t(w_elems_));
      wy_.resize(size_t(y_elems_));
    }
  }

  bool runs_bf16() const override { return bf16_; }

  // The residual's buffer may become the output's: it is read (into the destination, or copied) before
  // the output is written, except on the by-hand path, which saves it first.
  bool can_run_in_place(int input) const override {
    return input == residual_input_ && layouts_.residual == layouts_.dst;
  }

  void run(std::span<const void* const> in, std::span<void* const> out) override {
    if (y_elems_ == 0) return;
    visit_dtype(dtype_, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_same_v<T, float>) {
        const float* x = static_cast<const float*>(in[0]);
        const float* w = static_cast<const float*>(in[1]);
        const float* bias = bias_input_ >= 0 ? static_cast<const float*>(in[size_t(bias_input_)]) : nullptr;
        const float* res = residual_input_ >= 0 ? static_cast<const float*>(in[size_t(residual_input_)]) : nullptr;
        float* y = static_cast<float*>(out[0]);
        if (onednn_ && onednn_epilogue_) {
          onednn_->run(x, w, bias, res, y);
          apply_epilogue(g_, y, nullptr, nullptr, lo_, hi_,
                         onednn_->gate_in_primitive() ? ConvolutionEpilogue::Gate::None : ep_.gate);
          return;
        }
        // By hand, on plain [N, C, spatial...] data: channels-last operands are converted.
        if (layouts_.src) x = to_plain(x, g_.n, g_.c, g_.in_size(), plain_x_);
        if (res && (layouts_.residual || res == y)) {  // (read after y is written: keep a copy)
          if (layouts_.residual)
            res = to_plain(res, g_.n, g_.o, g_.out_size(), saved_residual_);
          else
            res = (saved_residual_.assign(res, res + y_elems_), saved_residual_.data());
        }
        float* yp = y;
        if (layouts_.dst) {
          plain_y_.resize(size_t(y_elems_));
          yp = plain_y_.data();
        }
        if (onednn_)
          onednn_->run(x, w, nullptr, nullptr, yp);
        else
          direct_convolution<float>(g_, x, w, yp);
        apply_epilogue(g_, yp, bias, res, lo_, hi_, ep_.gate);
        if (layouts_.dst) {  // [N, C, S] -> [N, S, C]
          const int64_t C = g_.o, S = g_.out_size();
          for (int64_t n = 0; n < g_.n; ++n)
            for (int64_t c = 0; c < C; ++c)
              for (int64_t p = 0; p < S; ++p) y[(n * S + p) * C + c] = yp[(n * C + c) * S + p];
        }
      } else if constexpr (std::is_same_v<T, double>) {
        direct_convolution<double>(g_, static_cast<const double*>(in[0]), static_cast<const double*>(in[1]),
                                   static_cast<double*>(out[0]));
      } else if constexpr (std::is_same_v<T, float16> || std::is_same_v<T, bfloat16>) {
        widen(static_cast<const T*>(in[0]), wx_.data(), x_elems_);
        widen(static_cast<const T*>(in[1]), ww_.data(), w_elems_);
        if (onednn_)
          onednn_->run(wx_.data(), ww_.data(), nullptr, nullptr, wy_.data());
        else
          direct_convolution<float>(g_, wx_.data(), ww_.data(), wy_.data());
        T* y = static_cast<T*>(out[0]);
        const float* src = wy_.data();
        const int64_t n = y_elems_;
        parallel_for(n, n, [&](int64_t lo, int64_t hi) {
          for (int64_t i = lo; i < hi; ++i) y[i] = T(src[i]);
        }, int64_t(1) << 16);
      } else {
        fail("Convolution: unsupported dtype ", dtype_name(dtype_));
      }
    });
  }

 private:
  // [N, S, C] -> [N, C, S] into `buf`.
  static const float* to_plain(const float* src, int64_t N, int64_t C, int64_t S, std::vector<float>& buf) {
    buf.resize(size_t(N * C * S));
    for (int64_t n = 0; n < N; ++n)
      for (int64_t p = 0; p < S; ++p)
        for (int64_t c = 0; c < C; ++c) buf[size_t((n * C + c) * S + p)] = src[(n * S + p) * C + c];
    return buf.data();
  }

  template <typename T>
  static void widen(const T* s, float* d, int64_t n) {
    parallel_for(n, n, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) d[i] = float(s[i]);
    }, int64_t(1) << 16);
  }

  ConvGeometry g_;
  ConvolutionAttrs at_;
  DType dtype_;
  int64_t x_elems_ = 0, w_elems_ = 0, y_elems_ = 0;
  int bias_input_ = -1, residual_input_ = -1;
  float lo_ = -INFINITY, hi_ = INFINITY;
  ConvolutionEpilogue ep_;
  bool has_epilogue_ = false;
  std::unique_ptr<OnednnConvolution> onednn_;
  bool onednn_epilogue_ = false;
  bool bf16_ = false;  // the primitive multiplies in bf16 (CompileOptions::precision)
  ConvLayouts layouts_;
  std::vector<float> wx_, ww_, wy_, saved_residual_, plain_x_, plain_y_;
};

std::unique_ptr<Kernel> convolution(const KernelArgs& a) {
  GRAFT_CHECK(is_floating(a.inputs[0].dtype) && a.inputs[0].dtype == a.inputs[1].dtype, a.describe(),
              ": operands must share a floating dtype, got ", a.inputs[0].str(), " and ", a.inputs[1].str());
  return std::make_unique<ConvolutionKernel>(a);
}

}  // namespace

void register_convolution_kernels(KernelRegistry& r) {
  r.add(OpKind::Convolution, convolution);
  r.add_custom_composite(ConvolutionEpilogue::kName, convolution);
}

}  // namespace graft::cpu
