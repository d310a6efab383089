// Reductions, arg-min/max and running (cumulative) combinations.
#include <numeric>

#include "graft/graph/ops.h"
#include "graph/builder_util.h"

namespace graft {

using detail::normalize_axes;

Node Reduce(Node x, ReduceOp op, Axes axes, bool keepdims) {
  std::string what = std::string("Reduce(") + std::string(reduce_op_name(op)) + ") of " + x.describe();
  if (axes.empty()) {
    axes.resize(size_t(x.rank()));
    std::iota(axes.begin(), axes.end(), 0);
  }
  axes = normalize_axes(axes, x.rank(), what);
  std::sort(axes.begin(), axes.end());
  if (op == ReduceOp::And || op == ReduceOp::Or)
    GRAFT_CHECK(x.dtype() == DType::Bool, what, ": operand is ", x.type().str(), ", expected bool");
  else
    GRAFT_CHECK(x.dtype() != DType::Bool, what, ": operand is bool (use ReduceAll/ReduceAny)");
  if (op == ReduceOp::Mean) {
    int64_t count = 1;
    for (int64_t a : axes) count *= x.shape()[int(a)];
    Node sum = Reduce(x, ReduceOp::Sum, axes, keepdims);
    return count == 1 ? sum : sum / double(count);
  }
  GRAFT_CHECK(op != ReduceOp::Replace, what, ": 'replace' is not a reduction");
  std::vector<int64_t> out_dims, keep_dims;
  for (int i = 0; i < x.rank(); ++i) {
    bool reduced = std::binary_search(axes.begin(), axes.end(), int64_t(i));
    if (!reduced) out_dims.push_back(x.shape()[i]);
    keep_dims.push_back(reduced ? 1 : x.shape()[i]);
  }
  Node r = axes.empty() ? x
                        : x.graph()->add_op1(OpKind::Reduce, {x}, ReduceAttrs{op, axes},
                                             ValueType{x.dtype(), Shape(out_dims)});
  return keepdims ? Reshape(r, keep_dims) : r;
}

Node ReduceSum(Node x, Axes axes, bool keepdims) { return Reduce(x, ReduceOp::Sum, std::move(axes), keepdims); }
Node ReduceMean(Node x, Axes axes, bool keepdims) { return Reduce(x, ReduceOp::Mean, std::move(axes), keepdims); }
Node ReduceMax(Node x, Axes axes, bool keepdims) { return Reduce(x, ReduceOp::Max, std::move(axes), keepdims); }
Node ReduceMin(Node x, Axes axes, bool keepdims) { return Reduce(x, ReduceOp::Min, std::move(axes), keepdims); }
Node ReduceProd(Node x, Axes axes, bool keepdims) { return Reduce(x, ReduceOp::Prod, std::move(axes), keepdims); }
Node ReduceAll(Node x, Axes axes, bool keepdims) { return Reduce(x, ReduceOp::And, std::move(axes), keepdims); }
Node ReduceAny(Node x, Axes axes, bool keepdims) { return Reduce(x, ReduceOp::Or, std::move(axes), keepdims); }

namespace {
Node arg_min_max(Node x, int axis, bool keepdims, bool select_last, bool is_min) {
  const char* name = is_min ? "ArgMin" : "ArgMax";
  axis = int(normalize_axes({axis}, x.rank(), std::string(name) + " of " + x.describe())[0]);
  GRAFT_CHECK(x.shape()[axis] > 0, name, " of ", x.describe(), ": axis ", axis, " of ", x.shape(), " is empty");
  std::vector<int64_t> dims = x.shape().dims();
  dims.erase(dims.begin() + axis);
  Node r = x.graph()->add_op1(OpKind::ArgMinMax, {x}, ArgMinMaxAttrs{axis, is_min, select_last},
                              ValueType{DType::I64, Shape(dims)});
  return keepdims ? ExpandDims(r, axis) : r;
}

}  // namespace

Node Cumulative(Node x, int axis, ReduceOp op, bool exclusive, bool reverse) {
  axis = int(normalize_axes({axis}, x.rank(), "Cumulative of " + x.describe())[0]);
  GRAFT_CHECK(x.dtype() != DType::Bool, "Cumulative of ", x.describe(), ": bool operand");
  return x.graph()->add_op1(OpKind::Cumulative, {x}, CumulativeAttrs{axis, op, exclusive, reverse}, x.type());
}

Node ArgMax(Node x, int axis, bool keepdims, bool select_last) { return arg_min_max(x, axis, keepdims, select_last, false); }
Node ArgMin(Node x, int axis, bool keepdims, bool select_last) { return arg_min_max(x, axis, keepdims, select_last, true); }
Node CumSum(Node x, int axis, bool exclusive, bool reverse) { return Cumulative(x, axis, ReduceOp::Sum, exclusive, reverse); }
Node CumProd(Node x, int axis, bool exclusive, bool reverse) { return Cumulative(x, axis, ReduceOp::Prod, exclusive, reverse); }

}  // namespace graft
