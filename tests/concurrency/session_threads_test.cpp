// The concurrency contract of docs/robustness.md, checked: one InferenceSession, one Executable and one Exec
// shared by 8 threads x 1,000 runs with different inputs give exactly the results of serial runs (the
// same executables run the same kernels, so equality is bitwise). scripts/sanitize.sh runs this binary
// under ThreadSanitizer.
#include <atomic>
#include <thread>

#include "graft/backend/exec.h"
#include "onnx/onnx_test_util.h"

namespace graft::onnx {
namespace {

using testing::ModelBuilder;

constexpr int kThreads = 8;
constexpr int kRunsPerThread = 1000;

// Runs body(thread, run) on kThreads threads, kRunsPerThread times each; rethrows the first failure.
void on_threads(const std::function<void(int, int)>& body) {
  std::vector<std::thread> pool;
  std::mutex mu;
  std::string first_error;
  for (int t = 0; t < kThreads; ++t)
    pool.emplace_back([&, t] {
      try {
        for (int r = 0; r < kRunsPerThread; ++r) body(t, r);
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(mu);
        if (first_error.empty()) first_error = e.what();
      }
    });
  for (auto& th : pool) th.join();
  if (!first_error.empty()) throw std::runtime_error(first_error);
}

// A small transformer-like block: x [B, 8] -> LayerNorm -> MatMul -> Gelu-ish (Erf) -> MatMul -> Softmax,
// with the batch symbolic so the session compiles one entry per batch size.
Model block_model() {
  ModelBuilder b;
  b.input("x", DType::F32, {"batch", 8});
  b.output("y", DType::F32, {"batch", 4});
  b.initializer("g", testing::random_tensor({8}, 1, 0.5f, 1.5f));
  b.initializer("beta", testing::random_tensor({8}, 2));
  b.initializer("w1", testing::random_tensor({8, 16}, 3));
  b.initializer("w2", testing::random_tensor({16, 4}, 4));
  auto& ln = b.node("LayerNormalization", {"x", "g", "beta"}, {"n"});
  ModelBuilder::attr(ln, "axis", int64_t(-1));
  b.node("MatMul", {"n", "w1"}, {"h"});
  b.node("Erf", {"h"}, {"e"});
  b.node("Mul", {"h", "e"}, {"a"});
  b.node("MatMul", {"a", "w2"}, {"z"});
  auto& sm = b.node("Softmax", {"z"}, {"y"});
  ModelBuilder::attr(sm, "axis", int64_t(-1));
  return b.model();
}

// The input of run r of thread t: batch 1..3 (three cache entries), values unique to (t, r).
Tensor input_for(int t, int r) {
  int64_t batch = 1 + (t + r) % 3;
  return testing::random_tensor({batch, 8}, uint32_t(t * 100003 + r));
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

TEST(Concurrency, InferenceSessionSharedByEightThreadsMatchesSerialRuns) {
  Model model = block_model();
  // Serial reference: a session of its own, one run after another.
  std::vector<std::vector<Tensor>> want(kThreads, std::vector<Tensor>(kRunsPerThread));
  {
    InferenceSession serial(model);
    for (int t = 0; t < kThreads; ++t)
      for (int r = 0; r < kRunsPerThread; ++r) want[size_t(t)][size_t(r)] = serial.run({{"x", input_for(t, r)}}).at("y");
  }
  InferenceSession shared(model);
  std::atomic<int> mismatches{0};
  on_threads([&](int t, int r) {
    Tensor got = shared.run({{"x", input_for(t, r)}}).at("y");
    if (!same_bits(got, want[size_t(t)][size_t(r)])) ++mismatches;
  });
  EXPECT_EQ(mismatches.load(), 0);
  // Three batch sizes: each traced and compiled exactly once although eight threads met it at once.
  EXPECT_EQ(shared.stats().compiles, 3);
  EXPECT_EQ(shared.stats().cache_hits, kThreads * kRunsPerThread - 3);
}

TEST(Concurrency, StagedSessionSharedByEightThreadsMatchesSerialRuns) {
  // A Reshape whose target is computed from an input's *values*: every distinct value is a staged trace
  // with a guard; threads keep meeting entries whose guards fail and must build their own.
  ModelBuilder b;
  b.input("x", DType::F32, {12});
  b.input("cols", DType::I64, {1});
  b.output("y", DType::F32, {});
  b.constant("minus1", Tensor::from_vector(std::vector<int64_t>{-1}));
  ModelBuilder::attr(b.node("Concat", {"minus1", "cols"}, {"shape"}), "axis", int64_t(0));
  b.node("Reshape", {"x", "shape"}, {"m"});
  auto& rs = b.node("ReduceMax", {"m"}, {"rowmax"});
  ModelBuilder::attr(rs, "axes", std::vector<int64_t>{1});
  ModelBuilder::attr(rs, "keepdims", int64_t(0));
  b.node("ReduceSum", {"rowmax"}, {"y"});
  Model model = b.model();
  const int64_t cols_of[] = {1, 2, 3, 4, 6};
  auto feeds = [&](int t, int r) {
    return std::map<std::string, Tensor>{{"x", testing::random_tensor({12}, uint32_t(t * 7919 + r))},
                                         {"cols", Tensor::from_vector(std::vector<int64_t>{cols_of[(t + r) % 5]})}};
  };
  std::vector<std::vector<Tensor>> want(kThreads, std::vector<Tensor>(kRunsPerThread));
  {
    InferenceSession serial(model);
    for (int t = 0; t < kThreads; ++t)
      for (int r = 0; r < kRunsPerThread; ++r) want[size_t(t)][size_t(r)] = serial.run(feeds(t, r)).at("y");
  }
  InferenceSession shared(model);
  std::atomic<int> mismatches{0};
  on_threads([&](int t, int r) {
    if (!same_bits(shared.run(feeds(t, r)).at("y"), want[size_t(t)][size_t(r)])) ++mismatches;
  });
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(shared.stats().compiles, 5);  // one per staged value, never twice
}

TEST(Concurrency, ExecutableSharedByEightThreadsMatchesSerialRuns) {
  Graph g("shared");
  Node x = g.parameter("x", DType::F32, {16, 32});
  Node w = g.constant(testing::random_tensor({32, 32}, 9));
  Node h = Max(MatMul(x, w) + 0.5, ScalarLike(x, 0));
  g.set_outputs({Softmax(h, -1), ReduceSum(h * h, {1})});
  auto exe = cpu_backend()->compile(g);
  std::vector<std::vector<std::vector<Tensor>>> want(kThreads, std::vector<std::vector<Tensor>>(kRunsPerThread));
  for (int t = 0; t < kThreads; ++t)
    for (int r = 0; r < kRunsPerThread; ++r)
      want[size_t(t)][size_t(r)] = exe->run({testing::random_tensor({16, 32}, uint32_t(t * 4001 + r))});
  std::atomic<int> mismatches{0};
  on_threads([&](int t, int r) {
    auto got = exe->run({testing::random_tensor({16, 32}, uint32_t(t * 4001 + r))});
    const auto& w = want[size_t(t)][size_t(r)];
    if (!same_bits(got[0], w[0]) || !same_bits(got[1], w[1])) ++mismatches;
  });
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(Concurrency, ExecCacheSharedByEightThreadsWithEvictions) {
  // Capacity 2 for 4 signatures: entries are evicted while other threads use them.
  Exec f(cpu_backend(), [](Node x) { return Tanh(x) * 2.0 + ReduceMean(x, {-1}, true); }, /*cache_capacity=*/2);
  auto in = [](int t, int r) { return testing::random_tensor({1 + (t * 3 + r) % 4, 5}, uint32_t(t * 31337 + r)); };
  Exec serial(cpu_backend(), [](Node x) { return Tanh(x) * 2.0 + ReduceMean(x, {-1}, true); });
  std::vector<std::vector<Tensor>> want(kThreads, std::vector<Tensor>(kRunsPerThread));
  for (int t = 0; t < kThreads; ++t)
    for (int r = 0; r < kRunsPerThread; ++r) want[size_t(t)][size_t(r)] = serial(in(t, r));
  std::atomic<int> mismatches{0};
  on_threads([&](int t, int r) {
    if (!same_bits(f(in(t, r)), want[size_t(t)][size_t(r)])) ++mismatches;
  });
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_LE(f.cache_size(), 2u);
}

}  // namespace
}  // namespace graft::onnx
