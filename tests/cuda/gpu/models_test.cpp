// Whole models on the CUDA backend: the shared MiniLM against the PyTorch output stored next to it, and a
// MiniLM + linear head fine-tuned for 10 AdamW steps on the GPU against the same steps on the CPU. The
// shared folder is found through GRAFT_SHARED_DIR (scripts/gpu-check.sh sets it) or the build's path;
// its models are materialized (weights regenerated) into a temporary folder with /usr/bin/python3 or
// python3 (numpy). Skips, saying why, without a GPU or the shared models.
#include <unistd.h>

#include <cstdio>
#include <map>

#include "cuda/gpu/gpu_test_util.h"
#include "graft/onnx/session.h"
#include "graft/train/losses.h"
#include "graft/train/onnx_bridge.h"
#include "graft/train/train_step.h"

namespace graft::gpu_test {
namespace {

namespace fs = std::filesystem;

class GpuModels : public Gpu {
 protected:
  static void SetUpTestSuite() {
    const fs::path shared = shared_dir();
    if (!fs::exists(shared / "models" / "materialize.py")) {
      skip_ = "shared models not found at " + (shared / "models").string() + " (set GRAFT_SHARED_DIR)";
      return;
    }
    dir_ = fs::temp_directory_path() / ("graft_gpu_models_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    const char* py = std::getenv("GRAFT_PYTHON");
    const std::string python = py ? py : (fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3");
    const std::string cmd = python + " '" + (shared / "models" / "materialize.py").string() + "' '" + dir_.string() +
                            "' > /dev/null";
    if (std::system(cmd.c_str()) != 0) {
      error_ = "materializing the shared models failed: " + cmd;
      return;
    }
    model_dir_ = dir_ / "minilm_l6";
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  void SetUp() override {
    Gpu::SetUp();
    if (IsSkipped()) return;
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_TRUE(error_.empty()) << error_;
  }
  static inline fs::path dir_, model_dir_;
  static inline std::string skip_, error_;
};

TEST_F(GpuModels, MiniLMMatchesPyTorch) {
  onnx::Model m = onnx::Model::load(model_dir_ / "minilm_l6_opset14.onnx");
  onnx::SessionOptions opts;
  opts.backend = gpu_;
  onnx::InferenceSession s(m, opts);
  std::map<std::string, Tensor> in;
  for (const char* name : {"input_ids", "attention_mask", "token_type_ids"})
    in[name] = read_npy(model_dir_ / (std::string(name) + ".npy"));
  Tensor want = read_npy(model_dir_ / "last_hidden_state.npy");
  for (int run = 0; run < 3; ++run) {  // eager, captured, replayed
    Tensor got = s.run(in).at("last_hidden_state");
    ASSERT_EQ(got.shape(), want.shape());
    EXPECT_TRUE(got.is_on_device());
    const double err = max_abs_diff(got, want);
    EXPECT_LT(err, 1e-4) << "run " << run + 1 << ": max abs error vs PyTorch";
    if (run == 0) std::printf("[gpu] MiniLM vs PyTorch: max abs error %.3g\n", err);
  }
  EXPECT_EQ(s.stats().compiles, 1);
}

TEST_F(GpuModels, MiniLMFineTuneMatchesTheCpu) {
  onnx::Model model = onnx::Model::load(model_dir_ / "minilm_l6_opset14.onnx");
  constexpr int64_t B = 4, L = 16, kSteps = 10;
  std::mt19937 rng(99);
  std::vector<int64_t> ids(static_cast<size_t>(B * L)), mask(static_cast<size_t>(B * L), 1), labels(static_cast<size_t>(B));
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int64_t(101 + (i * 7919) % 20000);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = L - 2 * b; t < L; ++t) mask[size_t(b * L + t)] = 0;  // some padding
    labels[size_t(b)] = b % 3;
  }
  std::vector<Tensor> batch = {Tensor::from_vector(ids, Shape{B, L}), Tensor::from_vector(mask, Shape{B, L}),
                               Tensor::from_vector(labels, Shape{B})};
  Tensor head_w = random_tensor(DType::F32, Shape{384, 3}, rng, -0.05, 0.05);
  Tensor head_b = random_tensor(DType::F32, Shape{3}, rng, -0.05, 0.05);
  auto curve = [&](std::shared_ptr<Backend> backend, Context* out) {
    Context ctx;
    Context enc = ctx.in("encoder");
    train::variables_to_context(model, enc);
    ctx.in("head").variable("weight", head_w.clone());
    ctx.in("head").variable("bias", head_b.clone());
    train::LossFn loss = [&](GraphVariables& vars, const std::vector<Node>& b) {
      GraphVariables ev = vars.in("encoder");
      Node types = Zeros(vars.graph(), DType::I64, b[0].shape());
      Node h = train::call_with_variables(model, ev, {{"input_ids", b[0]}, {"attention_mask", b[1]}, {"token_type_ids", types}},
                                          {"last_hidden_state"})
                   .at("last_hidden_state");
      Node m = Convert(Reshape(b[1], {b[1].dim(0), b[1].dim(1), 1}), DType::F32);
      Node pooled = ReduceSum(h * m, {1}) / ReduceSum(m, {1});
      Node logits = MatMul(pooled, vars("/head/weight")) + vars("/head/bias");
      return std::vector<Node>{train::CrossEntropy(logits, b[2])};
    };
    train::TrainStepOptions o;
    o.backend = backend;
    train::TrainStep step(ctx, loss, train::AdamW({.weight_decay = 0.01}), train::ConstantLR(1e-4), o);
    std::vector<double> losses;
    for (int t = 0; t < kSteps; ++t) losses.push_back(step.step(batch));
    *out = ctx;
    return losses;
  };
  Context cpu_ctx, gpu_ctx;
  const std::vector<double> want = curve(cpu_backend(), &cpu_ctx);
  const std::vector<double> got = curve(gpu_, &gpu_ctx);
  double worst = 0;
  for (int t = 0; t < kSteps; ++t) {
    const double rel = std::abs(got[size_t(t)] - want[size_t(t)]) / std::abs(want[size_t(t)]);
    worst = std::max(worst, rel);
    EXPECT_LE(rel, 1e-4) << "step " << t + 1 << ": gpu " << got[size_t(t)] << " cpu " << want[size_t(t)];
  }
  EXPECT_LT(want.back(), want.front()) << "the loss should fall";
  // The variables stayed on the GPU; their values agree with the CPU's.
  const Tensor& gw = gpu_ctx.value("/head/weight");
  EXPECT_TRUE(gw.is_on_device());
  EXPECT_LE(relative_error(gw, cpu_ctx.value("/head/weight"), 1e-4, 1e-6), 1e-4);
  std::printf("[gpu] MiniLM + head, 10 AdamW steps: loss %.6f -> %.6f, worst relative difference from the CPU %.3g\n",
              got.front(), got.back(), worst);
}

}  // namespace
}  // namespace graft::gpu_test
