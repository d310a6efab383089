// Train-step time of MiniLM (ONNX, ../shared) + mean pooling + a linear head under AdamW: one compiled
// TrainStep (forward, cross-entropy, gradients of every weight, AdamW update) per step. Prints each step
// and the median; the last line is JSON for scripts (bench/train_vs_torch.sh runs it next to PyTorch).
//
//   bench_train MODEL.onnx [BATCH=32] [SEQ=128] [STEPS=5] [THREADS=2]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "graft/train/losses.h"
#include "graft/train/onnx_bridge.h"
#include "graft/train/train_step.h"

using namespace graft;
using namespace graft::train;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_train MODEL.onnx [BATCH=32] [SEQ=128] [STEPS=5] [THREADS=2]\n");
    return 2;
  }
  const int64_t batch = argc > 2 ? std::atoll(argv[2]) : 32, seq = argc > 3 ? std::atoll(argv[3]) : 128;
  const int steps = argc > 4 ? std::atoi(argv[4]) : 5, threads = argc > 5 ? std::atoi(argv[5]) : 2;
  const int64_t classes = 2, hidden = 384;
  set_num_threads(threads);
  auto model = graft::onnx::Model::load(argv[1]);

  Context ctx;
  Context enc = ctx.in("encoder");
  variables_to_context(model, enc);
  std::mt19937 wr(0);
  std::normal_distribution<float> nd(0.f, 0.02f);
  std::vector<float> w(size_t(hidden * classes));
  for (float& x : w) x = nd(wr);
  ctx.in("head").variable("weight", Tensor::from_vector(w, Shape{hidden, classes}));
  ctx.in("head").variable("bias", Tensor::zeros(DType::F32, {classes}));

  std::mt19937_64 rng(1);
  std::vector<int64_t> ids(static_cast<size_t>(batch * seq)), labels(static_cast<size_t>(batch));
  for (auto& x : ids) x = 1000 + int64_t(rng() % 20000);
  for (int64_t i = 0; i < batch; ++i) labels[size_t(i)] = i % classes;
  std::vector<Tensor> data{Tensor::from_vector(ids, Shape{batch, seq}), Tensor::from_vector(labels, Shape{batch})};

  LossFn loss = [&](GraphVariables& vars, const std::vector<Node>& b) {
    Graph& g = vars.graph();
    Node mask = Full(g, DType::I64, b[0].shape(), 1.0);
    Node types = Zeros(g, DType::I64, b[0].shape());
    GraphVariables ev = vars.in("encoder");
    auto outs = call_with_variables(model, ev, {{"input_ids", b[0]}, {"attention_mask", mask}, {"token_type_ids", types}},
                                    {"last_hidden_state"});
    Node pooled = ReduceMean(outs.at("last_hidden_state"), {1});
    Node logits = MatMul(pooled, vars("/head/weight")) + vars("/head/bias");
    return std::vector<Node>{CrossEntropy(logits, b[1])};
  };
  TrainStep step(ctx, loss, AdamW({.weight_decay = 0.01}), ConstantLR(1e-5));
  using clk = std::chrono::steady_clock;
  auto t0 = clk::now();
  float l0 = step.step(data);  // compiles
  double first_ms = std::chrono::duration<double, std::milli>(clk::now() - t0).count();
  std::printf("graft: trainable parameters %lld, first step (compile + run) %.0f ms, loss %.4f\n",
              (long long)ctx.num_elements(true), first_ms, l0);
  std::vector<double> times;
  for (int i = 0; i < steps; ++i) {
    auto s = clk::now();
    float l = step.step(data);
    times.push_back(std::chrono::duration<double, std::milli>(clk::now() - s).count());
    std::printf("graft step %d: %.1f ms, loss %.4f\n", i + 1, times.back(), l);
    std::fflush(stdout);
  }
  std::vector<double> sorted = times;
  std::sort(sorted.begin(), sorted.end());
  size_t n = sorted.size();
  double median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
  std::printf("{\"batch\":%lld,\"seq\":%lld,\"threads\":%d,\"steps\":%zu,\"compilations\":%d,\"median_ms\":%.3f,\"min_ms\":%.3f}\n",
              (long long)batch, (long long)seq, threads, n, step.num_compilations(), median, sorted.front());
  return 0;
}
