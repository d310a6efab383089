// Export of the element-wise family: unary and binary ops (most have an ONNX op of the same meaning; the
// others are lowered), select, convert, stop-gradient, and the sources Constant and Iota.
#include <cmath>

#include "onnx/export/exporter.h"
#include "onnx/tensor_proto.h"

namespace graft::onnx {

namespace {

DType unsigned_of(DType t) {
  switch (t) {
    case DType::I8: return DType::U8;
    case DType::I16: return DType::U16;
    case DType::I32: return DType::U32;
    case DType::I64: return DType::U64;
    default: return t;
  }
}

// ---- unary --------------------------------------------------------------------------------------------

void rsqrt(Exporter& e, const Graph&, const Op&, const Names& in, const Names& out) {
  e.op("Reciprocal", {e.op("Sqrt", {in[0]})}, out[0]);
}

void bitwise_not(Exporter& e, const Graph& g, const Op& op, const Names& in, const Names& out) {
  DType t = e.in_type(g, op, 0).dtype;
  if (e.opset() >= 18) {
    e.op("BitwiseNot", {in[0]}, out[0]);
  } else {  // two's complement: ~x = -1 - x (signed), max - x (unsigned)
    e.op("Sub", {is_signed_integer(t) ? e.scalar(-1, t) : e.constant(extreme(t, true)), in[0]}, out[0]);
  }
}

void expm1_kahan(Exporter& e, const Graph& g, const Op& op, const Names& in, const Names& out) {
  // Kahan: (u - 1) * x / log(u), u = exp(x), exact where u rounds to 1
  e.emit_lowered(op, in, out, g, [](Graph&, std::vector<Node>& p) {
    Node x = p[0], u = Exp(x), d = u - 1.0;
    Node r = Select(Equal(d, ScalarLike(x, 0)), x, d * x / Log(u));
    r = Select(Equal(d, ScalarLike(x, -1)), d, r);
    return std::vector<Node>{Select(IsInf(u), u, r)};
  });
}

void log1p_kahan(Exporter& e, const Graph& g, const Op& op, const Names& in, const Names& out) {
  // Kahan: log(u) * x / (u - 1), u = 1 + x
  e.emit_lowered(op, in, out, g, [](Graph&, std::vector<Node>& p) {
    Node x = p[0], u = x + 1.0, d = u - 1.0;
    Node r = Select(Equal(d, ScalarLike(x, 0)), x, Log(u) * x / d);
    return std::vector<Node>{Select(IsInf(u), u, r)};
  });
}

// ---- binary -------------------------------------------------------------------------------------------

void bitwise_binary(Exporter& e, const Graph&, const Op& op, const Names& in, const Names& out) {
  if (e.opset() < 18) e.unsupported(op, "bitwise ops need opset 18");
  const char* type = op.kind == OpKind::BitwiseAnd  ? "BitwiseAnd"
                     : op.kind == OpKind::BitwiseOr ? "BitwiseOr"
                                                    : "BitwiseXor";
  e.op(type, in, out[0]);
}

void mod(Exporter& e, const Graph&, const Op&, const Names& in, const Names& out) {
  e.op("Mod", in, out[0], [](OnnxNode& n) { n.i("fmod", 1); });  // sign of the dividend
}

void not_equal(Exporter& e, const Graph&, const Op&, const Names& in, const Names& out) {
  e.op("Not", {e.op("Equal", in)}, out[0]);
}

void atan2_from_atan(Exporter& e, const Graph& g, const Op& op, const Names& in, const Names& out) {
  e.emit_lowered(op, in, out, g, [](Graph&, std::vector<Node>& p) {
    Node y = p[0], x = p[1], zero = ScalarLike(x, 0), r = Atan(y / x);
    Node neg_x = Select(GreaterEqual(y, zero), r + M_PI, r - M_PI);
    Node zero_x = Select(Greater(y, zero), ScalarLike(x, M_PI / 2),
                         Select(Less(y, zero), ScalarLike(x, -M_PI / 2), zero));
    return std::vector<Node>{Select(Greater(x, zero), r, Select(Less(x, zero), neg_x, zero_x))};
  });
}

void shift(Exporter& e, const Graph& g, const Op& op, const Names& in, const Names& out) {
  DType t = e.in_type(g, op, 0).dtype;
  const char* dir = op.kind == OpKind::ShiftLeft ? "LEFT" : "RIGHT";
  if (is_unsigned_integer(t)) {
    e.op("BitShift", {in[0], in[1]}, out[0], [&](OnnxNode& n) { n.s("direction", dir); });
    return;
  }
  // Signed: shift the two's complement bits as unsigned; right shifts are arithmetic:
  // x < 0 ? ~(~x >> n) : x >> n, with ~v = -1 - v.
  DType u = unsigned_of(t);
  std::string n_u = e.cast(in[1], u);
  auto ushift = [&](const std::string& x) {
    return e.cast(e.op("BitShift", {e.cast(x, u), n_u}, {}, [&](OnnxNode& n) { n.s("direction", dir); }), t);
  };
  if (op.kind == OpKind::ShiftLeft) {
    e.op("Cast", {e.op("BitShift", {e.cast(in[0], u), n_u}, {}, [&](OnnxNode& n) { n.s("direction", dir); })},
         out[0], [&](OnnxNode& n) { n.i("to", dtype_to_onnx(t)); });
    return;
  }
  std::string m1 = e.scalar(-1, t);
  std::string neg = e.op("Sub", {m1, ushift(e.op("Sub", {m1, in[0]}))});
  e.op("Where", {e.op("Less", {in[0], e.scalar(0, t)}), neg, ushift(in[0])}, out[0]);
}

// ---- select, convert, sources -------------------------------------------------------------------------

void constant(Exporter& e, const Graph&, const Op& op, const Names&, const Names& out) {
  e.add_initializer(out[0], std::get<ConstantAttrs>(op.attrs).value, true);
}

void iota(Exporter& e, const Graph&, const Op& op, const Names&, const Names& out) {
  const ValueType& t = op.outputs[0];
  int axis = std::get<IotaAttrs>(op.attrs).axis;
  int64_t n = t.shape[axis];
  bool native = t.dtype == DType::F32 || t.dtype == DType::F64 || t.dtype == DType::I16 || t.dtype == DType::I32 ||
                t.dtype == DType::I64;
  DType rt = native ? t.dtype : DType::I64;
  bool last = t.shape.rank() == 1;
  std::string r = e.op("Range", {e.scalar(0, rt), e.scalar(double(n), rt), e.scalar(1, rt)}, last && native ? out[0] : "");
  if (!native) r = e.cast(r, t.dtype, last ? out[0] : "");
  if (last) return;
  std::vector<int64_t> dims(size_t(t.shape.rank()), 1);
  dims[size_t(axis)] = n;
  e.op("Expand", {e.reshape(r, dims), e.i64s(t.shape.dims())}, out[0]);
}

void where(Exporter& e, const Graph&, const Op&, const Names& in, const Names& out) { e.op("Where", in, out[0]); }
void convert(Exporter& e, const Graph&, const Op& op, const Names& in, const Names& out) {
  e.cast(in[0], op.outputs[0].dtype, out[0]);
}
void stop_gradient(Exporter& e, const Graph&, const Op&, const Names& in, const Names& out) {
  e.identity(in[0], out[0]);
}

}  // namespace

// An ONNX op of the same meaning: one node, the operands as they are.
#define GRAFT_SAME_AS(kind, onnx_type)                                                               \
  t.add(OpKind::kind, [](Exporter& e, const Graph&, const Op&, const Names& in, const Names& out) { \
    e.op(onnx_type, in, out[0]);                                                                     \
  })

void register_elementwise_emitters(EmitterTable& t) {
  GRAFT_SAME_AS(Neg, "Neg");
  GRAFT_SAME_AS(Abs, "Abs");
  GRAFT_SAME_AS(Sign, "Sign");
  GRAFT_SAME_AS(Exp, "Exp");
  GRAFT_SAME_AS(Log, "Log");
  GRAFT_SAME_AS(Sqrt, "Sqrt");
  GRAFT_SAME_AS(Sin, "Sin");
  GRAFT_SAME_AS(Cos, "Cos");
  GRAFT_SAME_AS(Tan, "Tan");
  GRAFT_SAME_AS(Asin, "Asin");
  GRAFT_SAME_AS(Acos, "Acos");
  GRAFT_SAME_AS(Atan, "Atan");
  GRAFT_SAME_AS(Sinh, "Sinh");
  GRAFT_SAME_AS(Cosh, "Cosh");
  GRAFT_SAME_AS(Tanh, "Tanh");
  GRAFT_SAME_AS(Asinh, "Asinh");
  GRAFT_SAME_AS(Acosh, "Acosh");
  GRAFT_SAME_AS(Atanh, "Atanh");
  GRAFT_SAME_AS(Erf, "Erf");
  GRAFT_SAME_AS(Floor, "Floor");
  GRAFT_SAME_AS(Ceil, "Ceil");
  GRAFT_SAME_AS(Round, "Round");  // half to even in both
  GRAFT_SAME_AS(Logistic, "Sigmoid");
  GRAFT_SAME_AS(IsNan, "IsNaN");
  GRAFT_SAME_AS(IsInf, "IsInf");
  GRAFT_SAME_AS(Not, "Not");
  GRAFT_SAME_AS(Reciprocal, "Reciprocal");
  t.add(OpKind::Rsqrt, rsqrt);
  t.add(OpKind::BitwiseNot, bitwise_not);
  t.add(OpKind::Expm1, expm1_kahan);
  t.add(OpKind::Log1p, log1p_kahan);

  GRAFT_SAME_AS(Add, "Add");
  GRAFT_SAME_AS(Sub, "Sub");
  GRAFT_SAME_AS(Mul, "Mul");
  GRAFT_SAME_AS(Div, "Div");
  GRAFT_SAME_AS(Pow, "Pow");
  GRAFT_SAME_AS(Min, "Min");
  GRAFT_SAME_AS(Max, "Max");
  GRAFT_SAME_AS(Equal, "Equal");
  GRAFT_SAME_AS(Less, "Less");
  GRAFT_SAME_AS(LessEqual, "LessOrEqual");
  GRAFT_SAME_AS(Greater, "Greater");
  GRAFT_SAME_AS(GreaterEqual, "GreaterOrEqual");
  GRAFT_SAME_AS(And, "And");
  GRAFT_SAME_AS(Or, "Or");
  GRAFT_SAME_AS(Xor, "Xor");
  t.add(OpKind::BitwiseAnd, bitwise_binary);
  t.add(OpKind::BitwiseOr, bitwise_binary);
  t.add(OpKind::BitwiseXor, bitwise_binary);
  t.add(OpKind::Rem, mod);
  t.add(OpKind::Fmod, mod);
  t.add(OpKind::NotEqual, not_equal);
  t.add(OpKind::Atan2, atan2_from_atan);
  t.add(OpKind::ShiftLeft, shift);
  t.add(OpKind::ShiftRight, shift);

  t.add(OpKind::Constant, constant);
  t.add(OpKind::Iota, iota);
  t.add(OpKind::Select, where);
  t.add(OpKind::Convert, convert);
  t.add(OpKind::StopGradient, stop_gradient);
}

#undef GRAFT_SAME_AS

}  // namespace graft::onnx
