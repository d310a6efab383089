// Reductions: ReduceSum/Mean/Max/Min/Prod/L1/L2/LogSum/LogSumExp/SumSquare, ArgMax/ArgMin, and the running
// sum CumSum.
#include "onnx/converter.h"

namespace graft::onnx {

namespace {

enum class Kind { Sum, Mean, Max, Min, Prod, L1, L2, LogSum, LogSumExp, SumSquare };

// Axes come from an attribute until the op's "axes as input" version (13 for ReduceSum, 18 for the rest).
void reduce_op(OpContext& c, Kind kind, int axes_input_since) {
  Node x = c.input(0);
  bool keep = c.attr_int("keepdims", 1) != 0;
  std::vector<int64_t> axes;
  bool have_axes = false;
  if (c.opset() >= axes_input_since) {
    if (c.has_input(1)) {
      axes = c.require_ints(1, "axes");
      have_axes = !axes.empty();
    }
    if (!have_axes && c.attr_int("noop_with_empty_axes", 0)) return c.set_output(0, x);
  } else {
    axes = c.attr_ints("axes");
    have_axes = !axes.empty();
  }
  axes = normalize_axes(c, axes, x.rank());
  if (!have_axes)
    for (int i = 0; i < x.rank(); ++i) axes.push_back(i);
  if (x.dtype() == DType::Bool && (kind == Kind::Max || kind == Kind::Min)) {
    Node r = kind == Kind::Max ? ReduceAny(x, axes, keep) : ReduceAll(x, axes, keep);
    return c.set_output(0, r);
  }
  Node r;
  switch (kind) {
    case Kind::Sum: r = ReduceSum(x, axes, keep); break;
    case Kind::Mean: r = ReduceMean(x, axes, keep); break;
    case Kind::Max: r = ReduceMax(x, axes, keep); break;
    case Kind::Min: r = ReduceMin(x, axes, keep); break;
    case Kind::Prod: r = ReduceProd(x, axes, keep); break;
    case Kind::L1: r = ReduceSum(Abs(x), axes, keep); break;
    case Kind::L2: r = Sqrt(ReduceSum(x * x, axes, keep)); break;
    case Kind::SumSquare: r = ReduceSum(x * x, axes, keep); break;
    case Kind::LogSum: r = Log(ReduceSum(x, axes, keep)); break;
    case Kind::LogSumExp: {
      Node m = ReduceMax(x, axes, true);
      Node safe = Select(IsInf(m), ScalarLike(m, 0), m);
      Node s = Log(ReduceSum(Exp(x - safe), axes, true)) + safe;
      r = keep ? s : Reshape(s, ReduceSum(x, axes, false).shape().dims());
      break;
    }
  }
  c.set_output(0, r);
}

void arg_op(OpContext& c, bool is_min) {
  Node x = c.input(0);
  int axis = normalize_axis(c, c.attr_int("axis", 0), x.rank());
  bool keep = c.attr_int("keepdims", 1) != 0, last = c.attr_int("select_last_index", 0) != 0;
  c.set_output(0, is_min ? ArgMin(x, axis, keep, last) : ArgMax(x, axis, keep, last));
}

void add(Registry& r, const char* name, Kind k, int axes_input_since) {
  r.add("", name, 1, [k, axes_input_since](OpContext& c) { reduce_op(c, k, axes_input_since); });
}

}  // namespace

void register_reduction_ops(Registry& r) {
  add(r, "ReduceSum", Kind::Sum, 13);
  add(r, "ReduceMean", Kind::Mean, 18);
  add(r, "ReduceMax", Kind::Max, 18);
  add(r, "ReduceMin", Kind::Min, 18);
  add(r, "ReduceProd", Kind::Prod, 18);
  add(r, "ReduceL1", Kind::L1, 18);
  add(r, "ReduceL2", Kind::L2, 18);
  add(r, "ReduceLogSum", Kind::LogSum, 18);
  add(r, "ReduceLogSumExp", Kind::LogSumExp, 18);
  add(r, "ReduceSumSquare", Kind::SumSquare, 18);
  r.add("", "ArgMax", 1, [](OpContext& c) { arg_op(c, false); });
  r.add("", "ArgMin", 1, [](OpContext& c) { arg_op(c, true); });
  r.add("", "CumSum", 11, [](OpContext& c) {
    Node x = c.input(0);
    int axis = normalize_axis(c, c.require_int(1, "axis"), x.rank());
    c.set_output(0, CumSum(x, axis, c.attr_int("exclusive", 0) != 0, c.attr_int("reverse", 0) != 0));
  });
}

}  // namespace graft::onnx
