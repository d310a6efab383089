// Optimizer updates as graph ops (PyTorch single-tensor formulas) and LR schedules.
#include "graft/train/optimizer.h"

#include <cmath>

#include "graft/context/context.h"

namespace graft::train {

namespace {


// A scalar input (f32) converted to the variable's dtype and used as a broadcast rank-0 operand.
Node as(Node scalar, Node like) { return scalar.dtype() == like.dtype() ? scalar : Convert(scalar, like.dtype()); }

class SGDImpl : public Optimizer {
 public:
  explicit SGDImpl(SGDOptions o) : o_(o) {
    GRAFT_CHECK(!o.nesterov || o.momentum > 0, "SGD: Nesterov momentum needs momentum > 0");
  }
  std::string name() const override { return "sgd"; }
  std::vector<std::string> slots() const override {
    return o_.momentum > 0 ? std::vector<std::string>{"momentum_buffer"} : std::vector<std::string>{};
  }
  std::vector<double> step_scalars(int64_t, double lr) const override { return {lr}; }
  std::vector<Node> update(const std::string&, Node p, Node g, const std::vector<Node>& slots,
                           const std::vector<Node>& sc) const override {
    Node lr = as(sc[0], p);
    if (o_.weight_decay != 0) g = g + p * o_.weight_decay;
    if (o_.momentum == 0) return {p - lr * g};
    Node buf = slots[0] * o_.momentum + g;  // first step: buf = 0 * m + g = g, as PyTorch's clone(g)
    Node d = o_.nesterov ? g + buf * o_.momentum : buf;
    return {p - lr * d, buf};
  }

 private:
  SGDOptions o_;
};

class AdamImpl : public Optimizer {
 public:
  AdamImpl(AdamOptions o, bool decoupled) : o_(std::move(o)), decoupled_(decoupled) {}
  std::string name() const override { return decoupled_ ? "adamw" : "adam"; }
  std::vector<std::string> slots() const override { return {"exp_avg", "exp_avg_sq"}; }
  std::vector<double> step_scalars(int64_t t, double lr) const override {
    double bc1 = 1.0 - std::pow(o_.beta1, double(t));
    double bc2 = 1.0 - std::pow(o_.beta2, double(t));
    return {lr, lr / bc1, std::sqrt(bc2), 1.0 - lr * o_.weight_decay};
  }
  std::vector<Node> update(const std::string& var, Node p, Node g, const std::vector<Node>& slots,
                           const std::vector<Node>& sc) const override {
    Node step_size = as(sc[1], p), bc2_sqrt = as(sc[2], p);
    bool decay = o_.weight_decay != 0;
    if (decay)
      for (const auto& pat : o_.no_decay)
        if (name_matches(pat, var)) decay = false;
    if (decay && decoupled_) p = p * as(sc[3], p);  // param.mul_(1 - lr * wd)
    if (decay && !decoupled_) g = g + p * o_.weight_decay;
    Node m = slots[0] + (g - slots[0]) * (1.0 - o_.beta1);  // exp_avg.lerp_(grad, 1 - beta1)
    Node v = slots[1] * o_.beta2 + g * g * (1.0 - o_.beta2);
    Node denom = Sqrt(v) / bc2_sqrt + o_.eps;
    return {p - step_size * (m / denom), m, v};
  }

 private:
  AdamOptions o_;
  bool decoupled_;
};

class RMSPropImpl : public Optimizer {
 public:
  explicit RMSPropImpl(RMSPropOptions o) : o_(o) {}
  std::string name() const override { return "rmsprop"; }
  std::vector<std::string> slots() const override {
    std::vector<std::string> s{"square_avg"};
    if (o_.momentum > 0) s.push_back("momentum_buffer");
    if (o_.centered) s.push_back("grad_avg");
    return s;
  }
  std::vector<double> step_scalars(int64_t, double lr) const override { return {lr}; }
  std::vector<Node> update(const std::string&, Node p, Node g, const std::vector<Node>& slots,
                           const std::vector<Node>& sc) const override {
    Node lr = as(sc[0], p);
    if (o_.weight_decay != 0) g = g + p * o_.weight_decay;
    Node sq = slots[0] * o_.alpha + g * g * (1.0 - o_.alpha);
    std::vector<Node> out{Node(), sq};
    Node avg;
    if (o_.centered) {
      Node ga_old = slots[o_.momentum > 0 ? 2 : 1];
      Node ga = ga_old + (g - ga_old) * (1.0 - o_.alpha);
      avg = Sqrt(sq - ga * ga) + o_.eps;
      if (o_.momentum > 0) {
        Node buf = slots[1] * o_.momentum + g / avg;
        out[0] = p - lr * buf;
        out.push_back(buf);
      } else {
        out[0] = p - lr * (g / avg);
      }
      out.push_back(ga);
      return out;
    }
    avg = Sqrt(sq) + o_.eps;
    if (o_.momentum > 0) {
      Node buf = slots[1] * o_.momentum + g / avg;
      out[0] = p - lr * buf;
      out.push_back(buf);
    } else {
      out[0] = p - lr * (g / avg);
    }
    return out;
  }

 private:
  RMSPropOptions o_;
};

}  // namespace

std::shared_ptr<Optimizer> SGD(SGDOptions o) { return std::make_shared<SGDImpl>(o); }
std::shared_ptr<Optimizer> Adam(AdamOptions o) { return std::make_shared<AdamImpl>(std::move(o), false); }
std::shared_ptr<Optimizer> AdamW(AdamOptions o) { return std::make_shared<AdamImpl>(std::move(o), true); }
std::shared_ptr<Optimizer> RMSProp(RMSPropOptions o) { return std::make_shared<RMSPropImpl>(o); }

std::vector<std::string> default_no_decay() { return {"*bias", "*LayerNorm*", "*layer_norm*", "*norm*"}; }

Schedule ConstantLR(double lr) {
  return [lr](int64_t) { return lr; };
}

Schedule LinearWarmupDecay(double lr, int64_t warmup, int64_t total) {
  GRAFT_CHECK(warmup >= 0 && total > 0, "LinearWarmupDecay: warmup ", warmup, ", total ", total);
  return [=](int64_t step) {
    if (step < warmup) return lr * double(step) / double(std::max<int64_t>(1, warmup));
    return lr * std::max(0.0, double(total - step) / double(std::max<int64_t>(1, total - warmup)));
  };
}

Schedule CosineWarmup(double lr, int64_t warmup, int64_t total) {
  GRAFT_CHECK(warmup >= 0 && total > 0, "CosineWarmup: warmup ", warmup, ", total ", total);
  return [=](int64_t step) {
    if (step < warmup) return lr * double(step) / double(std::max<int64_t>(1, warmup));
    double progress = double(step - warmup) / double(std::max<int64_t>(1, total - warmup));
    return lr * std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
  };
}

}  // namespace graft::train
