// com.microsoft normalizations found in ONNX Runtime-optimized and Optimum exports:
// SkipLayerNormalization, SkipSimplifiedLayerNormalization, SimplifiedLayerNormalization (also registered in
// the default domain, as ONNX Runtime does) and EmbedLayerNormalization. Semantics from ONNX Runtime's contrib
// op documentation.
#include "onnx/ops/contrib/contrib.h"

namespace graft::onnx {

namespace {

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

// SimplifiedLayerNormalization: RMS normalization over the axes from `axis` on.
void simplified_layer_norm(OpContext& c) {
  Node x = c.input(0);
  int axis = normalize_axis(c, c.attr_int("axis", -1), x.rank());
  c.set_output(0, RmsNorm(x, c.optional_input(1), axis, c.attr_float("epsilon", 1e-5)));
}

void embed_layer_norm(OpContext& c) {
  Node ids = c.input(0);
  Node word = c.input(2), pos_table = c.input(3);
  Node gamma = c.input(5);
  std::optional<Node> beta = c.optional_input(6);
  if (ids.rank() != 2) c.fail("input 'input_ids' must be [batch, sequence], got ", ids.shape().str());
  int64_t b = ids.dim(0), s = ids.dim(1);
  Node emb = Take(word, ids, 0);
  Node pos = c.has_input(8) ? c.input(8) : Iota(c.graph(), DType::I64, Shape{1, s}, 1);  // 0..s-1
  Node pemb = Take(pos_table, pos, 0);
  if (pemb.rank() == 2) pemb = ExpandDims(pemb, 0);
  Node sum = emb + Convert(pemb, emb.dtype());
  if (c.has_input(1) || c.has_input(4)) {
    if (!c.has_input(1) || !c.has_input(4)) c.fail("inputs 'segment_ids' and 'segment_embedding' go together");
    sum = sum + Convert(Take(c.input(4), c.input(1), 0), emb.dtype());
  }
  c.set_output(0, LayerNorm(sum, gamma, beta, -1, c.attr_float("epsilon", 1e-12)));
  if (c.has_output(1)) {
    if (auto m = c.optional_input(7))
      c.set_output(1, ReduceSum(Convert(NotEqual(Convert(*m, DType::I32), c.graph().scalar_like(0, DType::I32)),
                                        DType::I32),
                                {1}));
    else
      c.set_output(1, Zeros(c.graph(), DType::I32, Shape{b}));
  }
  if (c.has_output(2)) c.set_output(2, sum);
}

}  // namespace

void register_contrib_normalization_ops(Registry& r) {
  r.add(kMs, "SkipLayerNormalization", 1, [](OpContext& c) { skip_norm(c, false); });
  r.add(kMs, "SkipSimplifiedLayerNormalization", 1, [](OpContext& c) { skip_norm(c, true); });
  r.add(kMs, "SimplifiedLayerNormalization", 1, simplified_layer_norm);
  // ORT also registers SimplifiedLayerNormalization in the default domain.
  r.add("", "SimplifiedLayerNormalization", 1, simplified_layer_norm);
  r.add(kMs, "EmbedLayerNormalization", 1, embed_layer_norm);
}

}  // namespace graft::onnx
