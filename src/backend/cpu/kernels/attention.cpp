// Fused attention for f32: softmax(Q K^T * scale + mask) V in one kernel, built by the attention fusion
// pass (backend/cpu/attention_fusion.h) from the product -> scale -> mask -> softmax -> product chain of
// imported models. Q, K and V are read through strided views of their sources (so the head-split
// transposes in front cost nothing) and the result is written in the layout of the transpose that
// followed (so the head merge costs nothing either). The scores of a block of heads stay in a per-thread
// scratch buffer sized to fit in cache: they are never written to memory as a whole tensor. Rows of up to
// 256 scores are scaled, masked and normalized in registers (softmax_short).
//
// A cpu.attention op (FusedAttention in backend/cpu/lowered.h): inputs q_src, k_src, v_src[, mask].
// Logical Q = Transpose(q_src, q_perm) is [B, H, S, D], K = Transpose(k_src, k_perm) is [B, H, T, D],
// V = Transpose(v_src, v_perm) is [B, H, T, Dv]; the output is Transpose([B, H, S, Dv] result, out_perm).
// The mask is added to the scaled scores and broadcasts (NumPy rules) to [B, H, S, T].
// With CompileOptions::precision BF16 (and a CPU with native bf16) both products run on oneDNN's bf16
// matmul: Q, K and V blocks are gathered into dense bf16 copies, the scores come out f32, the mask,
// scale and softmax stay f32, and the probabilities are rounded to bf16 for the product with V.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "backend/cpu/kernel.h"
#include "backend/cpu/lowered.h"
#include "backend/cpu/onednn.h"
#include "backend/cpu/vec16.h"
#include "backend/cpu/vector_math.h"
#include "backend/cpu/kernels/small_gemm.h"
#include "backend/cpu/parallel.h"

