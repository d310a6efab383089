// Fused kernels for composite ops: softmax, log_softmax, layer_norm, rms_norm, gelu (erf and tanh
// forms) and silu. Each runs in one to three passes over a row that stays in cache, where the
// decomposition would write and re-read whole intermediate tensors. The f32 loops are compiled for
// several instruction sets (target_clones) and written so that GCC vectorizes them: fixed-width lane
// accumulators instead of scalar reductions, selects instead of branches, no libm calls. f64 computes in
// f64 with libm; f16/bf16 are widened to f32 scratch, computed as f32 and narrowed back.
//
// Parameters: SoftmaxParams, LayerNormParams, ... (graft/graph/composites.h).
#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <type_traits>

#include "backend/cpu/elementwise_program.h"
#include "backend/cpu/kernel.h"
#include "backend/cpu/vector_math.h"

namespace graft::cpu {

namespace {


constexpr int kLanes = 16;                 // independent accumulators: one AVX-512 register of f32
constexpr int64_t kBlock = 1024;           // partial sums in C for this many elements, then into double
constexpr int64_t kParallelMin = 1 << 15;  // below this many elements one thread is faster
constexpr int64_t kColumns = 256;          // columns per work item for reductions over a non-last axis

template <typename C>
GRAFT_INLINE C sqrt_c(C x) {
  if constexpr (std::is_same_v<C, float>)
    return __builtin_sqrtf(x);
  else
    return __builtin_sqrt(x);
}

template <typename C>
GRAFT_INLINE C exp_c(C x) {
  if constexpr (std::is_same_v<C, float>)
    return exp_fast(x);
  else
    return std::exp(x);
}

template <typename T>
constexpr bool is_half_v = std::is_same_v<T, float16> || std::is_same_v<T, bfloat16>;

// Runs f(begin, end) over [0, items), split into one contiguous range per OpenMP thread when the work
// (`elements` in all) is large enough to pay for waking the pool.
template <typename F>
void parallel_ranges(int64_t items, int64_t elements, F&& f) {
  if (items <= 0) return;
  if (items == 1 || elements < kParallelMin || omp_get_max_threads() == 1) {
    f(int64_t(0), items);
    return;
  }
#pragma omp parallel
  {
    int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    int64_t per = (items + nt - 1) / nt;
    int64_t b = std::min(items, t * per), e = std::min(items, b + per);
    if (b < e) f(b, e);
  }
}

// Widening / narrowing of 16-bit floats (and f32/f64 passing through), in parallel for large tensors.
template <typename S, typename D>
void convert(const S* s, D* d, int64_t n) {
  parallel_ranges(n, n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      if constexpr (is_half_v<D>)
        d[i] = D(float(s[i]));
      else
        d[i] = D(to_compute(s[i]));
    }
  });
}

// A scratch array of `count` C values kept in a byte vector that only grows (so a kernel allocates on
// its first run, not on every run).
template <typename C>
C* scratch(std::vector<char>& v, int64_t count) {
  size_t bytes = size_t(std::max<int64_t>(count, 1)) * sizeof(C);
  if (v.size() < bytes) v.resize(bytes);
  return reinterpret_cast<C*>(v.data());
}

// ---- row reductions (inlined into the cloned callers, so they vectorize for each target) -------------

template <typename C>
GRAFT_INLINE C row_max(const C* x, int64_t n) {
  C acc[kLanes];
  for (int l = 0; l < kLanes; ++l) acc[l] = -C(__builtin_inf());
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] = select(x[i + l] > acc[l], x[i + l], acc[l]);
  for (; i < n; ++i) acc[0] = x[i] > acc[0] ? x[i] : acc[0];
  C m = acc[0];
  for (int l = 1; l < kLanes; ++l) m = acc[l] > m ? acc[l] : m;
  return m;
}

