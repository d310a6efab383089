#pragma once
// Fine-tuning an imported ONNX encoder from text files, ending in an ONNX model any runtime loads
// (`graft finetune`, docs/cli.md). The steps:
//
//   1. the base model (a .onnx file, a folder laid out like a Hub repo, or a Hub repo id) and its
//      tokenizer.json; its float initializers become trainable context variables (train::onnx_bridge);
//   2. the data (CSV, TSV, JSONL; graft/app/text_table.h), tokenized once, padded per batch;
//   3. the task on top of the pooled token states (mean or CLS pooling under the attention mask):
//        classify: a linear head [hidden, labels] and cross entropy; eval accuracy and macro-F1;
//        embed:    sentence embeddings trained with in-batch negatives (MultipleNegativesRankingLoss,
//                  scale 20, cosine similarity) on (text, text pair) rows; eval the mean cosine of the
//                  pairs against that of mismatched pairs;
//   4. train::Trainer with AdamW and linear warmup/decay: seeded shuffling per epoch, an eval after each
//      epoch (OUT/metrics.jsonl), the best weights kept (by accuracy, or by the cosine gap), early stopping,
//      a checkpoint per epoch for --resume;
//   5. OUT/model.onnx: the base model with the fine-tuned weights written back, and the pooling (and head)
//      appended as ONNX nodes, so the batch and sequence axes stay dynamic: inputs input_ids,
//      attention_mask (+ token_type_ids when the base has it), output `logits` [batch, labels] or
//      `sentence_embedding` [batch, hidden]; OUT/tokenizer.json; OUT/labels.json (classify: label names in
//      logit order); OUT/sentence_bert_config.json (the truncation length), so `graft embed --model OUT`
//      and `graft classify --model OUT` read it as they read a Hub folder.
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "graft/app/embedder.h"
#include "graft/onnx/writeback.h"
#include "graft/train/trainer.h"

namespace graft::app {

enum class FinetuneTask { Classify, Embed };
const char* to_string(FinetuneTask t);           // "classify", "embed"
FinetuneTask parse_finetune_task(std::string_view name);  // UsageError for anything else

struct FinetuneOptions {
  std::string model;      // a .onnx file, a folder laid out like a Hub repo, or a Hub repo id
  std::string tokenizer;  // tokenizer.json, a folder or a repo id; default: the model's (beside a .onnx file)
  std::string revision = "main";
  onnx::LoadOptions load;
  FinetuneTask task = FinetuneTask::Classify;

  std::filesystem::path train_file, eval_file;  // eval optional
  std::string text_column = "text", text_pair_column, label_column = "label";

  size_t max_length = 128;  // tokens per text (truncation); at most what the model takes
  int64_t batch_size = 32;
  int64_t epochs = 3;
  int64_t max_steps = 0;  // > 0: this many updates instead of `epochs`
  double lr = 5e-5, weight_decay = 0.01;
  double warmup = 0.1;  // fraction of the updates with a linearly rising learning rate
  Pooling pooling = Pooling::Mean;  // Mean or Cls
  uint64_t seed = 42;
  int early_stopping_patience = 0;  // evaluations without improvement before stopping (0: never stop early)
  bool resume = false;              // continue from OUT/checkpoints
  // Which initializers train, by regex (ECMAScript, full match) over initializer names: `train` given,
  // only those (and the head); `freeze` then removes some.
  std::vector<std::string> train, freeze;
  // Weights kept in Constant nodes (Paddle2ONNX, some TensorFlow exports): float Constant tensors of at
  // least this many elements train too and are written back into the nodes (train::ImportOptions). 0: off.
  int64_t lift_constants = 0;
  // LoRA (graft/train/lora.h) when lora_rank > 0: adapters on the MatMul/Gemm weights matching lora_targets,
  // which alone train (with the head); the export merges them, and OUT/adapters.safetensors holds them alone.
  int64_t lora_rank = 0;
  double lora_alpha = 16;
  std::string lora_targets = ".*";
  int threads = 0;  // 0: all cores
  // Data parallelism (graft/distributed/communicator.h; the CLI uses MPI's world when started by mpirun):
  // each member trains on its shard of every batch of `batch_size`, gradients are summed before each
  // update, and only rank 0 writes OUT and logs. classify: the same updates as one process (within fp32
  // rounding). embed: each member's in-batch negatives are those of its shard.
  std::shared_ptr<distributed::Communicator> communicator;

  std::filesystem::path output_dir;
  // Tests: throw an Error after this many updates (0: never), as a crash would, to check --resume.
  int64_t interrupt_after = 0;
  train::Progress progress = train::Progress::Auto;  // Auto: a bar when `log` is a terminal's stderr
  std::ostream* log = nullptr;                       // std::cerr when unset
};

struct FinetuneResult {
  std::filesystem::path model_path;         // OUT/model.onnx
  std::vector<std::string> labels;          // classify: label names in logit order
  int64_t steps = 0;                        // updates done (a resumed run counts those before it)
  int64_t trainable_parameters = 0;
  std::vector<float> losses;                // per update, this run
  std::vector<train::EvalResult> evals;     // this run's evaluations
  std::optional<train::EvalResult> best;    // the evaluation whose weights were exported
  int64_t best_step = -1;
  bool stopped_early = false;
};

// Runs the whole pipeline. Bad option values are UsageErrors naming the option; bad data are Errors naming
// the file, line and column.
FinetuneResult finetune(const FinetuneOptions& options);

// The pooling (and head) appended to an encoder as ONNX nodes (what finetune writes; exposed for tests and
// other exporters): reads `hidden_output` (token states [batch, tokens, hidden], or already pooled
// [batch, hidden]) and the graph input attention_mask; mean pooling is sum(h * mask) / max(sum(mask), 1e-9)
// over the tokens, as sentence-transformers computes it. With `head_weight` [hidden, labels] (and
// `head_bias` [labels]) the output is `output_name` = pooled @ weight + bias, else the pooled vector.
// The graph's outputs are replaced by that one output.
struct PoolingHead {
  std::string hidden_output;
  bool hidden_is_pooled = false;
  Pooling pooling = Pooling::Mean;
  std::optional<Tensor> head_weight, head_bias;
  std::string output_name = "logits";
  int64_t output_dim = 0;  // labels (with a head) or hidden
};
void append_pooling_head(onnx::ModelWriter& writer, const onnx::Model& base, const PoolingHead& head);

}  // namespace graft::app
