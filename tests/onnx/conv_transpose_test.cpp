// ConvTranspose whose windows do not overlap (kernel == stride: the 2x2 stride-2 upsampling of segmentation
// and text-detection heads) is imported as one product and a pixel shuffle instead of oneDNN's direct
// deconvolution (src/onnx/ops/convolution.cpp); overlapping ones keep the deconvolution. Both against ONNX
// Runtime on random inputs: 1-, 2- and 3-d, batches, biases, one output channel, unequal kernel axes.
#include <gtest/gtest.h>

#include <cmath>

#include "onnx_test_util.h"

namespace graft::onnx {
namespace {

using testing::ModelBuilder;

struct Case {
  std::string name;
  std::vector<int64_t> x;  // [N, C, spatial...]
  int64_t out_channels;
  std::vector<int64_t> kernel, strides;
  bool bias;
  std::vector<int64_t> pads = {};
};

class ConvTransposeVsOrt : public ::testing::TestWithParam<Case> {};

TEST_P(ConvTransposeVsOrt, MatchesOnnxRuntime) {
  if (!testing::ort_available()) GTEST_SKIP() << "ONNX Runtime (bench/ort) not available";
  const Case& c = GetParam();
  ModelBuilder b(17);
  Tensor x = testing::random_tensor(Shape(c.x), 1, -1, 1);
  std::vector<int64_t> wshape{c.x[1], c.out_channels};
  wshape.insert(wshape.end(), c.kernel.begin(), c.kernel.end());
  b.input("x", DType::F32, std::vector<testing::DimSpec>(c.x.begin(), c.x.end()));
  b.output_untyped("y");
  b.initializer("w", testing::random_tensor(Shape(wshape), 2, -1, 1));
  std::vector<std::string> ins{"x", "w"};
  if (c.bias) {
    b.initializer("b", testing::random_tensor(Shape{c.out_channels}, 3, -1, 1));
    ins.push_back("b");
  }
  auto& n = b.node("ConvTranspose", ins, {"y"});
  ModelBuilder::attr(n, "kernel_shape", c.kernel);
  ModelBuilder::attr(n, "strides", c.strides);
  if (!c.pads.empty()) ModelBuilder::attr(n, "pads", c.pads);
  testing::TempDir dir;
  auto file = dir.path / "m.onnx";
  testing::write_file(file, b.bytes());
  auto want = testing::run_ort(file, {{"x", x}}, dir.path).at("y");
  InferenceSession s(b.model());
  Tensor got = s.run({{"x", x}}).at("y");
  ASSERT_EQ(got.shape(), want.shape()) << c.name;
  auto g = got.to_vector<double>(), w = want.to_vector<double>();
  for (size_t i = 0; i < w.size(); ++i) ASSERT_NEAR(g[i], w[i], 1e-5 * (1 + std::fabs(w[i]))) << c.name << " [" << i << "]";
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ConvTransposeVsOrt,
    ::testing::Values(Case{"head_2x2_s2_bias", {2, 5, 6, 7}, 3, {2, 2}, {2, 2}, true},
                      Case{"one_output_channel", {1, 6, 8, 9}, 1, {2, 2}, {2, 2}, false},
                      Case{"unequal_axes_2x3", {1, 4, 5, 3}, 2, {2, 3}, {2, 3}, true},
                      Case{"one_d_4", {3, 2, 11}, 4, {4}, {4}, true},
                      Case{"three_d", {1, 3, 2, 3, 4}, 2, {2, 2, 2}, {2, 2, 2}, false},
                      // Overlapping or padded windows: the deconvolution, as before.
                      Case{"overlapping_3x3_s2", {1, 4, 5, 6}, 3, {3, 3}, {2, 2}, true},
                      Case{"padded_2x2_s2", {1, 4, 5, 6}, 3, {2, 2}, {2, 2}, true, {1, 0, 0, 1}}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace graft::onnx