// Sums of g(x[i]) over lanes, each block of kBlock elements finished in double so long rows keep
// their accuracy. When `store` is set, y[i] = g(x[i]) as well.
template <typename C, bool Store, typename G>
GRAFT_INLINE double row_sum(const C* x, C* y, int64_t n, G g) {
  double total = 0;
  for (int64_t b0 = 0; b0 < n; b0 += kBlock) {
    const int64_t b1 = n < b0 + kBlock ? n : b0 + kBlock;
    C acc[kLanes] = {};
    int64_t i = b0;
    for (; i + kLanes <= b1; i += kLanes)
      for (int l = 0; l < kLanes; ++l) {
        C v = g(x[i + l]);
        if constexpr (Store) y[i + l] = v;
        acc[l] += v;
      }
    for (; i < b1; ++i) {
      C v = g(x[i]);
      if constexpr (Store) y[i] = v;
      acc[0] += v;
    }
    C s = 0;
    for (int l = 0; l < kLanes; ++l) s += acc[l];
    total += double(s);
  }
  return total;
}

// ---- softmax / log_softmax ---------------------------------------------------------------------------

// Rows [r0, r1) of length n, contiguous (the reduced axis is the last one).
template <typename C, bool Log>
GRAFT_CLONES void softmax_rows(const C* x, C* y, int64_t r0, int64_t r1, int64_t n) {
  for (int64_t r = r0; r < r1; ++r) {
    const C* xr = x + r * n;
    C* yr = y + r * n;
    const C m = row_max(xr, n);
    if constexpr (Log) {
      double s = row_sum<C, false>(xr, nullptr, n, [m](C v) __attribute__((always_inline)) { return exp_c(v - m); });
      const C ls = C(std::log(s));
      for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - m) - ls;
    } else {
      double s = row_sum<C, true>(xr, yr, n, [m](C v) __attribute__((always_inline)) { return exp_c(v - m); });
      const C inv = C(1.0 / s);
      for (int64_t i = 0; i < n; ++i) yr[i] *= inv;
    }
  }
}

// Work items [i0, i1) of a [outer, n, inner] tensor reduced over n: item = (outer index, a block of up
// to kColumns columns). The loops run along the columns, which are contiguous.
template <typename C, bool Log>
GRAFT_CLONES void softmax_columns(const C* x, C* y, int64_t i0, int64_t i1, int64_t n, int64_t inner) {
  const int64_t blocks = (inner + kColumns - 1) / kColumns;
  alignas(64) C m[kColumns];
  alignas(64) C s[kColumns];
  for (int64_t item = i0; item < i1; ++item) {
    const int64_t o = item / blocks, c0 = (item % blocks) * kColumns;
    const int64_t w = inner - c0 < kColumns ? inner - c0 : kColumns;
    const C* xb = x + o * n * inner + c0;
    C* yb = y + o * n * inner + c0;
    for (int64_t j = 0; j < w; ++j) m[j] = -C(__builtin_inf());
    for (int64_t i = 0; i < n; ++i) {
      const C* xr = xb + i * inner;
      for (int64_t j = 0; j < w; ++j) m[j] = select(xr[j] > m[j], xr[j], m[j]);
    }
    for (int64_t j = 0; j < w; ++j) s[j] = 0;
    for (int64_t i = 0; i < n; ++i) {
      const C* xr = xb + i * inner;
      C* yr = yb + i * inner;
      for (int64_t j = 0; j < w; ++j) {
        C e = exp_c(xr[j] - m[j]);
        if constexpr (!Log) yr[j] = e;
        s[j] += e;
      }
    }
    if constexpr (Log) {
      for (int64_t j = 0; j < w; ++j) s[j] = std::log(s[j]);
      for (int64_t i = 0; i < n; ++i) {
        const C* xr = xb + i * inner;
        C* yr = yb + i * inner;
        for (int64_t j = 0; j < w; ++j) yr[j] = (xr[j] - m[j]) - s[j];
      }
    } else {
      for (int64_t j = 0; j < w; ++j) s[j] = C(1) / s[j];
      for (int64_t i = 0; i < n; ++i) {
        C* yr = yb + i * inner;
        for (int64_t j = 0; j < w; ++j) yr[j] *= s[j];
      }
    }
  }
}

class SoftmaxKernel final : public Kernel {
 public:
  SoftmaxKernel(const KernelArgs& a, bool log) : log_(log), dtype_(a.inputs[0].dtype) {
    const Shape& s = a.inputs[0].shape;
    const int axis = log ? composite_params<LogSoftmaxParams>(a.op).axis : composite_params<SoftmaxParams>(a.op).axis;
    for (int i = 0; i < s.rank(); ++i) (i < axis ? outer_ : i == axis ? n_ : inner_) *= s[i];
  }

