// The recurrence of an RNN / GRU / LSTM direction in one kernel (composite "rnn_scan", built by the
// ONNX recurrent converters). Unrolled, a 100-step bidirectional LSTM is thousands of small kernels;
// here each step is one oneDNN product of the state with the recurrent weights (primitives built
// once) followed by the gate arithmetic on rows that stay in cache.
//
// Inputs: xp [seq, batch, G*H] (input projection, biases folded in), rt [H, G*H] (R transposed),
//         h0 [batch, H], c0 [batch, H], then lens [batch] int64 (has_lens), peepholes [3H] i, o, f
//         (has_peep), the GRU h gate's recurrent bias [H] (has_rbh: linear_before_reset).
// ints:   {cell (0 RNN, 1 GRU, 2 LSTM), reverse, has_lens, has_peep, has_rbh, linear_before_reset,
//          input_forget, has_clip}; floats {clip}
// Outputs: Y [seq, batch, H] (zero past a batch entry's length), last h, last c.
// Gate orders follow ONNX: GRU z, r, h; LSTM i, o, f, c. Activations are the defaults (sigmoid, tanh).
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "backend/cpu/kernel.h"
#include "backend/cpu/onednn.h"
#include "backend/cpu/vector_math.h"

namespace graft::cpu {

namespace {

using dnnl::memory;

GRAFT_INLINE float sigmoid(float x) { return 1.0f / (1.0f + exp_fast(-x)); }
GRAFT_INLINE float clamp_to(float x, float c) { return x < -c ? -c : (x > c ? c : x); }

enum CellKind { kRnn = 0, kGru = 1, kLstm = 2 };

struct StepArgs {
  int64_t hidden;
  bool has_clip, lbr, input_forget;
  float clip;
  const float *peep, *rbh;
};

// LSTM gates of one batch row: pre = x + h R^T (i, o, f, c); updates c and h in place.
GRAFT_CLONES void lstm_row(const float* pre, float* c, float* h, const StepArgs& a) {
  const int64_t H = a.hidden;
  for (int64_t j = 0; j < H; ++j) {
    float pi = pre[j], po = pre[H + j], pf = pre[2 * H + j], pc = pre[3 * H + j];
    const float cp = c[j];
    if (a.peep) {
      pi += a.peep[j] * cp;
      pf += a.peep[2 * H + j] * cp;
    }
    if (a.has_clip) pi = clamp_to(pi, a.clip), pf = clamp_to(pf, a.clip), pc = clamp_to(pc, a.clip);
    const float i = sigmoid(pi);
    const float f = a.input_forget ? 1.0f - i : sigmoid(pf);
    const float cn = f * cp + i * tanh_f32(pc);
    if (a.peep) po += a.peep[H + j] * cn;
    if (a.has_clip) po = clamp_to(po, a.clip);
    c[j] = cn;
    h[j] = sigmoid(po) * tanh_f32(cn);
  }
}

GRAFT_CLONES void rnn_row(const float* pre, float* h, const StepArgs& a) {
  for (int64_t j = 0; j < a.hidden; ++j) h[j] = tanh_f32(a.has_clip ? clamp_to(pre[j], a.clip) : pre[j]);
}

class RecurrenceKernel final : public Kernel {
 public:
  explicit RecurrenceKernel(const KernelArgs& a) {
    const auto& at = std::get<CompositeAttrs>(a.op.attrs);
    cell_ = int(at.ints[0]);
    reverse_ = at.ints[1] != 0;
    has_lens_ = at.ints[2] != 0;
    has_peep_ = at.ints[3] != 0;
    has_rbh_ = at.ints[4] != 0;
    lbr_ = at.ints[5] != 0;
    input_forget_ = at.ints[6] != 0;
    has_clip_ = at.ints[7] != 0;
    clip_ = float(at.floats[0]);
    const Shape& xs = a.inputs[0].shape;
    seq_ = xs[0], batch_ = xs[1], H_ = a.inputs[2].shape[1];
    G_ = cell_ == kRnn ? 1 : cell_ == kGru ? 3 : 4;
    // The recurrent products: [batch, H] x [H, cols] into [batch, cols] for the gates that read h
    // directly (all but GRU's h gate without linear_before_reset, which reads r * h).
    direct_cols_ = cell_ == kGru && !lbr_ ? 2 * H_ : G_ * H_;
    auto& eng = onednn_engine();
    auto md = [](int64_t r, int64_t c, int64_t ld) {
      return memory::desc({r, c}, memory::data_type::f32, memory::dims{ld, 1});
    };
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(md(batch_, H_, H_), md(H_, direct_cols_, G_ * H_),
                                                       md(batch_, direct_cols_, direct_cols_)),
                                    eng);
    direct_ = dnnl::matmul(pd);
    h_mem_ = memory(md(batch_, H_, H_), eng, DNNL_MEMORY_NONE);
    rt_mem_ = memory(md(H_, direct_cols_, G_ * H_), eng, DNNL_MEMORY_NONE);
    rec_mem_ = memory(md(batch_, direct_cols_, direct_cols_), eng, DNNL_MEMORY_NONE);
    if (cell_ == kGru && !lbr_) {
      dnnl::matmul::primitive_desc pd2(dnnl::matmul::desc(md(batch_, H_, H_), md(H_, H_, G_ * H_), md(batch_, H_, H_)), eng);
      gate_h_ = dnnl::matmul(pd2);
      rh_mem_ = memory(md(H_, H_, G_ * H_), eng, DNNL_MEMORY_NONE);
      rs_mem_ = memory(md(batch_, H_, H_), eng, DNNL_MEMORY_NONE);
      hh_mem_ = memory(md(batch_, H_, H_), eng, DNNL_MEMORY_NONE);
    }
    stream_ = dnnl::stream(eng);
    h_.resize(size_t(batch_ * H_));
    c_.resize(size_t(batch_ * H_));
    rec_.resize(size_t(batch_ * direct_cols_));
    rs_.resize(size_t(batch_ * H_));
    hh_.resize(size_t(batch_ * H_));
    hn_.resize(size_t(batch_ * H_));
    cn_.resize(size_t(batch_ * H_));
    pre_.resize(size_t(G_ * H_));
  }

