// Element-wise ops: unary math, binary arithmetic and comparisons (NumPy broadcasting), logical and
// bitwise ops, variadic Sum/Mean/Max/Min, Where, Cast, Clip and the element-wise activation functions
// (Relu, LeakyRelu, ..., Mish; Gelu builds the gelu composite and lives in activation.cpp).
#include <cmath>

#include "onnx/converter.h"

namespace graft::onnx {

namespace {

using Unary = Node (*)(Node);
using Binary = Node (*)(Node, Node);

Node scalar(Node like, double v) { return ScalarLike(like, v); }

void unary(Registry& r, const char* op, int since, Unary f) {
  r.add("", op, since, [f](OpContext& c) { c.set_output(0, f(c.input(0))); });
}

void binary(Registry& r, const char* op, int since, Binary f) {
  r.add("", op, since, [f](OpContext& c) { c.set_output(0, f(c.input(0), c.input(1))); });
}

// Python-style modulus for integers: the result has the sign of the divisor.
Node python_mod(Node a, Node b) {
  Node rem = Rem(a, b);
  Node zero = scalar(rem, 0);
  Node fix = And(NotEqual(rem, zero), NotEqual(Less(rem, zero), Less(b, scalar(b, 0))));
  return Select(fix, rem + b, rem);
}

Node pow_op(OpContext& c) {
  Node x = c.input(0);
  Node y = c.input(1);
  if (const Tensor* e = c.known(1); e && e->size() == 1 && is_floating(x.dtype())) {
    double v = e->value_as_double(0);
    if (v == 2.0 && y.rank() == 0) return x * x;
    if (v == 1.0 && y.rank() == 0) return x;
  }
  if (y.dtype() == x.dtype()) return Pow(x, y);
  if (is_floating(x.dtype())) return Pow(x, Convert(y, x.dtype()));
  if (is_integer(y.dtype())) return Pow(x, Convert(y, x.dtype()));
  // integer base, float exponent: compute in double, then back to the base type
  return Convert(Pow(Convert(x, DType::F64), Convert(y, DType::F64)), x.dtype());
}

Node softplus(Node x) {  // log(1 + exp(x)), stable for large |x|
  return Max(x, scalar(x, 0)) + Log1p(Exp(-Abs(x)));
}

Node elu(Node x, double alpha) {
  return Select(Less(x, scalar(x, 0)), (Exp(x) - 1.0) * alpha, x);
}

Node hard_sigmoid(Node x, double alpha, double beta) {
  return Clamp(x * alpha + beta, scalar(x, 0), scalar(x, 1));
}

Node variadic(OpContext& c, Binary f) {
  std::vector<Node> xs;
  for (int i = 0; i < c.num_inputs(); ++i)
    if (c.has_input(i)) xs.push_back(c.input(i));
  if (xs.empty()) c.fail("needs at least one input");
  Node acc = xs[0];
  for (size_t i = 1; i < xs.size(); ++i) acc = f(acc, xs[i]);
  // A single input still broadcasts to itself: nothing to do.
  return acc;
}

// Clip bounds: attributes before opset 11, optional inputs after.
Node clip(OpContext& c) {
  Node x = c.input(0);
  std::optional<Node> lo, hi;
  if (c.opset() < 11) {
    if (c.has_attr("min")) lo = scalar(x, c.attr_float("min", 0));
    if (c.has_attr("max")) hi = scalar(x, c.attr_float("max", 0));
  } else {
    lo = c.optional_input(1);
    hi = c.optional_input(2);
  }
  if (lo) x = Max(x, Convert(*lo, x.dtype()));
  if (hi) x = Min(x, Convert(*hi, x.dtype()));
  return x;
}

}  // namespace

void register_elementwise_ops(Registry& r) {
  // ---- unary math ----
  unary(r, "Abs", 6, Abs);
  unary(r, "Neg", 6, Neg);
  unary(r, "Exp", 6, Exp);
  unary(r, "Log", 6, Log);
  unary(r, "Sqrt", 6, Sqrt);
  unary(r, "Reciprocal", 6, Reciprocal);
  unary(r, "Floor", 6, Floor);
  unary(r, "Ceil", 6, Ceil);
  unary(r, "Round", 11, Round);
  unary(r, "Sin", 7, Sin);
  unary(r, "Cos", 7, Cos);
  unary(r, "Tan", 7, Tan);
  unary(r, "Asin", 7, Asin);
  unary(r, "Acos", 7, Acos);
  unary(r, "Atan", 7, Atan);
  unary(r, "Sinh", 9, Sinh);
  unary(r, "Cosh", 9, Cosh);
  unary(r, "Asinh", 9, Asinh);
  unary(r, "Acosh", 9, Acosh);
  unary(r, "Atanh", 9, Atanh);
  unary(r, "Tanh", 6, Tanh);
  unary(r, "Erf", 9, Erf);
  unary(r, "Sigmoid", 6, Logistic);
  unary(r, "Sign", 9, Sign);
  unary(r, "Not", 1, Not);
  unary(r, "IsNaN", 9, IsNan);
  unary(r, "BitwiseNot", 18, BitwiseNot);
  r.add("", "IsInf", 10, [](OpContext& c) {
    Node x = c.input(0);
    bool pos = c.attr_int("detect_positive", 1), neg = c.attr_int("detect_negative", 1);
    Node inf = IsInf(x);
    if (pos && neg) return c.set_output(0, inf);
    Node zero = scalar(x, 0);
    if (pos) return c.set_output(0, And(inf, Greater(x, zero)));
    if (neg) return c.set_output(0, And(inf, Less(x, zero)));
    c.set_output(0, And(inf, Not(inf)));
  });
  r.add("", "Identity", 1, [](OpContext& c) { c.set_value(0, c.value(0)); });

  // ---- binary arithmetic, comparison, logic ----
  binary(r, "Add", 7, Add);
  binary(r, "Sub", 7, Sub);
  binary(r, "Mul", 7, Mul);
  binary(r, "Div", 7, Div);
  binary(r, "Equal", 7, Equal);
  binary(r, "Less", 7, Less);
  binary(r, "Greater", 7, Greater);
  binary(r, "LessOrEqual", 12, LessEqual);
  binary(r, "GreaterOrEqual", 12, GreaterEqual);
  binary(r, "And", 7, And);
  binary(r, "Or", 7, Or);
  binary(r, "Xor", 7, Xor);
  binary(r, "BitwiseAnd", 18, BitwiseAnd);
  binary(r, "BitwiseOr", 18, BitwiseOr);
  binary(r, "BitwiseXor", 18, BitwiseXor);
  r.add("", "Pow", 7, [](OpContext& c) { c.set_output(0, pow_op(c)); });
  r.add("", "Mod", 10, [](OpContext& c) {
    Node a = c.input(0), b = c.input(1);
    bool fmod = c.attr_int("fmod", 0) != 0;
    if (is_floating(a.dtype())) {
      if (!fmod) c.fail("fmod=0 is not allowed for floating-point inputs");
      return c.set_output(0, Fmod(a, b));
    }
    c.set_output(0, fmod ? Rem(a, b) : python_mod(a, b));
  });
  r.add("", "BitShift", 11, [](OpContext& c) {
    std::string dir = c.attr_string("direction");
    if (dir == "LEFT") return c.set_output(0, ShiftLeft(c.input(0), c.input(1)));
    if (dir == "RIGHT") return c.set_output(0, ShiftRight(c.input(0), c.input(1)));
    c.fail("direction must be LEFT or RIGHT, got '", dir, "'");
  });

  // ---- variadic ----
  r.add("", "Sum", 8, [](OpContext& c) { c.set_output(0, variadic(c, Add)); });
  r.add("", "Max", 8, [](OpContext& c) { c.set_output(0, variadic(c, Max)); });
  r.add("", "Min", 8, [](OpContext& c) { c.set_output(0, variadic(c, Min)); });
  r.add("", "Mean", 8, [](OpContext& c) {
    int n = 0;
    for (int i = 0; i < c.num_inputs(); ++i) n += c.has_input(i);
    c.set_output(0, variadic(c, Add) / double(n));
  });

  // ---- selection and conversion ----
  r.add("", "Where", 9, [](OpContext& c) { c.set_output(0, Select(c.input(0), c.input(1), c.input(2))); });
  r.add("", "Cast", 6, [](OpContext& c) {
    int64_t to = c.attr_int("to", 0);
    DType d = onnx_dtype_attr(c, to);
    if (const Tensor* k = c.known(0); k && !is_floating(k->dtype()) && !is_floating(d) && d != DType::Bool &&
                                      k->dtype() != DType::Bool) {
      return c.set_known(0, k->cast(d));  // integer -> integer on the host (shape arithmetic)
    }
    c.set_output(0, Convert(c.input(0), d));
  });
  r.add("", "CastLike", 15, [](OpContext& c) { c.set_output(0, Convert(c.input(0), c.input(1).dtype())); });
  r.add("", "Clip", 6, [](OpContext& c) { c.set_output(0, clip(c)); });

  // ---- activations ----
  r.add("", "Relu", 6, [](OpContext& c) {
    Node x = c.input(0);
    c.set_output(0, Max(x, scalar(x, 0)));
  });
  r.add("", "LeakyRelu", 6, [](OpContext& c) {
    Node x = c.input(0);
    double alpha = c.attr_float("alpha", 0.01);
    c.set_output(0, Select(Less(x, scalar(x, 0)), x * alpha, x));
  });
  r.add("", "PRelu", 7, [](OpContext& c) {
    Node x = c.input(0), slope = c.input(1);
    c.set_output(0, Select(Less(x, scalar(x, 0)), x * slope, x));
  });
  r.add("", "Elu", 6, [](OpContext& c) { c.set_output(0, elu(c.input(0), c.attr_float("alpha", 1.0))); });
  r.add("", "Selu", 6, [](OpContext& c) {
    double alpha = c.attr_float("alpha", 1.67326319217681884765625);
    double gamma = c.attr_float("gamma", 1.05070102214813232421875);
    c.set_output(0, elu(c.input(0), alpha) * gamma);
  });
  r.add("", "Celu", 12, [](OpContext& c) {
    Node x = c.input(0);
    double alpha = c.attr_float("alpha", 1.0);
    Node zero = scalar(x, 0);
    c.set_output(0, Max(x, zero) + Min(zero, (Exp(x / alpha) - 1.0) * alpha));
  });
  r.add("", "HardSigmoid", 6, [](OpContext& c) {
    c.set_output(0, hard_sigmoid(c.input(0), c.attr_float("alpha", 0.2), c.attr_float("beta", 0.5)));
  });
  r.add("", "HardSwish", 14, [](OpContext& c) {
    Node x = c.input(0);
    c.set_output(0, x * hard_sigmoid(x, 1.0 / 6.0, 0.5));
  });
  r.add("", "Softplus", 1, [](OpContext& c) { c.set_output(0, softplus(c.input(0))); });
  r.add("", "Softsign", 1, [](OpContext& c) {
    Node x = c.input(0);
    c.set_output(0, x / (Abs(x) + 1.0));
  });
  r.add("", "ThresholdedRelu", 10, [](OpContext& c) {
    Node x = c.input(0);
    double alpha = c.attr_float("alpha", 1.0);
    c.set_output(0, Select(Greater(x, scalar(x, alpha)), x, scalar(x, 0)));
  });
  r.add("", "Mish", 18, [](OpContext& c) {
    Node x = c.input(0);
    c.set_output(0, x * Tanh(softplus(x)));
  });
  r.add("", "Shrink", 9, [](OpContext& c) {
    Node x = c.input(0);
    double lambd = c.attr_float("lambd", 0.5), bias = c.attr_float("bias", 0.0);
    Node xf = is_floating(x.dtype()) ? x : Convert(x, DType::F32);
    Node out = Select(Less(xf, scalar(xf, -lambd)), xf + bias,
                      Select(Greater(xf, scalar(xf, lambd)), xf - bias, scalar(xf, 0)));
    c.set_output(0, Convert(out, x.dtype()));
  });
}

}  // namespace graft::onnx
