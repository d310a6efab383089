// Training an imported ONNX model with BatchNormalization (Conv -> BN2d -> ReLU -> pool -> Gemm -> BN1d ->
// ReLU -> linear) against PyTorch (tests/fixtures/train_bn/, written by
// tests/fixtures/gen_batchnorm_fixtures.py): inside a TrainStep the model runs in training mode, the
// running mean/var initializers are non-trainable state updated by the step (ONNX's momentum convention
// and population variance), the optimizer never touches them, and evaluate() uses them in inference mode.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "graft/train/losses.h"
#include "graft/train/onnx_bridge.h"
#include "graft/train/train_step.h"

using namespace graft;
using namespace graft::train;
namespace gonnx = graft::onnx;

namespace {
namespace fs = std::filesystem;
const fs::path kDir = fs::path(GRAFT_SOURCE_DIR "/tests/fixtures/train_bn");
const std::vector<std::string> kStats = {"bn1_mean", "bn1_var", "bn2_mean", "bn2_var"};

#define REQUIRE_BN_FIXTURES()                                                                              \
  if (!fs::exists(kDir / "model.onnx") || !fs::exists(kDir / "eval_loss.npy"))                             \
  GTEST_SKIP() << "BatchNorm fixtures absent in " << kDir.string()                                         \
               << "; generate them with /usr/bin/python3 tests/fixtures/gen_batchnorm_fixtures.py "        \
                  "(needs Debian's python3-torch and python3-onnx)"

LossFn model_loss(const gonnx::Model& model, gonnx::TraceOptions options = {}) {
  return [&model, options](GraphVariables& vars, const std::vector<Node>& b) {
    GraphVariables mv = vars.in("model");
    Node logits = call_with_variables(model, mv, {{"x", b[0]}}, {"logits"}, options).at("logits");
    return std::vector<Node>{CrossEntropy(logits, b[1])};
  };
}

std::vector<Tensor> batch(int i) {
  return {read_npy(kDir / ("x" + std::to_string(i) + ".npy")), read_npy(kDir / ("y" + std::to_string(i) + ".npy"))};
}

double rel_err(const std::vector<double>& got, const std::vector<double>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) num += (got[i] - want[i]) * (got[i] - want[i]), den += want[i] * want[i];
  return std::sqrt(num / den);
}
}  // namespace

TEST(BatchNormTraining, RunningStatisticsAreNonTrainableState) {
  REQUIRE_BN_FIXTURES();
  auto model = gonnx::Model::load(kDir / "model.onnx");
  EXPECT_EQ(state_initializers(model), (std::set<std::string>(kStats.begin(), kStats.end())));
  Context ctx;
  Context scoped = ctx.in("model");
  EXPECT_EQ(variables_to_context(model, scoped), 12);
  for (const std::string& s : kStats) EXPECT_FALSE(ctx.at("/model/" + s).trainable) << s;
  for (const char* w : {"conv_w", "bn1_scale", "bn1_bias", "fc1_w", "fc2_w", "fc2_b", "bn2_scale", "bn2_bias"})
    EXPECT_TRUE(ctx.at("/model/" + std::string(w)).trainable) << w;
}

