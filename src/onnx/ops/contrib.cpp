// com.microsoft ops found in ONNX Runtime-optimized and Optimum exports (the simpler fused ones):
// Gelu, FastGelu, BiasGelu, QuickGelu, SkipLayerNormalization, SkipSimplifiedLayerNormalization,
// SimplifiedLayerNormalization. Semantics from ONNX Runtime's contrib op documentation. The attention family
// (Attention, MultiHeadAttention, GroupQueryAttention, RotaryEmbedding, EmbedLayerNormalization, MatMulNBits)
// lives in contrib_attention.cpp and is registered from here.
#include "onnx/converter.h"

namespace graft::onnx {

namespace {

constexpr const char* kMs = "com.microsoft";

Node with_bias(OpContext& c, Node x, int bias_input) {
  if (auto b = c.optional_input(bias_input)) return x + Convert(*b, x.dtype());
  return x;
}

// SkipLayerNormalization / SkipSimplifiedLayerNormalization: normalize input + skip (+ bias); output 3
// (ORT's input_skip_bias_sum) is the sum itself.
void skip_norm(OpContext& c, bool simplified) {
  Node x = c.input(0), skip = c.input(1);
  Node gamma = c.input(2);
  std::optional<Node> beta;
  int bias_input = simplified ? 3 : 4;
  if (!simplified) beta = c.optional_input(3);
  Node sum = x + Convert(skip, x.dtype());
  sum = with_bias(c, sum, bias_input);
  double eps = c.attr_float("epsilon", 1e-12);
  Node y = simplified ? RmsNorm(sum, gamma, -1, eps) : LayerNorm(sum, gamma, beta, -1, eps);
  c.set_output(0, y);
  if (c.has_output(1) || c.has_output(2)) {
    Node mean = ReduceMean(sum, {-1}, true);
    Node d = simplified ? sum : sum - mean;
    c.set_output(1, mean);
    c.set_output(2, Rsqrt(ReduceMean(d * d, {-1}, true) + eps));
  }
  c.set_output(3, sum);
}

}  // namespace

void register_contrib_attention_ops(Registry& r);  // contrib_attention.cpp

void register_contrib_ops(Registry& r) {
  register_contrib_attention_ops(r);
  r.add(kMs, "Gelu", 1, [](OpContext& c) { c.set_output(0, Gelu(c.input(0), false)); });
  r.add(kMs, "BiasGelu", 1, [](OpContext& c) { c.set_output(0, Gelu(with_bias(c, c.input(0), 1), false)); });
  r.add(kMs, "FastGelu", 1, [](OpContext& c) { c.set_output(0, Gelu(with_bias(c, c.input(0), 1), true)); });
  r.add(kMs, "QuickGelu", 1, [](OpContext& c) {
    Node x = c.input(0);
    c.set_output(0, x * Logistic(x * c.attr_float("alpha", 1.702)));
  });
  r.add(kMs, "SkipLayerNormalization", 1, [](OpContext& c) { skip_norm(c, false); });
  r.add(kMs, "SkipSimplifiedLayerNormalization", 1, [](OpContext& c) { skip_norm(c, true); });
  r.add(kMs, "SimplifiedLayerNormalization", 1, [](OpContext& c) {
    Node x = c.input(0);
    int axis = normalize_axis(c, c.attr_int("axis", -1), x.rank());
    c.set_output(0, RmsNorm(x, c.optional_input(1), axis, c.attr_float("epsilon", 1e-5)));
  });
  // ORT also registers SimplifiedLayerNormalization in the default domain.
  r.add("", "SimplifiedLayerNormalization", 1, [](OpContext& c) {
    Node x = c.input(0);
    int axis = normalize_axis(c, c.attr_int("axis", -1), x.rank());
    c.set_output(0, RmsNorm(x, c.optional_input(1), axis, c.attr_float("epsilon", 1e-5)));
  });
}

}  // namespace graft::onnx