  void run(std::span<const void* const> in, std::span<void* const> out) override {
    visit_dtype(dtype_, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
        compute<T>(static_cast<const T*>(in[0]), static_cast<T*>(out[0]));
      } else if constexpr (is_half_v<T>) {
        int64_t total = outer_ * n_ * inner_;
        float* buf = scratch<float>(buf_, total);
        convert(static_cast<const T*>(in[0]), buf, total);
        compute<float>(buf, buf);
        convert(buf, static_cast<T*>(out[0]), total);
      }
    });
  }
  // Each row is read completely (its maximum) before any of it is written.
  bool can_run_in_place(int input) const override { return input == 0; }

 private:
  template <typename C>
  void compute(const C* x, C* y) {
    int64_t total = outer_ * n_ * inner_;
    if (total == 0) return;
    if (inner_ == 1) {
      parallel_ranges(outer_, total, [&](int64_t b, int64_t e) {
        log_ ? softmax_rows<C, true>(x, y, b, e, n_) : softmax_rows<C, false>(x, y, b, e, n_);
      });
    } else {
      int64_t items = outer_ * ((inner_ + kColumns - 1) / kColumns);
      parallel_ranges(items, total, [&](int64_t b, int64_t e) {
        log_ ? softmax_columns<C, true>(x, y, b, e, n_, inner_) : softmax_columns<C, false>(x, y, b, e, n_, inner_);
      });
    }
  }

  bool log_;
  DType dtype_;
  int64_t outer_ = 1, n_ = 1, inner_ = 1;
  std::vector<char> buf_;
};

// ---- layer_norm / rms_norm ---------------------------------------------------------------------------

// Rows [r0, r1) of length n: y = (x - mean) * rsqrt(var + eps) [* scale] [+ bias], with scale and bias
// dense rows of length n (or null). Without Center (RMS norm) the mean is taken as 0.
template <typename C, bool Center>
GRAFT_CLONES void norm_rows(const C* x, C* y, int64_t r0, int64_t r1, int64_t n, const C* scale, const C* bias,
                            C eps) {
  for (int64_t r = r0; r < r1; ++r) {
    const C* xr = x + r * n;
    C* yr = y + r * n;
    C mean = 0;
    if constexpr (Center) mean = C(row_sum<C, false>(xr, nullptr, n, [](C v) __attribute__((always_inline)) { return v; }) / double(n));
    const C var = C(row_sum<C, false>(xr, nullptr, n, [mean](C v) __attribute__((always_inline)) { return (v - mean) * (v - mean); }) / double(n));
    const C rs = C(1) / sqrt_c(var + eps);
    if (scale && bias)
      for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - mean) * rs * scale[i] + bias[i];
    else if (scale)
      for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - mean) * rs * scale[i];
    else if (bias)
      for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - mean) * rs + bias[i];
    else
      for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - mean) * rs;
  }
}

// Per-row statistics only (mean and 1/sqrt(var + eps)), for the general broadcasting path.
template <typename C, bool Center>
void norm_stats(const C* x, int64_t rows, int64_t n, C eps, C* mean, C* rstd) {
  parallel_ranges(rows, rows * n, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const C* xr = x + r * n;
      C m = 0;
      if constexpr (Center) m = C(row_sum<C, false>(xr, nullptr, n, [](C v) __attribute__((always_inline)) { return v; }) / double(n));
      C var = C(row_sum<C, false>(xr, nullptr, n, [m](C v) __attribute__((always_inline)) { return (v - m) * (v - m); }) / double(n));
      mean[r] = m;
      rstd[r] = C(1) / std::sqrt(var + eps);
    }
  });
}

