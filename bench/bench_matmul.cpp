// graft MatMul against oneDNN's matmul called directly, at the shapes of a BERT-base-sized encoder with
// hidden 384 (MiniLM): [b*s, 384] x [384, 1536] (FFN up), [b*s, 1536] x [1536, 384] (FFN down) and
// [b*s, 384] x [384, 384] (projections), for b*s in {128, 512, 2048, 4096}.
//
// Each iteration runs graft's compiled graph and then the bare oneDNN primitive on the same operands,
// timing each, so both see the same machine load (the machine is shared). The reported time is graft's;
// the counters give both rates and their ratio:
//   graft_GFLOPS, onednn_GFLOPS   2*M*K*N / time
//   graft_vs_onednn               oneDNN time / graft time (1.0 = parity; the goal is >= 0.8)
#include <benchmark/benchmark.h>

#include <chrono>
#include <dnnl.hpp>
#include <random>

#include "graft/graft.h"

namespace {

using clock_type = std::chrono::steady_clock;

graft::Tensor random_matrix(int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  std::vector<float> v(size_t(rows * cols));
  for (float& x : v) x = d(rng);
  return graft::Tensor::from_vector(v, graft::Shape{rows, cols});
}

// The yardstick: one oneDNN f32 matmul primitive on plain row-major buffers, created once.
struct OneDnnMatMul {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{eng};
  dnnl::matmul prim;
  dnnl::memory a, b, c;
  OneDnnMatMul(int64_t m, int64_t k, int64_t n, void* pa, void* pb, void* pc) {
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    dnnl::memory::desc a_md({m, k}, dt::f32, tag::ab), b_md({k, n}, dt::f32, tag::ab), c_md({m, n}, dt::f32, tag::ab);
    prim = dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(a_md, b_md, c_md), eng));
    a = dnnl::memory(a_md, eng, pa);
    b = dnnl::memory(b_md, eng, pb);
    c = dnnl::memory(c_md, eng, pc);
  }
  void run() {
    prim.execute(stream, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
    stream.wait();
  }
};

void BM_MatMul(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  graft::Graph g("matmul");
  graft::Node x = g.parameter("x", graft::DType::F32, {m, k});
  graft::Node w = g.parameter("w", graft::DType::F32, {k, n});
  g.set_outputs({graft::MatMul(x, w)});
  auto exe = graft::cpu_backend()->compile(g);
  std::vector<graft::Tensor> inputs{random_matrix(m, k, 1), random_matrix(k, n, 2)};
  std::vector<float> c(size_t(m * n));
  OneDnnMatMul ref(m, k, n, inputs[0].raw(), inputs[1].raw(), c.data());
  exe->run(std::span<const graft::Tensor>(inputs));  // warm-up: first-touch, oneDNN kernel generation
  ref.run();
  double graft_s = 0, onednn_s = 0;
  for (auto _ : state) {
    auto t0 = clock_type::now();
    auto out = exe->run(std::span<const graft::Tensor>(inputs));
    auto t1 = clock_type::now();
    ref.run();
    auto t2 = clock_type::now();
    benchmark::DoNotOptimize(out[0].raw());
    double gs = std::chrono::duration<double>(t1 - t0).count();
    graft_s += gs;
    onednn_s += std::chrono::duration<double>(t2 - t1).count();
    state.SetIterationTime(gs);
  }
  const double flops = 2.0 * double(m) * double(k) * double(n) * double(state.iterations());
  state.counters["graft_GFLOPS"] = flops / graft_s * 1e-9;
  state.counters["onednn_GFLOPS"] = flops / onednn_s * 1e-9;
  state.counters["graft_vs_onednn"] = onednn_s / graft_s;
}

void bert_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"M", "K", "N"});
  for (int64_t rows : {128, 512, 2048, 4096}) {
    b->Args({rows, 384, 1536});
    b->Args({rows, 1536, 384});
    b->Args({rows, 384, 384});
  }
}

BENCHMARK(BM_MatMul)->Apply(bert_shapes)->UseManualTime()->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
