#include "graft/graph/op_kind.h"

#include <array>

namespace graft {

namespace {
constexpr std::array<std::string_view, size_t(OpKind::kCount)> kNames = {
#define GRAFT_NAME(name) #name,
    GRAFT_UNARY_OPS(GRAFT_NAME) GRAFT_BINARY_OPS(GRAFT_NAME) GRAFT_OTHER_OPS(GRAFT_NAME)
#undef GRAFT_NAME
};
}  // namespace

std::string_view op_name(OpKind k) { return kNames[size_t(k)]; }

bool is_unary_elementwise(OpKind k) { return k >= OpKind::Neg && k <= OpKind::Reciprocal; }
bool is_binary_elementwise(OpKind k) { return k >= OpKind::Add && k <= OpKind::ShiftRight; }
bool is_comparison(OpKind k) { return k >= OpKind::Equal && k <= OpKind::GreaterEqual; }

std::string_view reduce_op_name(ReduceOp r) {
  switch (r) {
    case ReduceOp::Sum: return "sum";
    case ReduceOp::Prod: return "prod";
    case ReduceOp::Max: return "max";
    case ReduceOp::Min: return "min";
    case ReduceOp::And: return "and";
    case ReduceOp::Or: return "or";
    case ReduceOp::Replace: return "replace";
    case ReduceOp::Mean: return "mean";
  }
  return "?";
}

}  // namespace graft