class NormKernel final : public Kernel {
 public:
  NormKernel(const KernelArgs& a, bool center) : center_(center), dtype_(a.inputs[0].dtype) {
    int axis = 0;
    bool has_scale = false, has_bias = false;
    if (center) {
      const auto& p = composite_params<LayerNormParams>(a.op);
      axis = p.axis, has_scale = p.has_scale, has_bias = p.has_bias, eps_ = p.epsilon;
    } else {
      const auto& p = composite_params<RmsNormParams>(a.op);
      axis = p.axis, has_scale = p.has_scale, eps_ = p.epsilon;
    }
    x_shape_ = a.inputs[0].shape;
    out_shape_ = a.outputs[0].shape;
    for (int i = 0; i < x_shape_.rank(); ++i) (i < axis ? rows_ : n_) *= x_shape_[i];
    size_t k = 1;
    for (bool has : {has_scale, has_bias})
      if (has) params_.emplace_back().shape = a.inputs[k++].shape;
    scale_index_ = has_scale ? 0 : -1;
    bias_index_ = has_bias ? int(params_.size()) - 1 : -1;
    // Fast path: the output has x's shape and scale/bias do not vary across the rows, so each is one
    // row of n values (read in place when already dense, else gathered once per run).
    const int out_rank = out_shape_.rank();
    const int lead = out_rank - x_shape_.rank() + axis;  // output axes before the normalized ones
    lead_ = lead;
    fast_ = out_shape_ == x_shape_;
    for (Param& p : params_) {
      p.strides = broadcast_strides(p.shape, out_shape_);
      for (int i = 0; i < lead; ++i) fast_ = fast_ && (p.strides[size_t(i)] == 0 || out_shape_[i] == 1);
      p.dense = p.shape.size() == n_;
      std::vector<int64_t> want = Shape(std::vector<int64_t>(out_shape_.dims().begin() + lead, out_shape_.dims().end())).strides();
      for (int i = lead; i < out_rank; ++i)
        p.dense = p.dense && (out_shape_[i] == 1 || p.strides[size_t(i)] == want[size_t(i - lead)]);
    }
    x_strides_ = broadcast_strides(x_shape_, out_shape_);
  }

