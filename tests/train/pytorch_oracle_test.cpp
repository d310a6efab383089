// PyTorch as the oracle: a small pre-LN transformer block classifier (embedding, layer norm, 2-head
// attention with a key-padding mask, GELU MLP, residuals, masked mean pooling, linear head, cross-entropy)
// built with graft's builders from the weights in tests/fixtures/train/ (written by
// tests/fixtures/gen_train_fixtures.py with Debian's python3-torch, float64). Checks
//  - d loss / d weight for every weight against torch.autograd within 1e-4 relative, and
//  - the loss before each of 10 torch.optim.AdamW updates (lr 1e-3, weight decay 0.01) within 1e-3
//    relative, with graft's compiled TrainStep.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "graft/autodiff/gradient.h"
#include "graft/train/losses.h"
#include "graft/train/train_step.h"

using namespace graft;
using namespace graft::train;

namespace {
namespace fs = std::filesystem;
constexpr int64_t B = 4, L = 8, D = 16, H = 2, C = 3;

const fs::path kDir = fs::path(GRAFT_SOURCE_DIR "/tests/fixtures/train");
// The same order as SHAPES in gen_train_fixtures.py.
const std::vector<std::string> kWeights = {"emb", "ln1_g", "ln1_b", "wq", "bq", "wk", "bk", "wv", "bv", "wo",
                                           "bo", "ln2_g", "ln2_b", "w1", "b1", "w2", "b2", "wh", "bh"};

bool have_fixtures() { return fs::exists(kDir / "adamw_loss.npy") && fs::exists(kDir / "g_bh.npy"); }
#define REQUIRE_FIXTURES()                                                                              \
  if (!have_fixtures())                                                                                 \
  GTEST_SKIP() << "PyTorch fixtures absent in " << kDir.string()                                        \
               << "; generate them with /usr/bin/python3 tests/fixtures/gen_train_fixtures.py "         \
                  "(needs Debian's python3-torch)"

Context load_context() {
  Context ctx;
  for (const std::string& n : kWeights) ctx.in("block").variable(n, read_npy(kDir / ("w_" + n + ".npy")));
  return ctx;
}

// batch = {ids int64 [B, L], mask f32 [B, L], labels int64 [B]}
Node block_loss(GraphVariables& v, const std::vector<Node>& b) {
  auto w = [&](const std::string& n) { return v("/block/" + n); };
  Node ids = b[0], mask = b[1], labels = b[2];
  const int64_t dh = D / H;
  Node x = Take(w("emb"), ids, 0);  // [B, L, D]
  Node a = LayerNorm(x, w("ln1_g"), w("ln1_b"), -1, 1e-5);
  auto heads = [&](Node t) { return Transpose(Reshape(t, {B, L, H, dh}), {0, 2, 1, 3}); };
  Node q = heads(MatMul(a, w("wq")) + w("bq"));
  Node k = heads(MatMul(a, w("wk")) + w("bk"));
  Node val = heads(MatMul(a, w("wv")) + w("bv"));
  Node attend = Greater(Reshape(mask, {B, 1, 1, L}), ScalarLike(mask, 0.0));
  Node o = ScaledDotProductAttention(q, k, val, attend);
  o = Reshape(Transpose(o, {0, 2, 1, 3}), {B, L, D});
  Node h = x + MatMul(o, w("wo")) + w("bo");
  Node m = LayerNorm(h, w("ln2_g"), w("ln2_b"), -1, 1e-5);
  h = h + MatMul(Gelu(MatMul(m, w("w1")) + w("b1")), w("w2")) + w("b2");
  Node pooled = ReduceSum(h * Reshape(mask, {B, L, 1}), {1}) / ReduceSum(mask, {1}, true);
  Node logits = MatMul(pooled, w("wh")) + w("bh");
  return CrossEntropy(logits, labels);
}

std::vector<Tensor> load_batch() {
  return {read_npy(kDir / "ids.npy"), read_npy(kDir / "mask.npy"), read_npy(kDir / "labels.npy")};
}
}  // namespace

