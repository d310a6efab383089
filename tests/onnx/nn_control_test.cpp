// Convolution, pooling, resizing and control flow against values worked out by hand.
#include "onnx_test_util.h"

namespace graft::onnx {
namespace {

using testing::ModelBuilder;

Tensor f32(std::vector<float> v, Shape s) { return Tensor::from_vector(v, s); }

void expect_close(const Tensor& got, const Tensor& want, double tol = 1e-5) {
  ASSERT_EQ(got.shape(), want.shape()) << got.str() << " vs " << want.str();
  EXPECT_LE(max_abs_diff(got, want), tol) << got.str() << "\nvs\n" << want.str();
}

std::vector<float> iota_values(int n) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) v[size_t(i)] = float(i + 1);
  return v;
}

TEST(OnnxNn, ConvWithPadsStridesAndBias) {
  // x = 1..9 in a 3x3 image, kernel of ones 2x2, bias 10.
  ModelBuilder b(17);
  b.input("x", DType::F32, {int64_t(1), int64_t(1), int64_t(3), int64_t(3)});
  b.output("y", DType::F32);
  b.initializer("w", Tensor::full(DType::F32, Shape{1, 1, 2, 2}, 1.0));
  b.initializer("b", f32({10}, {1}));
  auto& n = b.node("Conv", {"x", "w", "b"}, {"y"});
  ModelBuilder::attr(n, "pads", std::vector<int64_t>{1, 1, 0, 0});
  ModelBuilder::attr(n, "strides", std::vector<int64_t>{2, 2});
  Tensor x = f32(iota_values(9), {1, 1, 3, 3});
  auto out = testing::run_model(b.model(), {{"x", x}}).at("y");
  // padded top/left by one: windows at (-1,-1), (-1,1), (1,-1), (1,1)
  expect_close(out, f32({10 + 1, 10 + 2 + 3, 10 + 4 + 7, 10 + 5 + 6 + 8 + 9}, {1, 1, 2, 2}));
}

TEST(OnnxNn, SameUpperPaddingAndPooling) {
  Tensor x = f32(iota_values(16), {1, 1, 4, 4});
  auto pool = [&](const std::string& op, auto attrs) {
    ModelBuilder b(17);
    b.input("x", DType::F32, {int64_t(1), int64_t(1), int64_t(4), int64_t(4)});
    b.output("y", DType::F32);
    auto& n = b.node(op, {"x"}, {"y"});
    attrs(n);
    return testing::run_model(b.model(), {{"x", x}}).at("y");
  };
  expect_close(pool("MaxPool", [](auto& n) {
                 ModelBuilder::attr(n, "kernel_shape", std::vector<int64_t>{2, 2});
                 ModelBuilder::attr(n, "strides", std::vector<int64_t>{2, 2});
               }),
               f32({6, 8, 14, 16}, {1, 1, 2, 2}));
  expect_close(pool("AveragePool", [](auto& n) {
                 ModelBuilder::attr(n, "kernel_shape", std::vector<int64_t>{2, 2});
                 ModelBuilder::attr(n, "strides", std::vector<int64_t>{2, 2});
               }),
               f32({3.5, 5.5, 11.5, 13.5}, {1, 1, 2, 2}));
  // 3x3 max pool, stride 2, SAME_UPPER: output 2x2, pad 1 at the bottom/right only.
  expect_close(pool("MaxPool", [](auto& n) {
                 ModelBuilder::attr(n, "kernel_shape", std::vector<int64_t>{3, 3});
                 ModelBuilder::attr(n, "strides", std::vector<int64_t>{2, 2});
                 ModelBuilder::attr(n, "auto_pad", "SAME_UPPER");
               }),
               f32({11, 12, 15, 16}, {1, 1, 2, 2}));
  // ceil_mode: 4 wide, kernel 3, stride 2 -> 2 windows.
  expect_close(pool("MaxPool", [](auto& n) {
                 ModelBuilder::attr(n, "kernel_shape", std::vector<int64_t>{3, 3});
                 ModelBuilder::attr(n, "strides", std::vector<int64_t>{2, 2});
                 ModelBuilder::attr(n, "ceil_mode", 1);
               }),
               f32({11, 12, 15, 16}, {1, 1, 2, 2}));
  expect_close(pool("GlobalAveragePool", [](auto&) {}), f32({8.5}, {1, 1, 1, 1}));
}

