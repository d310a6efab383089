// Compile cost: building and compiling a graph of about 1,000 nodes (a stack of blocks mixing matmuls,
// element-wise chains and reshapes/transposes, like an unrolled MLP with layout shuffles). Shapes are
// static, so a model with dynamic dimensions compiles once per input signature: this must stay in
// milliseconds. Reports the time of build + compile (BM_BuildAndCompile) and of compile alone
// (BM_Compile), with the node and kernel counts as counters.
#include <benchmark/benchmark.h>

#include "graft/graft.h"

namespace {

constexpr int64_t kBatch = 32, kHidden = 64;

// Appends blocks until the graph holds at least `min_nodes` nodes. Each block has its own weights
// (parameters, so nothing folds away) and a few constants that CSE may share.
graft::Graph build_graph(int min_nodes) {
  graft::Graph g("compile_bench");
  graft::Node h = g.parameter("x", graft::DType::F32, {kBatch, kHidden});
  int block = 0;
  while (g.num_ops() < min_nodes) {
    std::string p = "block" + std::to_string(block++);
    graft::Node w = g.parameter(p + ".w", graft::DType::F32, {kHidden, kHidden});
    graft::Node b = g.parameter(p + ".b", graft::DType::F32, {kHidden});
    graft::Node y = graft::MatMul(h, w) + b;
    y = graft::Tanh(y * 0.5) * 2.0 + y * 0.1;  // an element-wise chain for the fusion pass
    y = graft::Reshape(y, {kBatch, 8, kHidden / 8});
    y = graft::Transpose(y, {0, 2, 1});
    y = graft::Reshape(y, {kBatch, kHidden});
    y = graft::Max(y, graft::ScalarLike(y, 0.0)) + h;  // relu + residual
    h = y / (graft::ReduceSum(y * y, {1}, true) + 1.0);
  }
  g.set_outputs({h});
  return g;
}

void BM_BuildAndCompile(benchmark::State& state) {
  int nodes = 0, kernels = 0;
  for (auto _ : state) {
    graft::Graph g = build_graph(int(state.range(0)));
    auto exe = graft::cpu_backend()->compile(g);
    nodes = g.num_ops();
    kernels = exe->stats().num_kernels;
    benchmark::DoNotOptimize(exe.get());
  }
  state.counters["nodes"] = nodes;
  state.counters["kernels"] = kernels;
}

void BM_Compile(benchmark::State& state) {
  graft::Graph g = build_graph(int(state.range(0)));
  int kernels = 0;
  for (auto _ : state) {
    auto exe = graft::cpu_backend()->compile(g);
    kernels = exe->stats().num_kernels;
    benchmark::DoNotOptimize(exe.get());
  }
  state.counters["nodes"] = g.num_ops();
  state.counters["kernels"] = kernels;
}

BENCHMARK(BM_BuildAndCompile)->Arg(1000)->ArgName("min_nodes")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Compile)->Arg(1000)->ArgName("min_nodes")->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