  void run(std::span<const void* const> in, std::span<void* const> out) override {
    visit_dtype(dtype_, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
        const T* p[2] = {nullptr, nullptr};
        for (size_t i = 0; i < params_.size(); ++i) p[i] = static_cast<const T*>(in[1 + i]);
        compute<T>(static_cast<const T*>(in[0]), p, static_cast<T*>(out[0]));
      } else if constexpr (is_half_v<T>) {
        // Widen every operand to f32, compute, narrow the result.
        float* x = scratch<float>(xbuf_, x_shape_.size());
        convert(static_cast<const T*>(in[0]), x, x_shape_.size());
        const float* p[2] = {nullptr, nullptr};
        for (size_t i = 0; i < params_.size(); ++i) {
          float* w = scratch<float>(params_[i].wide, params_[i].shape.size());
          convert(static_cast<const T*>(in[1 + i]), w, params_[i].shape.size());
          p[i] = w;
        }
        float* y = fast_ ? x : scratch<float>(ybuf_, out_shape_.size());
        compute<float>(x, p, y);
        convert(y, static_cast<T*>(out[0]), out_shape_.size());
      }
    });
  }
  bool can_run_in_place(int input) const override { return input == 0 && fast_; }

 private:
  struct Param {
    Shape shape;
    std::vector<int64_t> strides;  // broadcast against the output
    bool dense = false;            // already one contiguous row of n values
    std::vector<char> row;         // the gathered row when not dense
    std::vector<char> wide;        // f32 copy for 16-bit inputs
  };

  template <typename C>
  void compute(const C* x, const C* const* p, C* y) {
    if (out_shape_.size() == 0) return;
    const C eps = C(eps_);
    if (fast_) {
      const C* rowp[2] = {nullptr, nullptr};
      for (size_t i = 0; i < params_.size(); ++i) rowp[i] = param_row<C>(params_[i], p[i]);
      const C* scale = scale_index_ >= 0 ? rowp[scale_index_] : nullptr;
      const C* bias = bias_index_ >= 0 ? rowp[bias_index_] : nullptr;
      parallel_ranges(rows_, rows_ * n_, [&](int64_t b, int64_t e) {
        center_ ? norm_rows<C, true>(x, y, b, e, n_, scale, bias, eps)
                : norm_rows<C, false>(x, y, b, e, n_, scale, bias, eps);
      });
      return;
    }
    // General broadcasting: statistics per row of x, then one strided pass over the output.
    C* mean = scratch<C>(mean_, rows_);
    C* rstd = scratch<C>(rstd_, rows_);
    center_ ? norm_stats<C, true>(x, rows_, n_, eps, mean, rstd) : norm_stats<C, false>(x, rows_, n_, eps, mean, rstd);
    const int rank = out_shape_.rank();
    const std::vector<int64_t>& dims = out_shape_.dims();
    std::vector<int64_t> idx(size_t(rank), 0);
    const C* scale = scale_index_ >= 0 ? p[scale_index_] : nullptr;
    const C* bias = bias_index_ >= 0 ? p[bias_index_] : nullptr;
    const std::vector<int64_t>* ss = scale_index_ >= 0 ? &params_[size_t(scale_index_)].strides : nullptr;
    const std::vector<int64_t>* bs = bias_index_ >= 0 ? &params_[size_t(bias_index_)].strides : nullptr;
    int64_t xo = 0, so = 0, bo = 0;
    for (int64_t i = 0, total = out_shape_.size(); i < total; ++i) {
      int64_t row = xo / n_;
      C v = (x[xo] - mean[row]) * rstd[row];
      if (scale) v = v * scale[so];
      if (bias) v = v + bias[bo];
      y[i] = v;
      for (int ax = rank - 1; ax >= 0; --ax) {  // odometer step, keeping the three offsets in sync
        size_t a = size_t(ax);
        xo += x_strides_[a];
        if (ss) so += (*ss)[a];
        if (bs) bo += (*bs)[a];
        if (++idx[a] < dims[a]) break;
        xo -= x_strides_[a] * dims[a];
        if (ss) so -= (*ss)[a] * dims[a];
        if (bs) bo -= (*bs)[a] * dims[a];
        idx[a] = 0;
      }
    }
  }

  // One dense row of n values for a parameter that does not vary across rows.
  template <typename C>
  const C* param_row(Param& prm, const C* data) {
    if (prm.dense) return data;
    C* row = scratch<C>(prm.row, n_);
    // Walk the normalized (trailing) axes of the output, from lead_ on.
    const int rank = out_shape_.rank();
    const int first = lead_;
    std::vector<int64_t> idx(size_t(rank), 0);
    int64_t off = 0;
    for (int64_t i = 0; i < n_; ++i) {
      row[i] = data[off];
      for (int ax = rank - 1; ax >= first; --ax) {
        size_t a = size_t(ax);
        off += prm.strides[a];
        if (++idx[a] < out_shape_.dims()[a]) break;
        off -= prm.strides[a] * out_shape_.dims()[a];
        idx[a] = 0;
      }
    }
    return row;
  }

  bool center_;
  DType dtype_;
  double eps_ = 0;
  Shape x_shape_, out_shape_;
  int64_t rows_ = 1, n_ = 1;
  int lead_ = 0;  // output axes before the normalized ones
  std::vector<Param> params_;
  int scale_index_ = -1, bias_index_ = -1;
  bool fast_ = false;
  std::vector<int64_t> x_strides_;
  std::vector<char> xbuf_, ybuf_, mean_, rstd_;
};

// ---- gelu / silu -------------------------------------------------------------------------------------

enum class Activation { GeluErf, GeluTanh, Silu };

template <Activation A>
GRAFT_INLINE float activate_f32(float x) {
  if constexpr (A == Activation::GeluErf) {
    return 0.5f * x * one_plus_erf_f32(x * 0.70710678118654752f);
  } else if constexpr (A == Activation::GeluTanh) {
    // 0.5 x (1 + tanh(u)) = x / (1 + exp(-2u)): one exp, and exact limits at both ends.
    const float u = 0.79788456080286536f * (x + 0.044715f * x * x * x);
    return x / (1.0f + exp_fast(-2.0f * u));
  } else {
    return x / (1.0f + exp_fast(-x));
  }
}

template <Activation A>
inline double activate_f64(double x) {
  if constexpr (A == Activation::GeluErf) {
    return 0.5 * x * std::erfc(-x * M_SQRT1_2);
  } else if constexpr (A == Activation::GeluTanh) {
    const double u = std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x);
    return 0.5 * x * (1.0 + std::tanh(u));
  } else {
    return x / (1.0 + std::exp(-x));
  }
}

