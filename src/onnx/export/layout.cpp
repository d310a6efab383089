// Export of the layout family: broadcast, reshape, transpose, slices (static and dynamic), dynamic
// update, concatenation, padding and reversal.
#include <algorithm>
#include <limits>

#include "onnx/export/exporter.h"

namespace graft::onnx {

namespace {

void broadcast_in_dim(Exporter& e, const Graph& g, const Op& op, const Names& in, const Names& out) {
  const Shape& xs = e.in_type(g, op, 0).shape;
  const Shape& s = op.outputs[0].shape;
  const auto& dims = std::get<BroadcastInDimAttrs>(op.attrs).dims;
  std::string x = in[0];
  if (xs.rank() != s.rank() || dims != iota_vec(s.rank())) {
    std::vector<int64_t> rd(size_t(s.rank()), 1);
    for (size_t i = 0; i < dims.size(); ++i) rd[size_t(dims[i])] = xs[int(i)];
    x = e.reshape(x, rd);
  }
  e.op("Expand", {x, e.i64s(s.dims())}, out[0]);
}

void reshape(Exporter& e, const Graph&, const Op& op, const Names& in, const Names& out) {
  e.reshape(in[0], op.outputs[0].shape.dims(), out[0]);
}

void transpose(Exporter& e, const Graph&, const Op& op, const Names& in, const Names& out) {
  e.transpose(in[0], std::get<TransposeAttrs>(op.attrs).perm, out[0]);
}

void slice(Exporter& e, const Graph& g, const Op& op, const Names& in, const Names& out) {
  const auto& a = std::get<SliceAttrs>(op.attrs);
  const Shape& xs = e.in_type(g, op, 0).shape;
  std::vector<int64_t> st, en, ax, sp;
  for (int i = 0; i < xs.rank(); ++i)
    if (a.starts[size_t(i)] != 0 || a.limits[size_t(i)] != xs[i] || a.strides[size_t(i)] != 1) {
      st.push_back(a.starts[size_t(i)]);
      en.push_back(a.limits[size_t(i)]);
      ax.push_back(i);
      sp.push_back(a.strides[size_t(i)]);
    }
  if (ax.empty()) {
    e.identity(in[0], out[0]);
    return;
  }
  e.op("Slice", {in[0], e.i64s(st), e.i64s(en), e.i64s(ax), e.i64s(sp)}, out[0]);
}

void concatenate(Exporter& e, const Graph&, const Op& op, const Names& in, const Names& out) {
  e.op("Concat", in, out[0], [&](OnnxNode& n) { n.i("axis", std::get<ConcatenateAttrs>(op.attrs).axis); });
}

void reverse(Exporter& e, const Graph&, const Op& op, const Names& in, const Names& out) {
  const auto& axes = std::get<ReverseAttrs>(op.attrs).axes;
  std::vector<int64_t> st(axes.size(), -1), en(axes.size(), std::numeric_limits<int64_t>::min());
  e.op("Slice", {in[0], e.i64s(st), e.i64s(en), e.i64s(axes), e.i64s(std::vector<int64_t>(axes.size(), -1))}, out[0]);
}

void pad(Exporter& e, const Graph& g, const Op& op, const Names& in, const Names& out) {
  const auto& a = std::get<PadAttrs>(op.attrs);
  const Shape& s = e.in_type(g, op, 0).shape;
  int r = s.rank();
  bool negative = false, beyond = false;
  for (int i = 0; i < r; ++i) {
    negative |= a.low[size_t(i)] < 0 || a.high[size_t(i)] < 0;
    beyond |= a.low[size_t(i)] > s[i] || a.high[size_t(i)] > s[i];
  }
  if (a.mode != PadMode::Constant && (negative || (a.mode == PadMode::Wrap && (e.opset() < 19 || beyond)))) {
    // Per axis, gather the source positions (the definition of the pad modes).
    std::string x = in[0];
    std::vector<int> axes;
    for (int i = 0; i < r; ++i)
      if (a.low[size_t(i)] != 0 || a.high[size_t(i)] != 0) axes.push_back(i);
    for (size_t k = 0; k < axes.size(); ++k) {
      int i = axes[k];
      std::vector<int64_t> map = pad_source_map(s[i], a.low[size_t(i)], a.high[size_t(i)], a.mode);
      x = e.op("Gather", {x, e.i64s(map)}, k + 1 == axes.size() ? out[0] : "", [&](OnnxNode& n) { n.i("axis", i); });
    }
    return;
  }
  std::string x = in[0];
  if (negative) {  // crop first
    std::vector<int64_t> starts, ends, axes;
    for (int i = 0; i < r; ++i)
      if (a.low[size_t(i)] < 0 || a.high[size_t(i)] < 0) {
        starts.push_back(std::max<int64_t>(0, -a.low[size_t(i)]));
        ends.push_back(s[i] - std::max<int64_t>(0, -a.high[size_t(i)]));
        axes.push_back(i);
      }
    x = e.op("Slice", {x, e.i64s(starts), e.i64s(ends), e.i64s(axes)});
  }
  std::vector<int64_t> pads;
  bool any = false;
  for (int i = 0; i < r; ++i) pads.push_back(std::max<int64_t>(0, a.low[size_t(i)]));
  for (int i = 0; i < r; ++i) pads.push_back(std::max<int64_t>(0, a.high[size_t(i)]));
  for (int64_t p : pads) any |= p != 0;
  if (!any) {
    e.identity(x, out[0]);
    return;
  }
  static const char* modes[] = {"constant", "reflect", "edge", "wrap"};
  Names ins{x, e.i64s(pads)};
  if (a.mode == PadMode::Constant) ins.push_back(in[1]);
  e.op("Pad", ins, out[0], [&](OnnxNode& n) { n.s("mode", modes[int(a.mode)]); });
}

void dynamic_slice(Exporter& e, const Graph& g, const Op& op, const Names& in, const Names& out) {
  const Shape& s = e.in_type(g, op, 0).shape;
  const auto& sizes = std::get<DynamicSliceAttrs>(op.attrs).sizes;
  Names starts;
  for (int i = 0; i < s.rank(); ++i) {  // clamped so the slice stays inside (XLA semantics)
    std::string c = e.op("Max", {e.op("Min", {in[size_t(i) + 1], e.i64(s[i] - sizes[size_t(i)])}), e.i64(0)});
    starts.push_back(e.reshape(c, {1}));
  }
  std::string st = e.op("Concat", starts, {}, [](OnnxNode& n) { n.i("axis", 0); });
  std::string en = e.op("Add", {st, e.i64s(sizes)});
  e.op("Slice", {in[0], st, en}, out[0]);
}

void dynamic_update_slice(Exporter& e, const Graph& g, const Op& op, const Names& in, const Names& out) {
  const Shape& s = e.in_type(g, op, 0).shape;
  const Shape& u = e.in_type(g, op, 1).shape;
  int r = s.rank();
  Names clamped;
  for (int i = 0; i < r; ++i)
    clamped.push_back(e.op("Max", {e.op("Min", {in[size_t(i) + 2], e.i64(s[i] - u[i])}), e.i64(0)}));
  // Element coordinates of the update: an iota grid plus the starts, then ScatterND.
  Graph sg("dus_indices");
  std::vector<Node> p, coords;
  std::vector<int64_t> with_one = u.dims();
  with_one.push_back(1);
  for (int i = 0; i < r; ++i) p.push_back(sg.parameter("s" + std::to_string(i), DType::I64, {}));
  for (int i = 0; i < r; ++i) coords.push_back(Reshape(Iota(sg, DType::I64, u, i) + p[size_t(i)], with_one));
  sg.set_outputs({Concatenate(coords, r)});
  std::string idx = e.tmp("indices");
  e.emit_inline(sg, clamped, {idx});
  e.op("ScatterND", {in[0], idx, in[1]}, out[0]);
}

}  // namespace

void register_layout_emitters(EmitterTable& t) {
  t.add(OpKind::BroadcastInDim, broadcast_in_dim);
  t.add(OpKind::Reshape, reshape);
  t.add(OpKind::Transpose, transpose);
  t.add(OpKind::Slice, slice);
  t.add(OpKind::DynamicSlice, dynamic_slice);
  t.add(OpKind::DynamicUpdateSlice, dynamic_update_slice);
  t.add(OpKind::Concatenate, concatenate);
  t.add(OpKind::Pad, pad);
  t.add(OpKind::Reverse, reverse);
}

}  // namespace graft::onnx