TEST(BatchNormTraining, LossesAndRunningStatisticsMatchTorch) {
  REQUIRE_BN_FIXTURES();
  auto model = gonnx::Model::load(kDir / "model.onnx");
  Context ctx;
  Context scoped = ctx.in("model");
  variables_to_context(model, scoped);
  std::map<std::string, Tensor> initial;
  for (const std::string& s : kStats) initial[s] = ctx.value("/model/" + s).clone();

  // torch.optim.AdamW(lr=1e-2, weight_decay=0.01) on every parameter, BatchNorm scale and bias included.
  TrainStep step(ctx, model_loss(model), AdamW({.weight_decay = 0.01}), ConstantLR(1e-2));
  std::vector<double> want = read_npy(kDir / "losses.npy").to_vector<double>();
  ASSERT_EQ(want.size(), 6u);
  std::map<std::string, std::vector<double>> hist;
  for (const std::string& s : kStats) hist[s] = read_npy(kDir / (s + ".npy")).to_vector<double>();
  double worst_loss = 0, worst_stat = 0;
  for (size_t t = 0; t < want.size(); ++t) {
    double got = step.step(batch(int(t % 3)));
    double rel = std::abs(got - want[t]) / std::abs(want[t]);
    worst_loss = std::max(worst_loss, rel);
    EXPECT_LE(rel, 1e-4) << "step " << t + 1 << ": graft " << got << " torch " << want[t];
    for (const std::string& s : kStats) {
      std::vector<double> g = ctx.value("/model/" + s).to_vector<double>();
      size_t c = g.size();
      std::vector<double> w(hist[s].begin() + long(t * c), hist[s].begin() + long((t + 1) * c));
      double e = rel_err(g, w);
      worst_stat = std::max(worst_stat, e);
      EXPECT_LE(e, 1e-5) << s << " after step " << t + 1;
    }
  }
  EXPECT_EQ(step.num_compilations(), 1);
  // The statistics moved (so the comparison above means something) and got no optimizer state.
  for (const std::string& s : kStats) {
    EXPECT_FALSE(allclose(ctx.value("/model/" + s), initial[s], 1e-3, 0)) << s;
    EXPECT_FALSE(ctx.has("/optimizer/exp_avg/model/" + s)) << s;
  }
  EXPECT_TRUE(ctx.has("/optimizer/exp_avg/model/bn1_scale"));

  // evaluate(): inference mode with the running statistics, which it leaves alone.
  std::map<std::string, Tensor> before;
  for (const std::string& s : kStats) before[s] = ctx.value("/model/" + s).clone();
  double eval_want = read_npy(kDir / "eval_loss.npy").to_vector<double>()[0];
  double eval_got = step.evaluate(batch(0))[0].value_as_double(0);
  EXPECT_LE(std::abs(eval_got - eval_want) / eval_want, 1e-4) << "graft " << eval_got << " torch " << eval_want;
  for (const std::string& s : kStats) EXPECT_TRUE(allclose(ctx.value("/model/" + s), before[s], 0, 0)) << s;
  std::printf("[oracle] BatchNorm: torch losses %.6f -> %.6f; worst relative loss error %.3g, running-statistic "
              "error %.3g; eval loss %.6f vs %.6f\n",
              want.front(), want.back(), worst_loss, worst_stat, eval_got, eval_want);
}

// With the step not setting the mode, the LossFn's TraceOptions decide: inference mode leaves the
// statistics untouched (and the loss is the eval-mode one); training mode updates them, also outside the
// step's default.
TEST(BatchNormTraining, ManualModeFollowsTraceOptions) {
  REQUIRE_BN_FIXTURES();
  auto model = gonnx::Model::load(kDir / "model.onnx");
  for (bool training : {false, true}) {
    Context ctx;
    Context scoped = ctx.in("model");
    variables_to_context(model, scoped);
    Tensor m0 = ctx.value("/model/bn1_mean").clone();
    gonnx::TraceOptions o;
    o.training = training;
    TrainStep step(ctx, model_loss(model, o), AdamW({.weight_decay = 0.01}), ConstantLR(1e-2),
                   {.set_model_mode = false});
    double loss = step.step(batch(0));
    if (training) {
      EXPECT_NEAR(loss, read_npy(kDir / "losses.npy").to_vector<double>()[0], 1e-4);
      std::vector<double> hist = read_npy(kDir / "bn1_mean.npy").to_vector<double>();
      EXPECT_LE(rel_err(ctx.value("/model/bn1_mean").to_vector<double>(), {hist.begin(), hist.begin() + 4}), 1e-5);
    } else {
      EXPECT_TRUE(allclose(ctx.value("/model/bn1_mean"), m0, 0, 0));
      EXPECT_GT(std::abs(loss - read_npy(kDir / "losses.npy").to_vector<double>()[0]), 1e-3);
    }
  }
}

// A trainable variable cannot also be written as state: the step says which.
TEST(BatchNormTraining, StateUpdateOfTrainableVariableIsAnError) {
  REQUIRE_BN_FIXTURES();
  auto model = gonnx::Model::load(kDir / "model.onnx");
  Context ctx;
  Context scoped = ctx.in("model");
  variables_to_context(model, scoped);
  ctx.unfreeze("/model/bn2_var");
  TrainStep step(ctx, model_loss(model), SGD(), ConstantLR(1e-2));
  try {
    step.step(batch(0));
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/model/bn2_var"), std::string::npos) << e.what();
  }
}
