// Export of the activation composites: softmax and log_softmax as Softmax / LogSoftmax, gelu as Gelu from
// opset 20; silu (and gelu before opset 20) as its decomposition.
#include "onnx/export/exporter.h"

namespace graft::onnx {

namespace {

void softmax(Exporter& e, const Graph&, const Op& op, const Names& in, const Names& out) {
  int axis = composite_params<SoftmaxParams>(op).axis;
  e.op("Softmax", {in[0]}, out[0], [&](OnnxNode& n) { n.i("axis", axis); });
}

void log_softmax(Exporter& e, const Graph&, const Op& op, const Names& in, const Names& out) {
  int axis = composite_params<LogSoftmaxParams>(op).axis;
  e.op("LogSoftmax", {in[0]}, out[0], [&](OnnxNode& n) { n.i("axis", axis); });
}

void gelu(Exporter& e, const Graph& g, const Op& op, const Names& in, const Names& out) {
  if (e.opset() < 20) return emit_decomposition(e, g, op, in, out);
  bool tanh = composite_params<GeluParams>(op).tanh_approximation;
  e.op("Gelu", in, out[0], [&](OnnxNode& n) { n.s("approximate", tanh ? "tanh" : "none"); });
}

}  // namespace

void register_activation_emitters(EmitterTable& t) {
  t.add(CompositeKind::Softmax, softmax);
  t.add(CompositeKind::LogSoftmax, log_softmax);
  t.add(CompositeKind::Gelu, gelu);
  t.add(CompositeKind::Silu, emit_decomposition);
}

}  // namespace graft::onnx
