#pragma once
// The primitive op set every backend implements and every gradient rule is written for, plus
// `Composite`, a node that carries its decomposition into primitives.
#include <cstdint>
#include <string_view>

namespace graft {

#define GRAFT_UNARY_OPS(X)                                                                                 \
  X(Neg) X(Abs) X(Sign) X(Exp) X(Expm1) X(Log) X(Log1p) X(Sqrt) X(Rsqrt) X(Sin) X(Cos) X(Tan) X(Asin) X(Acos) \
  X(Atan) X(Sinh) X(Cosh) X(Tanh) X(Asinh) X(Acosh) X(Atanh) X(Erf) X(Floor) X(Ceil) X(Round) X(Logistic)    \
  X(IsNan) X(IsInf) X(Not) X(BitwiseNot) X(Reciprocal)

#define GRAFT_BINARY_OPS(X)                                                                              \
  X(Add) X(Sub) X(Mul) X(Div) X(Rem) X(Fmod) X(Pow) X(Min) X(Max) X(Atan2) X(Equal) X(NotEqual) X(Less) \
  X(LessEqual) X(Greater) X(GreaterEqual) X(And) X(Or) X(Xor) X(BitwiseAnd) X(BitwiseOr) X(BitwiseXor)  \
  X(ShiftLeft) X(ShiftRight)

#define GRAFT_OTHER_OPS(X)                                                                               \
  X(Parameter) X(Constant) X(Iota) X(Select) X(Convert) X(BroadcastInDim) X(Reshape) X(Transpose) X(Slice) \
  X(DynamicSlice) X(DynamicUpdateSlice) X(Concatenate) X(Pad) X(Reverse) X(Gather) X(Scatter) X(Reduce)    \
  X(ArgMinMax) X(DotGeneral) X(Convolution) X(ReduceWindow) X(Sort) X(TopK) X(Cumulative) X(If) X(While)   \
  X(Composite) X(StopGradient)

enum class OpKind : uint16_t {
#define GRAFT_ENUM(name) name,
  GRAFT_UNARY_OPS(GRAFT_ENUM) GRAFT_BINARY_OPS(GRAFT_ENUM) GRAFT_OTHER_OPS(GRAFT_ENUM)
#undef GRAFT_ENUM
  kCount
};

std::string_view op_name(OpKind k);
bool is_unary_elementwise(OpKind k);
bool is_binary_elementwise(OpKind k);
bool is_comparison(OpKind k);  // ops whose result is bool

// The combiner of Reduce, Scatter, ReduceWindow and Cumulative.
enum class ReduceOp : uint8_t { Sum, Prod, Max, Min, And, Or, Replace, Mean };
std::string_view reduce_op_name(ReduceOp r);

}  // namespace graft
