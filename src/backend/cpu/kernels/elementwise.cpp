// Element-wise kernels. Floating-point (and bool) ops run as one-instruction EwPrograms, the same
// engine fused chains use; integer ops have typed loops with the wrap-around and division rules below.
#include <algorithm>
#include <cmath>
#include <limits>

#include "backend/cpu/elementwise_program.h"
#include "backend/cpu/kernel.h"
#include "backend/cpu/lowered.h"

namespace graft::cpu {

namespace {

bool float_like(DType t) { return ew_program_supports_dtype(t); }

// Whether the EwProgram engine runs this op alone: float-like operands (or an integer operand a Convert
// loads), an op the engine knows.
bool runs_as_program(const Op& op, std::span<const ValueType> inputs) {
  for (const ValueType& t : inputs)
    if (!float_like(t.dtype) && !(op.kind == OpKind::Convert && ew_program_converts_on_load(t.dtype, op.outputs[0].dtype)))
      return false;
  for (const ValueType& t : op.outputs)
    if (!float_like(t.dtype)) return false;
  return ew_program_supports_op(op.kind);
}

// Sets the program's axes and strides from the operand shapes and the layouts the executable chose
// (design.md §8): an operand stored channels-last ([N, spatial..., C]; it then has the result's shape) is
// read through the strides of that storage, the others through their broadcast strides; a channels-last
// result is written by walking the axes in the order N, spatial..., C, so it comes out contiguous in that
// layout. Then adjacent axes are merged as usual. With everything channels-last this is the same contiguous
// loop as in NCHW (a broadcast [1, C, 1, 1] operand just becomes the innermost axis's).
void lay_out(EwProgram& p, const KernelArgs& a) {
  const Shape& out = a.outputs[0].shape;
  const int r = out.rank();
  std::vector<int> order(static_cast<size_t>(r));
  for (int i = 0; i < r; ++i) order[size_t(i)] = i;
  if (a.channels_last_output) {
    GRAFT_CHECK(r >= 3, a.describe(), ": channels-last result of rank ", r);
    std::rotate(order.begin() + 1, order.begin() + 2, order.end());  // N, spatial..., C
  }
  std::vector<int64_t> cl_strides(static_cast<size_t>(r), 0);  // by NCHW axis
  int64_t step = 1;
  for (int i = r - 1; i >= 0 && r >= 3; --i) {
    const int ax = i == r - 1 ? 1 : i == 0 ? 0 : i + 1;  // axis i of the channels-last storage
    cl_strides[size_t(ax)] = step;
    step *= out[ax];
  }
  auto permuted = [&](const std::vector<int64_t>& v) {
    std::vector<int64_t> o;
    for (int ax : order) o.push_back(v[size_t(ax)]);
    return o;
  };
  p.dims = permuted(out.dims());
  for (size_t k = 0; k < p.inputs.size(); ++k) {
    const bool cl = k < 32 && ((a.channels_last_inputs >> k) & 1u);
    GRAFT_CHECK(!cl || (r >= 3 && a.inputs[k].shape == out), a.describe(), ": channels-last operand ", k, " of shape ",
                a.inputs[k].shape, " for a result of shape ", out);
    p.inputs[k].strides = permuted(cl ? cl_strides : broadcast_strides(a.inputs[k].shape, out));
  }
  p.collapse_axes();
}

// Operands output 0 may overwrite: those read exactly at the result's positions (same shape, same layout,
// same element size).
uint32_t in_place_operands(const KernelArgs& a) {
  uint32_t mask = 0;
  for (size_t k = 0; k < a.inputs.size() && k < 32; ++k) {
    const bool cl = (a.channels_last_inputs >> k) & 1u;
    if (a.inputs[k].shape == a.outputs[0].shape && cl == a.channels_last_output &&
        dtype_size(a.inputs[k].dtype) == dtype_size(a.outputs[0].dtype))
      mask |= 1u << k;
  }
  return mask;
}

// A one-op program, or nullptr when an operand's dtype is outside the program's types.
std::unique_ptr<Kernel> program_kernel(const KernelArgs& a) {
  if (!runs_as_program(a.op, a.inputs)) return nullptr;
  DType compute = DType::F32;
  for (const ValueType& t : a.inputs)
    if (t.dtype == DType::F64) compute = DType::F64;
  for (const ValueType& t : a.outputs)
    if (t.dtype == DType::F64) compute = DType::F64;
  auto p = std::make_shared<EwProgram>();
  p->compute = compute;
  for (const ValueType& t : a.inputs) p->inputs.push_back({t.dtype, {}});
  int n = int(a.inputs.size());
  EwInstr ins{a.op.kind, n, 0, n > 1 ? 1 : -1, n > 2 ? 2 : -1, a.outputs[0].dtype};
  p->code.push_back(ins);
  p->outputs.push_back({n, a.outputs[0].dtype});
  p->num_regs = n + 1;
  lay_out(*p, a);
  // In place only when all operands are read at the output's positions (no operand broadcast).
  const uint32_t same = in_place_operands(a);
  const bool all_same = a.inputs.size() < 32 && same == (uint32_t(1) << a.inputs.size()) - 1;
  return lambda_kernel([p](std::span<const void* const> in, std::span<void* const> out) { p->run(in, out); },
                       all_same ? same : 0u);
}

// Walks the broadcast output of a binary/ternary op row by row: fn(out_index, a_index, b_index, c_index).
template <typename F>
void for_each_broadcast(const Shape& out, const std::vector<std::vector<int64_t>>& strides, F fn) {
  int r = out.rank();
  int64_t total = out.size();
  std::vector<int64_t> idx(size_t(r), 0), off(strides.size(), 0);
  for (int64_t i = 0; i < total; ++i) {
    fn(i, off);
    for (int ax = r - 1; ax >= 0; --ax) {
      for (size_t k = 0; k < strides.size(); ++k) off[k] += strides[k][size_t(ax)];
      if (++idx[size_t(ax)] < out.dims()[size_t(ax)]) break;
      for (size_t k = 0; k < strides.size(); ++k) off[k] -= strides[k][size_t(ax)] * out.dims()[size_t(ax)];
      idx[size_t(ax)] = 0;
    }
  }
}

template <typename T>
T int_pow(T base, T exp) {
  if constexpr (std::is_signed_v<T>) {
    if (exp < 0) return base == 1 ? T(1) : base == -1 ? (exp % 2 ? T(-1) : T(1)) : T(0);
  }
  using U = std::make_unsigned_t<T>;
  U result = 1, b = U(base);
  U e = U(exp);
  while (e) {
    if (e & 1) result *= b;
    b *= b;
    e >>= 1;
  }
  return T(result);
}

template <typename T>
T int_binary(OpKind k, T x, T y, const KernelArgs& a) {
  using U = std::make_unsigned_t<T>;
  constexpr int bits = int(sizeof(T) * 8);
  switch (k) {
    case OpKind::Add: return T(U(x) + U(y));  // wraps, as two's complement hardware does
    case OpKind::Sub: return T(U(x) - U(y));
    case OpKind::Mul: return T(U(x) * U(y));
    case OpKind::Div:
    case OpKind::Rem:
    case OpKind::Fmod:
      if (y == 0) fail(a.describe(), ": integer division by zero");
      if constexpr (std::is_signed_v<T>) {
        if (y == T(-1)) return k == OpKind::Div ? T(U(0) - U(x)) : T(0);  // avoids the INT_MIN / -1 trap
      }
      return k == OpKind::Div ? T(x / y) : T(x % y);
    case OpKind::Pow: return int_pow(x, y);
    case OpKind::Min: return std::min(x, y);
    case OpKind::Max: return std::max(x, y);
    case OpKind::BitwiseAnd: return T(x & y);
    case OpKind::BitwiseOr: return T(x | y);
    case OpKind::BitwiseXor: return T(x ^ y);
    case OpKind::ShiftLeft: return (y < 0 || y >= bits) ? T(0) : T(U(x) << y);
    case OpKind::ShiftRight:
      if (y < 0 || y >= bits) return (std::is_signed_v<T> && x < 0) ? T(-1) : T(0);
      return T(x >> y);
    default: fail(a.describe(), ": not an integer op");
  }
}

template <typename T>
bool compare(OpKind k, T x, T y) {
  switch (k) {
    case OpKind::Equal: return x == y;
    case OpKind::NotEqual: return x != y;
    case OpKind::Less: return x < y;
    case OpKind::LessEqual: return x <= y;
    case OpKind::Greater: return x > y;
    case OpKind::GreaterEqual: return x >= y;
    default: return false;
  }
}

std::unique_ptr<Kernel> typed_binary(const KernelArgs& a) {
  DType t = a.inputs[0].dtype;
  OpKind k = a.op.kind;
  Shape out = a.outputs[0].shape;
  std::vector<std::vector<int64_t>> strides{broadcast_strides(a.inputs[0].shape, out),
                                            broadcast_strides(a.inputs[1].shape, out)};
  return visit_dtype(t, [&](auto tag) -> std::unique_ptr<Kernel> {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      return lambda_kernel([=, args = KernelArgs(a)](std::span<const void* const> in, std::span<void* const> o) {
        const T* x = static_cast<const T*>(in[0]);
        const T* y = static_cast<const T*>(in[1]);
        if (is_comparison(k)) {
          bool* d = static_cast<bool*>(o[0]);
          for_each_broadcast(out, strides, [&](int64_t i, const std::vector<int64_t>& off) {
            d[i] = compare(k, x[off[0]], y[off[1]]);
          });
        } else {
          T* d = static_cast<T*>(o[0]);
          for_each_broadcast(out, strides, [&](int64_t i, const std::vector<int64_t>& off) {
            d[i] = int_binary(k, x[off[0]], y[off[1]], args);
          });
        }
      });
    }
    return nullptr;
  });
}

std::unique_ptr<Kernel> typed_unary(const KernelArgs& a) {
  OpKind k = a.op.kind;
  int64_t n = a.outputs[0].shape.size();
  return visit_dtype(a.inputs[0].dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      using U = std::make_unsigned_t<T>;
      return lambda_kernel(
          [=](std::span<const void* const> in, std::span<void* const> o) {
            const T* x = static_cast<const T*>(in[0]);
            T* d = static_cast<T*>(o[0]);
            for (int64_t i = 0; i < n; ++i) {
              T v = x[i];
              switch (k) {
                case OpKind::Neg: d[i] = T(U(0) - U(v)); break;
                case OpKind::Abs: d[i] = v < 0 ? T(U(0) - U(v)) : v; break;
                case OpKind::Sign: d[i] = T((v > 0) - (v < 0)); break;
                case OpKind::BitwiseNot: d[i] = T(~v); break;
                default: d[i] = v;
              }
            }
          },
          kAllInputs);
    }
    return nullptr;
  });
}