TEST(PyTorchOracle, TransformerBlockGradientsMatchTorch) {
  REQUIRE_FIXTURES();
  Context ctx = load_context();
  ContextExec exec(ctx, [](GraphVariables& v, const std::vector<Node>& b) {
    Node loss = block_loss(v, b);
    std::vector<Node> wrt;
    for (const std::string& n : kWeights) wrt.push_back(v("/block/" + n));
    std::vector<Node> outs{loss};
    for (Node g : Gradient(loss, wrt)) outs.push_back(g);
    return outs;
  });
  std::vector<Tensor> outs = exec.call(load_batch());
  ASSERT_EQ(outs.size(), kWeights.size() + 1);
  std::vector<std::vector<double>> wants, gots;
  double global = 0;  // the largest gradient element of the model
  for (size_t i = 0; i < kWeights.size(); ++i) {
    wants.push_back(read_npy(kDir / ("g_" + kWeights[i] + ".npy")).to_vector<double>());
    gots.push_back(outs[i + 1].to_vector<double>());
    ASSERT_EQ(gots[i].size(), wants[i].size()) << kWeights[i];
    for (double x : wants[i]) global = std::max(global, std::abs(x));
  }
  ASSERT_GT(global, 0);
  double worst = 0;
  std::string worst_name;
  int checked = 0;
  for (size_t i = 0; i < kWeights.size(); ++i) {
    const std::string& n = kWeights[i];
    const std::vector<double>&want = wants[i], &got = gots[i];
    double scale = 0, diff2 = 0, ref2 = 0;
    for (double x : want) scale = std::max(scale, std::abs(x)), ref2 += x * x;
    if (scale < 1e-12 * global) {
      // Zero in exact arithmetic: the key bias shifts every score of a query equally, which softmax
      // ignores (torch's float64 gives ~1e-18). graft's float32 must be at rounding level.
      for (size_t j = 0; j < got.size(); ++j)
        EXPECT_LE(std::abs(got[j]), 1e-6 * global) << n << "[" << j << "] should be ~0, graft " << got[j];
      continue;
    }
    for (size_t j = 0; j < want.size(); ++j) {
      double d = std::abs(got[j] - want[j]);
      diff2 += d * d;
      // 1e-4 relative per element; elements far below the tensor's largest (where f32 cancellation
      // dominates) are held to 1e-4 of 1% of that largest element instead.
      EXPECT_LE(d, 1e-4 * std::max(std::abs(want[j]), 1e-2 * scale))
          << n << "[" << j << "]: graft " << got[j] << " torch " << want[j];
    }
    double rel = std::sqrt(diff2 / ref2);
    EXPECT_LE(rel, 1e-4) << n << ": relative L2 error";
    if (rel > worst) worst = rel, worst_name = n;
    ++checked;
  }
  EXPECT_EQ(checked, int(kWeights.size()) - 1) << "only bk's gradient is expected to vanish";
  std::printf("[oracle] loss graft %.8f; worst relative L2 gradient error %.3g (%s)\n",
              outs[0].to_vector<double>()[0], worst, worst_name.c_str());
}

TEST(PyTorchOracle, AdamWLossCurveMatchesTorch) {
  REQUIRE_FIXTURES();
  Context ctx = load_context();
  std::vector<double> want = read_npy(kDir / "adamw_loss.npy").to_vector<double>();
  ASSERT_EQ(want.size(), 10u);
  // torch.optim.AdamW(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01) decays every parameter.
  TrainStep step(ctx, [](GraphVariables& v, const std::vector<Node>& b) { return std::vector<Node>{block_loss(v, b)}; },
                 AdamW({.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01}), ConstantLR(1e-3));
  std::vector<Tensor> batch = load_batch();
  double worst = 0;
  for (size_t t = 0; t < want.size(); ++t) {
    double got = step.step(batch);
    double rel = std::abs(got - want[t]) / std::abs(want[t]);
    worst = std::max(worst, rel);
    EXPECT_LE(rel, 1e-3) << "step " << t + 1 << ": graft " << got << " torch " << want[t];
  }
  EXPECT_LT(want.back(), want.front()) << "the oracle's loss should fall";
  EXPECT_EQ(step.updates(), 10);
  EXPECT_EQ(step.num_compilations(), 1);
  std::printf("[oracle] AdamW: torch %.6f -> %.6f over 10 steps; worst relative loss error %.3g\n", want.front(),
              want.back(), worst);
}
