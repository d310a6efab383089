// The recurrences of an RNN / GRU / LSTM layer in one kernel (composite "rnn_scan", built by the ONNX
// recurrent converters). Unrolled, a 100-step bidirectional LSTM is thousands of small kernels; here
// each step is one oneDNN product of the state with the recurrent weights (primitives built once, the
// weights packed once when they are constant) followed by the gate arithmetic on rows that stay in
// cache. The two directions of a bidirectional layer run at the same time, one thread each.
//
// Operands, parameters and results: RnnScanParams (graft/graph/composites.h). Gate orders follow ONNX:
// GRU z, r, h; LSTM i, o, f, c. Activations are the defaults (sigmoid, tanh).
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "backend/cpu/kernel.h"
#include "backend/cpu/onednn.h"
#include "backend/cpu/parallel.h"
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

// The gate arithmetic is written as plain loops over one batch row's H values, each loop doing one
// thing, so that GCC vectorizes them (with the AVX2/AVX-512 clones) and exp/tanh run 8 or 16 at a time.

GRAFT_CLONES void add_rows(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t j = 0; j < n; ++j) out[j] = a[j] + b[j];
}
GRAFT_CLONES void clamp_rows(float* x, int64_t n, float c) {
  for (int64_t j = 0; j < n; ++j) x[j] = clamp_to(x[j], c);
}
GRAFT_CLONES void sigmoid_rows(float* x, int64_t n) {
  for (int64_t j = 0; j < n; ++j) x[j] = sigmoid(x[j]);
}
GRAFT_CLONES void tanh_rows(float* x, int64_t n) {
  for (int64_t j = 0; j < n; ++j) x[j] = tanh_f32(x[j]);
}
GRAFT_CLONES void fma_rows(float* x, const float* a, const float* b, int64_t n) {  // x += a * b
  for (int64_t j = 0; j < n; ++j) x[j] += a[j] * b[j];
}

// LSTM, one batch row. g holds x + h R^T for the gates i, o, f, c (4H, overwritten); c and h are
// updated in place (h's old value is not read).
GRAFT_CLONES void lstm_row(float* g, float* c, float* h, const StepArgs& a) {
  const int64_t H = a.hidden;
  float *gi = g, *go = g + H, *gf = g + 2 * H, *gc = g + 3 * H;
  if (a.peep) {
    fma_rows(gi, a.peep, c, H);
    fma_rows(gf, a.peep + 2 * H, c, H);
  }
  if (a.has_clip) {
    clamp_rows(gi, H, a.clip);
    clamp_rows(gf, 2 * H, a.clip);  // f and c
  }
  sigmoid_rows(gi, H);
  if (a.input_forget) {
    for (int64_t j = 0; j < H; ++j) gf[j] = 1.0f - gi[j];
  } else {
    sigmoid_rows(gf, H);
  }
  tanh_rows(gc, H);
  for (int64_t j = 0; j < H; ++j) c[j] = gf[j] * c[j] + gi[j] * gc[j];
  if (a.peep) fma_rows(go, a.peep + H, c, H);
  if (a.has_clip) clamp_rows(go, H, a.clip);
  sigmoid_rows(go, H);
  for (int64_t j = 0; j < H; ++j) h[j] = c[j];
  tanh_rows(h, H);
  for (int64_t j = 0; j < H; ++j) h[j] *= go[j];
}

