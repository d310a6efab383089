#pragma once
// A small model trained the same way by one process and by a data-parallel group, for the tests of
// graft/distributed: a two-layer MLP classifier (tanh hidden layer) on generated 3-class data, AdamW with
// warm-up and gradient clipping, so that every part of the update (mean gradient, global norm, optimizer
// state) must agree for the runs to match.
#include <random>
#include <vector>

#include "graft/train/losses.h"
#include "graft/train/trainer.h"

namespace graft::dptest {

inline train::Dataset dp_data(int n, uint64_t seed) {
  std::mt19937_64 r(seed);
  std::normal_distribution<float> d;
  std::vector<float> x(size_t(n) * 6);
  std::vector<int64_t> y(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    y[size_t(i)] = i % 3;
    for (int k = 0; k < 6; ++k) x[size_t(i) * 6 + size_t(k)] = d(r) * 0.7f + (k % 3 == y[size_t(i)] ? 1.f : 0.f);
  }
  return train::Dataset(std::vector<Tensor>{Tensor::from_vector(x, Shape{n, 6}), Tensor::from_vector(y, Shape{n})});
}

inline Context dp_context() {
  Context ctx;
  std::mt19937_64 r(7);
  std::normal_distribution<float> d;
  auto init = [&](int64_t rows, int64_t cols) {
    std::vector<float> w(size_t(rows * cols));
    for (float& v : w) v = d(r) * 0.3f;
    return Tensor::from_vector(w, Shape{rows, cols});
  };
  ctx.in("mlp").variable("w1", init(6, 8));
  ctx.in("mlp").variable("b1", Tensor::zeros(DType::F32, {8}));
  ctx.in("mlp").variable("w2", init(8, 3));
  ctx.in("mlp").variable("b2", Tensor::zeros(DType::F32, {3}));
  return ctx;
}

inline train::LossFn dp_loss() {
  return [](GraphVariables& v, const std::vector<Node>& b) {
    Node h = Tanh(MatMul(b[0], v("/mlp/w1")) + v("/mlp/b1"));
    Node logits = MatMul(h, v("/mlp/w2")) + v("/mlp/b2");
    return std::vector<Node>{train::CrossEntropy(logits, b[1])};
  };
}

struct DpRun {
  std::vector<float> losses;
  std::vector<std::vector<float>> weights;  // w1, b1, w2, b2 after training
};

// Trains for `steps` updates of `batch` examples (shuffled, seed 3); `comm` null: one process. `adamw`:
// AdamW with clipping at norm 1 (so the global norm must agree); otherwise plain SGD with momentum, whose
// update is proportional to the gradient (AdamW and clipping hide a wrongly scaled gradient).
inline DpRun dp_train(std::shared_ptr<distributed::Communicator> comm, int64_t examples, int64_t batch, int64_t steps,
                      int accumulation = 1, bool adamw = true) {
  Context ctx = dp_context();
  train::TrainStepOptions so{.clip_norm = adamw ? 1.0 : 0.0, .accumulation_steps = accumulation};
  so.communicator = comm;
  train::Trainer t(ctx, dp_loss(),
                   adamw ? train::AdamW({.weight_decay = 0.01}) : train::SGD({.momentum = 0.9}),
                   train::LinearWarmupDecay(adamw ? 0.05 : 0.5, 2, steps), so);
  train::LoopOptions lo;
  lo.max_steps = steps;
  lo.batching = {.batch_size = batch, .shuffle = true, .seed = 3};
  lo.progress = train::Progress::Off;
  DpRun run;
  run.losses = t.fit(dp_data(int(examples), 11), nullptr, lo).losses;
  for (const char* n : {"/mlp/w1", "/mlp/b1", "/mlp/w2", "/mlp/b2"}) {
    const Tensor& v = ctx.value(n);
    run.weights.emplace_back(v.data<float>(), v.data<float>() + v.size());
  }
  return run;
}

// The largest relative difference |a - b| / max(|b|, 1e-3) over two runs' losses and weights.
inline double dp_max_rel_diff(const DpRun& a, const DpRun& b) {
  double worst = a.losses.size() == b.losses.size() ? 0.0 : 1e30;
  auto rel = [](double x, double y) { return std::abs(x - y) / std::max(std::abs(y), 1e-3); };
  for (size_t i = 0; i < std::min(a.losses.size(), b.losses.size()); ++i)
    worst = std::max(worst, rel(a.losses[i], b.losses[i]));
  for (size_t t = 0; t < a.weights.size(); ++t)
    for (size_t i = 0; i < a.weights[t].size(); ++i) worst = std::max(worst, rel(a.weights[t][i], b.weights[t][i]));
  return worst;
}

}  // namespace graft::dptest
