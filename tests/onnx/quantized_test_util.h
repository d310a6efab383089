#pragma once
// What the quantized-op tests against ONNX Runtime share: random 8-bit and float tensors, a model run in graft
// (int8 kernels on or off, with how many int8 products/convolutions ran) and in ONNX Runtime, comparisons.
#include <algorithm>
#include <cmath>
#include <random>

#include "onnx_test_util.h"

namespace graft::onnx::testing {

using Feeds = std::map<std::string, Tensor>;

#define GRAFT_REQUIRE_ORT() \
  if (!testing::ort_available()) GTEST_SKIP() << "ONNX Runtime comparison skipped: onnxruntime-node missing"

template <typename T>
Tensor random_ints(Shape s, int lo, int hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<T> v(size_t(s.size()));
  for (auto& x : v) x = T(d(rng));
  return Tensor::from_vector(v, s);
}

inline Tensor random_floats(Shape s, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> v(size_t(s.size()));
  for (auto& x : v) x = d(rng);
  return Tensor::from_vector(v, s);
}

inline std::vector<DimSpec> dims_of(const Tensor& t) { return {t.shape().dims().begin(), t.shape().dims().end()}; }

// Runs `b` in graft (int8 kernels on or off) and returns output "y" and how many int8 products and
// convolutions ran (ExecutableStats::num_quantized_products).
inline std::pair<Tensor, int> run_graft(const ModelBuilder& b, const Feeds& feeds, bool int8) {
  SessionOptions o;
  o.compile.int8_products = int8;
  InferenceSession s(b.model(), o);
  Tensor y = s.run(feeds).at("y");
  return {y, s.last_executable_stats()->num_quantized_products};
}

inline Tensor run_reference(const ModelBuilder& b, const Feeds& feeds) {
  TempDir dir;
  auto file = dir.path / "model.onnx", work = dir.path / "ort";
  std::filesystem::create_directories(work);
  write_file(file, b.bytes());
  return run_ort(file, feeds, work).at("y");
}

// Integer results equal, or (max_off > 0) within max_off of each other, differences counted in `what`.
inline void expect_equal_ints(const Tensor& got, const Tensor& want, const std::string& what, int64_t max_off = 0) {
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  ASSERT_EQ(got.shape(), want.shape()) << what;
  auto g = got.to_vector<int64_t>(), w = want.to_vector<int64_t>();
  int bad = 0;
  for (size_t i = 0; i < w.size() && bad < 5; ++i)
    if (std::abs(g[i] - w[i]) > max_off)
      ADD_FAILURE() << what << ": element " << i << " is " << g[i] << ", ONNX Runtime " << w[i] << " (" << ++bad << ")";
}

inline void expect_cosine(const Tensor& got, const Tensor& want, double min_cos, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  auto g = got.to_vector<double>(), w = want.to_vector<double>();
  double gw = 0, gg = 0, ww = 0, worst = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    gw += g[i] * w[i], gg += g[i] * g[i], ww += w[i] * w[i];
    worst = std::max(worst, std::abs(g[i] - w[i]) / (1e-3 + std::abs(w[i])));
  }
  double cos = gw / std::sqrt(gg * ww);
  EXPECT_GE(cos, min_cos) << what << " (largest relative difference " << worst << ")";
}

// How graft's result must agree with ONNX Runtime's: integers equal (or within max_off), or cosine >= 0.9999.
struct Agreement {
  bool integers = false;
  int64_t max_off = 0;
};
inline constexpr Agreement kExactInts{true, 0}, kIntsWithinOne{true, 1}, kCosine{false, 0};

// Runs `b` on `feeds` in ONNX Runtime and in graft twice: int8 kernels on (expecting `int8_kernels` of them)
// and off (none); both results must agree with ONNX Runtime's as `agreement` says.
inline void expect_int8_on_and_off_match_ort(const ModelBuilder& b, const Feeds& feeds, int int8_kernels,
                                             Agreement agreement, const std::string& what) {
  Tensor want = run_reference(b, feeds);
  for (bool int8 : {true, false}) {
    auto [got, kernels] = run_graft(b, feeds, int8);
    const std::string which = what + (int8 ? " (int8 on)" : " (int8 off)");
    EXPECT_EQ(kernels, int8 ? int8_kernels : 0) << which;
    if (agreement.integers)
      expect_equal_ints(got, want, which, agreement.max_off);
    else
      expect_cosine(got, want, 0.9999, which);
  }
}

}  // namespace graft::onnx::testing
