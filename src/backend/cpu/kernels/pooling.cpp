// ReduceWindow: max / min / sum / mean over (strided, dilated, padded) windows; MaxPool and AvgPool.
//
// Semantics. Output coordinate o on an axis reads input coordinates o*stride - pad_low + w*dilation for
// w in [0, window). Coordinates outside the input are padding: they contribute nothing to Max/Min/Sum
// (the identity: -inf / +inf or the type's lowest / highest, and 0). Mean is ONNX AveragePool: the sum
// over the window divided by the number of real (non-padding) elements in it, or, with
// count_include_pad, by the number of taps in the window (the product of the window sizes; shapes are
// floor-mode, so every tap lies inside the padded input). A window made only of padding yields the
// identity for Max/Min, 0 for Sum, and 0 for Mean without count_include_pad. Max/Min propagate NaN.
// Integer sums wrap; integer means are computed in double and truncated toward zero. Bool supports
// Max (any) and Min (all).
//
// Layout. Leading axes with a trivial window (size 1, stride 1, dilation 1, no padding) are merged into
// independent "planes" (N*C for pooling over [N, C, H, W]); the remaining spatial axes get per-output-
// coordinate tables of the first valid input coordinate and the number of valid taps, so the inner
// loops never test for padding. Work is split over (plane, first spatial output coordinate) pairs. Two
// spatial axes (2-d pooling) have their own loop nest.
//
// Channels-last. Between channels-last convolutions (cpu_backend.cpp, channels_last_values) an f32
// [N, C, H, W] pooling reads and/or writes [N, H, W, C]: each tap is then C contiguous floats, pooled in
// SIMD lanes, and the convolutions around it need no reorder to and from NCHW (ResNet's stem max pool
// was 8% of its time in the strided NCHW loops, plus two reorders of its output).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "backend/cpu/kernel.h"
#include "backend/cpu/parallel.h"

namespace graft::cpu {

namespace {


struct SpatialAxis {
  int64_t out_dim = 1;
  int64_t step = 1;              // input elements between consecutive taps (dilation * stride of the axis)
  std::vector<int64_t> off, n;  // per output coordinate: input offset of the first valid tap, valid taps
};

struct WindowPlan {
  int64_t planes = 1, plane_in = 1, plane_out = 1;
  std::vector<SpatialAxis> axes;
  int64_t taps = 1;  // taps in a whole window
  bool include_pad = false;
};

WindowPlan make_plan(const ReduceWindowAttrs& at, const Shape& in, const Shape& out) {
  WindowPlan p;
  int r = in.rank();
  int lead = 0;
  while (lead < r && at.window[size_t(lead)] == 1 && at.strides[size_t(lead)] == 1 &&
         at.dilations[size_t(lead)] == 1 && at.pad_low[size_t(lead)] == 0 && at.pad_high[size_t(lead)] == 0)
    ++lead;
  for (int i = 0; i < lead; ++i) p.planes *= in[i];
  int64_t in_stride = 1;
  std::vector<SpatialAxis> rev;
  for (int i = r - 1; i >= lead; --i) {
    SpatialAxis s;
    s.out_dim = out[i];
    s.step = at.dilations[size_t(i)] * in_stride;
    int64_t d = in[i], w = at.window[size_t(i)], st = at.strides[size_t(i)], dil = at.dilations[size_t(i)];
    int64_t pl = at.pad_low[size_t(i)];
    for (int64_t o = 0; o < s.out_dim; ++o) {
      int64_t first = -1, count = 0;
      for (int64_t t = 0; t < w; ++t) {
        int64_t c = o * st - pl + t * dil;
        if (c < 0 || c >= d) continue;
        if (first < 0) first = c;
        ++count;
      }
      s.off.push_back(count ? first * in_stride : 0);
      s.n.push_back(count);
    }
    p.taps *= w;
    p.plane_in *= d;
    p.plane_out *= s.out_dim;
    in_stride *= d;
    rev.push_back(std::move(s));
  }
  p.axes.assign(rev.rbegin(), rev.rend());
  p.include_pad = at.count_include_pad;
  return p;
}

// The accumulator of one window reduction.
template <typename T, ReduceOp OP>
struct Acc {
  using C = compute_t<T>;
  static auto acc_tag() {
    if constexpr (OP == ReduceOp::Max || OP == ReduceOp::Min || !std::is_integral_v<T>) return C{};
    else if constexpr (OP == ReduceOp::Sum) return std::make_unsigned_t<T>{};
    else return double{};
  }
  using A = decltype(acc_tag());

