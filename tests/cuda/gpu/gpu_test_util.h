#pragma once
// Shared by the GPU tests: a fixture that skips (saying why) where no GPU is usable, random inputs for a
// graph's parameters, and the comparison of a graph's results on the CUDA backend against the CPU
// backend (the reference: its kernels are tested against NumPy, PyTorch and ONNX's conformance data).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "graft/backend/cuda.h"
#include "graft/graph/ops.h"

namespace graft::gpu_test {

class Gpu : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!cuda_available(&why)) GTEST_SKIP() << "no usable GPU: " << why;
    gpu_ = cuda_backend(0);
  }
  std::shared_ptr<Backend> gpu_;
};

// Uniform values in [lo, hi] (integers: rounded, and the range clipped to the type's; bool: half true),
// converted to dtype.
inline Tensor random_tensor(DType t, const Shape& s, std::mt19937& rng, double lo = -2.0, double hi = 2.0) {
  if (is_integer(t)) {
    const double bits = double(dtype_size(t) * 8);
    const double tlo = is_unsigned_integer(t) ? 0.0 : -std::pow(2.0, bits - 1);
    const double thi = std::min(is_unsigned_integer(t) ? std::pow(2.0, bits) - 1 : std::pow(2.0, bits - 1) - 1, 1e15);
    lo = std::clamp(lo, tlo, thi), hi = std::clamp(hi, tlo, thi);
    if (hi <= lo) hi = lo + 1 <= thi ? lo + 1 : lo;
  }
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(size_t(s.size()));
  for (double& x : v) {
    x = u(rng);
    if (is_integer(t)) x = std::round(x);
    if (t == DType::Bool) x = x > (lo + hi) / 2 ? 1 : 0;
  }
  return Tensor::from_vector(v, s).cast(t);
}

// Tolerances: floating results relative to the CPU's, by dtype; integers and bool exactly.
struct Tolerance {
  double f32 = 1e-5, f64 = 1e-9, f16 = 2e-3, bf16 = 1e-2;
  double atol = 1e-6;
};

inline double rtol_for(DType t, const Tolerance& tol) {
  switch (t) {
    case DType::F32: return tol.f32;
    case DType::F64: return tol.f64;
    case DType::F16: return tol.f16;
    case DType::BF16: return tol.bf16;
    default: return 0;
  }
}

// Largest |a - b| / (atol / rtol + |b|): <= rtol means allclose(a, b, rtol, atol). NaN where exactly one is NaN.
inline double relative_error(const Tensor& a, const Tensor& b, double rtol, double atol) {
  double worst = 0;
  for (int64_t i = 0; i < a.size(); ++i) {
    const double x = a.value_as_double(i), y = b.value_as_double(i);
    if (std::isnan(x) || std::isnan(y)) {
      if (std::isnan(x) != std::isnan(y)) return NAN;
      continue;
    }
    if (std::isinf(x) || std::isinf(y)) {
      if (x != y) return NAN;
      continue;
    }
    const double floor = rtol > 0 ? atol / rtol : atol;
    worst = std::max(worst, std::abs(x - y) / (floor + std::abs(y)));
  }
  return worst;
}

// Runs g on the CPU and on the GPU with the same inputs and compares every result.
inline void expect_same(Backend& gpu, const Graph& g, const std::vector<Tensor>& inputs, const Tolerance& tol = {},
                        const CompileOptions& options = {}) {
  std::vector<Tensor> want = cpu_backend()->compile(g, options)->run(inputs);
  auto exe = gpu.compile(g, options);
  for (int round = 0; round < 2; ++round) {  // the second run replays the captured CUDA graph
    std::vector<Tensor> got = exe->run(inputs);
    ASSERT_EQ(got.size(), want.size());
    for (size_t j = 0; j < got.size(); ++j) {
      SCOPED_TRACE(testing::Message() << "graph '" << g.name() << "' output " << j << " " << dtype_name(want[j].dtype())
                                      << want[j].shape()
                                      << " run " << round + 1);
      ASSERT_EQ(got[j].dtype(), want[j].dtype());
      ASSERT_EQ(got[j].shape(), want[j].shape());
      EXPECT_TRUE(got[j].is_on_device()) << "results stay on the GPU";
      const DType t = want[j].dtype();
      if (is_floating(t)) {
        const double r = rtol_for(t, tol);
        const double e = relative_error(got[j], want[j], r, tol.atol);
        EXPECT_LE(e, r) << "max relative error " << e << "\ngpu: " << got[j].str() << "\ncpu: " << want[j].str();
      } else {
        EXPECT_EQ(max_abs_diff(got[j], want[j]), 0.0) << "\ngpu: " << got[j].str() << "\ncpu: " << want[j].str();
      }
    }
  }
}

// Random inputs for every parameter of g.
inline std::vector<Tensor> random_inputs(const Graph& g, std::mt19937& rng, double lo = -2.0, double hi = 2.0) {
  std::vector<Tensor> in;
  for (int p : g.parameters()) {
    const ValueType& t = g.op(p).outputs[0];
    in.push_back(random_tensor(t.dtype, t.shape, rng, lo, hi));
  }
  return in;
}

// The shared folder (models): GRAFT_SHARED_DIR in the environment (the GPU machine unpacks it
// elsewhere), else where the build found it.
inline std::filesystem::path shared_dir() {
  if (const char* d = std::getenv("GRAFT_SHARED_DIR"); d && *d) return d;
  return GRAFT_SHARED_DIR;
}

}  // namespace graft::gpu_test
