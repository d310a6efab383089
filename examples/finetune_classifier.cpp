// Fine-tunes MiniLM (ONNX) + mean pooling + a new linear head with AdamW on a small generated dataset,
// saves a checkpoint and writes the fine-tuned weights back to ONNX.
//
//   finetune_classifier <dir containing minilm_l6/minilm_l6_opset14.onnx> [out_dir]
#include <cstdio>
#include <iostream>
#include <random>

#include "graft/context/checkpoint.h"
#include "graft/train/losses.h"
#include "graft/train/onnx_bridge.h"
#include "graft/train/trainer.h"

using namespace graft;
using namespace graft::train;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cout << "usage: finetune_classifier MODELS_DIR [OUT_DIR]\n"
                 "MODELS_DIR must contain minilm_l6/minilm_l6_opset14.onnx (with its external data). Create it with\n"
                 "  /usr/bin/python3 /work/shared/models/materialize.py MODELS_DIR\n";
    return 0;
  }
  std::filesystem::path models = argv[1];
  std::filesystem::path out = argc > 2 ? argv[2] : std::filesystem::path("finetune_out");
  auto model = graft::onnx::Model::load(models / "minilm_l6" / "minilm_l6_opset14.onnx");

  // A small generated task: does the sequence contain token 2000 (a "keyword")?
  const int64_t n = 64, seq = 16, vocab = 30000, classes = 2;
  std::mt19937_64 rng(1);
  std::vector<int64_t> ids(static_cast<size_t>(n * seq)), labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    labels[size_t(i)] = i % 2;
    for (int64_t s = 0; s < seq; ++s) ids[size_t(i * seq + s)] = s == 0 ? 101 : s == seq - 1 ? 102 : 1000 + int64_t(rng() % 5000);
    if (labels[size_t(i)]) ids[size_t(i * seq + 1 + int64_t(rng() % (seq - 2)))] = 2000;
  }
  Dataset data(std::vector<Tensor>{Tensor::from_vector(ids, Shape{n, seq}), Tensor::from_vector(labels, Shape{n})});

  Context ctx;
  Context enc = ctx.in("encoder");
  variables_to_context(model, enc);
  std::mt19937 wr(0);
  std::normal_distribution<float> nd(0.f, 0.02f);
  std::vector<float> w(384 * classes);
  for (float& x : w) x = nd(wr);
  ctx.in("head").variable("weight", Tensor::from_vector(w, Shape{384, classes}));
  ctx.in("head").variable("bias", Tensor::zeros(DType::F32, {classes}));
  std::cout << "trainable parameters: " << ctx.num_elements(true) << "\n";

  LossFn loss = [&](GraphVariables& vars, const std::vector<Node>& b) {
    Graph& g = vars.graph();
    Node mask = Full(g, DType::I64, b[0].shape(), 1.0);
    Node types = Zeros(g, DType::I64, b[0].shape());
    GraphVariables ev = vars.in("encoder");
    auto outs = call_with_variables(model, ev, {{"input_ids", b[0]}, {"attention_mask", mask}, {"token_type_ids", types}},
                                    {"last_hidden_state"});
    Node pooled = ReduceMean(outs.at("last_hidden_state"), {1});  // mean pooling (no padding here)
    Node logits = MatMul(pooled, vars("/head/weight")) + vars("/head/bias");
    return std::vector<Node>{CrossEntropy(logits, b[1]), Accuracy(logits, b[1])};
  };
  AdamOptions ao{.weight_decay = 0.01, .no_decay = default_no_decay()};
  Trainer trainer(ctx, loss, AdamW(ao), LinearWarmupDecay(5e-5, 2, 16));
  auto r = trainer.fit(data, nullptr, {.max_steps = 16, .batching = {.batch_size = 8, .seed = 3}, .log_every = 1,
                                       .checkpoint_dir = out / "checkpoints", .resume = false});
  std::printf("first loss %.4f, last loss %.4f\n", r.losses.front(), r.losses.back());
  EvalResult e = trainer.evaluate(data, 16);
  std::printf("train-set loss %.4f accuracy %.3f\n", e.loss, e.accuracy);
  context_to_onnx(model, enc).save(out / "minilm_finetuned.onnx");
  std::cout << "checkpoint in " << (out / "checkpoints").string() << ", model in "
            << (out / "minilm_finetuned.onnx").string() << "\n";
  return 0;
}
