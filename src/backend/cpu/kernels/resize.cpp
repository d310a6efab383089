// onnx.resize: ONNX Resize / Upsample in nearest and linear mode, the fused form the ONNX importer writes
// (src/onnx/ops/image.cpp, fused_resize) with tap tables it computed once as ONNX Runtime computes them.
//
// Semantics. Over the trailing `window` axes of x (leading axes are not resized), output position o of axis a
// reads, in nearest mode, input index lo_a[o] (-1: the position takes the extrapolation value); in linear mode
// indices lo_a[o] and hi_a[o] with weights wlo_a[o] and whi_a[o], and takes the extrapolation value where
// outside_a[o]. Linear windows of 2 and 3 axes sum their 4 and 8 taps in ONNX Runtime's order (its bilinear
// and trilinear loops): each tap's weight is the product of its axes' weights, innermost axis first, and the
// taps are added one by one, lower-x before upper-x, then lower-y before upper-y, then lower-z before upper-z.
// Every multiplication and addition is its own f32 operation (no fused multiply-add: ONNX Runtime's portable
// x86-64 build has none), so the results equal ONNX Runtime's bit for bit.
//
// Layout. Work is split over output rows (every output position but the innermost axis, leading axes
// included), each row a gather along the innermost axis through the precomputed index tables.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "backend/cpu/kernels/resize.h"
#include "backend/cpu/parallel.h"
#include "backend/cpu/vector_math.h"

// The taps must round as ONNX Runtime's separate multiplications and additions do: the compiler would otherwise
// fuse them into FMAs in the AVX2 / AVX-512 clones. (clang, which builds the sanitizer runs, ignores GCC's
// optimize pragma and takes the standard one.)
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#else
#pragma GCC optimize("fp-contract=off")
#endif

