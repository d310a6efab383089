// Pooling builders: the window reduction ReduceWindow and MaxPool / AvgPool over [N, C, spatial...].
#include "graft/graph/ops.h"
#include "graph/builder_util.h"

namespace graft {

using detail::axes_str;
using detail::normalize_axes;

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
