// Reductions, arg-min/max, scans, sorting and window reductions.
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

std::vector<Node> Sort(std::vector<Node> operands, int axis, bool descending, bool stable) {
  GRAFT_CHECK(!operands.empty(), "Sort: no operands");
  const Node& keys = operands[0];
  axis = int(normalize_axes({axis}, keys.rank(), "Sort of " + keys.describe())[0]);
  std::vector<ValueType> types;
  for (const Node& o : operands) {
    GRAFT_CHECK(o.shape() == keys.shape(), "Sort: operand ", o.describe(), " ", o.shape(), " differs from keys ",
                keys.shape());
    types.push_back(o.type());
  }
  return keys.graph()->add_op(OpKind::Sort, operands, SortAttrs{axis, descending, stable}, types);
}

std::pair<Node, Node> TopK(Node x, int64_t k, int axis, bool largest) {
  axis = int(normalize_axes({axis}, x.rank(), "TopK of " + x.describe())[0]);
  GRAFT_CHECK(k >= 0 && k <= x.shape()[axis], "TopK of ", x.describe(), ": k=", k, " exceeds axis ", axis, " of ",
              x.shape());
  std::vector<int64_t> dims = x.shape().dims();
  dims[size_t(axis)] = k;
  auto outs = x.graph()->add_op(OpKind::TopK, {x}, TopKAttrs{k, axis, largest, true},
                                {ValueType{x.dtype(), Shape(dims)}, ValueType{DType::I64, Shape(dims)}});
  return {outs[0], outs[1]};
}

Node ReduceWindow(Node x, ReduceWindowAttrs a) {
  int r = x.rank();
  std::string what = "ReduceWindow of " + x.describe();
  auto fill = [&](Axes& v, int64_t def) {
    if (v.empty()) v.assign(size_t(r), def);
    GRAFT_CHECK(int(v.size()) == r, what, ": window attributes must have rank ", r);
  };
  fill(a.window, 1);
  fill(a.strides, 1);
  fill(a.dilations, 1);
  fill(a.pad_low, 0);
  fill(a.pad_high, 0);
  GRAFT_CHECK(a.op == ReduceOp::Max || a.op == ReduceOp::Min || a.op == ReduceOp::Sum || a.op == ReduceOp::Mean,
              what, ": unsupported combiner ", reduce_op_name(a.op));
  std::vector<int64_t> dims(static_cast<size_t>(r));
  for (int i = 0; i < r; ++i) {
    GRAFT_CHECK(a.window[i] >= 1 && a.strides[i] >= 1 && a.dilations[i] >= 1, what, ": bad window on axis ", i);
    int64_t padded = x.shape()[i] + a.pad_low[i] + a.pad_high[i];
    int64_t span = (a.window[i] - 1) * a.dilations[i] + 1;
    GRAFT_CHECK(padded >= span, what, ": window ", span, " larger than padded axis ", i, " (", padded, ")");
    dims[i] = (padded - span) / a.strides[i] + 1;
  }
  return x.graph()->add_op1(OpKind::ReduceWindow, {x}, a, ValueType{x.dtype(), Shape(dims)});
}

namespace {
Node pool(Node x, ReduceOp op, Axes window, Axes strides, Axes pad_low, Axes pad_high, Axes dilations,
          bool count_include_pad) {
  size_t s = window.size();
  GRAFT_CHECK(x.rank() == int(s) + 2, "pooling of ", x.describe(), ": input ", x.shape(),
              " must be [N, C, spatial...] with ", s, " spatial axes");
  auto widen = [&](Axes v, int64_t def) {
    if (v.empty()) v.assign(s, def);
    GRAFT_CHECK(v.size() == s, "pooling of ", x.describe(), ": attribute of rank ", v.size(), ", expected ", s);
    v.insert(v.begin(), 2, def);
    return v;
  };
  ReduceWindowAttrs a{op, widen(window, 1), widen(strides, 1), widen(dilations, 1), widen(pad_low, 0),
                      widen(pad_high, 0), count_include_pad};
  return ReduceWindow(x, a);
}
}  // namespace

Node MaxPool(Node x, Axes window, Axes strides, Axes pad_low, Axes pad_high, Axes dilations) {
  return pool(x, ReduceOp::Max, window, strides, pad_low, pad_high, dilations, false);
}

Node AvgPool(Node x, Axes window, Axes strides, Axes pad_low, Axes pad_high, bool count_include_pad) {
  return pool(x, ReduceOp::Mean, window, strides, pad_low, pad_high, {}, count_include_pad);
}

}  // namespace graft