TEST(OnnxNn, ResizeModes) {
  auto resize = [](Tensor x, std::vector<float> scales, auto attrs) {
    ModelBuilder b(19);
    std::vector<testing::DimSpec> dims(x.shape().dims().begin(), x.shape().dims().end());
    b.input("x", DType::F32, dims);
    b.output("y", DType::F32);
    b.initializer("scales", Tensor::from_vector(scales));
    auto& n = b.node("Resize", {"x", "", "scales"}, {"y"});
    attrs(n);
    return testing::run_model(b.model(), {{"x", x}}).at("y");
  };
  Tensor x = f32({1, 2}, {1, 2});
  // linear, half_pixel (PyTorch's align_corners=False)
  expect_close(resize(x, {1, 2}, [](auto& n) { ModelBuilder::attr(n, "mode", "linear"); }),
               f32({1, 1.25, 1.75, 2}, {1, 4}));
  // nearest, asymmetric + floor
  expect_close(resize(x, {1, 2}, [](auto& n) {
                 ModelBuilder::attr(n, "coordinate_transformation_mode", "asymmetric");
                 ModelBuilder::attr(n, "nearest_mode", "floor");
               }),
               f32({1, 1, 2, 2}, {1, 4}));
  // linear, align_corners: 1 .. 2 in 3 steps
  expect_close(resize(x, {1, 1.5}, [](auto& n) {
                 ModelBuilder::attr(n, "mode", "linear");
                 ModelBuilder::attr(n, "coordinate_transformation_mode", "align_corners");
               }),
               f32({1, 1.5, 2}, {1, 3}));
  // cubic with A = -0.5 (Keys) reproduces a linear ramp away from the edges
  Tensor ramp = f32({0, 1, 2, 3, 4, 5, 6, 7}, {1, 8});
  Tensor up = resize(ramp, {1, 2}, [](auto& n) {
    ModelBuilder::attr(n, "mode", "cubic");
    ModelBuilder::attr(n, "cubic_coeff_a", -0.5);
    ModelBuilder::attr(n, "coordinate_transformation_mode", "align_corners");
  });
  ASSERT_EQ(up.shape(), (Shape{1, 16}));
  for (int i = 3; i <= 12; ++i) EXPECT_NEAR(up.at<float>({0, i}), 7.0 * i / 15.0, 1e-4) << i;
}

TEST(OnnxControlFlow, IfWithKnownAndRunTimeConditions) {
  auto make = [](bool cond_is_input) {
    ModelBuilder b(17);
    b.input("x", DType::F32, {int64_t(2)});
    if (cond_is_input) b.input("c", DType::Bool, {});
    b.output("y", DType::F32);
    if (!cond_is_input) b.constant("c", Tensor::scalar(false));
    ::onnx::GraphProto then_g, else_g;
    then_g.set_name("then");
    else_g.set_name("else");
    b.constant("one", Tensor::scalar(1.f));
    ModelBuilder::add_node(&then_g, "Add", {"x", "one"}, {"t_out"});
    then_g.add_output()->set_name("t_out");
    ModelBuilder::add_node(&else_g, "Mul", {"x", "x"}, {"e_out"});
    else_g.add_output()->set_name("e_out");
    auto& n = b.node("If", {"c"}, {"y"}, "the_if");
    ModelBuilder::attr(n, "then_branch", then_g);
    ModelBuilder::attr(n, "else_branch", else_g);
    return b.model();
  };
  Tensor x = f32({3, 4}, {2});
  expect_close(testing::run_model(make(false), {{"x", x}}).at("y"), f32({9, 16}, {2}));
  InferenceSession s(make(true));
  expect_close(s.run({{"x", x}, {"c", Tensor::scalar(true)}}).at("y"), f32({4, 5}, {2}));
  expect_close(s.run({{"x", x}, {"c", Tensor::scalar(false)}}).at("y"), f32({9, 16}, {2}));
}

