#include "backend/cpu/elementwise_program.h"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "backend/cpu/vector_math.h"
#include "backend/cpu/parallel.h"

namespace graft::cpu {

namespace {

constexpr int64_t kChunk = 256;            // elements per register

template <typename S, typename T>
GRAFT_INLINE void load(const S* src, int64_t stride, T* dst, int64_t n) {
  if (stride == 0) {
    T v = T(to_compute(src[0]));
    for (int64_t i = 0; i < n; ++i) dst[i] = v;
  } else if constexpr (std::is_same_v<S, T>) {
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = T(to_compute(src[i]));
  }
}

template <typename S, typename T>
GRAFT_INLINE void store(const T* src, S* dst, int64_t n) {
  if constexpr (std::is_same_v<S, T>) {
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
  } else if constexpr (std::is_same_v<S, bool>) {
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i] != T(0);
  } else if constexpr (std::is_same_v<S, float16> || std::is_same_v<S, bfloat16>) {
    for (int64_t i = 0; i < n; ++i) dst[i] = S(float(src[i]));
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = S(src[i]);
  }
}

template <typename T>
inline T round_through(T v, DType t) {
  switch (t) {
    case DType::Bool: return v != T(0) ? T(1) : T(0);
    case DType::F16: return T(float(float16(float(v))));
    case DType::BF16: return T(float(bfloat16(float(v))));
    case DType::F32: return T(float(v));
    default: return v;
  }
}

template <typename T>
inline T sign_of(T x) {
  return x > T(0) ? T(1) : (x < T(0) ? T(-1) : x);  // keeps NaN and the sign of zero
}

template <typename T>
GRAFT_INLINE void apply(const EwInstr& ins, T* regs, int64_t n) {
  T* d = regs + ins.dst * kChunk;
  const T* a = ins.a >= 0 ? regs + ins.a * kChunk : nullptr;
  const T* b = ins.b >= 0 ? regs + ins.b * kChunk : nullptr;
  const T* c = ins.c >= 0 ? regs + ins.c * kChunk : nullptr;
#define UNARY(expr)                                    \
  for (int64_t i = 0; i < n; ++i) {                   \
    T x = a[i];                                       \
    d[i] = (expr);                                    \
  }                                                   \
  break;
#define BINARY(expr)                                  \
  for (int64_t i = 0; i < n; ++i) {                   \
    T x = a[i], y = b[i];                             \
    d[i] = (expr);                                    \
  }                                                   \
  break;
  switch (ins.op) {
    case OpKind::Neg: UNARY(-x)
    case OpKind::Abs: UNARY(__builtin_fabs(x))
    case OpKind::Sign: UNARY(sign_of(x))
    case OpKind::Exp:
      if constexpr (std::is_same_v<T, float>) {
        UNARY(exp_fast(x))
      } else {
        UNARY(std::exp(x))
      }
    case OpKind::Expm1: UNARY(std::expm1(x))
    case OpKind::Log: UNARY(std::log(x))
    case OpKind::Log1p: UNARY(std::log1p(x))
    case OpKind::Sqrt: UNARY(std::sqrt(x))
    case OpKind::Rsqrt: UNARY(T(1) / std::sqrt(x))
    case OpKind::Reciprocal: UNARY(T(1) / x)
    case OpKind::Sin: UNARY(std::sin(x))
    case OpKind::Cos: UNARY(std::cos(x))
    case OpKind::Tan: UNARY(std::tan(x))
    case OpKind::Asin: UNARY(std::asin(x))
    case OpKind::Acos: UNARY(std::acos(x))
    case OpKind::Atan: UNARY(std::atan(x))
    case OpKind::Sinh: UNARY(std::sinh(x))
    case OpKind::Cosh: UNARY(std::cosh(x))
    case OpKind::Tanh:
      if constexpr (std::is_same_v<T, float>) {
        UNARY(tanh_f32(x))
      } else {
        UNARY(std::tanh(x))
      }
    case OpKind::Asinh: UNARY(std::asinh(x))
    case OpKind::Acosh: UNARY(std::acosh(x))
    case OpKind::Atanh: UNARY(std::atanh(x))
    case OpKind::Erf:
      if constexpr (std::is_same_v<T, float>) {
        UNARY(erf_f32(x))
      } else {
        UNARY(std::erf(x))
      }
    case OpKind::Floor: UNARY(std::floor(x))
    case OpKind::Ceil: UNARY(std::ceil(x))
    case OpKind::Round: UNARY(std::nearbyint(x))
    case OpKind::Logistic:
      if constexpr (std::is_same_v<T, float>) {
        UNARY(1.0f / (1.0f + exp_fast(-x)))
      } else {
        UNARY(T(1) / (T(1) + std::exp(-x)))
      }
    case OpKind::IsNan: UNARY(x != x ? T(1) : T(0))
    case OpKind::IsInf: UNARY(std::isinf(x) ? T(1) : T(0))
    case OpKind::Not: UNARY(x != T(0) ? T(0) : T(1))
    case OpKind::Add: BINARY(x + y)
    case OpKind::Sub: BINARY(x - y)
    case OpKind::Mul: BINARY(x * y)
    case OpKind::Div: BINARY(x / y)
    case OpKind::Rem:
    case OpKind::Fmod: BINARY(std::fmod(x, y))
    case OpKind::Pow: BINARY(std::pow(x, y))
    case OpKind::Min: BINARY(select(x != x || y != y, x + y, select(x < y, x, y)))  // NaN propagates
    case OpKind::Max: BINARY(select(x != x || y != y, x + y, select(x > y, x, y)))
    case OpKind::Atan2: BINARY(std::atan2(x, y))
    case OpKind::Equal: BINARY(x == y ? T(1) : T(0))
    case OpKind::NotEqual: BINARY(x != y ? T(1) : T(0))
    case OpKind::Less: BINARY(x < y ? T(1) : T(0))
    case OpKind::LessEqual: BINARY(x <= y ? T(1) : T(0))
    case OpKind::Greater: BINARY(x > y ? T(1) : T(0))
    case OpKind::GreaterEqual: BINARY(x >= y ? T(1) : T(0))
    case OpKind::And: BINARY((x != T(0) && y != T(0)) ? T(1) : T(0))
    case OpKind::Or: BINARY((x != T(0) || y != T(0)) ? T(1) : T(0))
    case OpKind::Xor: BINARY(((x != T(0)) != (y != T(0))) ? T(1) : T(0))
    case OpKind::Select:
      for (int64_t i = 0; i < n; ++i) d[i] = select(a[i] != T(0), b[i], c[i]);
      break;
    case OpKind::Convert:
      for (int64_t i = 0; i < n; ++i) d[i] = round_through(a[i], ins.convert_to);
      break;
    default:
      break;  // ew_program_supports_op() keeps other ops out
  }
#undef UNARY
#undef BINARY
}

template <typename T>
GRAFT_INLINE void load_input(const EwInput& in, const void* base, int64_t offset, int64_t inner_stride, T* dst,
                             int64_t n) {
  if (in.dtype == dtype_v<T>) {  // the common case, inlined into the vectorized clone
    load(static_cast<const T*>(base) + offset, inner_stride, dst, n);
    return;
  }
  visit_dtype(in.dtype, [&](auto tag) {
    using S = decltype(tag);
    if constexpr (std::is_same_v<S, bool> || std::is_floating_point_v<S> || std::is_same_v<S, float16> ||
                  std::is_same_v<S, bfloat16> || std::is_same_v<S, int8_t> || std::is_same_v<S, uint8_t> ||
                  std::is_same_v<S, int16_t> || std::is_same_v<S, uint16_t> || std::is_same_v<S, int32_t>)
      load(static_cast<const S*>(base) + offset, inner_stride, dst, n);  // integers: ew_program_loads_integer
  });
}

template <typename T>
GRAFT_INLINE void store_output(DType dtype, const T* src, void* base, int64_t offset, int64_t n) {
  if (dtype == dtype_v<T>) {
    store(src, static_cast<T*>(base) + offset, n);
    return;
  }
  visit_dtype(dtype, [&](auto tag) {
    using S = decltype(tag);
    if constexpr (std::is_same_v<S, bool> || std::is_floating_point_v<S> || std::is_same_v<S, float16> ||
                  std::is_same_v<S, bfloat16>)
      store(src, static_cast<S*>(base) + offset, n);
  });
}

// Runs items [begin, end) of the (row, chunk) iteration space. Compiled for several instruction sets;
// the loader picks the best the processor has.
template <typename T>
GRAFT_CLONES void run_items(
    const EwProgram& p, std::span<const void* const> in, std::span<void* const> out, int64_t begin, int64_t end) {
  int r = int(p.dims.size());
  int64_t inner = p.dims.back();
  int64_t chunks_per_row = (inner + kChunk - 1) / kChunk;
  alignas(64) T stack_regs[48 * kChunk];
  std::vector<T> heap_regs;
  T* regs = stack_regs;
  if (p.num_regs > 48) {
    heap_regs.resize(size_t(p.num_regs * kChunk));
    regs = heap_regs.data();
  }
  for (int64_t item = begin; item < end; ++item) {
    int64_t row = item / chunks_per_row;
    int64_t start = (item % chunks_per_row) * kChunk;
    int64_t n = std::min(kChunk, inner - start);
    // Offset of this row in each input and in the (contiguous) outputs.
    int64_t rem = row;
    int64_t out_offset = row * inner + start;
    for (size_t k = 0; k < p.inputs.size(); ++k) {
      const EwInput& e = p.inputs[k];
      int64_t off = 0, q = rem;
      for (int ax = r - 2; ax >= 0; --ax) {
        int64_t i = q % p.dims[size_t(ax)];
        q /= p.dims[size_t(ax)];
        off += i * e.strides[size_t(ax)];
      }
      int64_t st = e.strides[size_t(r - 1)];
      load_input(e, in[k], off + start * st, st, regs + k * kChunk, n);
    }
    for (const EwInstr& ins : p.code) apply(ins, regs, n);
    for (size_t k = 0; k < p.outputs.size(); ++k)
      store_output(p.outputs[k].dtype, regs + p.outputs[k].reg * kChunk, out[k], out_offset, n);
  }
}

}  // namespace