  static A init() {
    if constexpr (OP == ReduceOp::Max)
      return std::numeric_limits<A>::has_infinity ? -std::numeric_limits<A>::infinity()
                                                  : std::numeric_limits<A>::lowest();
    else if constexpr (OP == ReduceOp::Min)
      return std::numeric_limits<A>::has_infinity ? std::numeric_limits<A>::infinity()
                                                  : std::numeric_limits<A>::max();
    else
      return A(0);
  }
  static A add(A acc, T x) {
    C v = to_compute(x);
    if constexpr (OP == ReduceOp::Max) {
      if constexpr (std::is_floating_point_v<C>) return (v != v || v > acc) ? v : acc;
      else return v > acc ? v : acc;
    } else if constexpr (OP == ReduceOp::Min) {
      if constexpr (std::is_floating_point_v<C>) return (v != v || v < acc) ? v : acc;
      else return v < acc ? v : acc;
    } else {
      return A(acc + A(v));
    }
  }
  static T finish(A acc, int64_t valid, int64_t taps, bool include_pad) {
    if constexpr (OP == ReduceOp::Mean) {
      int64_t count = include_pad ? taps : valid;
      if (count == 0) return T(C(0));
      if constexpr (std::is_integral_v<T>) return T(acc / double(count));
      else return T(C(acc / A(count)));
    } else if constexpr (std::is_integral_v<T>) {
      return T(acc);
    } else {
      return T(C(acc));
    }
  }
};

template <typename T, ReduceOp OP>
void run_window(const WindowPlan& p, const T* x, T* y) {
  using R = Acc<T, OP>;
  using A = typename R::A;
  const int k = int(p.axes.size());
  if (p.planes == 0 || p.plane_out == 0) return;
  const int64_t d0 = k ? p.axes[0].out_dim : 1;
  const int64_t rest = d0 ? p.plane_out / d0 : 0;  // outputs per (plane, first coordinate)
  const int64_t items = p.planes * d0;

  auto item = [&](int64_t it) {
    int64_t plane = it / d0, o0 = it % d0;
    const T* xp = x + plane * p.plane_in;
    T* yp = y + plane * p.plane_out + o0 * rest;
    if (k == 0) {
      yp[0] = R::finish(R::add(R::init(), xp[0]), 1, 1, p.include_pad);
      return;
    }
    const SpatialAxis& a0 = p.axes[0];
    const T* x0 = xp + a0.off[size_t(o0)];
    const int64_t n0 = a0.n[size_t(o0)];
    if (k == 1) {
      A acc = R::init();
      for (int64_t t = 0; t < n0; ++t) acc = R::add(acc, x0[t * a0.step]);
      yp[0] = R::finish(acc, n0, p.taps, p.include_pad);
      return;
    }
    if (k == 2) {
      const SpatialAxis& a1 = p.axes[1];
      const int64_t s1 = a1.step;
      for (int64_t o1 = 0; o1 < a1.out_dim; ++o1) {
        const T* x1 = x0 + a1.off[size_t(o1)];
        const int64_t n1 = a1.n[size_t(o1)];
        A acc = R::init();
        for (int64_t t0 = 0; t0 < n0; ++t0) {
          const T* row = x1 + t0 * a0.step;
          for (int64_t t1 = 0; t1 < n1; ++t1) acc = R::add(acc, row[t1 * s1]);
        }
        yp[o1] = R::finish(acc, n0 * n1, p.taps, p.include_pad);
      }
      return;
    }
    // Any number of spatial axes: an odometer over the output coordinates of axes 1.., and for each
    // output one over the valid taps of every axis.
    std::vector<int64_t> o(size_t(k), 0), t(size_t(k), 0), n(size_t(k), 0);
    for (int64_t j = 0; j < rest; ++j) {
      const T* base = x0;
      int64_t valid = n0;
      n[0] = n0;
      for (int a = 1; a < k; ++a) {
        base += p.axes[size_t(a)].off[size_t(o[size_t(a)])];
        n[size_t(a)] = p.axes[size_t(a)].n[size_t(o[size_t(a)])];
        valid *= n[size_t(a)];
      }
      A acc = R::init();
      if (valid > 0) {
        std::fill(t.begin(), t.end(), 0);
        int64_t off = 0;
        for (int64_t v = 0; v < valid; ++v) {
          acc = R::add(acc, base[off]);
          for (int a = k - 1; a >= 0; --a) {
            off += p.axes[size_t(a)].step;
            if (++t[size_t(a)] < n[size_t(a)]) break;
            off -= t[size_t(a)] * p.axes[size_t(a)].step;
            t[size_t(a)] = 0;
          }
        }
      }
      yp[j] = R::finish(acc, valid, p.taps, p.include_pad);
      for (int a = k - 1; a >= 1; --a) {
        if (++o[size_t(a)] < p.axes[size_t(a)].out_dim) break;
        o[size_t(a)] = 0;
      }
    }
  };

  int64_t work = p.planes * p.plane_out * std::max<int64_t>(p.taps, 1);
  parallel_for(items, work, [&](int64_t lo, int64_t hi) {
    for (int64_t it = lo; it < hi; ++it) item(it);
  });
}

// 2-d pooling of f32 [N, C, H, W] with either side stored channels-last.
struct Pool2dPlan {
  int64_t n = 0, c = 0, h = 0, w = 0, oh = 0, ow = 0;
  int64_t dil_h = 1, dil_w = 1, taps = 1;
  std::vector<int64_t> h_first, h_count, w_first, w_count;  // per output row / column: first valid input coordinate, valid taps
  bool include_pad = false, in_cl = false, out_cl = false;
};

Pool2dPlan make_pool2d_plan(const ReduceWindowAttrs& at, const Shape& in, const Shape& out, bool in_cl, bool out_cl) {
  Pool2dPlan p;
  p.n = in[0], p.c = in[1], p.h = in[2], p.w = in[3], p.oh = out[2], p.ow = out[3];
  p.dil_h = at.dilations[2], p.dil_w = at.dilations[3];
  p.taps = at.window[2] * at.window[3];
  p.include_pad = at.count_include_pad;
  p.in_cl = in_cl, p.out_cl = out_cl;
  auto table = [&](int axis, int64_t out_dim, std::vector<int64_t>& first, std::vector<int64_t>& count) {
    const size_t a = size_t(axis);
    for (int64_t o = 0; o < out_dim; ++o) {
      int64_t f = -1, k = 0;
      for (int64_t t = 0; t < at.window[a]; ++t) {
        int64_t c = o * at.strides[a] - at.pad_low[a] + t * at.dilations[a];
        if (c < 0 || c >= in[axis]) continue;
        if (f < 0) f = c;
        ++k;
      }
      first.push_back(std::max<int64_t>(f, 0));
      count.push_back(k);
    }
  };
  table(2, p.oh, p.h_first, p.h_count);
  table(3, p.ow, p.w_first, p.w_count);
  return p;
}

template <ReduceOp OP>
void run_pool2d(const Pool2dPlan& p, const float* x, float* y) {
  using R = Acc<float, OP>;
  const int64_t C = p.c, hw = p.h * p.w, ohw = p.oh * p.ow;
  // Element strides of the channel, row and column axes on each side.
  const int64_t in_c = p.in_cl ? 1 : hw, in_col = p.in_cl ? C : 1, in_row = p.w * in_col;
  const int64_t out_c = p.out_cl ? 1 : ohw, out_col = p.out_cl ? C : 1, out_row = p.ow * out_col;
  if (p.n * ohw * C == 0) return;
  const int64_t work = p.n * ohw * C * std::max<int64_t>(p.taps, 1);
  parallel_for(p.n * p.oh, work, [&](int64_t lo, int64_t hi) {
    std::vector<float> acc(static_cast<size_t>(C));
    float* a = acc.data();
    for (int64_t it = lo; it < hi; ++it) {
      const int64_t n = it / p.oh, i = it % p.oh;
      const float* xn = x + n * C * hw;
      float* yrow = y + n * C * ohw + i * out_row;
      for (int64_t j = 0; j < p.ow; ++j) {
        std::fill(acc.begin(), acc.end(), R::init());
        for (int64_t th = 0; th < p.h_count[size_t(i)]; ++th) {
          const float* xr = xn + (p.h_first[size_t(i)] + th * p.dil_h) * in_row;
          for (int64_t tw = 0; tw < p.w_count[size_t(j)]; ++tw) {
            const float* px = xr + (p.w_first[size_t(j)] + tw * p.dil_w) * in_col;
            if (in_c == 1) {
#pragma omp simd
              for (int64_t c = 0; c < C; ++c) a[c] = R::add(a[c], px[c]);
            } else {
              for (int64_t c = 0; c < C; ++c) a[c] = R::add(a[c], px[c * in_c]);
            }
          }
        }
        const int64_t valid = p.h_count[size_t(i)] * p.w_count[size_t(j)];
        float* py = yrow + j * out_col;
        if (out_c == 1) {
#pragma omp simd
          for (int64_t c = 0; c < C; ++c) py[c] = R::finish(a[c], valid, p.taps, p.include_pad);
        } else {
          for (int64_t c = 0; c < C; ++c) py[c * out_c] = R::finish(a[c], valid, p.taps, p.include_pad);
        }
      }
    }
  });
}

template <ReduceOp OP>
std::unique_ptr<Kernel> pool2d_kernel(Pool2dPlan plan) {
  return lambda_kernel([plan = std::move(plan)](std::span<const void* const> in, std::span<void* const> out) {
    run_pool2d<OP>(plan, static_cast<const float*>(in[0]), static_cast<float*>(out[0]));
  });
}

template <typename T, ReduceOp OP>
std::unique_ptr<Kernel> window_kernel(WindowPlan plan) {
  return lambda_kernel([plan = std::move(plan)](std::span<const void* const> in, std::span<void* const> out) {
    run_window<T, OP>(plan, static_cast<const T*>(in[0]), static_cast<T*>(out[0]));
  });
}

std::unique_ptr<Kernel> reduce_window(const KernelArgs& a) {
  const auto& at = std::get<ReduceWindowAttrs>(a.op.attrs);
  const Shape& in = a.inputs[0].shape;
  int r = in.rank();
  GRAFT_CHECK(int(at.window.size()) == r && int(at.strides.size()) == r && int(at.dilations.size()) == r &&
                  int(at.pad_low.size()) == r && int(at.pad_high.size()) == r,
              a.describe(), ": window attributes must have the operand's rank ", r);
  ReduceOp op = at.op;
  const bool in_cl = (a.channels_last_inputs & 1u) != 0;
  if (in_cl || a.channels_last_output) {
    GRAFT_CHECK(pooling_takes_channels_last(a.op), a.describe(), ": channels-last layout for a pooling that is not 2-d f32");
    Pool2dPlan plan = make_pool2d_plan(at, in, a.outputs[0].shape, in_cl, a.channels_last_output);
    switch (op) {
      case ReduceOp::Max: return pool2d_kernel<ReduceOp::Max>(std::move(plan));
      case ReduceOp::Min: return pool2d_kernel<ReduceOp::Min>(std::move(plan));
      case ReduceOp::Sum: return pool2d_kernel<ReduceOp::Sum>(std::move(plan));
      case ReduceOp::Mean: return pool2d_kernel<ReduceOp::Mean>(std::move(plan));
      default: return nullptr;
    }
  }
  WindowPlan plan = make_plan(at, in, a.outputs[0].shape);
  return visit_dtype(a.inputs[0].dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
    using T = decltype(tag);
    switch (op) {
      case ReduceOp::Max: return window_kernel<T, ReduceOp::Max>(std::move(plan));
      case ReduceOp::Min: return window_kernel<T, ReduceOp::Min>(std::move(plan));
      case ReduceOp::Sum:
        if constexpr (std::is_same_v<T, bool>) return nullptr;
        else return window_kernel<T, ReduceOp::Sum>(std::move(plan));
      case ReduceOp::Mean:
        if constexpr (std::is_same_v<T, bool>) return nullptr;
        else return window_kernel<T, ReduceOp::Mean>(std::move(plan));
      default: return nullptr;
    }
  });
}

}  // namespace

bool pooling_takes_channels_last(const Op& op) {
  if (op.kind != OpKind::ReduceWindow || op.outputs.size() != 1 || op.outputs[0].dtype != DType::F32 ||
      op.outputs[0].shape.rank() != 4)
    return false;
  const auto& at = std::get<ReduceWindowAttrs>(op.attrs);
  if (at.window.size() != 4 || at.strides.size() != 4 || at.dilations.size() != 4 || at.pad_low.size() != 4 ||
      at.pad_high.size() != 4)
    return false;
  for (size_t i = 0; i < 2; ++i)  // N and C: no window
    if (at.window[i] != 1 || at.strides[i] != 1 || at.dilations[i] != 1 || at.pad_low[i] != 0 || at.pad_high[i] != 0)
      return false;
  return at.op == ReduceOp::Max || at.op == ReduceOp::Min || at.op == ReduceOp::Sum || at.op == ReduceOp::Mean;
}

void register_pooling_kernels(KernelRegistry& r) { r.add(OpKind::ReduceWindow, reduce_window); }

}  // namespace graft::cpu
