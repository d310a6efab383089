#include "backend/cpu/nbits_dequantize.h"

#include "backend/cpu/graph_rewrite.h"
#include "backend/cpu/kernels/matmul_nbits.h"
#include "graft/graph/ops.h"

namespace graft::cpu {

namespace {

const Tensor* constant_operand(const Graph& g, const ValueRef& r) {
  const Op& op = g.op(r.op);
  return op.kind == OpKind::Constant ? &std::get<ConstantAttrs>(op.attrs).value : nullptr;
}

}  // namespace

Graph dequantize_small_matmul_nbits(const Graph& g, size_t max_bytes, int* dequantized) {
  *dequantized = 0;
  return rewrite(g, [&](int i, const Mapped& mapped, Graph& out) -> std::optional<std::vector<Node>> {
    const Op& op = g.op(i);
    if (op.kind != OpKind::Composite) return std::nullopt;
    const auto* params = std::get<CompositeAttrs>(op.attrs).get_if<CustomCompositeParams>();
    if (!params || params->name != "onnx.matmul_nbits" || params->ints.size() != 6) return std::nullopt;
    // Operands: A, B (packed), scales[, zero points][, bias]; parameters K, N, bits, block, zero-point form, bias.
    const int64_t k = params->ints[0], n = params->ints[1];
    const bool has_zp = params->ints[4] != 0, has_bias = params->ints[5] != 0;
    if (size_t(k) * size_t(n) * sizeof(float) > max_bytes) return std::nullopt;
    const Tensor* b = constant_operand(g, op.inputs[1]);
    const Tensor* scales = constant_operand(g, op.inputs[2]);
    const Tensor* zp = has_zp ? constant_operand(g, op.inputs[3]) : nullptr;
    if (!b || !scales || (has_zp && !zp)) return std::nullopt;  // run-time operands (e.g. trained scales)
    out.set_current_name(op.name);
    Node y = MatMul(mapped(op.inputs[0]), out.constant(dequantize_matmul_nbits(*params, *b, *scales, zp)));
    if (has_bias) y = y + mapped(op.inputs[has_zp ? 4 : 3]);
    ++*dequantized;
    return std::vector<Node>{y};
  });
}

}  // namespace graft::cpu