namespace graft::cpu {

namespace {

using dnnl::memory;

constexpr int kLanes = 16;
constexpr int64_t kScratchBytes = 1 << 20;  // scores of one work item: about L2-sized

// Element strides of the logical view Transpose(src, perm) of a contiguous `src` shape.
std::vector<int64_t> view_strides(const Shape& src, const std::vector<int64_t>& perm) {
  std::vector<int64_t> own = src.strides(), out;
  for (int64_t p : perm) out.push_back(own[size_t(p)]);
  return out;
}

// f32 -> bf16 bits, rounded to nearest even (NaN stays a quiet NaN); inline so the gathers vectorize.
inline uint16_t bf16_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40u);
  return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// A row of 16 (NV - 1) < n <= 16 NV scores held in registers: one read and one write of the row where the
// general loop below makes four passes (MiniLM's 128-long rows: 0.125 vs 0.28-0.32 ms for 12 heads' scores,
// alone on one core). Lanes
// past n are -inf before the maximum and contribute exp(-inf) = 0 to the sum; NaN and infinities come out as
// the general loop gives them (exp16 is exp_fast lane by lane).
template <int NV>
GRAFT_INLINE void softmax_short(float* x, int64_t n, float scale, const float* mask, int64_t mask_stride) {
  const int64_t tail = n - 16 * (NV - 1);  // lanes of the last vector, 1..16
  const v16i lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  const float ninf = -__builtin_inff();
  v16 v[NV];
  v16 m = splat16(ninf);
  for (int i = 0; i < NV; ++i) {
    const bool part = i == NV - 1 && tail < 16;
    v16 xi = part ? load16_part(x + 16 * i, tail) : load16(x + 16 * i);
    if (mask) {
      v16 mi;
      if (mask_stride == 1)
        mi = part ? load16_part(mask + 16 * i, tail) : load16(mask + 16 * i);
      else if (mask_stride == 0)
        mi = splat16(mask[0]);
      else
        for (int l = 0; l < 16; ++l) mi[l] = 16 * i + l < n ? mask[(16 * i + l) * mask_stride] : 0.f;
      xi = xi * scale + mi;
    } else {
      xi = xi * scale;
    }
    if (part) xi = select16(lane < v16i{} + int32_t(tail), xi, splat16(ninf));
    v[i] = xi;
    m = select16(xi > m, xi, m);
  }
  const float mx = max_lane(m);
  v16 sum = {};
  for (int i = 0; i < NV; ++i) {
    v[i] = exp16(v[i] - mx);
    sum += v[i];
  }
  const float inv = 1.0f / sum_lanes(sum);
  for (int i = 0; i < NV; ++i) {
    if (i == NV - 1 && tail < 16)
      store16_part(x + 16 * i, v[i] * inv, tail);
    else
      store16(x + 16 * i, v[i] * inv);
  }
}

// Row r of the scores (length n): x = x * scale + mask, then softmax in place. mask may be null and
// its stride 0 (one value broadcast along the row).
GRAFT_CLONES void softmax_row(float* x, int64_t n, float scale, const float* mask, int64_t mask_stride) {
  switch ((n + 15) / 16) {  // rows of up to 256 in registers
#define GRAFT_SHORT_ROW(NV) \
  case NV: return softmax_short<NV>(x, n, scale, mask, mask_stride);
    GRAFT_SHORT_ROW(1) GRAFT_SHORT_ROW(2) GRAFT_SHORT_ROW(3) GRAFT_SHORT_ROW(4) GRAFT_SHORT_ROW(5) GRAFT_SHORT_ROW(6)
    GRAFT_SHORT_ROW(7) GRAFT_SHORT_ROW(8) GRAFT_SHORT_ROW(9) GRAFT_SHORT_ROW(10) GRAFT_SHORT_ROW(11)
    GRAFT_SHORT_ROW(12) GRAFT_SHORT_ROW(13) GRAFT_SHORT_ROW(14) GRAFT_SHORT_ROW(15) GRAFT_SHORT_ROW(16)
#undef GRAFT_SHORT_ROW
    default: break;
  }
  if (mask) {
    if (mask_stride == 1)
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] * scale + mask[i];
    else
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] * scale + mask[i * mask_stride];
  } else if (scale != 1.0f) {
    for (int64_t i = 0; i < n; ++i) x[i] *= scale;
  }
  float acc[kLanes];
  for (int l = 0; l < kLanes; ++l) acc[l] = -__builtin_inff();
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] = select(x[i + l] > acc[l], x[i + l], acc[l]);
  float m = -__builtin_inff();
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  for (int l = 0; l < kLanes; ++l) m = acc[l] > m ? acc[l] : m;
  float sums[kLanes] = {};
  i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      float e = exp_fast(x[i + l] - m);
      x[i + l] = e;
      sums[l] += e;
    }
  float s = 0;
  for (; i < n; ++i) {
    float e = exp_fast(x[i] - m);
    x[i] = e;
    s += e;
  }
  for (int l = 0; l < kLanes; ++l) s += sums[l];
  const float inv = 1.0f / s;
  for (i = 0; i < n; ++i) x[i] *= inv;
}

