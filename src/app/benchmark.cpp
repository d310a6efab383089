// Latency of a compiled model (graft/app/benchmark.h).
#include "graft/app/benchmark.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace graft::app {

BenchmarkResult benchmark(onnx::InferenceSession& s, const std::map<std::string, Tensor>& inputs, int warmup,
                          int runs) {
  GRAFT_CHECK(runs >= 1 && warmup >= 0, "--runs must be >= 1 and --warmup >= 0");
  using clock = std::chrono::steady_clock;
  auto ms_since = [](clock::time_point t) { return std::chrono::duration<double, std::milli>(clock::now() - t).count(); };
  BenchmarkResult r;
  auto t0 = clock::now();
  s.run(inputs);
  double first_total = ms_since(t0);
  r.trace_ms = s.stats().last_trace_ms;
  r.compile_ms = s.stats().last_trace_ms + s.stats().last_compile_ms;
  r.first_run_ms = first_total - r.compile_ms;
  for (int i = 0; i < warmup; ++i) s.run(inputs);
  for (int i = 0; i < runs; ++i) {
    auto t = clock::now();
    s.run(inputs);
    r.times_ms.push_back(ms_since(t));
  }
  std::vector<double> sorted = r.times_ms;
  std::sort(sorted.begin(), sorted.end());
  auto pct = [&](double p) {
    size_t i = size_t(std::ceil(p * double(sorted.size()))) - 1;
    return sorted[std::min(i, sorted.size() - 1)];
  };
  for (double t : r.times_ms) r.mean_ms += t / double(r.times_ms.size());
  r.median_ms = sorted.size() % 2 ? sorted[sorted.size() / 2]
                                  : 0.5 * (sorted[sorted.size() / 2 - 1] + sorted[sorted.size() / 2]);
  r.min_ms = sorted.front();
  r.max_ms = sorted.back();
  r.p90_ms = pct(0.9);
  return r;
}

}  // namespace graft::app
