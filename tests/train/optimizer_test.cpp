// The compiled train step against the update formulas of torch.optim, written out with plain loops.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "graft/train/losses.h"
#include "graft/train/train_step.h"

using namespace graft;
using namespace graft::train;

namespace {
constexpr int N = 6, I = 3, O = 2;
struct Problem {
  std::vector<double> x, y;
};
Problem make_problem(uint64_t seed) {
  std::mt19937_64 r(seed);
  std::normal_distribution<double> d;
  Problem p;
  for (int i = 0; i < N * I; ++i) p.x.push_back(d(r));
  for (int i = 0; i < N * O; ++i) p.y.push_back(d(r));
  return p;
}
// Reference model: params[0] = W [I, O], params[1] = b [O]; loss = mean((xW + b - y)^2).
double loss_and_grads(const Problem& p, const std::vector<std::vector<double>>& w, std::vector<std::vector<double>>& g) {
  g = {std::vector<double>(I * O), std::vector<double>(O)};
  double loss = 0;
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < O; ++o) {
      double z = w[1][o];
      for (int i = 0; i < I; ++i) z += p.x[n * I + i] * w[0][i * O + o];
      double r = z - p.y[n * O + o];
      loss += r * r / (N * O);
      double dz = 2 * r / (N * O);
      g[1][o] += dz;
      for (int i = 0; i < I; ++i) g[0][i * O + o] += dz * p.x[n * I + i];
    }
  return loss;
}
std::vector<std::vector<double>> init_params() {
  std::vector<std::vector<double>> w = {std::vector<double>(I * O), std::vector<double>(O)};
  for (int i = 0; i < I * O; ++i) w[0][i] = 0.1 * (i + 1) - 0.3;
  for (int o = 0; o < O; ++o) w[1][o] = 0.05 * o;
  return w;
}
Context make_ctx() {
  Context ctx;
  auto w = init_params();
  ctx.in("lin").variable("weight", Tensor::from_vector(w[0], Shape{I, O}));
  ctx.in("lin").variable("bias", Tensor::from_vector(w[1], Shape{O}));
  return ctx;
}
LossFn linear_loss() {
  return [](GraphVariables& v, const std::vector<Node>& b) {
    Node z = MatMul(b[0], v("/lin/weight")) + v("/lin/bias");
    return std::vector<Node>{MseLoss(z, b[1])};
  };
}
using RefUpdate = std::function<void(int t, double lr, std::vector<std::vector<double>>& w,
                                     std::vector<std::vector<double>>& g, std::vector<std::vector<std::vector<double>>>& st)>;
// Runs `steps` updates with graft and with the reference, comparing loss and parameters each step.
void compare(std::shared_ptr<Optimizer> opt, Schedule sched, const RefUpdate& ref, int steps = 4, double clip = 0,
             int nslots = 2) {
  Problem p = make_problem(42);
  Context ctx = make_ctx();
  TrainStep step(ctx, linear_loss(), opt, sched, {.clip_norm = clip});
  Tensor x = Tensor::from_vector(p.x, Shape{N, I}), y = Tensor::from_vector(p.y, Shape{N, O});
  auto w = init_params();
  std::vector<std::vector<std::vector<double>>> st(size_t(nslots), {std::vector<double>(I * O), std::vector<double>(O)});
  for (int t = 1; t <= steps; ++t) {
    std::vector<std::vector<double>> g;
    double loss = loss_and_grads(p, w, g);
    if (clip > 0) {
      double n2 = 0;
      for (auto& v : g)
        for (double e : v) n2 += e * e;
      double coef = std::min(1.0, clip / (std::sqrt(n2) + 1e-6));
      for (auto& v : g)
        for (double& e : v) e *= coef;
    }
    ref(t, sched(t - 1), w, g, st);
    float got = step.step({x, y});
    EXPECT_NEAR(got, loss, 1e-6 * std::abs(loss)) << opt->name() << " step " << t;
    auto gw = ctx.value("/lin/weight").to_vector<double>(), gb = ctx.value("/lin/bias").to_vector<double>();
    for (int i = 0; i < I * O; ++i) EXPECT_NEAR(gw[i], w[0][i], 1e-9) << opt->name() << " step " << t << " w" << i;
    for (int o = 0; o < O; ++o) EXPECT_NEAR(gb[o], w[1][o], 1e-9) << opt->name() << " step " << t << " b" << o;
  }
  EXPECT_EQ(step.updates(), steps);
  EXPECT_EQ(step.num_compilations(), 1);
}
template <typename F>
void each(std::vector<std::vector<double>>& w, F f) {
  for (size_t k = 0; k < w.size(); ++k)
    for (size_t i = 0; i < w[k].size(); ++i) f(k, i);
}
}  // namespace

