// Export of the pooling family: ReduceWindow as MaxPool / AveragePool where it has their layout, and
// otherwise padded with the combiner's identity and combined from one strided slice per window position.
#include "onnx/export/exporter.h"

namespace graft::onnx {

namespace {

void reduce_window(Exporter& e, const Graph& g, const Op& op, const Names& in, const Names& out) {
  const auto& a = std::get<ReduceWindowAttrs>(op.attrs);
  const ValueType& xt = e.in_type(g, op, 0);
  int r = xt.shape.rank();
  auto trivial = [&](int i) {
    return a.window[size_t(i)] == 1 && a.strides[size_t(i)] == 1 && a.dilations[size_t(i)] == 1 &&
           a.pad_low[size_t(i)] == 0 && a.pad_high[size_t(i)] == 0;
  };
  bool pool_layout = r >= 3 && r <= 5 && trivial(0) && trivial(1);
  bool dilated = false;
  for (int i = 2; i < r; ++i) dilated |= a.dilations[size_t(i)] != 1;
  bool floats = xt.dtype == DType::F32 || xt.dtype == DType::F64 || xt.dtype == DType::F16;
  if (pool_layout && floats &&
      (a.op == ReduceOp::Max || (a.op == ReduceOp::Mean && (!dilated || e.opset() >= 19)))) {
    auto spatial = [&](const std::vector<int64_t>& v) { return std::vector<int64_t>(v.begin() + 2, v.end()); };
    std::vector<int64_t> pads = spatial(a.pad_low), hi = spatial(a.pad_high);
    pads.insert(pads.end(), hi.begin(), hi.end());
    bool max = a.op == ReduceOp::Max;
    e.op(max ? "MaxPool" : "AveragePool", {in[0]}, out[0], [&](OnnxNode& n) {
      n.ints("kernel_shape", spatial(a.window)).ints("strides", spatial(a.strides)).ints("pads", pads);
      if (dilated) n.ints("dilations", spatial(a.dilations));
      if (!max) n.i("count_include_pad", a.count_include_pad ? 1 : 0);
    });
    return;
  }
  // General: pad with the combiner's identity, then combine one strided slice per window position.
  e.emit_lowered(op, in, out, g, [a, r](Graph& s, std::vector<Node>& p) {
    Node x = p[0];
    DType t = x.dtype();
    bool mean = a.op == ReduceOp::Mean;
    Node ident = a.op == ReduceOp::Max   ? s.constant(extreme(t, false))
                 : a.op == ReduceOp::Min ? s.constant(extreme(t, true))
                                         : s.scalar_like(0, t);
    std::vector<int64_t> out_dims(static_cast<size_t>(r));
    for (int i = 0; i < r; ++i) {
      int64_t padded = x.shape()[i] + a.pad_low[size_t(i)] + a.pad_high[size_t(i)];
      out_dims[size_t(i)] = (padded - ((a.window[size_t(i)] - 1) * a.dilations[size_t(i)] + 1)) / a.strides[size_t(i)] + 1;
    }
    auto windows = [&](Node v, ReduceOp combine) {
      Node acc;
      std::vector<int64_t> w(size_t(r), 0);
      while (true) {
        Axes st(static_cast<size_t>(r)), li(static_cast<size_t>(r));
        for (int i = 0; i < r; ++i) {
          st[size_t(i)] = w[size_t(i)] * a.dilations[size_t(i)];
          li[size_t(i)] = st[size_t(i)] + (out_dims[size_t(i)] - 1) * a.strides[size_t(i)] + 1;
        }
        Node sl = Slice(v, st, li, a.strides);
        acc = !acc.valid() ? sl : combine == ReduceOp::Max ? Max(acc, sl) : combine == ReduceOp::Min ? Min(acc, sl) : acc + sl;
        int i = r - 1;
        while (i >= 0 && ++w[size_t(i)] == a.window[size_t(i)]) w[size_t(i--)] = 0;
        if (i < 0) break;
      }
      return acc;
    };
    ReduceOp combine = mean ? ReduceOp::Sum : a.op;
    Node y = windows(Pad(x, a.pad_low, a.pad_high, PadMode::Constant, ident), combine);
    if (mean) {
      if (a.count_include_pad) {
        y = y / double(product(a.window));
      } else {
        Node ones = Full(s, t, x.shape(), 1.0);
        y = y / windows(Pad(ones, a.pad_low, a.pad_high), ReduceOp::Sum);
      }
    }
    return std::vector<Node>{y};
  });
}

}  // namespace

void register_pooling_emitters(EmitterTable& t) { t.add(OpKind::ReduceWindow, reduce_window); }

}  // namespace graft::onnx