std::unique_ptr<Kernel> select_kernel(const KernelArgs& a) {
  if (auto k = program_kernel(a)) return k;
  Shape out = a.outputs[0].shape;
  std::vector<std::vector<int64_t>> strides{broadcast_strides(a.inputs[0].shape, out),
                                            broadcast_strides(a.inputs[1].shape, out),
                                            broadcast_strides(a.inputs[2].shape, out)};
  size_t es = dtype_size(a.outputs[0].dtype);
  return lambda_kernel([=](std::span<const void* const> in, std::span<void* const> o) {
    const bool* p = static_cast<const bool*>(in[0]);
    const char* x = static_cast<const char*>(in[1]);
    const char* y = static_cast<const char*>(in[2]);
    char* d = static_cast<char*>(o[0]);
    for_each_broadcast(out, strides, [&](int64_t i, const std::vector<int64_t>& off) {
      std::memcpy(d + i * es, p[off[0]] ? x + off[1] * es : y + off[2] * es, es);
    });
  });
}

// ONNX Cast semantics; see Convert() in graft/graph/ops.h.
template <typename D, typename S>
inline D convert_value(S s) {
  if constexpr (std::is_same_v<D, bool>) {
    return to_compute(s) != decltype(to_compute(s))(0);
  } else if constexpr (std::is_same_v<D, float16> || std::is_same_v<D, bfloat16>) {
    return D(float(to_compute(s)));
  } else if constexpr (std::is_integral_v<D> && !std::is_integral_v<S>) {
    auto v = to_compute(s);  // float -> int: truncate, saturate, NaN -> 0
    if (v != v) return D(0);
    if (v <= static_cast<decltype(v)>(std::numeric_limits<D>::lowest())) return std::numeric_limits<D>::lowest();
    if (v >= static_cast<decltype(v)>(std::numeric_limits<D>::max())) return std::numeric_limits<D>::max();
    return static_cast<D>(v);
  } else {
    return static_cast<D>(to_compute(s));
  }
}

