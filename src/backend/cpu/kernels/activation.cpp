// Fused kernels of the activation composites: softmax and log_softmax over any axis, gelu (erf and
// tanh forms) and silu (parameters: graft/graph/composites.h; shared machinery: row_math.h).
#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <type_traits>

#include "backend/cpu/kernels/row_math.h"

namespace graft::cpu {

namespace {

using namespace rows;

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
      parallel_for(outer_, total, [&](int64_t b, int64_t e) {
        log_ ? softmax_rows<C, true>(x, y, b, e, n_) : softmax_rows<C, false>(x, y, b, e, n_);
      });
    } else {
      int64_t items = outer_ * ((inner_ + kColumns - 1) / kColumns);
      parallel_for(items, total, [&](int64_t b, int64_t e) {
        log_ ? softmax_columns<C, true>(x, y, b, e, n_, inner_) : softmax_columns<C, false>(x, y, b, e, n_, inner_);
      });
    }
  }

  bool log_;
  DType dtype_;
  int64_t outer_ = 1, n_ = 1, inner_ = 1;
  std::vector<char> buf_;
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
        parallel_for((n_ + kPiece - 1) / kPiece, n_, [&](int64_t b, int64_t e) {
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

std::unique_ptr<Kernel> softmax(const KernelArgs& a) {
  return float_operands(a) ? std::make_unique<SoftmaxKernel>(a, false) : nullptr;
}
std::unique_ptr<Kernel> log_softmax(const KernelArgs& a) {
  return float_operands(a) ? std::make_unique<SoftmaxKernel>(a, true) : nullptr;
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

void register_activation_kernels(KernelRegistry& r) {
  r.add(CompositeKind::Softmax, softmax);
  r.add(CompositeKind::LogSoftmax, log_softmax);
  r.add(CompositeKind::Gelu, gelu);
  r.add(CompositeKind::Silu, silu);
}

}  // namespace graft::cpu
