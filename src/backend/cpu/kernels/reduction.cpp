// Reductions over axes, arg-min/max, and cumulative scans.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "backend/cpu/kernel.h"
#include "backend/cpu/strided_copy.h"
#include "backend/cpu/parallel.h"

namespace graft::cpu {

namespace {

template <typename A>
A identity(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: case ReduceOp::Or: return A(0);
    case ReduceOp::Prod: case ReduceOp::And: return A(1);
    case ReduceOp::Max:
      return std::numeric_limits<A>::has_infinity ? -std::numeric_limits<A>::infinity() : std::numeric_limits<A>::lowest();
    case ReduceOp::Min:
      return std::numeric_limits<A>::has_infinity ? std::numeric_limits<A>::infinity() : std::numeric_limits<A>::max();
    default: return A(0);
  }
}

// Accumulator type: f32 for 16-bit floats, unsigned for integer sums/products (wrap-around without UB).
template <typename T> struct acc_type { using type = compute_t<T>; };
template <> struct acc_type<int8_t> { using type = uint8_t; };
template <> struct acc_type<int16_t> { using type = uint16_t; };
template <> struct acc_type<int32_t> { using type = uint32_t; };
template <> struct acc_type<int64_t> { using type = uint64_t; };

template <typename A>
inline A combine(ReduceOp op, A acc, A v) {
  switch (op) {
    case ReduceOp::Sum: return A(acc + v);
    case ReduceOp::Prod: return A(acc * v);
    case ReduceOp::Max: return (v != v || v > acc) ? v : acc;  // NaN wins
    case ReduceOp::Min: return (v != v || v < acc) ? v : acc;
    case ReduceOp::And: return A(acc && v);
    case ReduceOp::Or: return A(acc || v);
    default: return acc;
  }
}

// Combines `red` rows of x, `stride` apart, into the first `width` values of one row of y: accumulators for
// a block of the row stay in registers / L1, and the op is chosen outside the loops so they vectorize
// (Max and Min let NaN win, as combine() does).
constexpr int64_t kRowBlock = 64;
template <ReduceOp OP, typename T, typename A>
void combine_rows(const T* x, T* y, int64_t red, int64_t stride, int64_t width) {
  A acc[kRowBlock];
  for (int64_t i = 0; i < width; ++i) acc[i] = identity<A>(OP);
  for (int64_t r = 0; r < red; ++r) {
    const T* row = x + r * stride;
    for (int64_t i = 0; i < width; ++i) {
      const A v = A(to_compute(row[i]));
      if constexpr (OP == ReduceOp::Sum) acc[i] += v;
      else if constexpr (OP == ReduceOp::Prod) acc[i] *= v;
      else if constexpr (OP == ReduceOp::Max) acc[i] = (v != v || v > acc[i]) ? v : acc[i];
      else acc[i] = (v != v || v < acc[i]) ? v : acc[i];
    }
  }
  for (int64_t i = 0; i < width; ++i) y[i] = T(acc[i]);
}

template <typename T>
void reduce_rows_blocked(ReduceOp op, const T* x, T* y, int64_t red, int64_t stride, int64_t width) {
  using A = typename acc_type<T>::type;
  switch (op) {
    case ReduceOp::Sum: return combine_rows<ReduceOp::Sum, T, A>(x, y, red, stride, width);
    case ReduceOp::Prod: return combine_rows<ReduceOp::Prod, T, A>(x, y, red, stride, width);
    case ReduceOp::Max: return combine_rows<ReduceOp::Max, T, A>(x, y, red, stride, width);
    default: return combine_rows<ReduceOp::Min, T, A>(x, y, red, stride, width);
  }
}

// Reduces x viewed as [outer, reduce, inner] over the middle axis into [outer, inner].
template <typename T>
void reduce_3d(ReduceOp op, const T* x, T* y, int64_t outer, int64_t red, int64_t inner) {
  using U = typename acc_type<T>::type;
  constexpr bool min_max_signed = std::is_signed_v<T> && std::is_integral_v<T>;
  // Min/Max of signed integers must compare as signed: use T itself there.
  using A = std::conditional_t<min_max_signed, T, U>;
  auto body = [&](int64_t o) {
    const T* xo = x + o * red * inner;
    T* yo = y + o * inner;
    if (inner == 1) {
      if constexpr (std::is_floating_point_v<A>) {
        if (op == ReduceOp::Sum) {
          A acc = 0;
#pragma omp simd reduction(+ : acc)
          for (int64_t r = 0; r < red; ++r) acc += A(to_compute(xo[r]));
          yo[0] = T(acc);
          return;
        }
      }
      if constexpr (min_max_signed) {
        if (op == ReduceOp::Sum || op == ReduceOp::Prod) {
          U acc = identity<U>(op);
          for (int64_t r = 0; r < red; ++r) acc = combine<U>(op, acc, U(xo[r]));
          yo[0] = T(acc);
          return;
        }
      }
      A acc = identity<A>(op);
      for (int64_t r = 0; r < red; ++r) acc = combine<A>(op, acc, A(to_compute(xo[r])));
      yo[0] = T(acc);
      return;
    }
    std::vector<A> acc(static_cast<size_t>(inner), identity<A>(op));
    for (int64_t r = 0; r < red; ++r) {
      const T* row = xo + r * inner;
      for (int64_t i = 0; i < inner; ++i) {
        if constexpr (min_max_signed) {
          if (op == ReduceOp::Sum || op == ReduceOp::Prod) {
            acc[size_t(i)] = A(combine<U>(op, U(acc[size_t(i)]), U(row[i])));
            continue;
          }
        }
        acc[size_t(i)] = combine<A>(op, acc[size_t(i)], A(to_compute(row[i])));
      }
    }
    for (int64_t i = 0; i < inner; ++i) {
      if constexpr (std::is_same_v<T, float16> || std::is_same_v<T, bfloat16>)
        yo[i] = T(float(acc[size_t(i)]));
      else
        yo[i] = T(acc[size_t(i)]);
    }
  };
  if constexpr (std::is_floating_point_v<A>) {
    if (inner > 1 && (op == ReduceOp::Sum || op == ReduceOp::Max || op == ReduceOp::Min || op == ReduceOp::Prod)) {
      // Rows of `inner` values combined into one row (a reduction over a middle axis; a channels-last global
      // pooling, [N, H·W, C] -> [N, C]): blocks of the row in parallel, so a single example's channels still
      // spread over the threads.
      const int64_t blocks = (inner + kRowBlock - 1) / kRowBlock;
      parallel_for(outer * blocks, outer * red * inner, [&](int64_t lo, int64_t hi) {
        for (int64_t item = lo; item < hi; ++item) {
          const int64_t o = item / blocks, i0 = (item % blocks) * kRowBlock;
          reduce_rows_blocked(op, x + o * red * inner + i0, y + o * inner + i0, red, inner,
                              std::min(kRowBlock, inner - i0));
        }
      }, /*min_work=*/int64_t(1) << 16);
      return;
    }
  }
  parallel_for(outer, outer * red * inner, [&](int64_t lo, int64_t hi) {
    for (int64_t o = lo; o < hi; ++o) body(o);
  }, /*min_work=*/int64_t(1) << 16);
}

std::unique_ptr<Kernel> reduce(const KernelArgs& a) {
  const auto& attrs = std::get<ReduceAttrs>(a.op.attrs);
  const Shape& in = a.inputs[0].shape;
  ReduceOp op = attrs.op;
  std::vector<int64_t> axes = attrs.axes;
  int r = in.rank();
  // Contiguous block of reduced axes [first, last]: view as [outer, red, inner] directly. Otherwise
  // transpose the reduced axes to the end first (into a scratch buffer owned by the kernel).
  bool block = true;
  for (size_t i = 1; i < axes.size(); ++i) block &= axes[i] == axes[i - 1] + 1;
  std::vector<int64_t> perm;
  std::vector<int64_t> pdims;
  if (!block) {
    for (int i = 0; i < r; ++i)
      if (!std::binary_search(axes.begin(), axes.end(), int64_t(i))) perm.push_back(i);
    for (int64_t ax : axes) perm.push_back(ax);
    for (int64_t p : perm) pdims.push_back(in[int(p)]);
    int64_t k = int64_t(axes.size());
    axes.clear();
    for (int64_t i = r - k; i < r; ++i) axes.push_back(i);
  }
  const std::vector<int64_t>& dims = block ? in.dims() : pdims;
  int64_t outer = 1, red = 1, inner = 1;
  for (int i = 0; i < r; ++i) {
    if (i < axes.front()) outer *= dims[size_t(i)];
    else if (i <= axes.back()) red *= dims[size_t(i)];
    else inner *= dims[size_t(i)];
  }
  if (a.channels_last_inputs & 1u) {
    // [N, spatial..., C] in memory, every spatial axis reduced: rows of C channels summed into [N, C], which
    // is the result's layout whether it keeps the ones or not.
    GRAFT_CHECK(reduce_takes_channels_last(a.op, a.inputs[0]), a.describe(), ": channels-last operand ", in,
                " for a reduction that is not over every spatial axis");
    outer = in[0];
    inner = in[1];
    red = in.size() / std::max<int64_t>(outer * inner, 1);
    if (outer * inner == 0) red = 0;
  }
  DType t = a.inputs[0].dtype;
  size_t es = dtype_size(t);
  std::shared_ptr<std::vector<char>> scratch;
  StridedView src, dst;
  if (!block) {
    scratch = std::make_shared<std::vector<char>>(size_t(in.size()) * es);
    std::vector<int64_t> own = in.strides();
    for (int64_t p : perm) src.strides.push_back(own[size_t(p)]);
    dst.strides = contiguous_strides(pdims);
  }
  return visit_dtype(t, [&](auto tag) -> std::unique_ptr<Kernel> {
    using T = decltype(tag);
    return lambda_kernel([=](std::span<const void* const> ins, std::span<void* const> out) {
      const T* x = static_cast<const T*>(ins[0]);
      if (scratch) {
        strided_copy(ins[0], src, scratch->data(), dst, pdims, es);
        x = reinterpret_cast<const T*>(scratch->data());
      }
      if (red == 0) {
        T* y = static_cast<T*>(out[0]);
        using A = typename acc_type<T>::type;
        for (int64_t i = 0; i < outer * inner; ++i) {
          if constexpr (std::is_same_v<T, float16> || std::is_same_v<T, bfloat16>)
            y[i] = T(float(identity<float>(op)));
          else if constexpr (std::is_signed_v<T> && std::is_integral_v<T>)
            y[i] = (op == ReduceOp::Max || op == ReduceOp::Min) ? identity<T>(op) : T(identity<A>(op));
          else
            y[i] = T(identity<A>(op));
        }
        return;
      }
      reduce_3d<T>(op, x, static_cast<T*>(out[0]), outer, red, inner);
    });
  });
}

std::unique_ptr<Kernel> arg_min_max(const KernelArgs& a) {
  const auto& at = std::get<ArgMinMaxAttrs>(a.op.attrs);
  const Shape& in = a.inputs[0].shape;
  int64_t outer = 1, red = in[at.axis], inner = 1;
  for (int i = 0; i < at.axis; ++i) outer *= in[i];
  for (int i = at.axis + 1; i < in.rank(); ++i) inner *= in[i];
  bool is_min = at.is_min, last = at.select_last;
  return visit_dtype(a.inputs[0].dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
    using T = decltype(tag);
    return lambda_kernel([=](std::span<const void* const> ins, std::span<void* const> out) {
      const T* x = static_cast<const T*>(ins[0]);
      int64_t* y = static_cast<int64_t*>(out[0]);
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
          const T* p = x + o * red * inner + i;
          auto best = to_compute(p[0]);
          int64_t bi = 0;
          for (int64_t r = 1; r < red; ++r) {
            auto v = to_compute(p[r * inner]);
            if (best != best) break;  // NaN is the extreme: the first NaN wins (NumPy)
            bool better = v != v || (is_min ? (last ? v <= best : v < best) : (last ? v >= best : v > best));
            if (better) {
              best = v;
              bi = r;
            }
          }
          y[o * inner + i] = bi;
        }
    });
  });
}

