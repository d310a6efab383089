#pragma once
// Loss functions as graph builders: each records its ops into the graph of its operands and returns a
// node (a scalar unless reduction is None). Definitions follow PyTorch's (torch.nn.functional) and, for
// the ranking loss, sentence-transformers'.
#include <optional>

#include "graft/graph/ops.h"

namespace graft::train {

enum class Reduction { Mean, Sum, None };

Node MseLoss(Node pred, Node target, Reduction r = Reduction::Mean);
Node L1Loss(Node pred, Node target, Reduction r = Reduction::Mean);
// 0.5 d^2 where |d| < delta, delta (|d| - 0.5 delta) elsewhere.
Node HuberLoss(Node pred, Node target, double delta = 1.0, Reduction r = Reduction::Mean);

struct CrossEntropyOptions {
  double label_smoothing = 0.0;
  std::optional<int64_t> ignore_index;  // integer labels only: samples with this label count for nothing
  std::optional<Node> class_weights;    // [C]
  Reduction reduction = Reduction::Mean;
};
// logits [N, C]; labels either integer [N] (class indices) or floating [N, C] (one-hot or probabilities).
// Mean over integer labels divides by the summed weights of the counted samples (PyTorch), over
// probability targets by N.
Node CrossEntropy(Node logits, Node labels, const CrossEntropyOptions& options = {});
// Binary cross-entropy on logits (numerically stable); pos_weight broadcasts against the last axis.
Node BinaryCrossEntropyWithLogits(Node logits, Node targets, std::optional<Node> pos_weight = std::nullopt,
                                  Reduction r = Reduction::Mean);

// Cosine similarity along `axis`: a.b / max(|a| |b|, eps).
Node CosineSimilarity(Node a, Node b, int axis = -1, double eps = 1e-8);
// MSE between the cosine similarity of a[i] and b[i] and labels[i] (sentence-transformers CosineSimilarityLoss).
Node CosineSimilarityLoss(Node a, Node b, Node labels);
// In-batch negatives (sentence-transformers MultipleNegativesRankingLoss): scores = scale * cos(anchor_i,
// positive_j) for anchors [N, D] against positives [M, D] (M >= N; extra rows are hard negatives), and
// cross-entropy with target j = i.
Node MultipleNegativesRankingLoss(Node anchors, Node positives, double scale = 20.0);

// Accuracy of argmax(logits, -1) against integer labels, as an f32 scalar (not differentiable).
Node Accuracy(Node logits, Node labels);

}  // namespace graft::train
