#pragma once
// `graft bench`: how long a model takes to trace and compile, to run the first time, and to run again.
#include <vector>

#include "graft/onnx/session.h"

namespace graft::app {

struct BenchmarkResult {
  double trace_ms = 0, compile_ms = 0;  // compile_ms includes the trace
  double first_run_ms = 0;              // the first run, less trace and compile
  std::vector<double> times_ms;         // the timed runs, in order
  double min_ms = 0, median_ms = 0, p90_ms = 0, mean_ms = 0, max_ms = 0;
};

// Runs the session once (trace + compile + first run), `warmup` more times untimed, then `runs` timed
// times (runs >= 1, warmup >= 0).
BenchmarkResult benchmark(onnx::InferenceSession& session, const std::map<std::string, Tensor>& inputs, int warmup,
                          int runs);

}  // namespace graft::app
