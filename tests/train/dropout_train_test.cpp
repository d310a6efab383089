// Imported Dropout inside train steps: a fresh mask every micro-batch, drawn from
// step_seed(TrainStepOptions::seed, micro-batch count), so runs with one seed repeat, runs with another
// differ, a resumed run draws what the uninterrupted one did, and evaluate() does not drop.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <sstream>

#include "graft/context/checkpoint.h"
#include "graft/train/losses.h"
#include "graft/train/onnx_bridge.h"
#include "graft/train/trainer.h"
#include "onnx/onnx_test_util.h"

using namespace graft;
using namespace graft::train;
namespace gonnx = graft::onnx;
namespace fs = std::filesystem;

namespace {
constexpr int64_t N = 8, D = 8, H = 64, C = 3;

// logits = Dropout(Relu(x @ W1), ratio 0.25) @ W2; "d" is the dropout output.
gonnx::Model dropout_model() {
  gonnx::testing::ModelBuilder b(13);
  b.input("x", DType::F32, {std::string("batch"), D});
  b.initializer("W1", gonnx::testing::random_tensor(Shape{D, H}, 1));
  b.initializer("W2", gonnx::testing::random_tensor(Shape{H, C}, 2, -0.3f, 0.3f));
  b.initializer("ratio", Tensor::scalar<float>(0.25f));
  b.node("MatMul", {"x", "W1"}, {"h"});
  b.node("Relu", {"h"}, {"r"});
  b.node("Dropout", {"r", "ratio"}, {"d"}, "dropout");
  b.node("MatMul", {"d", "W2"}, {"logits"});
  b.output("logits", DType::F32, {std::string("batch"), C});
  return b.model();
}

Context make_ctx(const gonnx::Model& m) {
  Context ctx;
  Context scoped = ctx.in("model");
  variables_to_context(m, scoped);
  return ctx;
}

// Cross-entropy; in step()'s graphs the dropout output is also written to "/probe/d" (a state update), so
// the test can read each step's mask.
LossFn probed_loss(const gonnx::Model& m) {
  return [&m](GraphVariables& vars, const std::vector<Node>& b) {
    GraphVariables mv = vars.in("model");
    auto outs = call_with_variables(m, mv, {{"x", b[0]}}, {"logits", "d"});
    if (StepGraph* sg = step_graph(vars.graph()); sg && sg->training()) {
      vars.get("/probe/d", Tensor::zeros(DType::F32, outs.at("d").shape()), false);
      sg->update_state("/probe/d", outs.at("d"));
    }
    return std::vector<Node>{CrossEntropy(outs.at("logits"), b[1])};
  };
}

std::vector<Tensor> make_batch(uint32_t seed, int64_t n = N) {
  std::mt19937 r(seed);
  std::vector<int64_t> labels(static_cast<size_t>(n));
  for (auto& l : labels) l = int64_t(r() % C);
  return {gonnx::testing::random_tensor(Shape{n, D}, seed + 100), Tensor::from_vector(labels, Shape{n})};
}

// The dropout output of the model traced with the seed node fixed to `seed_value`, or in inference mode.
Tensor reference_d(const gonnx::Model& m, Context ctx, const Tensor& x, std::optional<uint64_t> seed_value) {
  ContextExec exec(ctx, [&](GraphVariables& vars, const std::vector<Node>& in) {
    gonnx::TraceOptions o;
    if (seed_value) {
      o.training = true;
      o.seed_node = vars.graph().scalar(*seed_value);
    }
    GraphVariables mv = vars.in("model");
    return std::vector<Node>{call_with_variables(m, mv, {{"x", in[0]}}, {"d"}, o).at("d")};
  });
  return exec.call({x})[0];
}

fs::path temp_dir(const std::string& tag) {
  fs::path d = fs::temp_directory_path() / ("graft_dropout_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d;
}
}  // namespace

TEST(DropoutTraining, RatioIsNotAWeight) {
  gonnx::Model m = dropout_model();
  Context ctx = make_ctx(m);
  EXPECT_FALSE(ctx.at("/model/ratio").trainable);
  EXPECT_TRUE(ctx.at("/model/W1").trainable);
}

TEST(DropoutTraining, FreshMaskEveryStepFromSeedAndStep) {
  gonnx::Model m = dropout_model();
  std::vector<Tensor> batch = make_batch(3);
  auto run = [&](uint64_t seed, int steps) {
    Context ctx = make_ctx(m);
    // lr 0: the weights stay, so the masks are the only thing that changes between steps.
    TrainStep step(ctx, probed_loss(m), SGD(), ConstantLR(0.0), {.seed = seed});
    std::vector<Tensor> ds;
    std::vector<float> losses;
    for (int t = 0; t < steps; ++t) {
      losses.push_back(step.step(batch));
      ds.push_back(ctx.value("/probe/d").clone());
    }
    return std::make_pair(ds, losses);
  };
  auto [d7, l7] = run(7, 4);
  Context ctx = make_ctx(m);
  Tensor r = reference_d(m, ctx, batch[0], std::nullopt);  // no dropout
  std::vector<float> rv = r.to_vector<float>();
  for (int t = 0; t < 4; ++t) {
    // exactly the mask of a trace seeded with step_seed(7, t)
    EXPECT_TRUE(allclose(d7[size_t(t)], reference_d(m, ctx, batch[0], step_seed(7, t)), 0, 0)) << "step " << t;
    // inverted dropout: kept values scaled by 1 / (1 - 0.25), about a quarter of the positive ones dropped
    std::vector<float> dv = d7[size_t(t)].to_vector<float>();
    int positive = 0, dropped = 0;
    for (size_t i = 0; i < dv.size(); ++i) {
      if (rv[i] <= 0) continue;
      ++positive;
      if (dv[i] == 0) ++dropped;
      else EXPECT_FLOAT_EQ(dv[i], rv[i] / 0.75f);
    }
    EXPECT_NEAR(double(dropped) / positive, 0.25, 0.1) << positive << " positive";
    for (int s = 0; s < t; ++s) EXPECT_FALSE(allclose(d7[size_t(t)], d7[size_t(s)], 0, 0)) << "steps " << s << ", " << t;
    if (t > 0) EXPECT_NE(l7[size_t(t)], l7[0]);
  }
  auto [d7b, l7b] = run(7, 4);
  EXPECT_EQ(l7b, l7);
  for (int t = 0; t < 4; ++t) EXPECT_TRUE(allclose(d7b[size_t(t)], d7[size_t(t)], 0, 0));
  auto [d8, l8] = run(8, 1);
  EXPECT_FALSE(allclose(d8[0], d7[0], 0, 0));
}

TEST(DropoutTraining, EvaluateDoesNotDrop) {
  gonnx::Model m = dropout_model();
  std::vector<Tensor> batch = make_batch(4);
  Context ctx = make_ctx(m);
  TrainStep step(ctx, probed_loss(m), SGD(), ConstantLR(0.0));
  float train_loss = step.step(batch);
  float eval1 = float(step.evaluate(batch)[0].value_as_double(0));
  float eval2 = float(step.evaluate(batch)[0].value_as_double(0));
  EXPECT_EQ(eval1, eval2);
  EXPECT_NE(eval1, train_loss);
  // the inference-mode loss, computed independently
  ContextExec exec(ctx, [&](GraphVariables& vars, const std::vector<Node>& in) {
    GraphVariables mv = vars.in("model");
    Node logits = call_with_variables(m, mv, {{"x", in[0]}}, {"logits"}).at("logits");
    return std::vector<Node>{CrossEntropy(logits, in[1])};
  });
  EXPECT_EQ(eval1, exec.call(batch)[0].item<float>());
}

TEST(DropoutTraining, MicroBatchesOfOneUpdateDrawDifferentMasks) {
  gonnx::Model m = dropout_model();
  std::vector<Tensor> batch = make_batch(5);
  Context ctx = make_ctx(m);
  TrainStep step(ctx, probed_loss(m), SGD(), ConstantLR(0.0), {.accumulation_steps = 2, .seed = 11});
  step.step(batch);
  Tensor a = ctx.value("/probe/d").clone();
  step.step(batch);
  Tensor b = ctx.value("/probe/d").clone();
  EXPECT_EQ(step.updates(), 1);
  EXPECT_FALSE(allclose(a, b, 0, 0));
  EXPECT_TRUE(allclose(a, reference_d(m, ctx, batch[0], step_seed(11, 0)), 0, 0));
  EXPECT_TRUE(allclose(b, reference_d(m, ctx, batch[0], step_seed(11, 1)), 0, 0));
}

TEST(DropoutTraining, TrainerSeedRepeatsAndResumeIsBitExact) {
  gonnx::Model m = dropout_model();
  std::vector<Tensor> cols = make_batch(6, 40);
  Dataset train(cols);
  std::ostringstream log;
  LoopOptions o{.max_steps = 10, .batching = {.batch_size = 8, .seed = 2}, .progress = Progress::Off, .out = &log};
  auto fit = [&](uint64_t seed, LoopOptions lo) {
    Context ctx = make_ctx(m);
    Trainer t(ctx, probed_loss(m), AdamW(), ConstantLR(1e-2), {.seed = seed});
    auto r = t.fit(train, nullptr, lo);
    return std::make_pair(r.losses, ctx.value("/model/W1").clone());
  };
  auto [full, w_full] = fit(5, o);
  ASSERT_EQ(full.size(), 10u);
  EXPECT_EQ(fit(5, o).first, full);
  EXPECT_NE(fit(6, o).first, full);
  // interrupted after 6 updates, resumed from the checkpoint in a fresh context
  fs::path dir = temp_dir("resume");
  LoopOptions first = o;
  first.max_steps = 6;
  first.checkpoint_dir = dir;
  first.checkpoint_every = 3;
  auto [part1, w1] = fit(5, first);
  ASSERT_EQ(part1.size(), 6u);
  LoopOptions second = first;
  second.max_steps = 10;
  auto [part2, w2] = fit(5, second);
  ASSERT_EQ(part2.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(part2[i], full[6 + i]) << i;  // bit-exact
  EXPECT_EQ(std::memcmp(w2.raw(), w_full.raw(), w_full.nbytes()), 0);
  fs::remove_all(dir);
}