class AttentionKernel final : public Kernel {
 public:
  explicit AttentionKernel(const KernelArgs& a) {
    const FusedAttention& form = *lowered_form<FusedAttention>(a.op);
    has_mask_ = form.has_mask;
    scale_ = float(form.scale);
    const std::vector<int64_t> &qp = form.q_perm, &kp = form.k_perm, &vp = form.v_perm, &op = form.out_perm;
    const Shape &qs = a.inputs[0].shape, &ks = a.inputs[1].shape, &vs = a.inputs[2].shape;
    q_ = view_strides(qs, qp);
    k_ = view_strides(ks, kp);
    v_ = view_strides(vs, vp);
    B_ = qs[int(qp[0])], H_ = qs[int(qp[1])], S_ = qs[int(qp[2])], D_ = qs[int(qp[3])];
    T_ = ks[int(kp[2])], Dv_ = vs[int(vp[3])];
    // The output: logical [B, H, S, Dv] axis j sits at position pos[j] of the stored (transposed) result.
    Shape out = a.outputs[0].shape;
    std::vector<int64_t> own = out.strides();
    o_.assign(4, 0);
    for (int pos = 0; pos < 4; ++pos) o_[size_t(op[size_t(pos)])] = own[size_t(pos)];
    if (has_mask_) {
      const Shape& ms = a.inputs[3].shape;
      std::vector<int64_t> st = ms.strides();
      m_.assign(4, 0);
      for (int j = 0; j < ms.rank(); ++j) {
        int axis = 4 - ms.rank() + j;
        m_[size_t(axis)] = ms[j] == 1 ? 0 : st[size_t(j)];
      }
    }
    // Work items: (batch, block of `hc_` heads); the block keeps its scores within kScratchBytes and there
    // are enough items for every thread when possible.
    threads_ = std::max(1, omp_get_max_threads());
    hc_ = 1;
    for (int64_t c = H_; c >= 1; --c) {
      if (H_ % c) continue;
      if (c > 1 && c * S_ * T_ * int64_t(sizeof(float)) > kScratchBytes) continue;
      if (c > 1 && B_ * (H_ / c) < threads_) continue;
      hc_ = c;
      break;
    }
    items_ = B_ * (H_ / hc_);
    outer_parallel_ = items_ >= threads_ && threads_ > 1;
    // oneDNN needs one dense axis per matrix; otherwise the item is first gathered densely.
    q_dense_ = q_[3] == 1 || D_ == 1;
    k_dense_ = k_[3] == 1 || D_ == 1;
    v_dense_ = v_[3] == 1 || Dv_ == 1;
    o_dense_ = o_[3] == 1 || Dv_ == 1;
    bf16_ = products_in_bf16(a.options);
    if (bf16_) q_dense_ = k_dense_ = v_dense_ = false;  // always gathered, into bf16
    // f32 heads whose rows are contiguous run on small_gemm, one thread per item and one head at a time,
    // so that a head's scores stay in cache from the first product to the second (MiniLM b32: the attention
    // kernels 3-9% faster than with oneDNN's gemm per block of heads, GRAFT_PROFILE, same minutes). Where
    // the items are fewer than the threads, oneDNN's products split each item instead.
    own_products_ = !bf16_ && q_dense_ && k_dense_ && v_dense_ && o_dense_ && (outer_parallel_ || threads_ <= 1);
    if (own_products_) return;  // the rest builds oneDNN's products
    auto& eng = onednn_engine();
    auto md = [](int64_t b, int64_t x, int64_t y, int64_t sb, int64_t sx, int64_t sy,
                 memory::data_type t = memory::data_type::f32) {
      return memory::desc({b, x, y}, t, memory::dims{sb, sx, sy});
    };
    const auto in_t = bf16_ ? memory::data_type::bf16 : memory::data_type::f32;
    const int64_t c = hc_;
    memory::desc qmd = q_dense_ ? md(c, S_, D_, q_[1], q_[2], 1) : md(c, S_, D_, S_ * D_, D_, 1, in_t);
    memory::desc kmd = k_dense_ ? md(c, D_, T_, k_[1], 1, k_[2]) : md(c, D_, T_, T_ * D_, 1, D_, in_t);
    memory::desc smd = md(c, S_, T_, S_ * T_, T_, 1);
    memory::desc pmd = md(c, S_, T_, S_ * T_, T_, 1, in_t);  // the probabilities, as the second product reads them
    memory::desc vmd = v_dense_ ? md(c, T_, Dv_, v_[1], v_[2], 1) : md(c, T_, Dv_, T_ * Dv_, Dv_, 1, in_t);
    memory::desc omd = o_dense_ ? md(c, S_, Dv_, o_[1], o_[2], 1) : md(c, S_, Dv_, S_ * Dv_, Dv_, 1);
    // Several threads run these primitives at once (one item each): every thread brings its own
    // scratchpad instead of the library's shared one.
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::matmul::primitive_desc qk_pd(dnnl::matmul::desc(qmd, kmd, smd), attr, eng);
    dnnl::matmul::primitive_desc pv_pd(dnnl::matmul::desc(pmd, vmd, omd), attr, eng);
    qk_pad_ = qk_pd.scratchpad_desc();
    pv_pad_ = pv_pd.scratchpad_desc();
    qk_ = dnnl::matmul(qk_pd);
    pv_ = dnnl::matmul(pv_pd);
    qmd_ = qmd, kmd_ = kmd, smd_ = smd, pmd_ = pmd, vmd_ = vmd, omd_ = omd;
  }