std::unique_ptr<Kernel> convert_kernel(const KernelArgs& a) {
  if (auto k = program_kernel(a)) return k;
  int64_t n = a.outputs[0].shape.size();
  return visit_dtype(a.inputs[0].dtype, [&](auto stag) {
    return visit_dtype(a.outputs[0].dtype, [&](auto dtag) -> std::unique_ptr<Kernel> {
      using S = decltype(stag);
      using D = decltype(dtag);
      return lambda_kernel([n](std::span<const void* const> in, std::span<void* const> o) {
        const S* s = static_cast<const S*>(in[0]);
        D* d = static_cast<D*>(o[0]);
        for (int64_t i = 0; i < n; ++i) d[i] = convert_value<D>(s[i]);
      });
    });
  });
}

std::unique_ptr<Kernel> unary_kernel(const KernelArgs& a) {
  if (auto k = program_kernel(a)) return k;
  return typed_unary(a);
}

std::unique_ptr<Kernel> binary_kernel(const KernelArgs& a) {
  if (auto k = program_kernel(a)) return k;
  return typed_binary(a);
}

std::unique_ptr<Kernel> iota_kernel(const KernelArgs& a) {
  int axis = std::get<IotaAttrs>(a.op.attrs).axis;
  Shape s = a.outputs[0].shape;
  int64_t inner = 1;
  for (int i = axis + 1; i < s.rank(); ++i) inner *= s[i];
  int64_t d = s[axis], n = s.size();
  return visit_dtype(a.outputs[0].dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
    using T = decltype(tag);
    return lambda_kernel([=](std::span<const void* const>, std::span<void* const> o) {
      T* out = static_cast<T*>(o[0]);
      for (int64_t i = 0; i < n; ++i) out[i] = convert_value<T>(int64_t((i / inner) % d));
    });
  });
}

