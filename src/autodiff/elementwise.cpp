// Gradient rules of the element-wise ops: unary, binary (NumPy broadcasting: each operand's cotangent is
// summed back over the axes it was broadcast along), Select, Convert, StopGradient.
#include <cmath>

#include "autodiff/rules.h"

namespace graft::autodiff {

namespace {

std::vector<Node> none(const GradContext& c) { return std::vector<Node>(c.in.size()); }

// ---- unary: d out / d x as a node of x's shape, multiplied by the cotangent -----------------------
std::vector<Node> unary(const GradContext& c) {
  Node x = c.in[0], y = c.out[0], ct = c.ct[0];
  Node g;
  switch (c.op.kind) {
    case OpKind::Neg: g = -ct; break;
    case OpKind::Abs: g = ct * Sign(x); break;
    case OpKind::Sign:
    case OpKind::Floor:
    case OpKind::Ceil:
    case OpKind::Round: return none(c);  // piecewise constant: zero gradient
    case OpKind::Exp: g = ct * y; break;
    case OpKind::Expm1: g = ct * (y + 1.0); break;
    case OpKind::Log: g = ct / x; break;
    case OpKind::Log1p: g = ct / (x + 1.0); break;
    case OpKind::Sqrt: g = ct * 0.5 / y; break;
    case OpKind::Rsqrt: g = ct * (-0.5) * y / x; break;
    case OpKind::Reciprocal: g = -(ct * y * y); break;
    case OpKind::Sin: g = ct * Cos(x); break;
    case OpKind::Cos: g = -(ct * Sin(x)); break;
    case OpKind::Tan: g = ct * (y * y + 1.0); break;
    case OpKind::Asin: g = ct * Rsqrt(1.0 - x * x); break;
    case OpKind::Acos: g = -(ct * Rsqrt(1.0 - x * x)); break;
    case OpKind::Atan: g = ct / (x * x + 1.0); break;
    case OpKind::Sinh: g = ct * Cosh(x); break;
    case OpKind::Cosh: g = ct * Sinh(x); break;
    case OpKind::Tanh: g = ct * (1.0 - y * y); break;
    case OpKind::Asinh: g = ct * Rsqrt(x * x + 1.0); break;
    case OpKind::Acosh: g = ct * Rsqrt(x * x - 1.0); break;
    case OpKind::Atanh: g = ct / (1.0 - x * x); break;
    case OpKind::Erf: g = ct * (2.0 / std::sqrt(M_PI)) * Exp(-(x * x)); break;
    case OpKind::Logistic: g = ct * y * (1.0 - y); break;
    default: return none(c);  // IsNan, IsInf, Not, BitwiseNot: not floating point
  }
  return {g};
}

// trunc(q) for floats: toward zero.
Node trunc(Node q) { return Select(Less(q, ScalarLike(q, 0.0)), Ceil(q), Floor(q)); }

std::vector<Node> binary(const GradContext& c) {
  Node a = c.in[0], b = c.in[1], y = c.out[0], ct = c.ct[0];
  Node ga, gb;  // in the output's (broadcast) shape
  bool na = c.need[0], nb = c.need[1];
  switch (c.op.kind) {
    case OpKind::Add:
      ga = ct, gb = ct;
      break;
    case OpKind::Sub:
      ga = ct;
      if (nb) gb = -ct;
      break;
    case OpKind::Mul:
      if (na) ga = ct * b;
      if (nb) gb = ct * a;
      break;
    case OpKind::Div:
      if (na) ga = ct / b;
      if (nb) gb = -(ct * y / b);
      break;
    case OpKind::Rem:
    case OpKind::Fmod:  // a - trunc(a / b) * b
      ga = ct;
      if (nb) gb = -(ct * trunc(a / b));
      break;
    case OpKind::Pow: {
      Node zero = ScalarLike(y, 0.0);
      // d/da = b a^(b-1), taken as 0 where b == 0 (so 0^0 is smooth in a);
      // d/db = a^b log a, taken as 0 where a <= 0 (undefined there).
      if (na) ga = ct * Select(Equal(b, ScalarLike(b, 0.0)), zero, b * Pow(a, b - 1.0));
      if (nb) {
        Node pos = Greater(a, ScalarLike(a, 0.0));
        Node safe_a = Select(pos, a, ScalarLike(a, 1.0));
        gb = ct * Select(pos, y * Log(safe_a), zero);
      }
      break;
    }
    case OpKind::Max:
    case OpKind::Min: {
      // The cotangent goes to the selected operand; on ties it is split evenly.
      Node one = ScalarLike(y, 1.0), half = ScalarLike(y, 0.5), zero = ScalarLike(y, 0.0);
      bool is_max = c.op.kind == OpKind::Max;
      Node a_wins = is_max ? Greater(a, b) : Less(a, b);
      Node b_wins = is_max ? Less(a, b) : Greater(a, b);
      if (na) ga = ct * Select(a_wins, one, Select(b_wins, zero, half));
      if (nb) gb = ct * Select(b_wins, one, Select(a_wins, zero, half));
      break;
    }
    case OpKind::Atan2: {  // atan(a / b): d/da = b / (a² + b²), d/db = -a / (a² + b²)
      Node r = a * a + b * b;
      if (na) ga = ct * b / r;
      if (nb) gb = -(ct * a / r);
      break;
    }
    default: return none(c);  // comparisons, logic and bit ops have no floating-point operands to differentiate
  }
  if (ga.valid() && ga.shape() != a.shape()) ga = sum_to_shape(ga, a.shape());
  if (gb.valid() && gb.shape() != b.shape()) gb = sum_to_shape(gb, b.shape());
  // Where the output broadcast a shape-1 operand, the rule's product may still have the output's shape.
  if (ga.valid() && ga.shape() != a.shape()) ga = BroadcastTo(ga, a.shape());
  if (gb.valid() && gb.shape() != b.shape()) gb = BroadcastTo(gb, b.shape());
  return {ga, gb};
}

std::vector<Node> select(const GradContext& c) {
  Node pred = c.in[0], ct = c.ct[0];
  Node zero = ScalarLike(ct, 0.0);
  Node gt, gf;
  if (c.need[1]) gt = sum_to_shape(Select(pred, ct, zero), c.in[1].shape());
  if (c.need[2]) gf = sum_to_shape(Select(pred, zero, ct), c.in[2].shape());
  return {Node(), gt, gf};
}

std::vector<Node> convert(const GradContext& c) {
  if (!is_float(c.in[0]) || !is_float(c.out[0])) return none(c);
  return {Convert(c.ct[0], c.in[0].dtype())};
}

}  // namespace

void register_elementwise_rules(RuleTable& t) {
#define GRAFT_REG_UNARY(name) t.add(OpKind::name, unary);
  GRAFT_UNARY_OPS(GRAFT_REG_UNARY)
#undef GRAFT_REG_UNARY
#define GRAFT_REG_BINARY(name) t.add(OpKind::name, binary);
  GRAFT_BINARY_OPS(GRAFT_REG_BINARY)
#undef GRAFT_REG_BINARY
  t.add(OpKind::Select, select);
  t.add(OpKind::Convert, convert);
  t.add(OpKind::StopGradient, none);
  t.add(OpKind::Parameter, none);
  t.add(OpKind::Constant, none);
  t.add(OpKind::Iota, none);
}

}  // namespace graft::autodiff