  bool runs_bf16() const override { return bf16_; }

  void run(std::span<const void* const> in, std::span<void* const> out) override {
    const float* q = static_cast<const float*>(in[0]);
    const float* k = static_cast<const float*>(in[1]);
    const float* v = static_cast<const float*>(in[2]);
    const float* mask = has_mask_ ? static_cast<const float*>(in[3]) : nullptr;
    float* o = static_cast<float*>(out[0]);
    if (items_ == 0 || S_ == 0 || Dv_ == 0) return;
    // Scratch is made on the first run and reused: later runs allocate nothing.
    if (scratch_.empty())
      for (int t = 0; t < (outer_parallel_ ? threads_ : 1); ++t) scratch_.push_back(std::make_unique<Scratch>(*this));
    if (outer_parallel_) {
      parallel_for(items_, items_, [&](int64_t lo, int64_t hi) {
        Scratch& sc = *scratch_[size_t(omp_get_thread_num())];
        for (int64_t item = lo; item < hi; ++item) run_item(item, q, k, v, mask, o, sc, false);
      }, /*min_work=*/2, /*max_threads=*/threads_);
    } else {
      for (int64_t item = 0; item < items_; ++item) run_item(item, q, k, v, mask, o, *scratch_[0], true);
    }
  }

 private:
  // Per-thread buffers and oneDNN memory objects.
  struct Scratch {
    explicit Scratch(const AttentionKernel& k)
        : scores(size_t((k.own_products_ ? 1 : k.hc_) * k.S_ * k.T_)),  // own products: one head's at a time
          qbuf(k.q_dense_ || k.bf16_ ? 0 : size_t(k.hc_ * k.S_ * k.D_)),
          kbuf(k.k_dense_ || k.bf16_ ? 0 : size_t(k.hc_ * k.T_ * k.D_)),
          vbuf(k.v_dense_ || k.bf16_ ? 0 : size_t(k.hc_ * k.T_ * k.Dv_)),
          obuf(k.o_dense_ ? 0 : size_t(k.hc_ * k.S_ * k.Dv_)),
          kt(k.own_products_ ? size_t(k.D_ * k.T_) : 0) {
      if (!k.own_products_) {  // the oneDNN products' operands and scratchpads
        auto& eng = onednn_engine();
        stream = dnnl::stream(eng);
        qm = memory(k.qmd_, eng, DNNL_MEMORY_NONE);
        km = memory(k.kmd_, eng, DNNL_MEMORY_NONE);
        sm = memory(k.smd_, eng, DNNL_MEMORY_NONE);
        pm = memory(k.pmd_, eng, DNNL_MEMORY_NONE);
        vm = memory(k.vmd_, eng, DNNL_MEMORY_NONE);
        om = memory(k.omd_, eng, DNNL_MEMORY_NONE);
        qk_pad = memory(k.qk_pad_, eng);
        pv_pad = memory(k.pv_pad_, eng);
      }
      if (k.bf16_) {
        qh.resize(size_t(k.hc_ * k.S_ * k.D_));
        kh.resize(size_t(k.hc_ * k.T_ * k.D_));
        vh.resize(size_t(k.hc_ * k.T_ * k.Dv_));
        ph.resize(scores.size());
      }
    }
    std::vector<float> scores, qbuf, kbuf, vbuf, obuf;
    std::vector<float> kt;  // own products: one head's K^T, dense [D, T]
    std::vector<uint16_t> qh, kh, vh, ph;  // bf16: the dense bf16 copies of Q, K, V and the probabilities
    dnnl::stream stream;
    memory qm, km, sm, pm, vm, om;
    memory qk_pad, pv_pad;  // allocated by oneDNN, owned here (all of these empty with own products)
  };