namespace graft::cpu {

namespace {

constexpr const char* kResizeName = "onnx.resize";

struct ResizeAxis {
  int64_t in = 1, out = 1;
  int64_t in_stride = 1;             // input elements between consecutive positions of the axis
  std::vector<int32_t> lo, hi;       // source indices per output position (nearest: lo only, -1 = extrapolate)
  std::vector<float> w_lo, w_hi;     // linear: the weights of lo and hi
  std::vector<uint8_t> outside;      // linear: 1 where the position takes the extrapolation value
  bool any_outside = false;
};

struct ResizePlan {
  bool linear = false, extrapolate = false;
  float extrapolation = 0;
  int64_t outer = 1;                 // product of the leading (not resized) axes
  int64_t in_block = 1, out_block = 1;  // elements of one leading index's window, in and out
  std::vector<ResizeAxis> axes;      // the window axes, outermost first
};

// Reads the importer's tables (layout: src/onnx/ops/image.cpp, kFusedResizeName) for input and output shapes.
ResizePlan decode(const CustomCompositeParams& p, const Shape& in, const Shape& out) {
  GRAFT_CHECK(p.ints.size() >= 3 && !p.floats.empty(), kResizeName, ": malformed parameters");
  ResizePlan plan;
  plan.linear = p.ints[0] == 1;
  const int window = int(p.ints[1]);
  plan.extrapolate = p.ints[2] != 0;
  plan.extrapolation = float(p.floats[0]);
  const int rank = in.rank();
  GRAFT_CHECK(window >= 1 && window <= rank && out.rank() == rank, kResizeName, ": window of ", window,
              " axes for input ", in.str(), " and output ", out.str());
  for (int a = 0; a < rank - window; ++a) {
    GRAFT_CHECK(in[a] == out[a], kResizeName, ": leading axis ", a, " changes from ", in[a], " to ", out[a]);
    plan.outer *= in[a];
  }
  size_t ii = 3, fi = 1;
  int64_t stride = 1;
  plan.axes.resize(size_t(window));
  for (int k = window - 1; k >= 0; --k) {  // strides from the innermost axis
    ResizeAxis& ax = plan.axes[size_t(k)];
    ax.in = in[rank - window + k], ax.out = out[rank - window + k];
    ax.in_stride = stride;
    stride *= ax.in;
  }
  for (ResizeAxis& ax : plan.axes) {
    GRAFT_CHECK(ax.in < (int64_t(1) << 31), kResizeName, ": axis of ", ax.in, " elements");
    const size_t n = size_t(ax.out), tables = plan.linear ? 3 : 1;
    GRAFT_CHECK(p.ints.size() >= ii + tables * n && p.floats.size() >= fi + (plan.linear ? 2 * n : 0), kResizeName,
                ": tables too short for output ", out.str());
    auto index = [&](size_t i) {
      int64_t v = p.ints[ii + i];
      GRAFT_CHECK(v >= -1 && v < ax.in, kResizeName, ": source index ", v, " outside an axis of ", ax.in);
      return int32_t(v);
    };
    for (size_t i = 0; i < n; ++i) ax.lo.push_back(index(i));
    if (plan.linear) {
      for (size_t i = 0; i < n; ++i) ax.hi.push_back(index(n + i));
      for (size_t i = 0; i < n; ++i) ax.outside.push_back(p.ints[ii + 2 * n + i] != 0 ? 1 : 0);
      for (size_t i = 0; i < n; ++i) ax.w_lo.push_back(float(p.floats[fi + i]));
      for (size_t i = 0; i < n; ++i) ax.w_hi.push_back(float(p.floats[fi + n + i]));
      for (size_t i = 0; i < n; ++i) GRAFT_CHECK(ax.lo[i] >= 0 && ax.hi[i] >= 0, kResizeName, ": negative linear index");
      fi += 2 * n;
    }
    ii += tables * n;
    ax.any_outside = std::find(ax.outside.begin(), ax.outside.end(), 1) != ax.outside.end() ||
                     std::find(ax.lo.begin(), ax.lo.end(), -1) != ax.lo.end();
  }
  GRAFT_CHECK(ii == p.ints.size() && fi == p.floats.size(), kResizeName, ": tables of the wrong length for output ",
              out.str());
  GRAFT_CHECK(plan.linear || window >= 1, kResizeName, ": empty window");
  for (const ResizeAxis& ax : plan.axes) plan.in_block *= ax.in, plan.out_block *= ax.out;
  return plan;
}

// ---- linear ------------------------------------------------------------------------------------------------

// One output row of a 2-axis window: r1 / r2 are the input rows of the lower and upper y index, weighted wy1 /
// wy2. The four taps as ONNX Runtime's bilinear loop sums them.
GRAFT_CLONES void bilinear_row(const float* __restrict r1, const float* __restrict r2, float wy1, float wy2,
                               const int32_t* __restrict x1, const int32_t* __restrict x2,
                               const float* __restrict wx1, const float* __restrict wx2, int64_t n,
                               float* __restrict y) {
  for (int64_t i = 0; i < n; ++i) {
    const float a = wx1[i] * wy1, b = wx2[i] * wy1, c = wx1[i] * wy2, d = wx2[i] * wy2;
    y[i] = a * r1[x1[i]] + b * r1[x2[i]] + c * r2[x1[i]] + d * r2[x2[i]];
  }
}

// One output row of a 3-axis window: rows[0..3] are the input rows (z1, y1), (z1, y2), (z2, y1), (z2, y2).
GRAFT_CLONES void trilinear_row(const float* const* rows, float wy1, float wy2, float wz1, float wz2,
                                const int32_t* __restrict x1, const int32_t* __restrict x2,
                                const float* __restrict wx1, const float* __restrict wx2, int64_t n,
                                float* __restrict y) {
  const float* __restrict r11 = rows[0];
  const float* __restrict r12 = rows[1];
  const float* __restrict r21 = rows[2];
  const float* __restrict r22 = rows[3];
  for (int64_t i = 0; i < n; ++i) {
    const float p11 = wx1[i] * wy1, p21 = wx2[i] * wy1, p12 = wx1[i] * wy2, p22 = wx2[i] * wy2;
    y[i] = p11 * wz1 * r11[x1[i]] + p21 * wz1 * r11[x2[i]] + p12 * wz1 * r12[x1[i]] + p22 * wz1 * r12[x2[i]] +
           p11 * wz2 * r21[x1[i]] + p21 * wz2 * r21[x2[i]] + p12 * wz2 * r22[x1[i]] + p22 * wz2 * r22[x2[i]];
  }
}

GRAFT_CLONES void linear_row(const float* __restrict r, const int32_t* __restrict x1, const int32_t* __restrict x2,
                             const float* __restrict wx1, const float* __restrict wx2, int64_t n,
                             float* __restrict y) {
  for (int64_t i = 0; i < n; ++i) y[i] = wx1[i] * r[x1[i]] + wx2[i] * r[x2[i]];
}

// Output row `row` (the position along the window's outer axes) of one leading index's block of an f32 linear
// resize, whose input block starts at `base`.
void linear_resize_row(const ResizePlan& p, const float* base, int64_t row, float* y) {
  const int k = int(p.axes.size());
  const ResizeAxis& ax = p.axes.back();
  const int64_t n = ax.out;
  bool row_outside = false;
  if (k == 1) {
    linear_row(base, ax.lo.data(), ax.hi.data(), ax.w_lo.data(), ax.w_hi.data(), n, y);
  } else {
    const ResizeAxis& ay = p.axes[size_t(k - 2)];
    const int64_t yo = row % ay.out;
    row_outside = ay.outside[size_t(yo)] != 0;
    const int64_t y1 = ay.lo[size_t(yo)] * ay.in_stride, y2 = ay.hi[size_t(yo)] * ay.in_stride;
    if (k == 2) {
      bilinear_row(base + y1, base + y2, ay.w_lo[size_t(yo)], ay.w_hi[size_t(yo)], ax.lo.data(), ax.hi.data(),
                   ax.w_lo.data(), ax.w_hi.data(), n, y);
    } else {
      const ResizeAxis& az = p.axes[0];
      const int64_t zo = row / ay.out;
      row_outside |= az.outside[size_t(zo)] != 0;
      const int64_t z1 = az.lo[size_t(zo)] * az.in_stride, z2 = az.hi[size_t(zo)] * az.in_stride;
      const float* rows[4] = {base + z1 + y1, base + z1 + y2, base + z2 + y1, base + z2 + y2};
      trilinear_row(rows, ay.w_lo[size_t(yo)], ay.w_hi[size_t(yo)], az.w_lo[size_t(zo)], az.w_hi[size_t(zo)],
                    ax.lo.data(), ax.hi.data(), ax.w_lo.data(), ax.w_hi.data(), n, y);
    }
  }
  if (!p.extrapolate) return;
  if (row_outside) {
    std::fill(y, y + n, p.extrapolation);
    return;
  }
  for (int64_t i = 0; i < n; ++i)
    if (ax.outside[size_t(i)]) y[i] = p.extrapolation;
}

// Rows of the window's outer axes (all but the innermost) per leading index.
int64_t rows_per_block(const ResizePlan& p) {
  int64_t r = 1;
  for (size_t j = 0; j + 1 < p.axes.size(); ++j) r *= p.axes[j].out;
  return r;
}

// f16 / bf16 values (a model compiled without widen_f16) go through f32 copies of the input blocks and f32
// rows, each rounded once at the end.
template <typename T>
void run_linear(const ResizePlan& p, const void* xv, void* yv) {
  const int64_t per_block = rows_per_block(p), rows = p.outer * per_block, n = p.axes.back().out;
  const int64_t taps = int64_t(1) << p.axes.size();
  parallel_for(rows, rows * n * taps, [&](int64_t lo, int64_t hi) {
    if constexpr (std::is_same_v<T, float>) {
      const float* x = static_cast<const float*>(xv);
      for (int64_t r = lo; r < hi; ++r)
        linear_resize_row(p, x + (r / per_block) * p.in_block, r % per_block, static_cast<float*>(yv) + r * n);
    } else {
      const T* x = static_cast<const T*>(xv);
      T* y = static_cast<T*>(yv);
      std::vector<float> block(static_cast<size_t>(p.in_block)), row(static_cast<size_t>(n));
      int64_t loaded = -1;
      for (int64_t r = lo; r < hi; ++r) {
        const int64_t b = r / per_block;
        if (b != loaded) {
          for (int64_t i = 0; i < p.in_block; ++i) block[size_t(i)] = float(x[b * p.in_block + i]);
          loaded = b;
        }
        linear_resize_row(p, block.data(), r % per_block, row.data());
        for (int64_t i = 0; i < n; ++i) y[r * n + i] = T(row[size_t(i)]);
      }
    }
  });
}

// ---- nearest -----------------------------------------------------------------------------------------------

template <typename E>
void run_nearest(const ResizePlan& p, const void* xv, void* yv, E extrapolation) {
  const E* x = static_cast<const E*>(xv);
  E* y = static_cast<E*>(yv);
  const ResizeAxis& ax = p.axes.back();
  const int64_t per_block = rows_per_block(p), rows = p.outer * per_block, n = ax.out;
  const int32_t* idx = ax.lo.data();
  parallel_for(rows, rows * n, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      int64_t rest = r % per_block, offset = (r / per_block) * p.in_block;
      bool outside = false;
      for (int64_t j = int64_t(p.axes.size()) - 2; j >= 0; --j) {
        const ResizeAxis& a = p.axes[size_t(j)];
        const int32_t s = a.lo[size_t(rest % a.out)];
        rest /= a.out;
        outside |= s < 0;
        offset += int64_t(s) * a.in_stride;
      }
      E* out = y + r * n;
      if (outside) {
        std::fill(out, out + n, extrapolation);
        continue;
      }
      const E* src = x + offset;
      if (ax.any_outside) {
        for (int64_t i = 0; i < n; ++i) out[i] = idx[i] < 0 ? extrapolation : src[idx[i]];
      } else {
        for (int64_t i = 0; i < n; ++i) out[i] = src[idx[i]];
      }
    }
  });
}

