// LoRA (graft/train/lora.h) against a PyTorch oracle computed at test time (tests/fixtures/gen_lora_oracle.py,
// Debian's /usr/bin/python3 with torch; skipped, saying so, without it): the loss curve of 10 AdamW updates of
// the adapters within 1e-3 relative, and the merged ONNX model's logits against PyTorch's after training.
// Also: only the adapters train and get optimizer state; the adapters saved alone and loaded onto a fresh
// import of the base model give the same merged weights.
#include "graft/train/lora.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "graft/onnx/session.h"
#include "graft/train/losses.h"
#include "graft/train/onnx_bridge.h"
#include "graft/train/train_step.h"
#include "onnx/onnx_test_util.h"

using namespace graft;
using namespace graft::train;
namespace gonnx = graft::onnx;
namespace fs = std::filesystem;

namespace {

constexpr int64_t N = 6, D = 8, H = 16, C = 3, R = 4;

gonnx::Model mlp() {
  gonnx::testing::ModelBuilder m(17);
  m.input("x", DType::F32, {std::string("batch"), D});
  m.initializer("W1", gonnx::testing::random_tensor(Shape{D, H}, 11, -0.5f, 0.5f));
  m.initializer("b1", gonnx::testing::random_tensor(Shape{H}, 12, -0.1f, 0.1f));
  m.initializer("W2", gonnx::testing::random_tensor(Shape{H, C}, 13, -0.5f, 0.5f));
  m.node("MatMul", {"x", "W1"}, {"xw"});
  m.node("Add", {"xw", "b1"}, {"z"});
  m.node("Tanh", {"z"}, {"h"});
  m.node("MatMul", {"h", "W2"}, {"logits"});
  m.output("logits", DType::F32, {std::string("batch"), C});
  return m.model();
}

TEST(Lora, OnlyAdaptersTrainAndTheLossCurveMatchesPyTorch) {
  gonnx::Model model = mlp();
  Context ctx;
  Context scoped = ctx.in("model");
  variables_to_context(model, scoped);
  LoraInfo info = add_lora(model, ctx, {.rank = R, .alpha = 8, .targets = "W.*"});
  EXPECT_EQ(info.targets, (std::vector<std::string>{"W1", "W2"}));
  EXPECT_EQ(info.parameters, (D + H) * R + (H + C) * R);
  EXPECT_EQ(ctx.num_elements(true), info.parameters);  // b1 and the weights themselves are frozen
  EXPECT_DOUBLE_EQ(lora_scale(ctx), 2.0);
  // B starts at zero (the base model unchanged); give it values so both adapters move from the first step.
  ctx.set_value("/model/W1.lora_B", gonnx::testing::random_tensor(Shape{R, H}, 21, -0.3f, 0.3f));
  ctx.set_value("/model/W2.lora_B", gonnx::testing::random_tensor(Shape{R, C}, 22, -0.3f, 0.3f));

  Tensor x = gonnx::testing::random_tensor(Shape{N, D}, 31);
  Tensor labels = Tensor::from_vector(std::vector<int64_t>{0, 1, 2, 1, 0, 2});
  gonnx::testing::TempDir dir;
  auto save = [&](const char* name, const Tensor& t) { write_npy(dir.path / (std::string(name) + ".npy"), t); };
  save("x", x), save("labels", labels), save("W1", model.initializer("W1")), save("b1", model.initializer("b1"));
  save("W2", model.initializer("W2")), save("scale", Tensor::scalar<double>(lora_scale(ctx)));
  save("A1", ctx.value("/model/W1.lora_A")), save("B1", ctx.value("/model/W1.lora_B"));
  save("A2", ctx.value("/model/W2.lora_A")), save("B2", ctx.value("/model/W2.lora_B"));

  LossFn loss = [&](GraphVariables& vars, const std::vector<Node>& b) {
    Node logits = call_with_variables(model, vars, {{"x", b[0]}}, {"logits"}).at("logits");
    return std::vector<Node>{CrossEntropy(logits, b[1])};
  };
  TrainStep step(ctx, loss, AdamW({.weight_decay = 0.01}), ConstantLR(1e-2));
  std::vector<float> got;
  for (int i = 0; i < 10; ++i) got.push_back(step.step({x, labels}));
  int slots = 0;
  for (const Variable* v : ctx.variables()) slots += v->name.rfind("/optimizer/exp_avg/", 0) == 0;
  EXPECT_EQ(slots, 4) << "Adam state for the four adapters only";
  Tensor w2_after = ctx.value("/model/W2");
  EXPECT_EQ(w2_after.to_vector<float>(), model.initializer("W2").to_vector<float>());

  // Merged export: W + scale A B in place of W, and the adapters alone onto a fresh import.
  gonnx::testing::TempDir out;
  context_to_onnx(model, ctx).save(out.path / "merged.onnx");
  save_lora(ctx, out.path / "adapters.safetensors");
  gonnx::Model merged = gonnx::Model::load(out.path / "merged.onnx");
  Context fresh;
  Context fresh_scoped = fresh.in("model");
  variables_to_context(model, fresh_scoped);
  EXPECT_EQ(load_lora(fresh, out.path / "adapters.safetensors"), 2);
  context_to_onnx(model, fresh).save(out.path / "reloaded.onnx");
  gonnx::Model reloaded = gonnx::Model::load(out.path / "reloaded.onnx");
  for (const char* w : {"W1", "W2"}) {
    std::vector<double> base = model.initializer(w).to_vector<double>(), m = merged.initializer(w).to_vector<double>();
    std::vector<double> a = ctx.value(std::string("/model/") + w + ".lora_A").to_vector<double>();
    std::vector<double> b = ctx.value(std::string("/model/") + w + ".lora_B").to_vector<double>();
    const int64_t cols = merged.initializer(w).shape()[1];
    for (size_t i = 0; i < base.size(); ++i) {
      double ab = 0;
      for (int64_t k = 0; k < R; ++k) ab += a[size_t(int64_t(i) / cols * R + k)] * b[size_t(k * cols + int64_t(i) % cols)];
      EXPECT_NEAR(m[i], base[i] + 2.0 * ab, 1e-6) << w << " " << i;
    }
    EXPECT_EQ(reloaded.initializer(w).to_vector<float>(), merged.initializer(w).to_vector<float>()) << w;
  }

  if (std::system("/usr/bin/python3 -c 'import torch, numpy' > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "PyTorch oracle unavailable: /usr/bin/python3 cannot import torch (Debian: python3-torch)";
  fs::path script = fs::path(GRAFT_SOURCE_DIR) / "tests" / "fixtures" / "gen_lora_oracle.py";
  std::string cmd = "/usr/bin/python3 '" + script.string() + "' '" + dir.path.string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::vector<double> want = read_npy(dir.path / "losses.npy").to_vector<double>();
  ASSERT_EQ(want.size(), 10u);
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    double rel = std::abs(got[i] - want[i]) / std::abs(want[i]);
    worst = std::max(worst, rel);
    EXPECT_LE(rel, 1e-3) << "update " << i << ": graft " << got[i] << ", torch " << want[i];
  }
  EXPECT_LT(want.back(), want.front());
  // The merged model, run by graft's InferenceSession, against PyTorch's trained adapters.
  gonnx::InferenceSession session(merged);
  std::vector<float> logits = session.run({{"x", x}}).at("logits").to_vector<float>();
  std::vector<double> torch_logits = read_npy(dir.path / "final_logits.npy").to_vector<double>();
  ASSERT_EQ(logits.size(), torch_logits.size());
  for (size_t i = 0; i < logits.size(); ++i) EXPECT_NEAR(logits[i], torch_logits[i], 1e-4) << i;
  std::printf("[oracle] LoRA r=%lld: torch loss %.6f -> %.6f over 10 AdamW updates; worst relative error %.3g\n",
              (long long)R, want.front(), want.back(), worst);
}

}  // namespace