  // Copies a [c, X, Y] strided block into dense order (as bf16 bits when T is uint16_t).
  template <typename T>
  static void gather(const float* src, int64_t c, int64_t x, int64_t y, int64_t sc, int64_t sx, int64_t sy, T* dst) {
    for (int64_t i = 0; i < c; ++i)
      for (int64_t j = 0; j < x; ++j)
        for (int64_t l = 0; l < y; ++l) {
          const float v = src[i * sc + j * sx + l * sy];
          if constexpr (std::is_same_v<T, uint16_t>)
            dst[(i * x + j) * y + l] = bf16_bits(v);
          else
            dst[(i * x + j) * y + l] = v;
        }
  }

  void run_item(int64_t item, const float* q, const float* k, const float* v, const float* mask, float* o,
                Scratch& sc, bool parallel_rows) const {
    const int64_t blocks = H_ / hc_;
    const int64_t b = item / blocks, h0 = (item % blocks) * hc_;
    const float* qi = q + b * q_[0] + h0 * q_[1];
    const float* ki = k + b * k_[0] + h0 * k_[1];
    const float* vi = v + b * v_[0] + h0 * v_[1];
    float* oi = o + b * o_[0] + h0 * o_[1];
    if (own_products_) {
      // One head at a time, so that its scores stay in cache from the first product to the second.
      float* scores = sc.scores.data();
      for (int64_t c = 0; c < hc_; ++c) {
        const float *qc = qi + c * q_[1], *kc = ki + c * k_[1], *vc = vi + c * v_[1];
        float* kt = sc.kt.data();
        for (int64_t e = 0; e < D_; ++e)
          for (int64_t t = 0; t < T_; ++t) kt[e * T_ + t] = kc[t * k_[2] + e];
        small_gemm(S_, T_, D_, qc, q_[2], kt, T_, scores, T_);
        for (int64_t i = 0; i < S_; ++i) {
          const float* mrow = mask ? mask + b * m_[0] + (h0 + c) * m_[1] + i * m_[2] : nullptr;
          softmax_row(scores + i * T_, T_, scale_, mrow, m_.empty() ? 0 : m_[3]);
        }
        small_gemm(S_, Dv_, T_, scores, T_, vc, v_[2], oi + c * o_[1], o_[2]);
      }
      return;
    }
    const void *qh = qi, *kh = ki, *vh = vi;  // what the products read
    if (bf16_) {
      gather(qi, hc_, S_, D_, q_[1], q_[2], q_[3], sc.qh.data()), qh = sc.qh.data();
      gather(ki, hc_, T_, D_, k_[1], k_[2], k_[3], sc.kh.data()), kh = sc.kh.data();
      gather(vi, hc_, T_, Dv_, v_[1], v_[2], v_[3], sc.vh.data()), vh = sc.vh.data();
    } else {
      if (!q_dense_) gather(qi, hc_, S_, D_, q_[1], q_[2], q_[3], sc.qbuf.data()), qh = sc.qbuf.data();
      if (!k_dense_) gather(ki, hc_, T_, D_, k_[1], k_[2], k_[3], sc.kbuf.data()), kh = sc.kbuf.data();
      if (!v_dense_) gather(vi, hc_, T_, Dv_, v_[1], v_[2], v_[3], sc.vbuf.data()), vh = sc.vbuf.data();
    }
    float* scores = sc.scores.data();
    if (D_ > 0) {
      sc.qm.set_data_handle(const_cast<void*>(qh));
      sc.km.set_data_handle(const_cast<void*>(kh));
      sc.sm.set_data_handle(scores);
      qk_.execute(sc.stream, {{DNNL_ARG_SRC, sc.qm}, {DNNL_ARG_WEIGHTS, sc.km}, {DNNL_ARG_DST, sc.sm},
                              {DNNL_ARG_SCRATCHPAD, sc.qk_pad}});
      sc.stream.wait();
    } else {
      std::fill(sc.scores.begin(), sc.scores.end(), 0.0f);
    }
    const int64_t rows = hc_ * S_;
    auto row = [&](int64_t r) {
      const int64_t hh = h0 + r / S_, i = r % S_;
      const float* mrow = mask ? mask + b * m_[0] + hh * m_[1] + i * m_[2] : nullptr;
      softmax_row(scores + r * T_, T_, scale_, mrow, m_.empty() ? 0 : m_[3]);
    };
    if (parallel_rows) {
      parallel_for(rows, rows * T_, [&](int64_t lo, int64_t hi) {
        for (int64_t r = lo; r < hi; ++r) row(r);
      }, /*min_work=*/int64_t(1) << 14);
    } else {
      for (int64_t r = 0; r < rows; ++r) row(r);
    }
    float* dst = o_dense_ ? oi : sc.obuf.data();
    if (bf16_) {
      for (size_t i = 0; i < sc.ph.size(); ++i) sc.ph[i] = bf16_bits(scores[i]);
      sc.pm.set_data_handle(sc.ph.data());
    } else {
      sc.pm.set_data_handle(scores);
    }
    sc.vm.set_data_handle(const_cast<void*>(vh));
    sc.om.set_data_handle(dst);
    pv_.execute(sc.stream, {{DNNL_ARG_SRC, sc.pm}, {DNNL_ARG_WEIGHTS, sc.vm}, {DNNL_ARG_DST, sc.om},
                            {DNNL_ARG_SCRATCHPAD, sc.pv_pad}});
    sc.stream.wait();
    if (!o_dense_)
      for (int64_t c = 0; c < hc_; ++c)
        for (int64_t i = 0; i < S_; ++i)
          for (int64_t e = 0; e < Dv_; ++e) oi[c * o_[1] + i * o_[2] + e * o_[3]] = dst[(c * S_ + i) * Dv_ + e];
  }

