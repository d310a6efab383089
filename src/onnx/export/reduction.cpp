// Export of the reduction family: Reduce (ReduceXxx), ArgMinMax, and Cumulative (CumSum; the other
// combiners as a masked reduction over every prefix).
#include "onnx/export/exporter.h"

namespace graft::onnx {

namespace {

void reduce(Exporter& e, const Graph& g, const Op& op, const Names& in, const Names& out) {
  const auto& a = std::get<ReduceAttrs>(op.attrs);
  if (a.axes.empty()) {
    e.identity(in[0], out[0]);
    return;
  }
  switch (a.op) {
    case ReduceOp::Sum: e.reduce("ReduceSum", in[0], a.axes, out[0]); return;
    case ReduceOp::Prod: e.reduce("ReduceProd", in[0], a.axes, out[0]); return;
    case ReduceOp::Max: e.reduce("ReduceMax", in[0], a.axes, out[0]); return;
    case ReduceOp::Min: e.reduce("ReduceMin", in[0], a.axes, out[0]); return;
    case ReduceOp::Mean: e.reduce("ReduceMean", in[0], a.axes, out[0]); return;
    case ReduceOp::And:
    case ReduceOp::Or:  // bool: min/max over 0/1
      e.cast(e.reduce(a.op == ReduceOp::And ? "ReduceMin" : "ReduceMax", e.cast(in[0], DType::I32), a.axes), DType::Bool,
           out[0]);
      return;
    default: e.unsupported(op, "no reduction for " + std::string(reduce_op_name(a.op)));
  }
}

void arg_min_max(Exporter& e, const Graph&, const Op& op, const Names& in, const Names& out) {
  const auto& a = std::get<ArgMinMaxAttrs>(op.attrs);
  e.op(a.is_min ? "ArgMin" : "ArgMax", in, out[0], [&](OnnxNode& n) {
    n.i("axis", a.axis).i("keepdims", 0);
    if (a.select_last) n.i("select_last_index", 1);
  });
}

void cumulative(Exporter& e, const Graph& g, const Op& op, const Names& in, const Names& out) {
  const auto& a = std::get<CumulativeAttrs>(op.attrs);
  if (a.op == ReduceOp::Sum) {
    e.op("CumSum", {in[0], e.i64(a.axis)}, out[0], [&](OnnxNode& n) {
      if (a.exclusive) n.i("exclusive", 1);
      if (a.reverse) n.i("reverse", 1);
    });
    return;
  }
  if (a.op != ReduceOp::Prod && a.op != ReduceOp::Max && a.op != ReduceOp::Min)
    e.unsupported(op, "no scan for " + std::string(reduce_op_name(a.op)));
  // No ONNX scan but CumSum: out[i] = reduce over j of (j within the prefix of i ? x[j] : identity).
  e.emit_lowered(op, in, out, g, [a](Graph& s, std::vector<Node>& p) {
    Node x = p[0];
    DType t = x.dtype();
    int ax = a.axis, r = x.rank();
    int64_t n = x.shape()[ax];
    std::vector<int64_t> td = x.shape().dims();
    td.insert(td.begin() + ax, n);  // axis ax: i (output), ax + 1: j (source)
    Axes dims;
    for (int k = 0; k < r; ++k) dims.push_back(k < ax ? k : k + 1);
    Node x2 = BroadcastInDim(x, Shape(td), dims);
    Node i = Iota(s, DType::I64, Shape{n, n}, 0), j = Iota(s, DType::I64, Shape{n, n}, 1);
    Node m = a.reverse ? (a.exclusive ? Greater(j, i) : GreaterEqual(j, i)) : (a.exclusive ? Less(j, i) : LessEqual(j, i));
    Node ident = a.op == ReduceOp::Prod ? s.scalar_like(1, t) : s.constant(extreme(t, a.op == ReduceOp::Min));
    Node sel = Select(BroadcastInDim(m, Shape(td), {ax, ax + 1}), x2, ident);
    return std::vector<Node>{Reduce(sel, a.op, {ax + 1})};
  });
}

}  // namespace

void register_reduction_emitters(EmitterTable& t) {
  t.add(OpKind::Reduce, reduce);
  t.add(OpKind::ArgMinMax, arg_min_max);
  t.add(OpKind::Cumulative, cumulative);
}

}  // namespace graft::onnx