std::unique_ptr<Kernel> elementwise_group(const KernelArgs& a) {
  const ElementwiseGroup* group = lowered_form<ElementwiseGroup>(a.op);
  if (!group) return nullptr;
  std::shared_ptr<const EwProgram> p = group->program;
  if (a.channels_last_inputs != 0 || a.channels_last_output) {
    auto laid_out = std::make_shared<EwProgram>(*p);
    lay_out(*laid_out, a);
    p = laid_out;
  }
  return lambda_kernel([p](std::span<const void* const> in, std::span<void* const> out) { p->run(in, out); });
}

std::unique_ptr<Kernel> copy_kernel(const KernelArgs& a) {
  size_t bytes = size_t(a.outputs[0].shape.size()) * dtype_size(a.outputs[0].dtype);
  return lambda_kernel([bytes](std::span<const void* const> in, std::span<void* const> o) {
    if (in[0] != o[0]) std::memcpy(o[0], in[0], bytes);
  }, 1u);
}

}  // namespace

bool elementwise_takes_channels_last(const Op& op, std::span<const ValueType> inputs) {
  if (op.outputs.size() != 1 || op.outputs[0].shape.rank() < 3 || op.outputs[0].shape.rank() > 5) return false;
  if (lowered_form<ElementwiseGroup>(op)) return true;
  return (is_unary_elementwise(op.kind) || is_binary_elementwise(op.kind) || op.kind == OpKind::Select ||
          op.kind == OpKind::Convert) &&
         runs_as_program(op, inputs);
}

void register_elementwise_kernels(KernelRegistry& r) {
#define REG_UNARY(name) r.add(OpKind::name, unary_kernel);
  GRAFT_UNARY_OPS(REG_UNARY)
#undef REG_UNARY
#define REG_BINARY(name) r.add(OpKind::name, binary_kernel);
  GRAFT_BINARY_OPS(REG_BINARY)
#undef REG_BINARY
  r.add(OpKind::Select, select_kernel);
  r.add(OpKind::Convert, convert_kernel);
  r.add(OpKind::Iota, iota_kernel);
  r.add_custom_composite(ElementwiseGroup::kName, elementwise_group);
  r.add(OpKind::StopGradient, copy_kernel);
  r.add(OpKind::Reshape, copy_kernel);
}

}  // namespace graft::cpu
