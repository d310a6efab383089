// Fine-tuning the shared MiniLM (ONNX) with mean pooling and a linear head under AdamW: graft's loss curve
// against PyTorch's. The oracle is computed at test time by tests/fixtures/gen_minilm_finetune_oracle.py
// (Debian's /usr/bin/python3 with python3-torch and python3-onnx): BERT rebuilt in plain PyTorch from the
// model's initializers (its forward checked against the stored last_hidden_state.npy), the same head
// initialization (written out for graft), 10 torch.optim.AdamW updates (lr 1e-4, weight decay 0.01, every
// weight trainable) on a fixed padded batch. graft imports the ONNX model with variables_to_context, calls it
// with call_with_variables inside a TrainStep, and must give the same loss before each update within 1e-3
// relative. Skips (saying why) without ../shared or without torch.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "graft/train/losses.h"
#include "graft/train/onnx_bridge.h"
#include "graft/train/train_step.h"
#include "onnx/onnx_test_util.h"

using namespace graft;
using namespace graft::train;
namespace gonnx = graft::onnx;
namespace fs = std::filesystem;

class MiniLMFinetune : public gonnx::testing::SharedMiniLM {};

TEST_F(MiniLMFinetune, AdamWLossCurveMatchesTorch) {
  gonnx::testing::TempDir oracle;
  fs::path script = fs::path(GRAFT_SOURCE_DIR) / "tests" / "fixtures" / "gen_minilm_finetune_oracle.py";
  std::string cmd = "/usr/bin/python3 '" + script.string() + "' '" + model_dir_.string() + "' '" +
                    oracle.path.string() + "'";
  if (std::system("/usr/bin/python3 -c 'import torch, onnx' > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "PyTorch oracle unavailable: /usr/bin/python3 cannot import torch and onnx "
                    "(Debian: python3-torch python3-onnx; scripts/install-deps.sh installs them)";
  int rc = std::system(cmd.c_str());
  ASSERT_EQ(rc, 0) << cmd;
  auto npy = [&](const char* name) { return read_npy(oracle.path / name); };
  std::vector<double> want = npy("losses.npy").to_vector<double>();
  ASSERT_EQ(want.size(), 10u);

  auto model = gonnx::Model::load(model_dir_ / "minilm_l6_opset14.onnx");
  Context ctx;
  Context enc = ctx.in("encoder");
  EXPECT_EQ(variables_to_context(model, enc), 101);
  ctx.in("head").variable("weight", npy("head_w.npy"));
  ctx.in("head").variable("bias", npy("head_b.npy"));
  EXPECT_EQ(ctx.num_elements(true), model.parameter_count() + 384 * 3 + 3);  // every weight trainable

  // batch = {input_ids, attention_mask (int64 [B, L]), labels (int64 [B])}
  LossFn loss = [&](GraphVariables& vars, const std::vector<Node>& b) {
    GraphVariables ev = vars.in("encoder");
    Node types = Zeros(vars.graph(), DType::I64, b[0].shape());
    Node h = call_with_variables(model, ev, {{"input_ids", b[0]}, {"attention_mask", b[1]}, {"token_type_ids", types}},
                                 {"last_hidden_state"})
                 .at("last_hidden_state");
    Node m = Convert(Reshape(b[1], {b[1].dim(0), b[1].dim(1), 1}), DType::F32);
    Node pooled = ReduceSum(h * m, {1}) / ReduceSum(m, {1});  // masked mean pooling
    Node logits = MatMul(pooled, vars("/head/weight")) + vars("/head/bias");
    return std::vector<Node>{CrossEntropy(logits, b[2])};
  };
  // torch.optim.AdamW(lr=1e-4, weight_decay=0.01): betas (0.9, 0.999), eps 1e-8, decay on every weight.
  TrainStep step(ctx, loss, AdamW({.weight_decay = 0.01}), ConstantLR(1e-4));
  std::vector<Tensor> batch = {npy("ids.npy"), npy("mask.npy"), npy("labels.npy")};
  double worst = 0;
  for (size_t t = 0; t < want.size(); ++t) {
    double got = step.step(batch);
    double rel = std::abs(got - want[t]) / std::abs(want[t]);
    worst = std::max(worst, rel);
    EXPECT_LE(rel, 1e-3) << "step " << t + 1 << ": graft " << got << " torch " << want[t];
  }
  EXPECT_LT(want.back(), 0.5 * want.front()) << "the oracle's loss should fall";
  EXPECT_EQ(step.num_compilations(), 1);
  std::printf("[oracle] MiniLM + head, AdamW: torch %.6f -> %.6f over 10 steps; worst relative loss error %.3g "
              "(PyTorch forward vs last_hidden_state.npy: %.3g)\n",
              want.front(), want.back(), worst, npy("forward_err.npy").to_vector<double>()[0]);
}
