// A detector fed a new image every run (bench/detector_vs_ort.sh): each run's image is fresh uniform [0, 1)
// noise of the model's input shape, so staged values (the boxes kept by NMS) differ from run to run.
//   bench_detector MODEL THREADS WARMUP RUNS [SEED]  -> one JSON object on stdout
// SEED 0: the same image on every run instead (the repeated-image case).
// The warm-up runs use images of their own; the timed runs' images are drawn before the clock starts.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "graft/onnx/session.h"

using namespace graft;

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: bench_detector MODEL THREADS WARMUP RUNS [SEED]\n");
    return 2;
  }
  try {
    onnx::Model model = onnx::Model::load(argv[1]);
    const int threads = std::stoi(argv[2]), warmup = std::stoi(argv[3]), runs = std::stoi(argv[4]);
    std::mt19937 rng(argc > 5 ? uint32_t(std::stoul(argv[5])) : 1u);
    GRAFT_CHECK(model.inputs().size() == 1 && model.inputs()[0].dims, argv[1], ": expected one input of known rank");
    const onnx::ValueInfo& in = model.inputs()[0];
    std::vector<int64_t> dims;
    for (const onnx::Dim& d : *in.dims) {
      GRAFT_CHECK(d.is_fixed(), argv[1], ": input '", in.name, "' has a free axis");
      dims.push_back(d.value);
    }
    const Shape shape(dims);
    const bool repeat = argc > 5 && std::stoul(argv[5]) == 0;
    Tensor same;
    auto image = [&] {
      if (repeat && same.defined()) return same;
      std::uniform_real_distribution<float> u(0.f, 1.f);
      std::vector<float> v(size_t(shape.size()));
      for (float& x : v) x = u(rng);
      same = Tensor::from_vector(v, shape);
      return same;
    };
    onnx::InferenceSession session(std::move(model), {.threads = threads});
    for (int i = 0; i < warmup; ++i) session.run({{in.name, image()}});
    std::vector<double> ms;
    for (int i = 0; i < runs; ++i) {
      Tensor x = image();
      auto t0 = std::chrono::steady_clock::now();
      session.run({{in.name, x}});
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    const onnx::SessionStats& st = session.stats();
    std::printf("{\"runs\":%d,\"min_ms\":%.3f,\"median_ms\":%.3f,\"p90_ms\":%.3f,\"traces\":%d,\"stage_compiles\":%d,"
                "\"cache_hits\":%d,\"last_trace_ms\":%.1f,\"last_compile_ms\":%.1f}\n",
                runs, ms.front(), ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 9 / 10)], st.traces,
                st.stage_compiles, st.cache_hits, st.last_trace_ms, st.last_compile_ms);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_detector: %s\n", e.what());
    return 1;
  }
  return 0;
}
