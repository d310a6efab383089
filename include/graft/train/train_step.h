#pragma once
// TrainStep: one compiled graph per batch signature that runs forward, loss, gradients, clipping and the
// optimizer update. Its inputs are the batch, the variables it uses, the optimizer state and the per-step
// scalars (learning rate, bias corrections); its outputs are the loss, the new variables and the new state.
// Outputs are written with Executable::run_into into a second set of buffers that are then swapped with
// the context's (double buffering), so a step allocates nothing after the first.
//
// Note: a Tensor copied out of the context shares its buffer, which a later step overwrites; clone() it
// to keep a value.
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "graft/backend/backend.h"
#include "graft/context/context.h"
#include "graft/train/optimizer.h"

namespace graft::train {

// Builds the loss (a floating scalar) from the batch nodes, using vars("name") for the model's variables.
// Extra returned nodes (logits, ...) are ignored by the train step and returned by evaluation.
using LossFn = std::function<std::vector<Node>(GraphVariables& vars, const std::vector<Node>& batch)>;

struct TrainStepOptions {
  double clip_norm = 0.0;      // global-norm gradient clipping (PyTorch clip_grad_norm_) when > 0
  int accumulation_steps = 1;  // micro-batches whose mean gradient makes one update
  std::shared_ptr<Backend> backend;  // cpu_backend() when unset
  CompileOptions compile;
};

class TrainStep {
 public:
  TrainStep(Context ctx, LossFn loss, std::shared_ptr<Optimizer> optimizer, Schedule schedule,
            TrainStepOptions options = {});
  ~TrainStep();
  TrainStep(TrainStep&&) noexcept;
  // Runs one micro-batch and returns its loss; the update is applied when `accumulation_steps`
  // micro-batches have been seen.
  float step(const std::vector<Tensor>& batch);
  // Updates applied so far (kept in the context as "/optimizer/step", so checkpoints carry it).
  int64_t updates() const;
  int64_t micro_step() const;  // micro-batches seen since the last update
  double last_lr() const { return last_lr_; }
  double last_grad_norm() const;  // before clipping (when clip_norm > 0), else NaN
  int num_compilations() const;
  Context& context() { return ctx_; }

  // Evaluation: the LossFn's outputs (loss first) on a batch, without updating anything.
  std::vector<Tensor> evaluate(const std::vector<Tensor>& batch);

  struct Impl;

 private:
  Context ctx_;
  std::unique_ptr<Impl> impl_;
  double last_lr_ = 0;
};

}  // namespace graft::train
