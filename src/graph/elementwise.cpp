// Element-wise builders: unary, binary (NumPy broadcasting), select, convert, and the operators.
#include "graft/graph/ops.h"

namespace graft {

namespace {

enum class Domain { Any, Numeric, Float, Integer, Bool, SignedOrFloat };

bool in_domain(DType t, Domain d) {
  switch (d) {
    case Domain::Any: return true;
    case Domain::Numeric: return t != DType::Bool;
    case Domain::Float: return is_floating(t);
    case Domain::Integer: return is_integer(t);
    case Domain::Bool: return t == DType::Bool;
    case Domain::SignedOrFloat: return is_floating(t) || is_signed_integer(t);
  }
  return false;
}

const char* domain_name(Domain d) {
  switch (d) {
    case Domain::Any: return "any dtype";
    case Domain::Numeric: return "a numeric dtype";
    case Domain::Float: return "a floating-point dtype";
    case Domain::Integer: return "an integer dtype";
    case Domain::Bool: return "bool";
    case Domain::SignedOrFloat: return "a signed integer or floating-point dtype";
  }
  return "?";
}

Domain unary_domain(OpKind k) {
  switch (k) {
    case OpKind::Neg: return Domain::SignedOrFloat;
    case OpKind::Abs:
    case OpKind::Sign: return Domain::Numeric;
    case OpKind::Not: return Domain::Bool;
    case OpKind::BitwiseNot: return Domain::Integer;
    default: return Domain::Float;
  }
}

Domain binary_domain(OpKind k) {
  switch (k) {
    case OpKind::And:
    case OpKind::Or:
    case OpKind::Xor: return Domain::Bool;
    case OpKind::BitwiseAnd:
    case OpKind::BitwiseOr:
    case OpKind::BitwiseXor:
    case OpKind::ShiftLeft:
    case OpKind::ShiftRight: return Domain::Integer;
    case OpKind::Atan2: return Domain::Float;
    case OpKind::Equal:
    case OpKind::NotEqual: return Domain::Any;
    default: return Domain::Numeric;
  }
}

Node unary(OpKind k, Node x) {
  Domain d = unary_domain(k);
  GRAFT_CHECK(in_domain(x.dtype(), d), op_name(k), ": operand ", x.describe(), " is ", x.type().str(), ", expected ",
              domain_name(d));
  DType out = (k == OpKind::IsNan || k == OpKind::IsInf) ? DType::Bool : x.dtype();
  return x.graph()->add_op1(k, {x}, NoAttrs{}, ValueType{out, x.shape()});
}

Node binary(OpKind k, Node a, Node b) {
  GRAFT_CHECK(a.graph() == b.graph(), op_name(k), ": operands ", a.describe(), " and ", b.describe(),
              " belong to different graphs");
  GRAFT_CHECK(a.dtype() == b.dtype(), op_name(k), ": operand dtypes differ: ", a.describe(), " is ", a.type().str(),
              ", ", b.describe(), " is ", b.type().str(), " (use Convert)");
  Domain d = binary_domain(k);
  GRAFT_CHECK(in_domain(a.dtype(), d), op_name(k), ": operands are ", dtype_name(a.dtype()), ", expected ",
              domain_name(d));
  Shape s = broadcast_shapes(a.shape(), b.shape(), std::string(op_name(k)) + " of " + a.describe() + " and " + b.describe());
  DType out = is_comparison(k) ? DType::Bool : a.dtype();
  return a.graph()->add_op1(k, {a, b}, NoAttrs{}, ValueType{out, std::move(s)});
}

}  // namespace

#define GRAFT_DEFINE_UNARY(name) \
  Node name(Node x) { return unary(OpKind::name, x); }
GRAFT_UNARY_OPS(GRAFT_DEFINE_UNARY)
#undef GRAFT_DEFINE_UNARY

#define GRAFT_DEFINE_BINARY(name) \
  Node name(Node a, Node b) { return binary(OpKind::name, a, b); }
GRAFT_BINARY_OPS(GRAFT_DEFINE_BINARY)
#undef GRAFT_DEFINE_BINARY

Node ScalarLike(Node like, double value) { return like.graph()->scalar_like(value, like.dtype()); }

Node Iota(Graph& g, DType dtype, Shape shape, int axis) {
  int a = shape.normalize_axis(axis);
  return g.add_op1(OpKind::Iota, {}, IotaAttrs{a}, ValueType{dtype, std::move(shape)});
}

Node Full(Graph& g, DType dtype, Shape shape, double value) {
  return BroadcastInDim(g.scalar_like(value, dtype), std::move(shape), {});
}

Node Zeros(Graph& g, DType dtype, Shape shape) { return Full(g, dtype, std::move(shape), 0.0); }

Node Select(Node pred, Node on_true, Node on_false) {
  GRAFT_CHECK(pred.dtype() == DType::Bool, "Select: predicate ", pred.describe(), " is ", pred.type().str(),
              ", expected bool");
  GRAFT_CHECK(on_true.dtype() == on_false.dtype(), "Select: branches differ in dtype: ", on_true.type().str(), " vs ",
              on_false.type().str());
  Shape s = broadcast_shapes(broadcast_shapes(pred.shape(), on_true.shape(), "Select"), on_false.shape(), "Select");
  return pred.graph()->add_op1(OpKind::Select, {pred, on_true, on_false}, NoAttrs{},
                               ValueType{on_true.dtype(), std::move(s)});
}

Node Clamp(Node x, Node lo, Node hi) { return Min(Max(x, lo), hi); }

Node Convert(Node x, DType dtype) {
  if (x.dtype() == dtype) return x;
  return x.graph()->add_op1(OpKind::Convert, {x}, NoAttrs{}, ValueType{dtype, x.shape()});
}

Node StopGradient(Node x) { return x.graph()->add_op1(OpKind::StopGradient, {x}, NoAttrs{}, x.type()); }

Node operator+(Node a, Node b) { return Add(a, b); }
Node operator-(Node a, Node b) { return Sub(a, b); }
Node operator*(Node a, Node b) { return Mul(a, b); }
Node operator/(Node a, Node b) { return Div(a, b); }
Node operator-(Node a) { return Neg(a); }
Node operator+(Node a, double b) { return Add(a, ScalarLike(a, b)); }
Node operator-(Node a, double b) { return Sub(a, ScalarLike(a, b)); }
Node operator*(Node a, double b) { return Mul(a, ScalarLike(a, b)); }
Node operator/(Node a, double b) { return Div(a, ScalarLike(a, b)); }
Node operator+(double a, Node b) { return Add(ScalarLike(b, a), b); }
Node operator-(double a, Node b) { return Sub(ScalarLike(b, a), b); }
Node operator*(double a, Node b) { return Mul(ScalarLike(b, a), b); }
Node operator/(double a, Node b) { return Div(ScalarLike(b, a), b); }

}  // namespace graft