// GRU, one batch row: g holds x + h R^T for z and r (and, with linear_before_reset, the h gate's
// recurrent product in g[2H..3H)); hh_rec is (r * h) R_h otherwise. h_new = (1 - z) hh + z h.
GRAFT_CLONES void gru_row(float* g, const float* x_h, const float* hh_rec, const float* h, float* h_new,
                          const StepArgs& a) {
  const int64_t H = a.hidden;
  float *gz = g, *gr = g + H, *gh = g + 2 * H;
  if (a.has_clip) clamp_rows(gz, 2 * H, a.clip);
  sigmoid_rows(gz, 2 * H);  // z and r
  if (a.lbr) {
    if (a.rbh)
      for (int64_t j = 0; j < H; ++j) gh[j] += a.rbh[j];
    for (int64_t j = 0; j < H; ++j) gh[j] = x_h[j] + gr[j] * gh[j];
  } else {
    for (int64_t j = 0; j < H; ++j) gh[j] = x_h[j] + hh_rec[j];
  }
  if (a.has_clip) clamp_rows(gh, H, a.clip);
  tanh_rows(gh, H);
  for (int64_t j = 0; j < H; ++j) h_new[j] = (1.0f - gz[j]) * gh[j] + gz[j] * h[j];
}

GRAFT_CLONES void rnn_row(float* g, float* h, const StepArgs& a) {
  if (a.has_clip) clamp_rows(g, a.hidden, a.clip);
  tanh_rows(g, a.hidden);
  for (int64_t j = 0; j < a.hidden; ++j) h[j] = g[j];
}

// r * h for GRU without linear_before_reset (the operand of the h gate's product).
GRAFT_CLONES void reset_times_h(const float* x_r, const float* rec_r, const float* h, float* out, const StepArgs& a) {
  for (int64_t j = 0; j < a.hidden; ++j) out[j] = x_r[j] + rec_r[j];
  if (a.has_clip) clamp_rows(out, a.hidden, a.clip);
  sigmoid_rows(out, a.hidden);
  for (int64_t j = 0; j < a.hidden; ++j) out[j] *= h[j];
}