// A cumulative scan along the middle axis of [outer, len, inner], accumulating in A.
template <typename T, typename A>
std::unique_ptr<Kernel> scan_kernel(ReduceOp op, bool excl, bool rev, int64_t outer, int64_t len, int64_t inner) {
  return lambda_kernel([=](std::span<const void* const> ins, std::span<void* const> out) {
    const T* x = static_cast<const T*>(ins[0]);
    T* y = static_cast<T*>(out[0]);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        A acc = identity<A>(op);
        for (int64_t s = 0; s < len; ++s) {
          int64_t k = rev ? len - 1 - s : s;
          int64_t idx = (o * len + k) * inner + i;
          A v = A(to_compute(x[idx]));
          A next = combine<A>(op, acc, v);
          A shown = excl ? acc : next;
          if constexpr (std::is_same_v<T, float16> || std::is_same_v<T, bfloat16>)
            y[idx] = T(float(shown));
          else
            y[idx] = T(shown);
          acc = next;
        }
      }
  });
}

std::unique_ptr<Kernel> cumulative(const KernelArgs& a) {
  const auto& at = std::get<CumulativeAttrs>(a.op.attrs);
  const Shape& in = a.inputs[0].shape;
  int64_t outer = 1, len = in[at.axis], inner = 1;
  for (int i = 0; i < at.axis; ++i) outer *= in[i];
  for (int i = at.axis + 1; i < in.rank(); ++i) inner *= in[i];
  ReduceOp op = at.op;
  bool excl = at.exclusive, rev = at.reverse;
  return visit_dtype(a.inputs[0].dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
    using T = decltype(tag);
    // Sums and products of signed integers wrap in the unsigned type; max/min compare as signed (T).
    constexpr bool signed_int = std::is_signed_v<T> && std::is_integral_v<T>;
    if constexpr (signed_int) {
      if (op == ReduceOp::Max || op == ReduceOp::Min) return scan_kernel<T, T>(op, excl, rev, outer, len, inner);
    }
    return scan_kernel<T, typename acc_type<T>::type>(op, excl, rev, outer, len, inner);
  });
}

}  // namespace

bool reduce_takes_channels_last(const Op& op, const ValueType& input) {
  if (op.kind != OpKind::Reduce || op.outputs.size() != 1) return false;
  const int r = input.shape.rank();
  const auto& axes = std::get<ReduceAttrs>(op.attrs).axes;
  if (r < 3 || r > 5 || axes.size() != size_t(r - 2)) return false;
  for (int i = 0; i < r - 2; ++i)
    if (axes[size_t(i)] != i + 2) return false;
  return true;
}

void register_reduction_kernels(KernelRegistry& r) {
  r.add(OpKind::Reduce, reduce);
  r.add(OpKind::ArgMinMax, arg_min_max);
  r.add(OpKind::Cumulative, cumulative);
}

}  // namespace graft::cpu
