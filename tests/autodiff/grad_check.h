#pragma once
// A reusable finite-difference checker for gradient rules.
//
// check_gradients(inputs, build) records `build(params)` into a float64 graph, reduces its output to a
// scalar loss = sum(output * R) with a fixed random R (so every element of the output's cotangent is
// exercised, not just a sum), takes Gradient(loss, params) and compares each floating-point input's
// analytic gradient with central differences (h = 1e-6) computed by running the compiled forward graph.
// Non-floating inputs (indices, integer tensors) are passed through and must get an all-zero gradient.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "graft/autodiff/gradient.h"
#include "graft/backend/backend.h"
#include "graft/graph/ops.h"

namespace graft::testing {

struct GradCheckOptions {
  double h = 1e-6;
  double rtol = 1e-6;   // |analytic - numeric| <= atol + rtol * max(|analytic|, |numeric|)
  double atol = 1e-7;
  uint64_t seed = 7;    // for the loss weights R
  CompileOptions compile;
};

inline Tensor random_tensor(Shape shape, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(size_t(shape.size()));
  for (double& x : v) x = u(rng);
  return Tensor::from_vector(v, std::move(shape));
}

// Values with |x| in [lo, hi] and random signs: keeps inputs away from kinks at 0.
inline Tensor random_away_from_zero(Shape shape, uint64_t seed, double lo = 0.3, double hi = 1.5) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::bernoulli_distribution sign(0.5);
  std::vector<double> v(size_t(shape.size()));
  for (double& x : v) x = sign(rng) ? u(rng) : -u(rng);
  return Tensor::from_vector(v, std::move(shape));
}

inline Tensor indices(std::vector<int64_t> v, Shape shape) { return Tensor::from_vector(v, std::move(shape)); }

using Builder = std::function<Node(const std::vector<Node>& params)>;

inline ::testing::AssertionResult check_gradients(const std::vector<Tensor>& inputs, const Builder& build,
                                                  GradCheckOptions opt = {}) {
  Graph g("grad_check");
  std::vector<Node> params;
  for (size_t i = 0; i < inputs.size(); ++i)
    params.push_back(g.parameter("in" + std::to_string(i), inputs[i].dtype(), inputs[i].shape()));
  Node y = build(params);
  if (!is_floating(y.dtype())) return ::testing::AssertionFailure() << "builder returned " << y.type().str();
  Node r = g.constant(random_tensor(y.shape(), opt.seed).cast(y.dtype()));
  Node loss = ReduceSum(y * r);
  Graph forward = g;
  forward.set_outputs({forward.node(loss.ref())});
  std::vector<Node> grads = Gradient(loss, params);
  std::vector<Node> outs{loss};
  outs.insert(outs.end(), grads.begin(), grads.end());
  g.set_outputs(outs);

  auto exe = cpu_backend()->compile(g, opt.compile);
  auto fwd = cpu_backend()->compile(forward, opt.compile);
  std::vector<Tensor> analytic = exe->run(std::span<const Tensor>(inputs));
  std::ostringstream errors;
  int bad = 0;
  double worst = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& ga = analytic[i + 1];
    if (ga.shape() != inputs[i].shape() || ga.dtype() != inputs[i].dtype())
      return ::testing::AssertionFailure() << "gradient " << i << " has type " << dtype_name(ga.dtype()) << ga.shape()
                                           << ", input is " << dtype_name(inputs[i].dtype()) << inputs[i].shape();
    if (!is_floating(inputs[i].dtype())) {
      for (int64_t e = 0; e < ga.size(); ++e)
        if (ga.value_as_double(e) != 0) return ::testing::AssertionFailure() << "non-float input " << i << " got a gradient";
      continue;
    }
    std::vector<Tensor> work = inputs;
    work[i] = inputs[i].clone();
    double* p = work[i].data<double>();
    for (int64_t e = 0; e < inputs[i].size(); ++e) {
      double x0 = p[e];
      p[e] = x0 + opt.h;
      double fp = fwd->run(std::span<const Tensor>(work))[0].item<double>();
      p[e] = x0 - opt.h;
      double fm = fwd->run(std::span<const Tensor>(work))[0].item<double>();
      p[e] = x0;
      double numeric = (fp - fm) / (2 * opt.h);
      double a = ga.value_as_double(e);
      double err = std::abs(a - numeric);
      double tol = opt.atol + opt.rtol * std::max(std::abs(a), std::abs(numeric));
      worst = std::max(worst, err / tol);
      if (!(err <= tol) && bad++ < 8)
        errors << "\n  input " << i << " element " << e << ": analytic " << a << ", numeric " << numeric;
    }
  }
  if (bad) return ::testing::AssertionFailure() << bad << " gradient elements off:" << errors.str();
  return ::testing::AssertionSuccess() << "worst error / tolerance " << worst;
}

}  // namespace graft::testing

// Checks the analytic gradients of a function against central finite differences (see check_gradients).
#define EXPECT_GRADIENTS(...) EXPECT_TRUE(::graft::testing::check_gradients(__VA_ARGS__))
