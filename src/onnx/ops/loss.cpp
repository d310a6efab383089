// Losses: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (opset 12+), composed from
// LogSoftmax / TakeAlongAxis / Select / reductions.
#include "onnx/converter.h"

namespace graft::onnx {

namespace {

// input [N, C, d...] (log-probabilities), target [N, d...] integer class indices, weight [C] optional.
// Entries whose target equals ignore_index contribute nothing (to the numerator and the mean's
// denominator alike).
Node nll(OpContext& c, Node input, Node target, std::optional<Node> weight) {
  if (input.rank() < 2) c.fail("input must be [N, C, d...], got ", input.shape());
  if (target.rank() != input.rank() - 1) c.fail("target ", target.shape(), " must be input ", input.shape(), " without C");
  std::string reduction = c.attr_string("reduction", "mean");
  if (reduction != "none" && reduction != "sum" && reduction != "mean") c.fail("unknown reduction '", reduction, "'");
  Node t = Convert(target, DType::I64);
  std::optional<Node> keep;  // bool: entry takes part
  if (auto ii = c.attr_int_opt("ignore_index")) {
    keep = NotEqual(t, ScalarLike(t, double(*ii)));
    t = Select(*keep, t, ScalarLike(t, 0));  // ignored entries may hold any index; gather a valid one
  }
  Node picked = Squeeze(TakeAlongAxis(input, ExpandDims(t, 1), 1), {1});
  std::optional<Node> w;
  if (weight) w = Take(Convert(*weight, input.dtype()), t, 0);
  if (keep) {
    Node k = Convert(*keep, input.dtype());
    w = w ? *w * k : k;
  }
  Node loss = w ? -(picked * *w) : -picked;
  if (reduction == "none") return loss;
  Node sum = ReduceSum(loss);
  if (reduction == "sum") return sum;
  if (!w) return sum / double(loss.shape().size());
  return sum / ReduceSum(*w);
}

void nll_op(OpContext& c) { c.set_output(0, nll(c, c.input(0), c.input(1), c.optional_input(2))); }

void sce_op(OpContext& c) {
  Node scores = c.input(0);
  if (scores.rank() < 2) c.fail("scores must be [N, C, d...], got ", scores.shape());
  Node logp = LogSoftmax(scores, 1);
  c.set_output(0, nll(c, logp, c.input(1), c.optional_input(2)));
  c.set_output(1, logp);
}

}  // namespace

void register_loss_ops(Registry& r) {
  r.add("", "NegativeLogLikelihoodLoss", 12, nll_op);
  r.add("", "SoftmaxCrossEntropyLoss", 12, sce_op);
}

}  // namespace graft::onnx
