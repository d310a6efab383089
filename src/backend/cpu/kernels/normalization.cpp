// Fused kernels of the normalization composites layer_norm and rms_norm over the trailing axes, with
// optional scale and bias (parameters: graft/graph/composites.h; shared machinery: row_math.h).
#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <type_traits>

#include "backend/cpu/elementwise_program.h"
#include "backend/cpu/kernels/row_math.h"

namespace graft::cpu {

namespace {

using namespace rows;

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
  parallel_for(rows, rows * n, [&](int64_t r0, int64_t r1) {
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
      parallel_for(rows_, rows_ * n_, [&](int64_t b, int64_t e) {
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

std::unique_ptr<Kernel> layer_norm(const KernelArgs& a) {
  return float_operands(a) ? std::make_unique<NormKernel>(a, true) : nullptr;
}
std::unique_ptr<Kernel> rms_norm(const KernelArgs& a) {
  return float_operands(a) ? std::make_unique<NormKernel>(a, false) : nullptr;
}

}  // namespace

void register_normalization_kernels(KernelRegistry& r) {
  r.add(CompositeKind::LayerNorm, layer_norm);
  r.add(CompositeKind::RmsNorm, rms_norm);
}

}  // namespace graft::cpu
