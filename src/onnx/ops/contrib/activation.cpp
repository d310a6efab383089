// com.microsoft GELU variants found in ONNX Runtime-optimized and Optimum exports: Gelu, BiasGelu and
// FastGelu (graft's gelu composite, exact or tanh-approximated, after an optional bias) and QuickGelu
// (x * sigmoid(alpha * x)). Semantics from ONNX Runtime's contrib op documentation.
#include "onnx/ops/contrib/contrib.h"

namespace graft::onnx {

void register_contrib_activation_ops(Registry& r) {
  r.add(kMs, "Gelu", 1, [](OpContext& c) { c.set_output(0, Gelu(c.input(0), false)); });
  r.add(kMs, "BiasGelu", 1, [](OpContext& c) { c.set_output(0, Gelu(with_bias(c, c.input(0), 1), false)); });
  r.add(kMs, "FastGelu", 1, [](OpContext& c) { c.set_output(0, Gelu(with_bias(c, c.input(0), 1), true)); });
  r.add(kMs, "QuickGelu", 1, [](OpContext& c) {
    Node x = c.input(0);
    c.set_output(0, x * Logistic(x * c.attr_float("alpha", 1.702)));
  });
}

}  // namespace graft::onnx