TEST(Optimizers, SGDMomentumNesterovWeightDecay) {
  for (bool nesterov : {false, true}) {
    compare(SGD({.momentum = 0.9, .nesterov = nesterov, .weight_decay = 0.01}), ConstantLR(0.1),
            [&](int t, double lr, auto& w, auto& g, auto& st) {
              each(w, [&](size_t k, size_t i) {
                double d = g[k][i] + 0.01 * w[k][i];
                double& buf = st[0][k][i];
                buf = t == 1 ? d : 0.9 * buf + d;
                d = nesterov ? d + 0.9 * buf : buf;
                w[k][i] -= lr * d;
              });
            });
  }
  compare(SGD(), ConstantLR(0.05), [&](int, double lr, auto& w, auto& g, auto&) {
    each(w, [&](size_t k, size_t i) { w[k][i] -= lr * g[k][i]; });
  });
}

TEST(Optimizers, AdamAndAdamWWithMask) {
  for (bool decoupled : {false, true}) {
    AdamOptions o{.beta1 = 0.8, .beta2 = 0.95, .eps = 1e-6, .weight_decay = 0.1};
    if (decoupled) o.no_decay = {"*bias"};
    compare(decoupled ? AdamW(o) : Adam(o), LinearWarmupDecay(0.01, 2, 10),
            [&](int t, double lr, auto& w, auto& g, auto& st) {
              each(w, [&](size_t k, size_t i) {
                double gi = g[k][i];
                bool decay = !(decoupled && k == 1);
                if (decay && decoupled) w[k][i] *= 1 - lr * 0.1;
                if (decay && !decoupled) gi += 0.1 * w[k][i];
                double& m = st[0][k][i];
                double& v = st[1][k][i];
                m = m + (gi - m) * (1 - 0.8);
                v = v * 0.95 + gi * gi * (1 - 0.95);
                double bc1 = 1 - std::pow(0.8, t), bc2 = 1 - std::pow(0.95, t);
                w[k][i] -= lr / bc1 * m / (std::sqrt(v) / std::sqrt(bc2) + 1e-6);
              });
            },
            5);
  }
}

TEST(Optimizers, RMSPropAndClipping) {
  for (bool centered : {false, true}) {
    compare(RMSProp({.alpha = 0.9, .eps = 1e-8, .weight_decay = 0.01, .momentum = 0.5, .centered = centered}),
            CosineWarmup(0.01, 1, 5),
            [&](int, double lr, auto& w, auto& g, auto& st) {
              each(w, [&](size_t k, size_t i) {
                double gi = g[k][i] + 0.01 * w[k][i];
                double& sq = st[0][k][i];
                double& buf = st[1][k][i];
                double& ga = st[2][k][i];
                sq = 0.9 * sq + 0.1 * gi * gi;
                double avg;
                if (centered) {
                  ga = ga + (gi - ga) * 0.1;
                  avg = std::sqrt(sq - ga * ga) + 1e-8;
                } else {
                  avg = std::sqrt(sq) + 1e-8;
                }
                buf = 0.5 * buf + gi / avg;
                w[k][i] -= lr * buf;
              });
            },
            4, 0, 3);
  }
  // Clipping to a small global norm, then plain SGD.
  compare(SGD(), ConstantLR(0.1), [&](int, double lr, auto& w, auto& g, auto&) {
    each(w, [&](size_t k, size_t i) { w[k][i] -= lr * g[k][i]; });
  }, 3, 0.05);
}