template <typename T, Activation A>
GRAFT_CLONES void activate_range(const T* x, T* y, int64_t b, int64_t e) {
  if constexpr (std::is_same_v<T, float>) {
    for (int64_t i = b; i < e; ++i) y[i] = activate_f32<A>(x[i]);
  } else if constexpr (std::is_same_v<T, double>) {
    for (int64_t i = b; i < e; ++i) y[i] = activate_f64<A>(x[i]);
  } else {
    constexpr int64_t kChunk = 256;
    alignas(64) float buf[kChunk];
    for (int64_t c = b; c < e; c += kChunk) {
      const int64_t n = e - c < kChunk ? e - c : kChunk;
      for (int64_t i = 0; i < n; ++i) buf[i] = float(x[c + i]);
      for (int64_t i = 0; i < n; ++i) buf[i] = activate_f32<A>(buf[i]);
      for (int64_t i = 0; i < n; ++i) y[c + i] = T(buf[i]);
    }
  }
}

class ActivationKernel final : public Kernel {
 public:
  ActivationKernel(const KernelArgs& a, Activation act)
      : act_(act), dtype_(a.inputs[0].dtype), n_(a.inputs[0].shape.size()) {}

  void run(std::span<const void* const> in, std::span<void* const> out) override {
    visit_dtype(dtype_, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double> || is_half_v<T>) {
        const T* x = static_cast<const T*>(in[0]);
        T* y = static_cast<T*>(out[0]);
        // Split into pieces of whole cache lines so threads never share one.
        constexpr int64_t kPiece = 4096;
        parallel_ranges((n_ + kPiece - 1) / kPiece, n_, [&](int64_t b, int64_t e) {
          int64_t lo = b * kPiece, hi = std::min(n_, e * kPiece);
          switch (act_) {
            case Activation::GeluErf: activate_range<T, Activation::GeluErf>(x, y, lo, hi); break;
            case Activation::GeluTanh: activate_range<T, Activation::GeluTanh>(x, y, lo, hi); break;
            case Activation::Silu: activate_range<T, Activation::Silu>(x, y, lo, hi); break;
          }
        });
      }
    });
  }
  bool can_run_in_place(int input) const override { return input == 0; }

 private:
  Activation act_;
  DType dtype_;
  int64_t n_;
};

bool float_operands(const KernelArgs& a) {
  for (const ValueType& t : a.inputs)
    if (!is_floating(t.dtype) || t.dtype != a.inputs[0].dtype) return false;
  return a.outputs.size() == 1 && a.outputs[0].dtype == a.inputs[0].dtype;
}

std::unique_ptr<Kernel> softmax(const KernelArgs& a) {
  return float_operands(a) ? std::make_unique<SoftmaxKernel>(a, false) : nullptr;
}
std::unique_ptr<Kernel> log_softmax(const KernelArgs& a) {
  return float_operands(a) ? std::make_unique<SoftmaxKernel>(a, true) : nullptr;
}
std::unique_ptr<Kernel> layer_norm(const KernelArgs& a) {
  return float_operands(a) ? std::make_unique<NormKernel>(a, true) : nullptr;
}
std::unique_ptr<Kernel> rms_norm(const KernelArgs& a) {
  return float_operands(a) ? std::make_unique<NormKernel>(a, false) : nullptr;
}
std::unique_ptr<Kernel> gelu(const KernelArgs& a) {
  if (!float_operands(a)) return nullptr;
  const bool tanh_form = composite_params<GeluParams>(a.op).tanh_approximation;
  return std::make_unique<ActivationKernel>(a, tanh_form ? Activation::GeluTanh : Activation::GeluErf);
}
std::unique_ptr<Kernel> silu(const KernelArgs& a) {
  return float_operands(a) ? std::make_unique<ActivationKernel>(a, Activation::Silu) : nullptr;
}

}  // namespace

void register_composite_kernels(KernelRegistry& r) {
  r.add(CompositeKind::Softmax, softmax);
  r.add(CompositeKind::LogSoftmax, log_softmax);
  r.add(CompositeKind::LayerNorm, layer_norm);
  r.add(CompositeKind::RmsNorm, rms_norm);
  r.add(CompositeKind::Gelu, gelu);
  r.add(CompositeKind::Silu, silu);
}

}  // namespace graft::cpu
