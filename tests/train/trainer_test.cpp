#include <gtest/gtest.h>

#include <random>
#include <set>
#include <sstream>

#include "graft/context/checkpoint.h"
#include "graft/train/losses.h"
#include "graft/train/trainer.h"

using namespace graft;
using namespace graft::train;
namespace fs = std::filesystem;

namespace {
// 3-class linearly separable-ish data in 4 dimensions.
Dataset make_data(int n, uint64_t seed) {
  std::mt19937_64 r(seed);
  std::normal_distribution<float> d;
  std::vector<float> x(size_t(n) * 4);
  std::vector<int64_t> y(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    y[size_t(i)] = i % 3;
    for (int k = 0; k < 4; ++k) x[size_t(i) * 4 + size_t(k)] = d(r) * 0.5f + (k == y[size_t(i)] ? 2.f : 0.f);
  }
  return Dataset(std::vector<Tensor>{Tensor::from_vector(x, Shape{n, 4}), Tensor::from_vector(y, Shape{n})});
}
Context make_ctx() {
  Context ctx;
  std::vector<float> w(12);
  for (int i = 0; i < 12; ++i) w[size_t(i)] = 0.01f * float(i % 5) - 0.02f;
  ctx.in("head").variable("weight", Tensor::from_vector(w, Shape{4, 3}));
  ctx.in("head").variable("bias", Tensor::zeros(DType::F32, {3}));
  return ctx;
}
LossFn classifier() {
  return [](GraphVariables& v, const std::vector<Node>& b) {
    Node logits = MatMul(b[0], v("/head/weight")) + v("/head/bias");
    return std::vector<Node>{CrossEntropy(logits, b[1]), Accuracy(logits, b[1])};
  };
}
fs::path temp_dir(const std::string& n) {
  fs::path p = fs::temp_directory_path() / ("graft_trainer_" + n + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  return p;
}
}  // namespace

TEST(Dataset, BatchingShufflingDropRemainder) {
  Dataset d = make_data(10, 1);
  BatchOptions o{.batch_size = 4, .shuffle = true, .seed = 5};
  EXPECT_EQ(batches_per_epoch(10, o), 3);
  o.drop_remainder = true;
  EXPECT_EQ(batches_per_epoch(10, o), 2);
  auto e0 = epoch_order(10, o, 0), e0b = epoch_order(10, o, 0), e1 = epoch_order(10, o, 1);
  EXPECT_EQ(e0, e0b);  // seeded: reproducible
  EXPECT_NE(e0, e1);   // a new order per epoch
  EXPECT_EQ(std::set<int64_t>(e0.begin(), e0.end()).size(), 10u);
  o.drop_remainder = false;
  auto last = batch_at(d, o, 0, 2);
  EXPECT_EQ(last[0].shape(), (Shape{2, 4}));
  // rows are gathered intact: row i of the batch is example order[8 + i]
  auto full = d.columns();
  EXPECT_EQ(last[1].data<int64_t>()[1], full[1].data<int64_t>()[e0[9]]);
  BatchOptions seq{.batch_size = 4, .shuffle = false};
  EXPECT_EQ(epoch_order(5, seq, 3), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(d.slice(2, 5).size(), 3);
  EXPECT_THROW(Dataset(std::vector<Tensor>{Tensor::zeros(DType::F32, {3, 2}), Tensor::zeros(DType::F32, {4})}), Error);
}

TEST(Trainer, LossFallsEvalHooksAndLines) {
  Dataset train = make_data(60, 2), eval = make_data(30, 3);
  Context ctx = make_ctx();
  Trainer t(ctx, classifier(), AdamW({.weight_decay = 0.01, .no_decay = {"*bias"}}), LinearWarmupDecay(0.1, 2, 20));
  int hook_calls = 0;
  t.on_step([&](const StepInfo& s) {
    ++hook_calls;
    EXPECT_EQ(s.step, hook_calls);
  });
  std::ostringstream log;
  EvalResult before = t.evaluate(eval, 16);
  auto r = t.fit(train, &eval, {.max_steps = 20, .batching = {.batch_size = 12, .seed = 1}, .log_every = 5,
                                .eval_every = 10, .out = &log});
  EXPECT_EQ(r.steps, 20);
  EXPECT_EQ(hook_calls, 20);
  ASSERT_EQ(r.evals.size(), 2u);
  EXPECT_LT(r.evals.back().loss, before.loss * 0.5);
  EXPECT_GT(r.evals.back().accuracy, 0.9);
  EXPECT_EQ(r.evals.back().examples, 30);
  std::string s = log.str();
  EXPECT_NE(s.find("step 5/20"), std::string::npos) << s;
  EXPECT_NE(s.find("steps/s"), std::string::npos);
  EXPECT_NE(s.find("ETA"), std::string::npos);
  EXPECT_NE(s.find("eval step 10: loss"), std::string::npos) << s;
}

TEST(Trainer, EarlyStopping) {
  Dataset train = make_data(30, 4), eval = make_data(30, 5);
  Context ctx = make_ctx();
  // lr 0: eval loss never improves after the first evaluation
  Trainer t(ctx, classifier(), SGD(), ConstantLR(0.0));
  std::ostringstream log;
  auto r = t.fit(train, &eval, {.max_steps = 100, .batching = {.batch_size = 10}, .eval_every = 2,
                                .early_stopping_patience = 2, .progress = Progress::Off, .out = &log});
  EXPECT_TRUE(r.stopped_early);
  EXPECT_EQ(r.steps, 6);  // evals at 2 (best), 4 (bad 1), 6 (bad 2: stop)
}

TEST(Trainer, ResumeIsBitExact) {
  Dataset train = make_data(50, 6);
  LoopOptions o{.max_steps = 12, .batching = {.batch_size = 8, .seed = 9}, .progress = Progress::Off};
  std::ostringstream log;
  o.out = &log;
  // uninterrupted
  Context a = make_ctx();
  Trainer ta(a, classifier(), Adam(), CosineWarmup(0.05, 3, 12), {.clip_norm = 1.0});
  auto full = ta.fit(train, nullptr, o);
  ASSERT_EQ(full.losses.size(), 12u);
  // interrupted after 7 updates (mid-epoch: 7 batches per epoch), then resumed in a fresh process state
  fs::path dir = temp_dir("resume");
  LoopOptions first = o;
  first.max_steps = 7;
  first.checkpoint_dir = dir;
  first.checkpoint_every = 3;
  first.keep_last = 2;
  {
    Context b = make_ctx();
    Trainer tb(b, classifier(), Adam(), CosineWarmup(0.05, 3, 12), {.clip_norm = 1.0});
    auto part1 = tb.fit(train, nullptr, first);
    ASSERT_EQ(part1.losses.size(), 7u);
    for (size_t i = 0; i < 7; ++i) EXPECT_EQ(part1.losses[i], full.losses[i]) << i;
  }
  EXPECT_EQ(CheckpointManager(dir, 2).steps(), (std::vector<int64_t>{6, 7}));
  Context c = make_ctx();
  Trainer tc(c, classifier(), Adam(), CosineWarmup(0.05, 3, 12), {.clip_norm = 1.0});
  LoopOptions second = first;
  second.max_steps = 12;
  auto part2 = tc.fit(train, nullptr, second);
  ASSERT_EQ(part2.losses.size(), 5u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(part2.losses[i], full.losses[7 + i]) << i;  // bit-exact
  EXPECT_EQ(std::memcmp(c.value("/head/weight").raw(), a.value("/head/weight").raw(), 48), 0);
  fs::remove_all(dir);
}