bool ew_program_supports_op(OpKind k) {
  if (k == OpKind::BitwiseNot) return false;
  return is_unary_elementwise(k) || (is_binary_elementwise(k) && k < OpKind::BitwiseAnd) || k == OpKind::Select ||
         k == OpKind::Convert;
}

bool ew_program_supports_dtype(DType t) {
  return t == DType::Bool || t == DType::F16 || t == DType::BF16 || t == DType::F32 || t == DType::F64;
}

bool ew_program_loads_integer(DType t) {
  return t == DType::I8 || t == DType::U8 || t == DType::I16 || t == DType::U16 || t == DType::I32;
}

bool ew_program_converts_on_load(DType from, DType to) {
  return ew_program_loads_integer(from) && (to == DType::F32 || to == DType::F64);
}

std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out) {
  std::vector<int64_t> s(size_t(out.rank()), 0);
  std::vector<int64_t> own = in.strides();
  int shift = out.rank() - in.rank();
  for (int i = 0; i < in.rank(); ++i)
    if (in.dims()[size_t(i)] != 1) s[size_t(i + shift)] = own[size_t(i)];
  return s;
}

void EwProgram::collapse_axes() {
  if (dims.empty()) {
    dims = {1};
    for (EwInput& e : inputs) e.strides = {0};
    return;
  }
  // Drop axes of extent 1 (they contribute nothing), then merge axis i into i+1 where every input has
  // stride[i] == stride[i+1] * dims[i+1] (contiguous) or both strides 0 (broadcast).
  std::vector<int64_t> nd;
  std::vector<std::vector<int64_t>> ns(inputs.size());
  for (size_t ax = 0; ax < dims.size(); ++ax) {
    if (dims[ax] == 1 && dims.size() > 1) continue;
    nd.push_back(dims[ax]);
    for (size_t k = 0; k < inputs.size(); ++k) ns[k].push_back(inputs[k].strides[ax]);
  }
  if (nd.empty()) {
    nd = {1};
    for (auto& s : ns) s = {0};
  }
  for (int ax = int(nd.size()) - 2; ax >= 0; --ax) {
    bool ok = true;
    for (size_t k = 0; k < inputs.size() && ok; ++k)
      ok = ns[k][size_t(ax)] == ns[k][size_t(ax + 1)] * nd[size_t(ax + 1)];
    if (!ok) continue;
    nd[size_t(ax)] *= nd[size_t(ax + 1)];
    nd.erase(nd.begin() + ax + 1);
    for (size_t k = 0; k < inputs.size(); ++k) {
      ns[k][size_t(ax)] = ns[k][size_t(ax + 1)];
      ns[k].erase(ns[k].begin() + ax + 1);
    }
  }
  dims = nd;
  for (size_t k = 0; k < inputs.size(); ++k) inputs[k].strides = ns[k];
}

void EwProgram::run(std::span<const void* const> in, std::span<void* const> out) const {
  int64_t total = 1;
  for (int64_t d : dims) total *= d;
  if (total == 0) return;
  int64_t inner = dims.back();
  int64_t items = (total / inner) * ((inner + kChunk - 1) / kChunk);
  auto body = [&](int64_t b, int64_t e) {
    if (compute == DType::F64)
      run_items<double>(*this, in, out, b, e);
    else
      run_items<float>(*this, in, out, b, e);
  };
  parallel_for(items, total, body);
}

}  // namespace graft::cpu
