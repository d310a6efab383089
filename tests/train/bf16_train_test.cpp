// Training with CompileOptions::precision BF16 on the CPU: the step's products (forward and gradient) run
// in bf16 with f32 accumulation, the master weights and the optimizer stay f32. A small MLP regression
// trained for 40 AdamW steps must follow the f32 run's loss curve (within bf16's relative error, ~1e-2)
// and learn as much.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "graft/graph/ops.h"
#include "graft/train/losses.h"
#include "graft/train/train_step.h"

using namespace graft;
using namespace graft::train;

namespace {

constexpr int64_t kN = 64, kIn = 32, kHidden = 64, kOut = 4;

Tensor randn(Shape s, uint64_t seed, double scale) {
  std::mt19937_64 r(seed);
  std::normal_distribution<double> d(0, scale);
  std::vector<double> v(size_t(s.size()));
  for (double& e : v) e = d(r);
  return Tensor::from_vector(v, s).cast(DType::F32);
}

Context make_ctx() {
  Context ctx;
  ctx.in("l1").variable("weight", randn({kIn, kHidden}, 1, 0.2));
  ctx.in("l1").variable("bias", Tensor::zeros(DType::F32, {kHidden}));
  ctx.in("l2").variable("weight", randn({kHidden, kOut}, 2, 0.2));
  ctx.in("l2").variable("bias", Tensor::zeros(DType::F32, {kOut}));
  return ctx;
}

std::vector<float> train(Precision p, const Tensor& x, const Tensor& y, Context* out) {
  TrainStepOptions o;
  o.compile.precision = p;
  LossFn loss = [](GraphVariables& v, const std::vector<Node>& b) {
    Node h = Gelu(MatMul(b[0], v("/l1/weight")) + v("/l1/bias"));
    return std::vector<Node>{MseLoss(MatMul(h, v("/l2/weight")) + v("/l2/bias"), b[1])};
  };
  TrainStep step(make_ctx(), loss, AdamW({}), ConstantLR(1e-2), o);
  std::vector<float> curve;
  for (int i = 0; i < 40; ++i) curve.push_back(step.step({x, y}));
  *out = step.context();
  return curve;
}

TEST(Bf16Training, LossCurveTracksF32) {
  // Targets from a fixed random two-layer teacher, so there is something to learn.
  Tensor x = randn({kN, kIn}, 3, 1.0);
  Tensor y = randn({kN, kOut}, 4, 1.0);
  Context c32, c16;
  std::vector<float> f32 = train(Precision::F32, x, y, &c32);
  std::vector<float> bf16 = train(Precision::BF16, x, y, &c16);
  EXPECT_LT(f32.back(), 0.5 * f32.front());
  EXPECT_LT(bf16.back(), 0.5 * bf16.front());
  double worst = 0, any_diff = 0;
  for (size_t i = 0; i < f32.size(); ++i) {
    worst = std::max(worst, std::fabs(double(bf16[i]) - f32[i]) / f32[i]);
    any_diff = std::max(any_diff, std::fabs(double(bf16[i]) - f32[i]));
  }
  EXPECT_LT(worst, 5e-2) << "bf16 loss curve departs from f32's";
  if (__builtin_cpu_supports("avx512bf16")) EXPECT_GT(any_diff, 0.0);  // it did run in bf16
  // Master weights stay f32.
  EXPECT_EQ(c16.value("/l1/weight").dtype(), DType::F32);
}

}  // namespace
