// Export of the sort family: Sort (a TopK over the whole axis, the other operands gathered along) and TopK.
#include "onnx/export/exporter.h"

namespace graft::onnx {

namespace {

void sort(Exporter& e, const Graph& g, const Op& op, const Names& in, const Names& out) {
  const auto& a = std::get<SortAttrs>(op.attrs);
  int64_t n = e.in_type(g, op, 0).shape[a.axis];
  // TopK over the whole axis: ties keep the lower index first, so the order is stable both ways.
  std::string idx = in.size() > 1 ? e.tmp("indices") : e.tmp("unused_indices");
  e.node("TopK", {in[0], e.i64s({n})}, {out[0], idx}).i("axis", a.axis).i("largest", a.descending ? 1 : 0).i("sorted", 1);
  for (size_t k = 1; k < in.size(); ++k)
    e.op("GatherElements", {in[k], idx}, out[k], [&](OnnxNode& nn) { nn.i("axis", a.axis); });
}

void top_k(Exporter& e, const Graph&, const Op& op, const Names& in, const Names& out) {
  const auto& a = std::get<TopKAttrs>(op.attrs);
  e.node("TopK", {in[0], e.i64s({a.k})}, out).i("axis", a.axis).i("largest", a.largest ? 1 : 0).i("sorted", 1);
}

}  // namespace

void register_sort_emitters(EmitterTable& t) {
  t.add(OpKind::Sort, sort);
  t.add(OpKind::TopK, top_k);
}

}  // namespace graft::onnx