// The extrapolation value as the output type's bytes.
template <typename E>
E extrapolation_bits(DType dt, float v) {
  E bits{};
  visit_dtype(dt, [&](auto t) {
    using T = decltype(t);
    if constexpr (sizeof(T) == sizeof(E)) {
      T value = T(v);
      std::memcpy(&bits, &value, sizeof(E));
    }
  });
  return bits;
}

std::unique_ptr<Kernel> resize(const KernelArgs& a) {
  const auto* params = std::get<CompositeAttrs>(a.op.attrs).get_if<CustomCompositeParams>();
  GRAFT_CHECK(params && a.inputs.size() == 1 && a.outputs.size() == 1, a.describe(), ": not a resize");
  const DType dt = a.inputs[0].dtype;
  if (a.outputs[0].dtype != dt) return nullptr;
  auto plan = std::make_shared<const ResizePlan>(decode(*params, a.inputs[0].shape, a.outputs[0].shape));
  if (plan->linear) {
    void (*run)(const ResizePlan&, const void*, void*) = nullptr;
    if (dt == DType::F32) run = run_linear<float>;
    if (dt == DType::F16) run = run_linear<float16>;
    if (dt == DType::BF16) run = run_linear<bfloat16>;
    if (!run) return nullptr;
    return lambda_kernel([plan, run](std::span<const void* const> in, std::span<void* const> out) {
      run(*plan, in[0], out[0]);
    });
  }
  const size_t bytes = dtype_size(dt);
  auto nearest = [&]<typename E>(E) -> std::unique_ptr<Kernel> {
    const E extrapolation = extrapolation_bits<E>(dt, plan->extrapolation);
    return lambda_kernel([plan, extrapolation](std::span<const void* const> in, std::span<void* const> out) {
      run_nearest<E>(*plan, in[0], out[0], extrapolation);
    });
  };
  if (bytes == 1) return nearest(uint8_t{});
  if (bytes == 2) return nearest(uint16_t{});
  if (bytes == 4) return nearest(uint32_t{});
  if (bytes == 8) return nearest(uint64_t{});
  return nullptr;
}

}  // namespace

void register_resize_kernels(KernelRegistry& r) { r.add_custom_composite(kResizeName, resize); }

}  // namespace graft::cpu