  bool has_mask_ = false;
  float scale_ = 1;
  std::vector<int64_t> q_, k_, v_, o_, m_;  // strides of the logical [B, H, *, *] views
  int64_t B_ = 0, H_ = 0, S_ = 0, T_ = 0, D_ = 0, Dv_ = 0;
  int64_t hc_ = 1, items_ = 0;
  int threads_ = 1;
  bool outer_parallel_ = false;
  bool q_dense_ = true, k_dense_ = true, v_dense_ = true, o_dense_ = true;
  bool bf16_ = false;  // both products in bf16 (CompileOptions::precision)
  bool own_products_ = false;  // both products on small_gemm, item by item
  memory::desc qmd_, kmd_, smd_, pmd_, vmd_, omd_, qk_pad_, pv_pad_;
  dnnl::matmul qk_, pv_;
  std::vector<std::unique_ptr<Scratch>> scratch_;  // one per thread of the outer loop
};

std::unique_ptr<Kernel> fused_attention(const KernelArgs& a) {
  for (const ValueType& t : a.inputs)
    if (t.dtype != DType::F32) return nullptr;
  if (a.outputs[0].dtype != DType::F32) return nullptr;
  if (a.op.inputs.size() < 3 || !lowered_form<FusedAttention>(a.op)) return nullptr;
  return std::make_unique<AttentionKernel>(a);
}

}  // namespace

void register_attention_kernels(KernelRegistry& r) { r.add_custom_composite(FusedAttention::kName, fused_attention); }

}  // namespace graft::cpu