TEST(Schedules, HuggingFaceDefinitions) {
  auto lin = LinearWarmupDecay(1.0, 4, 12);
  EXPECT_DOUBLE_EQ(lin(0), 0.0);
  EXPECT_DOUBLE_EQ(lin(2), 0.5);
  EXPECT_DOUBLE_EQ(lin(4), 1.0);
  EXPECT_DOUBLE_EQ(lin(8), 0.5);
  EXPECT_DOUBLE_EQ(lin(20), 0.0);
  auto cos = CosineWarmup(2.0, 2, 10);
  EXPECT_DOUBLE_EQ(cos(1), 1.0);
  EXPECT_NEAR(cos(6), 2.0 * 0.5 * (1 + std::cos(M_PI * 0.5)), 1e-15);
  EXPECT_NEAR(cos(10), 0.0, 1e-15);
  EXPECT_DOUBLE_EQ(ConstantLR(0.3)(100), 0.3);
}

TEST(TrainStep, GradientAccumulationEqualsLargeBatch) {
  // Two micro-batches of 3 with accumulation == one batch of 6 (equal-size halves: mean of means).
  Problem p = make_problem(7);
  Context a = make_ctx(), b = make_ctx();
  TrainStep big(a, linear_loss(), SGD({.momentum = 0.9}), ConstantLR(0.1));
  TrainStep acc(b, linear_loss(), SGD({.momentum = 0.9}), ConstantLR(0.1), {.accumulation_steps = 2});
  Tensor x = Tensor::from_vector(p.x, Shape{N, I}), y = Tensor::from_vector(p.y, Shape{N, O});
  std::vector<double> x1(p.x.begin(), p.x.begin() + 3 * I), x2(p.x.begin() + 3 * I, p.x.end());
  std::vector<double> y1(p.y.begin(), p.y.begin() + 3 * O), y2(p.y.begin() + 3 * O, p.y.end());
  for (int s = 0; s < 3; ++s) {
    big.step({x, y});
    acc.step({Tensor::from_vector(x1, Shape{3, I}), Tensor::from_vector(y1, Shape{3, O})});
    EXPECT_EQ(acc.updates(), s);
    EXPECT_EQ(acc.micro_step(), 1);
    acc.step({Tensor::from_vector(x2, Shape{3, I}), Tensor::from_vector(y2, Shape{3, O})});
    EXPECT_EQ(acc.updates(), s + 1);
    EXPECT_LT(max_abs_diff(a.value("/lin/weight"), b.value("/lin/weight")), 1e-12);
  }
}

TEST(TrainStep, DoubleBuffersAndFreezing) {
  Problem p = make_problem(3);
  Context ctx = make_ctx();
  ctx.freeze("/lin/bias");
  Tensor bias0 = ctx.value("/lin/bias").clone();
  TrainStep step(ctx, linear_loss(), Adam(), ConstantLR(0.01));
  Tensor x = Tensor::from_vector(p.x, Shape{N, I}), y = Tensor::from_vector(p.y, Shape{N, O});
  step.step({x, y});
  const void* buf1 = ctx.value("/lin/weight").raw();
  step.step({x, y});
  const void* buf2 = ctx.value("/lin/weight").raw();
  step.step({x, y});
  // Two buffers alternate: step 3 writes where step 1 did.
  EXPECT_NE(buf1, buf2);
  EXPECT_EQ(ctx.value("/lin/weight").raw(), buf1);
  EXPECT_TRUE(allclose(ctx.value("/lin/bias"), bias0, 0, 0));  // frozen: unchanged, no state
  EXPECT_FALSE(ctx.has("/optimizer/exp_avg/lin/bias"));
  EXPECT_TRUE(ctx.has("/optimizer/exp_avg/lin/weight"));
  ctx.freeze("*");
  TrainStep none(ctx, linear_loss(), Adam(), ConstantLR(0.01));
  EXPECT_THROW(none.step({x, y}), Error);
}