  void run(std::span<const void* const> in, std::span<void* const> out) override {
    const float* xp = static_cast<const float*>(in[0]);
    const float* rt = static_cast<const float*>(in[1]);
    size_t k = 4;
    const int64_t* lens = has_lens_ ? static_cast<const int64_t*>(in[k++]) : nullptr;
    const float* peep = has_peep_ ? static_cast<const float*>(in[k++]) : nullptr;
    const float* rbh = has_rbh_ ? static_cast<const float*>(in[k++]) : nullptr;
    float* y = static_cast<float*>(out[0]);
    const int64_t BH = batch_ * H_;
    std::memcpy(h_.data(), in[2], size_t(BH) * sizeof(float));
    std::memcpy(c_.data(), in[3], size_t(BH) * sizeof(float));
    StepArgs args{H_, has_clip_, lbr_, input_forget_, clip_, peep, rbh};
    h_mem_.set_data_handle(h_.data());
    rt_mem_.set_data_handle(const_cast<float*>(rt));
    rec_mem_.set_data_handle(rec_.data());
    if (cell_ == kGru && !lbr_) {
      rh_mem_.set_data_handle(const_cast<float*>(rt) + 2 * H_);
      rs_mem_.set_data_handle(rs_.data());
      hh_mem_.set_data_handle(hh_.data());
    }
    const int64_t GH = G_ * H_;
    std::vector<float>& pre = pre_;
    for (int64_t step = 0; step < seq_; ++step) {
      const int64_t t = reverse_ ? seq_ - 1 - step : step;
      direct_.execute(stream_, {{DNNL_ARG_SRC, h_mem_}, {DNNL_ARG_WEIGHTS, rt_mem_}, {DNNL_ARG_DST, rec_mem_}});
      stream_.wait();
      const float* xt = xp + t * batch_ * GH;
      if (cell_ == kGru && !lbr_) {
        // r first (it feeds the h gate's product), then the product of r * h with R_h.
        for (int64_t b = 0; b < batch_; ++b)
          for (int64_t j = 0; j < H_; ++j) {
            float v = xt[b * GH + H_ + j] + rec_[size_t(b * direct_cols_ + H_ + j)];
            if (has_clip_) v = clamp_to(v, clip_);
            rs_[size_t(b * H_ + j)] = sigmoid(v) * h_[size_t(b * H_ + j)];
          }
        gate_h_.execute(stream_, {{DNNL_ARG_SRC, rs_mem_}, {DNNL_ARG_WEIGHTS, rh_mem_}, {DNNL_ARG_DST, hh_mem_}});
        stream_.wait();
      }
      for (int64_t b = 0; b < batch_; ++b) {
        const float* xb = xt + b * GH;
        const float* rb = rec_.data() + b * direct_cols_;
        float* hn = hn_.data() + b * H_;
        float* cn = cn_.data() + b * H_;
        const float* hp = h_.data() + b * H_;
        std::memcpy(cn, c_.data() + b * H_, size_t(H_) * sizeof(float));
        if (cell_ == kLstm) {
          for (int64_t j = 0; j < GH; ++j) pre[size_t(j)] = xb[j] + rb[j];
          std::memcpy(hn, hp, size_t(H_) * sizeof(float));
          lstm_row(pre.data(), cn, hn, args);
        } else if (cell_ == kRnn) {
          for (int64_t j = 0; j < H_; ++j) pre[size_t(j)] = xb[j] + rb[j];
          rnn_row(pre.data(), hn, args);
        } else {
          for (int64_t j = 0; j < H_; ++j) {
            float zp = xb[j] + rb[j], rp = xb[H_ + j] + rb[H_ + j];
            if (has_clip_) zp = clamp_to(zp, clip_), rp = clamp_to(rp, clip_);
            const float z = sigmoid(zp);
            float hp_in;
            if (lbr_) {
              float recv = rb[2 * H_ + j] + (rbh ? rbh[j] : 0.0f);
              hp_in = xb[2 * H_ + j] + sigmoid(rp) * recv;
            } else {
              hp_in = xb[2 * H_ + j] + hh_[size_t(b * H_ + j)];
            }
            if (has_clip_) hp_in = clamp_to(hp_in, clip_);
            const float hh = tanh_f32(hp_in);
            hn[j] = (1.0f - z) * hh + z * hp[j];
          }
        }
        const bool active = !lens || t < lens[b];
        float* yt = y + (t * batch_ + b) * H_;
        if (active) {
          std::memcpy(yt, hn, size_t(H_) * sizeof(float));
        } else {
          std::memset(yt, 0, size_t(H_) * sizeof(float));
          std::memcpy(hn, hp, size_t(H_) * sizeof(float));
          std::memcpy(cn, c_.data() + b * H_, size_t(H_) * sizeof(float));
        }
      }
      std::swap(h_, hn_);
      std::swap(c_, cn_);
      h_mem_.set_data_handle(h_.data());
    }
    std::memcpy(out[1], h_.data(), size_t(BH) * sizeof(float));
    std::memcpy(out[2], c_.data(), size_t(BH) * sizeof(float));
  }

