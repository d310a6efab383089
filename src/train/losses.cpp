// Loss builders (PyTorch definitions).
#include "graft/train/losses.h"

namespace graft::train {

namespace {
Node reduce(Node per_elem, Reduction r) {
  switch (r) {
    case Reduction::Mean: return ReduceMean(per_elem);
    case Reduction::Sum: return ReduceSum(per_elem);
    case Reduction::None: return per_elem;
  }
  return per_elem;
}
void check_same(const char* what, Node a, Node b) {
  GRAFT_CHECK(a.shape() == b.shape() && a.dtype() == b.dtype(), what, ": prediction ", a.type().str(), " vs target ",
              b.type().str());
}
Node scalar(Node like, double v) { return ScalarLike(like, v); }
Node Square(Node x) { return x * x; }

// [N] integer labels -> [N, C] one-hot in `dtype` (labels outside [0, C) give an all-zero row).
Node one_hot(Node labels, int64_t classes, DType dtype) {
  Graph& g = *labels.graph();
  int64_t n = labels.dim(0);
  Node classes_iota = Iota(g, labels.dtype(), Shape{n, classes}, 1);
  Node l = BroadcastInDim(labels, Shape{n, classes}, {0});
  return Convert(Equal(classes_iota, l), dtype);
}
}  // namespace

Node MseLoss(Node pred, Node target, Reduction r) {
  check_same("MseLoss", pred, target);
  return reduce(Square(pred - target), r);
}

Node L1Loss(Node pred, Node target, Reduction r) {
  check_same("L1Loss", pred, target);
  return reduce(Abs(pred - target), r);
}

Node HuberLoss(Node pred, Node target, double delta, Reduction r) {
  check_same("HuberLoss", pred, target);
  GRAFT_CHECK(delta > 0, "HuberLoss: delta must be positive, got ", delta);
  Node d = pred - target;
  Node ad = Abs(d);
  Node quad = 0.5 * Square(d);
  Node lin = delta * (ad - 0.5 * delta);
  return reduce(Select(Less(ad, scalar(ad, delta)), quad, lin), r);
}

Node CrossEntropy(Node logits, Node labels, const CrossEntropyOptions& o) {
  GRAFT_CHECK(logits.rank() == 2 && is_floating(logits.dtype()), "CrossEntropy: logits must be floating [N, C], got ",
              logits.type().str());
  const int64_t n = logits.dim(0), c = logits.dim(1);
  const DType dt = logits.dtype();
  const double eps = o.label_smoothing;
  GRAFT_CHECK(eps >= 0 && eps <= 1, "CrossEntropy: label_smoothing must be in [0, 1], got ", eps);
  Node logp = LogSoftmax(logits, -1);
  std::optional<Node> w;
  if (o.class_weights) {
    w = *o.class_weights;
    GRAFT_CHECK(w->shape() == Shape{c} && w->dtype() == dt, "CrossEntropy: class_weights must be ", dtype_name(dt), "[",
                c, "], got ", w->type().str());
  }
  Node wlogp = w ? logp * BroadcastInDim(*w, Shape{n, c}, {1}) : logp;  // w[c] * logp[i, c]
  if (is_integer(labels.dtype())) {
    GRAFT_CHECK(labels.shape() == Shape{n}, "CrossEntropy: integer labels must be [", n, "], got ",
                labels.type().str());
    Node onehot = one_hot(labels, c, dt);
    Node nll = -ReduceSum(onehot * wlogp, {1});  // -w[y_i] logp[i, y_i]
    Node per = nll;
    if (eps > 0) per = (1.0 - eps) * nll + (-eps / double(c)) * ReduceSum(wlogp, {1});
    Node mask = Full(*labels.graph(), dt, Shape{n}, 1.0);
    if (o.ignore_index) {
      Node ign = Full(*labels.graph(), labels.dtype(), Shape{n}, double(*o.ignore_index));
      mask = Convert(NotEqual(labels, ign), dt);
      per = per * mask;
    }
    if (o.reduction == Reduction::None) return per;
    if (o.reduction == Reduction::Sum) return ReduceSum(per);
    Node denom = w ? ReduceSum(onehot * BroadcastInDim(*w, Shape{n, c}, {1}), {1}) * mask : mask;
    return ReduceSum(per) / ReduceSum(denom);
  }
  GRAFT_CHECK(labels.shape() == logits.shape() && labels.dtype() == dt, "CrossEntropy: probability targets must be ",
              logits.type().str(), ", got ", labels.type().str());
  GRAFT_CHECK(!o.ignore_index, "CrossEntropy: ignore_index needs integer labels");
  Node t = eps > 0 ? (1.0 - eps) * labels + eps / double(c) : labels;
  Node per = -ReduceSum(t * wlogp, {1});
  return reduce(per, o.reduction);
}

Node BinaryCrossEntropyWithLogits(Node x, Node t, std::optional<Node> pos_weight, Reduction r) {
  check_same("BinaryCrossEntropyWithLogits", x, t);
  // log(1 + exp(-x)) computed stably as log1p(exp(-|x|)) + max(-x, 0)
  Node zero = scalar(x, 0.0);
  Node log_sig_neg = Log1p(Exp(-Abs(x))) + Max(-x, zero);  // = -log(sigmoid(x))
  Node loss;
  if (pos_weight) {
    Node pw = BroadcastTo(*pos_weight, x.shape());
    loss = (1.0 - t) * x + (1.0 + (pw - 1.0) * t) * log_sig_neg;
  } else {
    loss = (1.0 - t) * x + log_sig_neg;
  }
  return reduce(loss, r);
}

Node CosineSimilarity(Node a, Node b, int axis, double eps) {
  check_same("CosineSimilarity", a, b);
  Node dot = ReduceSum(a * b, {axis});
  Node na = Sqrt(ReduceSum(Square(a), {axis}));
  Node nb = Sqrt(ReduceSum(Square(b), {axis}));
  return dot / Max(na * nb, scalar(dot, eps));
}

Node CosineSimilarityLoss(Node a, Node b, Node labels) { return MseLoss(CosineSimilarity(a, b), labels); }

Node MultipleNegativesRankingLoss(Node anchors, Node positives, double scale) {
  GRAFT_CHECK(anchors.rank() == 2 && positives.rank() == 2 && anchors.dim(1) == positives.dim(1) &&
                  positives.dim(0) >= anchors.dim(0) && anchors.dtype() == positives.dtype(),
              "MultipleNegativesRankingLoss: anchors [N, D] and positives [M >= N, D], got ", anchors.type().str(),
              " and ", positives.type().str());
  auto normalize = [](Node x) {  // F.normalize: x / max(|x|, 1e-12)
    Node norm = Sqrt(ReduceSum(Square(x), {1}, true));
    return x / Max(norm, ScalarLike(norm, 1e-12));
  };
  Node scores = MatMul(normalize(anchors), Transpose(normalize(positives), {1, 0})) * scale;
  Node labels = Iota(*anchors.graph(), DType::I64, Shape{anchors.dim(0)}, 0);
  return CrossEntropy(scores, labels);
}

Node Accuracy(Node logits, Node labels) {
  Node pred = ArgMax(logits, -1);
  Node l = labels.dtype() == DType::I64 ? labels : Convert(labels, DType::I64);
  return ReduceMean(Convert(Equal(StopGradient(pred), l), DType::F32));
}

}  // namespace graft::train
