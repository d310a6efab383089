// Sorting: TopK (graft's TopK: the k largest or smallest along an axis, with their indices).
#include "onnx/converter.h"

namespace graft::onnx {

namespace {

void topk_op(OpContext& c) {
  Node x = c.input(0);
  int64_t k = c.opset() < 10 ? c.attr_int("k", 0) : c.require_int(1, "k");
  int axis = normalize_axis(c, c.attr_int("axis", -1), x.rank());
  bool largest = c.attr_int("largest", 1) != 0;
  if (k < 0 || k > x.dim(axis)) c.fail("k=", k, " is out of range for axis ", axis, " of ", x.shape());
  auto [values, indices] = TopK(x, k, axis, largest);
  c.set_output(0, values);
  c.set_output(1, indices);
}

}  // namespace

void register_sort_ops(Registry& r) { r.add("", "TopK", 1, topk_op); }

}  // namespace graft::onnx
