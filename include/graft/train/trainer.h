#pragma once
// Datasets and the training loop.
//
//   graft::train::Trainer t(ctx, loss_fn, AdamW(), LinearWarmupDecay(1e-3, 10, 100));
//   auto result = t.fit(train_data, &eval_data, {.max_steps = 100, .batching = {.batch_size = 32}});
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "graft/train/train_step.h"

namespace graft::train {

// In-memory examples: each column is a tensor whose first axis indexes examples.
class Dataset {
 public:
  explicit Dataset(std::vector<Tensor> columns);
  int64_t size() const { return n_; }
  const std::vector<Tensor>& columns() const { return columns_; }
  // The rows `idx` of every column, stacked.
  std::vector<Tensor> gather(const std::vector<int64_t>& idx) const;
  Dataset slice(int64_t begin, int64_t end) const;

 private:
  std::vector<Tensor> columns_;
  int64_t n_ = 0;
};

struct BatchOptions {
  int64_t batch_size = 32;
  bool shuffle = true;
  uint64_t seed = 0;
  bool drop_remainder = false;
};
int64_t batches_per_epoch(int64_t examples, const BatchOptions& o);
// The example order of `epoch`: a permutation from (seed, epoch) alone, so a resumed run sees the same.
std::vector<int64_t> epoch_order(int64_t examples, const BatchOptions& o, int64_t epoch);
// Batch `index` of `epoch`.
std::vector<Tensor> batch_at(const Dataset& d, const BatchOptions& o, int64_t epoch, int64_t index);

struct EvalResult {
  double loss = 0;
  double accuracy = std::numeric_limits<double>::quiet_NaN();  // when the LossFn returns it second
  int64_t examples = 0;
  std::map<std::string, double> metrics;  // more, from a custom evaluation (LoopOptions::evaluate)
};

// Turns a batch as the dataset stores it into what the train step takes (trims padding, say).
using CollateFn = std::function<std::vector<Tensor>(std::vector<Tensor> batch)>;

struct StepInfo {
  int64_t step = 0;  // updates done
  int64_t epoch = 0;
  float loss = 0;
  double lr = 0;
  double steps_per_second = 0;
};

enum class Progress { Auto, Bar, Lines, Off };

struct LoopOptions {
  int64_t max_steps = 0;  // updates; 0: run `epochs` epochs
  int64_t epochs = 1;
  BatchOptions batching;
  int64_t log_every = 10;       // plain lines every N updates (when not a progress bar)
  int64_t eval_every = 0;       // updates between evaluations (0: at the end only, when eval data is given)
  int64_t eval_batch_size = 64;
  int64_t checkpoint_every = 0;  // updates; needs checkpoint_dir
  std::filesystem::path checkpoint_dir;
  int keep_last = 3;
  bool resume = true;            // restore the latest checkpoint in checkpoint_dir before training
  int early_stopping_patience = 0;  // evaluations without improvement of eval loss before stopping (0: off)
  double min_delta = 0.0;
  Progress progress = Progress::Auto;  // Auto: a bar when stdout is a terminal, lines otherwise
  std::ostream* out = nullptr;         // std::cout when unset
  CollateFn collate;                   // applied to every training and evaluation batch when set
  // Replaces Trainer::evaluate(eval data) when set (metrics beyond loss and accuracy).
  std::function<EvalResult(const Dataset& eval)> evaluate;
};

struct FitResult {
  int64_t steps = 0;               // updates done (including before a resume)
  std::vector<float> losses;       // per micro-batch loss of this run
  std::vector<EvalResult> evals;
  bool stopped_early = false;
};

// Data parallelism (TrainStepOptions::communicator with several members): fit() hands member r rows
// [r*n/N, (r+1)*n/N) of every global batch of n examples (a final batch smaller than the group is skipped),
// every member evaluates the whole eval set (so all take the same early-stopping decisions), and only
// rank 0 prints and writes checkpoints. Every member should resume from the same checkpoint folder.
class Trainer {
 public:
  Trainer(Context ctx, LossFn loss, std::shared_ptr<Optimizer> optimizer, Schedule schedule,
          TrainStepOptions options = {});
  FitResult fit(const Dataset& train, const Dataset* eval = nullptr, LoopOptions options = {});
  EvalResult evaluate(const Dataset& data, int64_t batch_size = 64, const CollateFn& collate = {});

  // Hooks: called after every update, and after every evaluation (return false from on_eval to stop).
  void on_step(std::function<void(const StepInfo&)> f) { step_hooks_.push_back(std::move(f)); }
  void on_eval(std::function<bool(int64_t step, const EvalResult&)> f) { eval_hooks_.push_back(std::move(f)); }

  TrainStep& train_step() { return step_; }
  Context& context() { return ctx_; }

 private:
  Context ctx_;
  TrainStep step_;
  std::shared_ptr<distributed::Communicator> comm_;  // data parallelism (TrainStepOptions::communicator)
  std::vector<std::function<void(const StepInfo&)>> step_hooks_;
  std::vector<std::function<bool(int64_t, const EvalResult&)>> eval_hooks_;
};

}  // namespace graft::train
