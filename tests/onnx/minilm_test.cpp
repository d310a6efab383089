// End to end: all-MiniLM-L6-v2 (exported by PyTorch, opset 14) from ../shared/models, materialized into a
// temporary folder, against the PyTorch output stored next to it.
#include <chrono>
#include <cmath>
#include <cstdio>

#include "onnx_test_util.h"

namespace graft::onnx {
namespace {

using testing::TempDir;
namespace fs = std::filesystem;

class MiniLM : public testing::SharedMiniLM {};

TEST_F(MiniLM, DescribesInputsAndOutputs) {
  Model m = Model::load(model_dir_ / "minilm_l6_opset14.onnx");
  ASSERT_EQ(m.inputs().size(), 3u);
  EXPECT_EQ(m.inputs()[0].str(), "input_ids: int64[batch, sequence]");
  EXPECT_EQ(m.outputs()[0].name, "last_hidden_state");
  EXPECT_EQ(m.opset(), 14);
  EXPECT_TRUE(m.unsupported_ops().empty());
  EXPECT_GT(m.parameter_count(), 20'000'000);
}

TEST_F(MiniLM, MatchesPyTorch) {
  Model m = Model::load(model_dir_ / "minilm_l6_opset14.onnx");
  InferenceSession s(m);
  std::map<std::string, Tensor> in;
  for (const char* name : {"input_ids", "attention_mask", "token_type_ids"})
    in[name] = read_npy(model_dir_ / (std::string(name) + ".npy"));
  auto out = s.run(in);
  Tensor want = read_npy(model_dir_ / "last_hidden_state.npy");
  const Tensor& got = out.at("last_hidden_state");
  ASSERT_EQ(got.shape(), want.shape());
  double err = max_abs_diff(got, want);
  EXPECT_LT(err, 1e-4) << "max abs error vs PyTorch";
  // A second run with the same shapes reuses the compiled executable.
  auto again = s.run(in);
  EXPECT_EQ(s.stats().compiles, 1);
  EXPECT_EQ(max_abs_diff(again.at("last_hidden_state"), got), 0.0);
}

TEST_F(MiniLM, RunsOtherShapes) {
  Model m = Model::load(model_dir_ / "minilm_l6_opset14.onnx");
  InferenceSession s(m);
  for (auto [b, t] : {std::pair<int64_t, int64_t>{1, 1}, {3, 17}, {2, 128}}) {
    std::vector<int64_t> ids(size_t(b * t)), mask(size_t(b * t), 1), types(size_t(b * t), 0);
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = int64_t(100 + (i * 37) % 1000);
    auto out = s.run({{"input_ids", Tensor::from_vector(ids, Shape{b, t})},
                      {"attention_mask", Tensor::from_vector(mask, Shape{b, t})},
                      {"token_type_ids", Tensor::from_vector(types, Shape{b, t})}});
    EXPECT_EQ(out.at("last_hidden_state").shape(), (Shape{b, t, 384}));
  }
  EXPECT_EQ(s.stats().compiles, 3);
}

// CompileOptions::precision BF16 on the CPU: products and attention on oneDNN's bf16 primitives; the
// sentence embeddings (mean of the token states over the mask) stay within cosine 0.999 of f32's.
TEST_F(MiniLM, Bf16EmbeddingsMatchF32) {
  Model m = Model::load(model_dir_ / "minilm_l6_opset14.onnx");
  std::map<std::string, Tensor> in;
  for (const char* name : {"input_ids", "attention_mask", "token_type_ids"})
    in[name] = read_npy(model_dir_ / (std::string(name) + ".npy"));
  SessionOptions bf16_options;
  bf16_options.compile.precision = Precision::BF16;
  InferenceSession f32(m), bf16(m, bf16_options);
  Tensor a = f32.run(in).at("last_hidden_state"), b = bf16.run(in).at("last_hidden_state");
  if (!__builtin_cpu_supports("avx512bf16")) GTEST_SKIP() << "no AVX512-BF16 on this CPU: bf16 runs f32";
  EXPECT_GE(bf16.last_executable_stats()->num_bf16_kernels, 6 * 4);  // at least the 4 products of each layer
  const Tensor& mask = in.at("attention_mask");
  const int64_t B = a.shape()[0], T = a.shape()[1], H = a.shape()[2];
  double worst = 1, max_diff = 0;
  for (int64_t i = 0; i < B; ++i) {
    std::vector<double> ea(size_t(H), 0), eb(size_t(H), 0);
    for (int64_t t = 0; t < T; ++t) {
      if (mask.value_as_double(i * T + t) == 0) continue;
      for (int64_t h = 0; h < H; ++h) {
        ea[size_t(h)] += a.value_as_double((i * T + t) * H + h);
        eb[size_t(h)] += b.value_as_double((i * T + t) * H + h);
      }
    }
    double dot = 0, na = 0, nb = 0;
    for (int64_t h = 0; h < H; ++h) {
      dot += ea[size_t(h)] * eb[size_t(h)], na += ea[size_t(h)] * ea[size_t(h)], nb += eb[size_t(h)] * eb[size_t(h)];
      max_diff = std::max(max_diff, std::fabs(ea[size_t(h)] - eb[size_t(h)]));
    }
    worst = std::min(worst, dot / std::sqrt(na * nb));
  }
  EXPECT_GE(worst, 0.999);
  EXPECT_GT(max_diff, 0.0);  // bf16 did change the arithmetic
  std::printf("[ info ] MiniLM bf16 vs f32: worst embedding cosine %.6f\n", worst);
}

}  // namespace
}  // namespace graft::onnx
