// Memory-bound throughput of graft's element-wise code over 16M floats (64 MiB per operand), next to
// what the machine's memory gives a plain loop in the same run:
//   BM_Memcpy          memcpy of 16M floats                       (8 bytes moved per element)
//   BM_Triad           a[i] = b[i] + s * c[i]   (STREAM triad)    (12 bytes per element)
//   BM_Negate          -x: a one-op graph, the floor of any graft run at this size  (8 bytes per element)
//   BM_BiasAddMul      (x + bias) * y + z, bias a [4096] row broadcast, fused by graft into one kernel
//                                                                   (16 bytes per element)
//   BM_GeluChain       x * 0.5 * (1 + tanh(0.79788456 * (x + 0.044715 x^3))) written with primitives,
//                      fused into one kernel                       (8 bytes per element)
//   BM_Composite/...   the fused composite kernels (gelu, silu, softmax, layer_norm) against their
//                      decompositions (same graph, CompileOptions::use_fused_composites = false)
// "bytes_per_second" counts bytes read plus bytes written once each (graft's output tensor is allocated
// by each run, as a user's call would; the yardsticks write into a buffer allocated once).
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>

#include "graft/graft.h"

namespace {

constexpr int64_t kRows = 4096, kCols = 4096;  // 16M elements
constexpr int64_t kElems = kRows * kCols;

std::vector<float> random_floats(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-3.f, 3.f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = d(rng);
  return v;
}

graft::Tensor random_tensor(graft::Shape s, uint32_t seed) { return graft::Tensor::from_vector(random_floats(s.size(), seed), s); }

void set_bytes(benchmark::State& state, double bytes_per_iteration) {
  state.SetBytesProcessed(int64_t(bytes_per_iteration * double(state.iterations())));
}

void BM_Memcpy(benchmark::State& state) {
  std::vector<float> a = random_floats(kElems, 1), b(static_cast<size_t>(kElems));
  for (auto _ : state) {
    std::memcpy(b.data(), a.data(), size_t(kElems) * sizeof(float));
    benchmark::ClobberMemory();
  }
  set_bytes(state, 2.0 * kElems * sizeof(float));
}

void BM_Triad(benchmark::State& state) {
  std::vector<float> a(static_cast<size_t>(kElems)), b = random_floats(kElems, 2), c = random_floats(kElems, 3);
  const int threads = graft::num_threads();
  for (auto _ : state) {
    const float s = 3.0f;
    float* pa = a.data();
    const float* pb = b.data();
    const float* pc = c.data();
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < kElems; ++i) pa[i] = pb[i] + s * pc[i];
    benchmark::ClobberMemory();
  }
  set_bytes(state, 3.0 * kElems * sizeof(float));
}

// Compiles `g` and runs it on `inputs` in the timing loop.
void run_graph(benchmark::State& state, const graft::Graph& g, const std::vector<graft::Tensor>& inputs,
               double bytes_per_iteration, graft::CompileOptions options = {}) {
  auto exe = graft::cpu_backend()->compile(g, options);
  exe->run(std::span<const graft::Tensor>(inputs));
  for (auto _ : state) {
    auto out = exe->run(std::span<const graft::Tensor>(inputs));
    benchmark::DoNotOptimize(out[0].raw());
  }
  set_bytes(state, bytes_per_iteration);
  state.counters["kernels"] = exe->stats().num_kernels;
}

// The floor for any graft run over this size: one trivial op (8 bytes per element). The gap to BM_Memcpy
// is the run's own overhead, mostly allocating and first-touching the 64 MiB output tensor.
void BM_Negate(benchmark::State& state) {
  graft::Graph g("negate");
  auto x = g.parameter("x", graft::DType::F32, {kRows, kCols});
  g.set_outputs({-x});
  run_graph(state, g, {random_tensor({kRows, kCols}, 9)}, 2.0 * kElems * sizeof(float));
}

void BM_BiasAddMul(benchmark::State& state) {
  graft::Graph g("bias_add_mul");
  auto x = g.parameter("x", graft::DType::F32, {kRows, kCols});
  auto bias = g.parameter("bias", graft::DType::F32, {kCols});
  auto y = g.parameter("y", graft::DType::F32, {kRows, kCols});
  auto z = g.parameter("z", graft::DType::F32, {kRows, kCols});
  g.set_outputs({(x + bias) * y + z});
  std::vector<graft::Tensor> in{random_tensor({kRows, kCols}, 1), random_tensor({kCols}, 2),
                                random_tensor({kRows, kCols}, 3), random_tensor({kRows, kCols}, 4)};
  run_graph(state, g, in, 4.0 * kElems * sizeof(float));
}

void BM_GeluChain(benchmark::State& state) {
  graft::Graph g("gelu_chain");
  auto x = g.parameter("x", graft::DType::F32, {kRows, kCols});
  g.set_outputs({x * 0.5 * (graft::Tanh((x + x * x * x * 0.044715) * 0.7978845608028654) + 1.0)});
  run_graph(state, g, {random_tensor({kRows, kCols}, 5)}, 2.0 * kElems * sizeof(float));
}

// Composite ops, fused (arg 1) or decomposed (arg 0).
enum Which { kGelu, kGeluTanh, kSilu, kSoftmax, kLayerNorm };

void BM_Composite(benchmark::State& state) {
  const auto which = Which(state.range(0));
  const bool fused = state.range(1) != 0;
  graft::Graph g("composite");
  // Softmax over rows of 1024 (attention scores); layer norm over rows of 384 (hidden size).
  const int64_t cols = which == kSoftmax ? 1024 : which == kLayerNorm ? 384 : kCols;
  const int64_t rows = kElems / cols;
  auto x = g.parameter("x", graft::DType::F32, {rows, cols});
  std::vector<graft::Tensor> in{random_tensor({rows, cols}, 6)};
  double bytes = 2.0 * kElems * sizeof(float);
  switch (which) {
    case kGelu: g.set_outputs({graft::Gelu(x, false)}); break;
    case kGeluTanh: g.set_outputs({graft::Gelu(x, true)}); break;
    case kSilu: g.set_outputs({graft::Silu(x)}); break;
    case kSoftmax: g.set_outputs({graft::Softmax(x, -1)}); break;
    case kLayerNorm: {
      auto s = g.parameter("scale", graft::DType::F32, {cols});
      auto b = g.parameter("bias", graft::DType::F32, {cols});
      g.set_outputs({graft::LayerNorm(x, s, b, -1, 1e-12)});
      in.push_back(random_tensor({cols}, 7));
      in.push_back(random_tensor({cols}, 8));
      break;
    }
  }
  graft::CompileOptions o;
  o.use_fused_composites = fused;
  run_graph(state, g, in, bytes, o);
}

BENCHMARK(BM_Memcpy)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Triad)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Negate)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_BiasAddMul)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_GeluChain)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Composite)
    ->ArgNames({"op", "fused"})
    ->ArgsProduct({{kGelu, kGeluTanh, kSilu, kSoftmax, kLayerNorm}, {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
