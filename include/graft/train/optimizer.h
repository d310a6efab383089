#pragma once
// Optimizers and learning-rate schedules. An optimizer only describes its update as graph ops; its state
// ("slots": Adam's m and v, SGD's momentum) lives in the Context as non-trainable variables named
// "/optimizer/<slot><variable name>", e.g. "/optimizer/exp_avg/encoder/layer.0/weight", so checkpoints
// carry it. Update formulas are PyTorch's (torch.optim, single-tensor path).
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "graft/graph/ops.h"

namespace graft::train {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual std::string name() const = 0;
  // State slots each trainable variable gets (zero-initialized, the variable's type).
  virtual std::vector<std::string> slots() const = 0;
  // Per-step scalars computed on the host in double precision (as PyTorch does) and fed as f32 inputs:
  // `update_index` is the 1-based count of this update, `lr` the scheduled learning rate.
  virtual std::vector<double> step_scalars(int64_t update_index, double lr) const = 0;
  // The new value of `param` and of its slots, given its gradient and the step scalars.
  virtual std::vector<Node> update(const std::string& variable, Node param, Node grad, const std::vector<Node>& slots,
                                   const std::vector<Node>& scalars) const = 0;
};

struct SGDOptions {
  double momentum = 0.0;
  bool nesterov = false;
  double weight_decay = 0.0;  // L2, added to the gradient
};
struct AdamOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.0;  // Adam: L2 added to the gradient; AdamW: decoupled
  // AdamW: variables whose full name matches one of these globs/regexes ("re:") get no weight decay.
  std::vector<std::string> no_decay;
};
struct RMSPropOptions {
  double alpha = 0.99, eps = 1e-8, weight_decay = 0.0, momentum = 0.0;
  bool centered = false;
};

std::shared_ptr<Optimizer> SGD(SGDOptions o = {});
std::shared_ptr<Optimizer> Adam(AdamOptions o = {});
std::shared_ptr<Optimizer> AdamW(AdamOptions o = {.weight_decay = 0.01});  // PyTorch default decay
std::shared_ptr<Optimizer> RMSProp(RMSPropOptions o = {});
// The usual AdamW mask: biases and normalization weights ("*bias", "*LayerNorm*", "*layer_norm*", "*norm*").
std::vector<std::string> default_no_decay();

// A learning-rate schedule: the rate for the update with 0-based index `step` (Hugging Face convention:
// the first update uses schedule(0)).
using Schedule = std::function<double(int64_t step)>;
Schedule ConstantLR(double lr);
// lr * step / warmup while step < warmup, then linear decay to 0 at total_steps.
Schedule LinearWarmupDecay(double lr, int64_t warmup_steps, int64_t total_steps);
// lr * step / warmup while step < warmup, then lr * 0.5 (1 + cos(pi * progress)), floored at 0.
Schedule CosineWarmup(double lr, int64_t warmup_steps, int64_t total_steps);

}  // namespace graft::train