class Direction {
 public:
  // `const_rt`: the recurrent weights when they are a compile-time constant, else null. Each primitive
  // gets its own scratchpad, since directions may run concurrently.
  Direction(const KernelArgs& a, bool reverse, const float* const_rt) {
    const auto& p = composite_params<RnnScanParams>(a.op);
    cell_ = p.cell == RnnCell::Rnn ? kRnn : p.cell == RnnCell::Gru ? kGru : kLstm;
    reverse_ = reverse;
    has_lens_ = p.has_lens;
    has_peep_ = p.has_peepholes;
    has_rbh_ = p.has_recurrent_bias;
    lbr_ = p.linear_before_reset;
    input_forget_ = p.input_forget;
    has_clip_ = p.clip.has_value();
    clip_ = float(p.clip.value_or(0.0));
    const Shape& xs = a.inputs[0].shape;
    G_ = cell_ == kRnn ? 1 : cell_ == kGru ? 3 : 4;
    seq_ = xs[0], batch_ = xs[1], H_ = xs[2] / G_;
    // The recurrent products: [batch, H] x [H, cols] into [batch, cols] for the gates that read h
    // directly (all but GRU's h gate without linear_before_reset, which reads r * h).
    direct_cols_ = cell_ == kGru && !lbr_ ? 2 * H_ : G_ * H_;
    auto& eng = onednn_engine();
    auto md = [](int64_t r, int64_t c, int64_t ld) {
      return memory::desc({r, c}, memory::data_type::f32, memory::dims{ld, 1});
    };
    // The recurrent weights are a compile-time constant in inference: then they are packed into
    // oneDNN's preferred layout once, instead of on each of the seq products.
    auto any = [](int64_t r, int64_t c) { return memory::desc({r, c}, memory::data_type::f32, memory::format_tag::any); };
    // A product h [batch, H] x weights [H, cols] (a view of rt at column `col0`) into [batch, cols].
    auto product = [&](int64_t cols, int64_t col0, dnnl::matmul& prim, memory& w_mem) {
      memory::desc user_w = md(H_, cols, G_ * H_);
      dnnl::primitive_attr attr;
      attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
      dnnl::matmul::primitive_desc pd(
          dnnl::matmul::desc(md(batch_, H_, H_), const_rt ? any(H_, cols) : user_w, md(batch_, cols, cols)), attr, eng);
      prim = dnnl::matmul(pd);
      pads_.emplace_back(pd.scratchpad_desc(), eng);
      if (!const_rt) {
        w_mem = memory(user_w, eng, DNNL_MEMORY_NONE);
        return false;
      }
      w_mem = memory(pd.weights_desc(), eng);
      memory src(user_w, eng, const_cast<float*>(const_rt) + col0);
      dnnl::stream s(eng);
      dnnl::reorder(src, w_mem).execute(s, src, w_mem);
      s.wait();
      return true;
    };
    rt_packed_ = product(direct_cols_, 0, direct_, rt_mem_);
    h_mem_ = memory(md(batch_, H_, H_), eng, DNNL_MEMORY_NONE);
    rec_mem_ = memory(md(batch_, direct_cols_, direct_cols_), eng, DNNL_MEMORY_NONE);
    if (cell_ == kGru && !lbr_) {
      product(H_, 2 * H_, gate_h_, rh_mem_);
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

  // Runs the whole recurrence: y [seq, batch, H], the last h and c [batch, H].
  void run(const float* xp, const float* rt, const void* h0, const void* c0, const int64_t* lens, const float* peep,
           const float* rbh, float* y, void* h_out, void* c_out) {
    const int64_t BH = batch_ * H_;
    std::memcpy(h_.data(), h0, size_t(BH) * sizeof(float));
    std::memcpy(c_.data(), c0, size_t(BH) * sizeof(float));
    StepArgs args{H_, has_clip_, lbr_, input_forget_, clip_, peep, rbh};
    h_mem_.set_data_handle(h_.data());
    if (!rt_packed_) rt_mem_.set_data_handle(const_cast<float*>(rt));
    rec_mem_.set_data_handle(rec_.data());
    if (cell_ == kGru && !lbr_) {
      if (!rt_packed_) rh_mem_.set_data_handle(const_cast<float*>(rt) + 2 * H_);
      rs_mem_.set_data_handle(rs_.data());
      hh_mem_.set_data_handle(hh_.data());
    }
    const int64_t GH = G_ * H_;
    std::vector<float>& pre = pre_;
    for (int64_t step = 0; step < seq_; ++step) {
      const int64_t t = reverse_ ? seq_ - 1 - step : step;
      direct_.execute(stream_, {{DNNL_ARG_SRC, h_mem_}, {DNNL_ARG_WEIGHTS, rt_mem_}, {DNNL_ARG_DST, rec_mem_},
                                {DNNL_ARG_SCRATCHPAD, pads_[0]}});
      stream_.wait();
      const float* xt = xp + t * batch_ * GH;
      if (cell_ == kGru && !lbr_) {
        // r first (it feeds the h gate's product), then the product of r * h with R_h.
        for (int64_t b = 0; b < batch_; ++b)
          reset_times_h(xt + b * GH + H_, rec_.data() + b * direct_cols_ + H_, h_.data() + b * H_,
                        rs_.data() + b * H_, args);
        gate_h_.execute(stream_, {{DNNL_ARG_SRC, rs_mem_}, {DNNL_ARG_WEIGHTS, rh_mem_}, {DNNL_ARG_DST, hh_mem_},
                                  {DNNL_ARG_SCRATCHPAD, pads_[1]}});
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
          add_rows(xb, rb, pre.data(), GH);
          lstm_row(pre.data(), cn, hn, args);
        } else if (cell_ == kRnn) {
          add_rows(xb, rb, pre.data(), H_);
          rnn_row(pre.data(), hn, args);
        } else {
          add_rows(xb, rb, pre.data(), 2 * H_);
          if (lbr_) std::memcpy(pre.data() + 2 * H_, rb + 2 * H_, size_t(H_) * sizeof(float));
          gru_row(pre.data(), xb + 2 * H_, hh_.data() + b * H_, hp, hn, args);
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
    std::memcpy(h_out, h_.data(), size_t(BH) * sizeof(float));
    std::memcpy(c_out, c_.data(), size_t(BH) * sizeof(float));
  }

 private:
  int cell_ = kLstm;
  bool reverse_ = false, has_lens_ = false, has_peep_ = false, has_rbh_ = false, lbr_ = false, input_forget_ = false,
       has_clip_ = false;
  float clip_ = 0;
  bool rt_packed_ = false;  // rt_mem_ / rh_mem_ hold the constant weights, packed once
  int64_t seq_ = 0, batch_ = 0, H_ = 0, G_ = 4, direct_cols_ = 0;
  dnnl::matmul direct_, gate_h_;
  memory h_mem_, rt_mem_, rec_mem_, rh_mem_, rs_mem_, hh_mem_;
  dnnl::stream stream_;
  std::vector<float> h_, c_, rec_, rs_, hh_, hn_, cn_, pre_;
  std::vector<memory> pads_;  // per primitive: its scratchpad
};


// The kernel: one Direction per direction (the second one runs reversed). Operands
// come per direction in blocks: xp..., rt..., h0..., c0..., [lens], [peep...], [rbh...]; results y...,
// h..., c.... Two directions run concurrently, one thread each, when there are threads for it.
class RecurrenceKernel final : public Kernel {
 public:
  explicit RecurrenceKernel(const KernelArgs& a) {
    const auto& p = composite_params<RnnScanParams>(a.op);
    nd_ = p.directions;
    has_lens_ = p.has_lens;
    has_peep_ = p.has_peepholes;
    has_rbh_ = p.has_recurrent_bias;
    for (int d = 0; d < nd_; ++d)
      dirs_.push_back(std::make_unique<Direction>(a, d == 0 ? p.reverse : true,
                                                  static_cast<const float*>(a.constant_input(size_t(nd_ + d)))));
  }

  void run(std::span<const void* const> in, std::span<void* const> out) override {
    auto f = [&](size_t i) { return static_cast<const float*>(in[i]); };
    size_t k = size_t(4 * nd_);
    const int64_t* lens = has_lens_ ? static_cast<const int64_t*>(in[k++]) : nullptr;
    size_t peep0 = k;
    if (has_peep_) k += size_t(nd_);
    size_t rbh0 = k;
    auto one = [&](int d) {
      size_t i = size_t(d);
      dirs_[i]->run(f(i), f(size_t(nd_) + i), in[size_t(2 * nd_) + i], in[size_t(3 * nd_) + i], lens,
                    has_peep_ ? f(peep0 + i) : nullptr, has_rbh_ ? f(rbh0 + i) : nullptr,
                    static_cast<float*>(out[i]), out[size_t(nd_) + i], out[size_t(2 * nd_) + i]);
    };
    // Two directions run at once, one thread each (each direction's steps are sequential).
    parallel_for(nd_, nd_, [&](int64_t lo, int64_t hi) {
      for (int64_t d = lo; d < hi; ++d) one(int(d));
    }, /*min_work=*/2, /*max_threads=*/2);
  }

 private:
  int nd_ = 1;
  bool has_lens_ = false, has_peep_ = false, has_rbh_ = false;
  std::vector<std::unique_ptr<Direction>> dirs_;
};

std::unique_ptr<Kernel> rnn_scan(const KernelArgs& a) {
  for (size_t i = 0; i < a.inputs.size(); ++i)
    if (a.inputs[i].dtype != DType::F32 && a.inputs[i].dtype != DType::I64) return nullptr;
  if (a.inputs[0].shape[0] == 0 || a.inputs[0].shape[1] == 0) return nullptr;
  return std::make_unique<RecurrenceKernel>(a);
}

}  // namespace

void register_recurrent_kernels(KernelRegistry& r) { r.add(CompositeKind::RnnScan, rnn_scan); }

}  // namespace graft::cpu
