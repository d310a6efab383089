// Export of the normalization composites: LayerNormalization (opset 17), RMSNormalization (opset 23),
// InstanceNormalization / GroupNormalization (opset 21) and BatchNormalization where the opset has them and
// the operands have their shapes; the decomposition otherwise.
#include "onnx/export/exporter.h"

namespace graft::onnx {

namespace {

// The dimensions from `axis` on of the normalized operand: the shape of a scale or bias the ONNX ops take.
std::vector<int64_t> trailing(const ValueType& x, int axis) {
  return std::vector<int64_t>(x.shape.dims().begin() + axis, x.shape.dims().end());
}
std::string ones(Exporter& e, DType t, const std::vector<int64_t>& dims) {
  return e.constant(Tensor::full(t, Shape(dims), 1.0), "ones");
}

void layer_norm(Exporter& e, const Graph& g, const Op& op, const Names& in, const Names& out) {
  const auto& p = composite_params<LayerNormParams>(op);
  const ValueType& xt = e.in_type(g, op, 0);
  bool fits = e.opset() >= 17;
  for (size_t i = 1; i < op.inputs.size() && fits; ++i)
    fits = e.in_type(g, op, i).shape.dims() == trailing(xt, p.axis) && e.in_type(g, op, i).dtype == xt.dtype;
  if (!fits) return emit_decomposition(e, g, op, in, out);
  Names ins{in[0], p.has_scale ? in[1] : ones(e, xt.dtype, trailing(xt, p.axis))};
  if (p.has_bias) ins.push_back(in[p.has_scale ? 2 : 1]);
  e.op("LayerNormalization", ins, out[0], [&](OnnxNode& n) { n.i("axis", p.axis).f("epsilon", p.epsilon); });
}

void rms_norm(Exporter& e, const Graph& g, const Op& op, const Names& in, const Names& out) {
  const auto& p = composite_params<RmsNormParams>(op);
  const ValueType& xt = e.in_type(g, op, 0);
  bool fits = e.opset() >= 23 && (!p.has_scale || (e.in_type(g, op, 1).shape.dims() == trailing(xt, p.axis) &&
                                                  e.in_type(g, op, 1).dtype == xt.dtype));
  if (!fits) return emit_decomposition(e, g, op, in, out);
  e.op("RMSNormalization", {in[0], p.has_scale ? in[1] : ones(e, xt.dtype, trailing(xt, p.axis))}, out[0],
       [&](OnnxNode& n) { n.i("axis", p.axis).f("epsilon", p.epsilon); });
}

void group_norm(Exporter& e, const Graph& g, const Op& op, const Names& in, const Names& out) {
  const auto& p = composite_params<GroupNormParams>(op);
  const ValueType& xt = e.in_type(g, op, 0);
  if (xt.shape.rank() >= 3 && p.groups == xt.shape[1]) {
    e.op("InstanceNormalization", in, out[0], [&](OnnxNode& n) { n.f("epsilon", p.epsilon); });
  } else if (xt.shape.rank() >= 3 && e.opset() >= 21) {
    e.op("GroupNormalization", in, out[0], [&](OnnxNode& n) { n.f("epsilon", p.epsilon).i("num_groups", p.groups); });
  } else {
    emit_decomposition(e, g, op, in, out);
  }
}

void batch_norm(Exporter& e, const Graph& g, const Op& op, const Names& in, const Names& out) {
  const auto& p = composite_params<BatchNormParams>(op);
  if (e.in_type(g, op, 0).shape.rank() < 2) return emit_decomposition(e, g, op, in, out);
  e.op("BatchNormalization", in, out[0], [&](OnnxNode& n) { n.f("epsilon", p.epsilon); });
}

}  // namespace

void register_normalization_emitters(EmitterTable& t) {
  t.add(CompositeKind::LayerNorm, layer_norm);
  t.add(CompositeKind::RmsNorm, rms_norm);
  t.add(CompositeKind::GroupNorm, group_norm);
  t.add(CompositeKind::BatchNorm, batch_norm);
}

}  // namespace graft::onnx
