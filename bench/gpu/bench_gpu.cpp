// graft's side of the GPU benchmark (bench/gpu/run_bench.py runs it next to PyTorch, on the same GPU, in
// the same run). Times an ONNX model's inference, or a train step of it with mean pooling + a linear head
// under AdamW, on the CUDA backend: warm-up runs first (the first compiles, the second captures the CUDA
// graph), then the median of timed runs. Every run ends with the GPU synchronized (graft executables
// return finished results), so host wall-clock times are GPU times plus launch overhead, as a user sees
// them. Inputs live on the GPU already, like PyTorch's in the script.
//
//   bench_gpu infer MODEL.onnx BATCH SEQ PRECISION(f32|bf16|tf32) [RUNS=30]   (SEQ 0: an image model, 3x224x224)
//   bench_gpu train MODEL.onnx BATCH SEQ [STEPS=20]
// The last line is JSON: {"median_ms": .., "compile_ms": .., ...}.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "graft/backend/cuda.h"
#include "graft/onnx/session.h"
#include "graft/train/losses.h"
#include "graft/train/onnx_bridge.h"
#include "graft/train/train_step.h"

using namespace graft;
namespace gonnx = graft::onnx;  // (a global ::onnx comes with libonnx)
using clk = std::chrono::steady_clock;