 private:
  int cell_ = kLstm;
  bool reverse_ = false, has_lens_ = false, has_peep_ = false, has_rbh_ = false, lbr_ = false, input_forget_ = false,
       has_clip_ = false;
  float clip_ = 0;
  int64_t seq_ = 0, batch_ = 0, H_ = 0, G_ = 4, direct_cols_ = 0;
  dnnl::matmul direct_, gate_h_;
  memory h_mem_, rt_mem_, rec_mem_, rh_mem_, rs_mem_, hh_mem_;
  dnnl::stream stream_;
  std::vector<float> h_, c_, rec_, rs_, hh_, hn_, cn_, pre_;
};

std::unique_ptr<Kernel> rnn_scan(const KernelArgs& a) {
  for (size_t i = 0; i < a.inputs.size(); ++i)
    if (a.inputs[i].dtype != DType::F32 && !(i == 4 && a.inputs[i].dtype == DType::I64)) return nullptr;
  const auto& at = std::get<CompositeAttrs>(a.op.attrs);
  if (at.ints.size() != 8 || a.inputs[0].shape[0] == 0 || a.inputs[0].shape[1] == 0) return nullptr;
  return std::make_unique<RecurrenceKernel>(a);
}

}  // namespace

void register_recurrent_kernels(KernelRegistry& r) { r.add_composite("rnn_scan", rnn_scan); }

}  // namespace graft::cpu
