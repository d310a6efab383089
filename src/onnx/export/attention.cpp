// Export of the attention composite: ONNX Attention from opset 23 (rank-4 operands, a boolean or additive
// mask of the operands' type); the decomposition otherwise.
#include "onnx/export/exporter.h"

namespace graft::onnx {

namespace {

void attention(Exporter& e, const Graph& g, const Op& op, const Names& in, const Names& out) {
  const auto& p = composite_params<AttentionParams>(op);
  const ValueType& xt = e.in_type(g, op, 0);
  bool mask_ok = !p.has_mask || e.in_type(g, op, 3).dtype == DType::Bool || e.in_type(g, op, 3).dtype == xt.dtype;
  if (e.opset() < 23 || xt.shape.rank() != 4 || !mask_ok) return emit_decomposition(e, g, op, in, out);
  e.op("Attention", in, out[0], [&](OnnxNode& n) {
    if (p.causal) n.i("is_causal", 1);
    n.f("scale", p.scale);
  });
}

}  // namespace

void register_attention_emitters(EmitterTable& t) { t.add(CompositeKind::Attention, attention); }

}  // namespace graft::onnx