namespace {

double ms_since(clk::time_point t0) { return std::chrono::duration<double, std::milli>(clk::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

std::map<std::string, Tensor> token_inputs(const gonnx::Model& m, int64_t batch, int64_t seq, const std::shared_ptr<Device>& dev) {
  std::mt19937_64 rng(1);
  std::vector<int64_t> ids(size_t(batch * seq)), ones(size_t(batch * seq), 1), zeros(size_t(batch * seq), 0);
  for (auto& x : ids) x = 1000 + int64_t(rng() % 20000);
  std::map<std::string, Tensor> in;
  for (const auto& i : m.inputs()) {
    const std::string& n = i.name;
    const auto& v = n.find("mask") != std::string::npos ? ones : n.find("type") != std::string::npos ? zeros : ids;
    in[n] = Tensor::from_vector(v, Shape{batch, seq}).to_device(dev);
  }
  return in;
}

int infer(const char* path, int64_t batch, int64_t seq, const std::string& precision, int runs) {
  auto gpu = cuda_backend();
  gonnx::Model model = gonnx::Model::load(path);
  gonnx::SessionOptions opts;
  opts.backend = gpu;
  if (precision == "bf16") opts.compile.precision = Precision::BF16;
  if (precision == "tf32") opts.compile.allow_tf32 = true;
  gonnx::InferenceSession s(model, opts);
  std::map<std::string, Tensor> in;
  if (seq == 0) {
    std::mt19937 rng(2);
    std::normal_distribution<float> nd;
    std::vector<float> x(size_t(batch * 3 * 224 * 224));
    for (float& v : x) v = nd(rng);
    in[model.inputs()[0].name] = Tensor::from_vector(x, Shape{batch, 3, 224, 224}).to_device(gpu->device());
  } else {
    in = token_inputs(model, batch, seq, gpu->device());
  }
  auto t0 = clk::now();
  s.run(in);
  const double first_ms = ms_since(t0);
  const double compile_ms = s.stats().last_compile_ms;
  s.run(in);  // captures the CUDA graph
  std::vector<double> times;
  for (int r = 0; r < runs; ++r) {
    auto t = clk::now();
    s.run(in);
    times.push_back(ms_since(t));
  }
  std::printf("{\"median_ms\": %.4f, \"min_ms\": %.4f, \"compile_ms\": %.1f, \"first_run_ms\": %.1f, \"runs\": %d}\n",
              median(times), *std::min_element(times.begin(), times.end()), compile_ms, first_ms, runs);
  return 0;
}

int train_step(const char* path, int64_t batch, int64_t seq, int steps) {
  auto gpu = cuda_backend();
  gonnx::Model model = gonnx::Model::load(path);
  const int64_t classes = 2;
  int64_t hidden = 0;
  Context ctx;
  Context enc = ctx.in("encoder");
  train::variables_to_context(model, enc);
  std::map<std::string, Tensor> probe = token_inputs(model, 1, 2, gpu->device());
  {  // the hidden size, from one tiny inference on the CPU
    std::map<std::string, Tensor> host;
    for (auto& [k, v] : probe) host[k] = v.to_host();
    gonnx::InferenceSession s(model);
    hidden = s.run(host).begin()->second.shape()[-1];
  }
  std::mt19937 wr(0);
  std::normal_distribution<float> nd(0.f, 0.02f);
  std::vector<float> w(size_t(hidden * classes));
  for (float& x : w) x = nd(wr);
  ctx.in("head").variable("weight", Tensor::from_vector(w, Shape{hidden, classes}));
  ctx.in("head").variable("bias", Tensor::zeros(DType::F32, {classes}));
  std::mt19937_64 rng(1);
  std::vector<int64_t> ids(static_cast<size_t>(batch * seq)), labels(static_cast<size_t>(batch));
  for (auto& x : ids) x = 1000 + int64_t(rng() % 20000);
  for (int64_t i = 0; i < batch; ++i) labels[size_t(i)] = i % classes;
  std::vector<Tensor> data{Tensor::from_vector(ids, Shape{batch, seq}).to_device(gpu->device()),
                           Tensor::from_vector(labels, Shape{batch}).to_device(gpu->device())};
  train::LossFn loss = [&](GraphVariables& vars, const std::vector<Node>& b) {
    Graph& g = vars.graph();
    Node mask = Full(g, DType::I64, b[0].shape(), 1.0);
    Node types = Zeros(g, DType::I64, b[0].shape());
    GraphVariables ev = vars.in("encoder");
    std::map<std::string, Node> feeds;
    for (const auto& i : model.inputs()) {
      const std::string& n = i.name;
      feeds[n] = n.find("mask") != std::string::npos ? mask : n.find("type") != std::string::npos ? types : b[0];
    }
    auto outs = train::call_with_variables(model, ev, feeds, {model.outputs()[0].name});
    Node pooled = ReduceMean(outs.at(model.outputs()[0].name), {1});
    Node logits = MatMul(pooled, vars("/head/weight")) + vars("/head/bias");
    return std::vector<Node>{train::CrossEntropy(logits, b[1])};
  };
  train::TrainStepOptions o;
  o.backend = gpu;
  train::TrainStep step(ctx, loss, train::AdamW({.weight_decay = 0.01}), train::ConstantLR(1e-4), o);
  auto t0 = clk::now();
  const float l0 = step.step(data);
  const double first_ms = ms_since(t0);
  step.step(data);  // captures the CUDA graph
  std::vector<double> times;
  float last = l0;
  for (int s = 0; s < steps; ++s) {
    auto t = clk::now();
    last = step.step(data);
    times.push_back(ms_since(t));
  }
  std::printf("{\"median_ms\": %.4f, \"min_ms\": %.4f, \"first_step_ms\": %.1f, \"loss_first\": %.6f, \"loss_last\": %.6f, "
              "\"steps\": %d}\n",
              median(times), *std::min_element(times.begin(), times.end()), first_ms, l0, last, steps);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "infer" && argc >= 6)
      return infer(argv[2], std::atoll(argv[3]), std::atoll(argv[4]), argv[5], argc > 6 ? std::atoi(argv[6]) : 30);
    if (mode == "train" && argc >= 5)
      return train_step(argv[2], std::atoll(argv[3]), std::atoll(argv[4]), argc > 5 ? std::atoi(argv[5]) : 20);
    std::fprintf(stderr,
                 "usage: bench_gpu infer MODEL.onnx BATCH SEQ f32|bf16|tf32 [RUNS]\n"
                 "       bench_gpu train MODEL.onnx BATCH SEQ [STEPS]\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_gpu: %s\n", e.what());
    return 1;
  }
}
