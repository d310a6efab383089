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
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "graft/backend/backend.h"
#include "graft/context/context.h"
#include "graft/distributed/communicator.h"
#include "graft/train/optimizer.h"

namespace graft::train {

// Builds the loss (a floating scalar) from the batch nodes, using vars("name") for the model's variables.
// Extra returned nodes (logits, ...) are ignored by the train step and returned by evaluation.
using LossFn = std::function<std::vector<Node>(GraphVariables& vars, const std::vector<Node>& batch)>;

struct TrainStepOptions {
  double clip_norm = 0.0;      // global-norm gradient clipping (PyTorch clip_grad_norm_) when > 0
  int accumulation_steps = 1;  // micro-batches whose mean gradient makes one update
  // Imported ONNX models (call_with_variables) trace in training mode inside step()'s graphs (Dropout with
  // StepGraph::seed(), BatchNormalization on batch statistics with its running statistics written back) and
  // in inference mode inside evaluate(), like PyTorch's model.train() / model.eval(). false: the LossFn's
  // TraceOptions decide.
  bool set_model_mode = true;
  // Base of the per-micro-batch random seed (StepGraph::seed()): micro-batch c (counted from 0 over the
  // whole run, c = updates * accumulation_steps + micro_step) gets step_seed(seed, c).
  uint64_t seed = 0;
  std::shared_ptr<Backend> backend;  // cpu_backend() when unset
  CompileOptions compile;
  // Data parallelism (graft/distributed/communicator.h): with a group of more than one member, step()'s
  // batch is this member's shard of the global batch; gradients are summed over the group before each
  // update, which every member then applies identically (variables start from rank 0's). step() returns
  // the global batch's loss. Dropout draws differ per member (the seed is mixed with the rank).
  std::shared_ptr<distributed::Communicator> communicator;
};

// What a graph a TrainStep is building is for, available to its LossFn (and to call_with_variables) while
// the LossFn runs: step_graph(vars.graph()).
class StepGraph {
 public:
  StepGraph(Graph& graph, bool training, bool set_model_mode) : graph_(&graph), training_(training), set_mode_(set_model_mode) {}
  Graph& graph() const { return *graph_; }
  bool training() const { return training_; }  // step()'s graphs: true; evaluate()'s: false
  bool set_model_mode() const { return set_mode_; }  // TrainStepOptions::set_model_mode
  // A u64 scalar input of the graph fed step_seed(TrainStepOptions::seed, micro-batch count) on every
  // run: fresh random draws (dropout masks) each step, reproducible from the seed and the step, so a
  // resumed run draws the same. A constant 0 in evaluate()'s graphs.
  Node seed();
  // Model state outside the optimizer (BatchNormalization running statistics): after the step, the
  // non-trainable variable `variable` (full name) takes `value` (same dtype and shape). Applied by step()'s
  // graphs (every micro-batch), ignored by evaluate(). A second update of the same variable replaces the first;
  // build it from pending_update() to chain them.
  void update_state(const std::string& variable, Node value);
  std::optional<Node> pending_update(const std::string& variable) const;
  const std::vector<std::pair<std::string, Node>>& state_updates() const { return updates_; }

  // Internal: set by TrainStep.
  std::function<Node()> make_seed;

 private:
  Graph* graph_;
  bool training_, set_mode_;
  std::optional<Node> seed_;
  std::vector<std::pair<std::string, Node>> updates_;
};
// The StepGraph of `graph` while a TrainStep builds it on this thread; nullptr otherwise.
StepGraph* step_graph(const Graph& graph);
// The seed fed for micro-batch `counter`: splitmix64 of (seed, counter), never equal for neighbouring counters.
uint64_t step_seed(uint64_t seed, int64_t counter);

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
  float step_data_parallel(const std::vector<Tensor>& batch);

  Context ctx_;
  std::unique_ptr<Impl> impl_;
  double last_lr_ = 0;
};

}  // namespace graft::train