TEST(OnnxControlFlow, LoopAndScanAreUnrolled) {
  // v = 1; for i in 0..2: v = v * 2 + i; scan collects v.
  ModelBuilder b(17);
  b.input("v0", DType::F32, {});
  b.output("v", DType::F32);
  b.output("all", DType::F32);
  b.constant("M", Tensor::scalar(int64_t(3)));
  b.constant("cond", Tensor::scalar(true));
  ::onnx::GraphProto body;
  body.set_name("body");
  ModelBuilder::fill_value_info(body.add_input(), "i", DType::I64, {});
  ModelBuilder::fill_value_info(body.add_input(), "c_in", DType::Bool, {});
  ModelBuilder::fill_value_info(body.add_input(), "v_in", DType::F32, {});
  ModelBuilder::add_node(&body, "Cast", {"i"}, {"i_f"});
  ModelBuilder::attr(*body.mutable_node(0), "to", int64_t(::onnx::TensorProto::FLOAT));
  ModelBuilder::add_node(&body, "Add", {"v_in", "v_in"}, {"twice"});
  ModelBuilder::add_node(&body, "Add", {"twice", "i_f"}, {"v_out"});
  ModelBuilder::add_node(&body, "Identity", {"c_in"}, {"c_out"});
  ModelBuilder::add_node(&body, "Identity", {"v_out"}, {"scan_out"});
  for (const char* o : {"c_out", "v_out", "scan_out"}) body.add_output()->set_name(o);
  auto& n = b.node("Loop", {"M", "cond", "v0"}, {"v", "all"});
  ModelBuilder::attr(n, "body", body);
  auto out = testing::run_model(b.model(), {{"v0", Tensor::scalar(1.f)}});
  expect_close(out.at("v"), Tensor::scalar(12.f));
  expect_close(out.at("all"), f32({2, 5, 12}, {3}));

  // Scan: running sum over axis 0 of a [3, 2] input.
  ModelBuilder s(17);
  s.input("init", DType::F32, {int64_t(2)});
  s.input("xs", DType::F32, {int64_t(3), int64_t(2)});
  s.output("final", DType::F32);
  s.output("sums", DType::F32);
  ::onnx::GraphProto sb;
  sb.set_name("scan_body");
  ModelBuilder::fill_value_info(sb.add_input(), "acc", DType::F32, {int64_t(2)});
  ModelBuilder::fill_value_info(sb.add_input(), "x", DType::F32, {int64_t(2)});
  ModelBuilder::add_node(&sb, "Add", {"acc", "x"}, {"acc_out"});
  ModelBuilder::add_node(&sb, "Identity", {"acc_out"}, {"y"});
  sb.add_output()->set_name("acc_out");
  sb.add_output()->set_name("y");
  auto& sn = s.node("Scan", {"init", "xs"}, {"final", "sums"});
  ModelBuilder::attr(sn, "body", sb);
  ModelBuilder::attr(sn, "num_scan_inputs", 1);
  auto so = testing::run_model(s.model(), {{"init", f32({0, 0}, {2})}, {"xs", f32({1, 2, 3, 4, 5, 6}, {3, 2})}});
  expect_close(so.at("final"), f32({9, 12}, {2}));
  expect_close(so.at("sums"), f32({1, 2, 4, 6, 9, 12}, {3, 2}));
}

}  // namespace
}  // namespace graft::onnx
