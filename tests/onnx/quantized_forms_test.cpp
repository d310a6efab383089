// The other quantized forms against ONNX Runtime on the same model files, each also saying whether the CPU
// backend ran it on int8 kernels (ExecutableStats::num_quantized_products counts int8 products and
// convolutions) and checked with int8 kernels off too:
//   products: QLinearMatMul (u8/s8 requantized outputs), com.microsoft MatMulIntegerToFloat,
//     DynamicQuantizeMatMul, QGemm (f32 and requantized) — cpu.quantized_product;
//   convolutions: QDQ Conv (QuantizeLinear -> DequantizeLinear of x, DequantizeLinear of int8 weights and of the
//     int32 bias -> Conv [-> Relu [-> QuantizeLinear: an 8-bit result]]), QLinearConv, ConvInteger —
//     cpu.quantized_conv.
// f32 results to cosine >= 0.9999, integer results exactly (ConvInteger) or within 1 where graft and ONNX
// Runtime round f32 values that differ in their last bits (requantized outputs).
#include "quantized_test_util.h"

namespace graft::onnx {
namespace {

using namespace testing;

Tensor scales_tensor(int64_t n, bool per_channel, float base) {
  std::vector<float> s(per_channel ? size_t(n) : 1);
  for (size_t j = 0; j < s.size(); ++j) s[j] = base * (1.f + 0.1f * float(j % 7));
  return Tensor::from_vector(s, per_channel ? Shape{n} : Shape{});
}

// ---- products ---------------------------------------------------------------------------------------------

struct ProductCase {
  std::string name;
  int64_t m = 0, k = 0, n = 0;
  DType a_type = DType::U8, b_type = DType::I8;
  bool per_column = false;
};

class QLinearMatMulVsOrt : public ::testing::TestWithParam<ProductCase> {};

TEST_P(QLinearMatMulVsOrt, RequantizedWithinOne) {
  GRAFT_REQUIRE_ORT();
  const ProductCase& c = GetParam();
  ModelBuilder b(13);
  Tensor a = c.a_type == DType::U8 ? random_ints<uint8_t>(Shape{c.m, c.k}, 0, 255, 1)
                                   : random_ints<int8_t>(Shape{c.m, c.k}, -128, 127, 1);
  Tensor w = c.b_type == DType::U8 ? random_ints<uint8_t>(Shape{c.k, c.n}, 100, 156, 2)
                                   : random_ints<int8_t>(Shape{c.k, c.n}, -127, 127, 2);
  b.input("a", a.dtype(), dims_of(a));
  b.initializer("as", Tensor::scalar(0.02f));
  b.initializer("az", c.a_type == DType::U8 ? Tensor::scalar(uint8_t(120)) : Tensor::scalar(int8_t(-3)));
  b.initializer("w", w);
  b.initializer("ws", scales_tensor(c.n, c.per_column, 0.003f));
  Tensor wz = c.b_type == DType::U8 ? Tensor::full(DType::U8, c.per_column ? Shape{c.n} : Shape{}, 128)
                                    : Tensor::zeros(DType::I8, c.per_column ? Shape{c.n} : Shape{});
  b.initializer("wz", wz);
  b.initializer("ys", Tensor::scalar(0.05f * std::sqrt(float(c.k)) / 8));
  b.initializer("yz", c.a_type == DType::U8 ? Tensor::scalar(uint8_t(128)) : Tensor::scalar(int8_t(2)));
  b.node("QLinearMatMul", {"a", "as", "az", "w", "ws", "wz", "ys", "yz"}, {"y"});
  b.output_untyped("y");
  expect_int8_on_and_off_match_ort(b, {{"a", a}}, 1, kIntsWithinOne, c.name);
}

INSTANTIATE_TEST_SUITE_P(Forms, QLinearMatMulVsOrt,
                         ::testing::Values(ProductCase{"u8_s8_per_tensor", 7, 37, 19},
                                           ProductCase{"u8_s8_per_column", 5, 64, 33, DType::U8, DType::I8, true},
                                           ProductCase{"s8_s8", 6, 45, 13, DType::I8, DType::I8},
                                           ProductCase{"u8_u8_zp128", 4, 29, 11, DType::U8, DType::U8}),
                         [](const auto& info) { return info.param.name; });

// com.microsoft products: f32 in (or 8-bit with scales), f32 out.
enum class MsOp { MatMulIntegerToFloat, DynamicQuantizeMatMul, QGemm, QGemmRequantized };

struct MsCase {
  std::string name;
  MsOp op;
  int64_t m = 0, k = 0, n = 0;
  bool per_column = false, bias = false, trans_b = false;
};

class MsQuantizedProductVsOrt : public ::testing::TestWithParam<MsCase> {};

TEST_P(MsQuantizedProductVsOrt, MatchesOrt) {
  GRAFT_REQUIRE_ORT();
  const MsCase& c = GetParam();
  ModelBuilder b(13);
  b.import("com.microsoft", 1);
  const std::string ms = "com.microsoft";
  Feeds feeds;
  Tensor w = random_ints<int8_t>(c.trans_b ? Shape{c.n, c.k} : Shape{c.k, c.n}, -127, 127, 5);
  b.initializer("w", w);
  b.initializer("ws", scales_tensor(c.n, c.per_column, 0.01f));
  b.initializer("wz", Tensor::zeros(DType::I8, c.per_column ? Shape{c.n} : Shape{}));
  if (c.op == MsOp::DynamicQuantizeMatMul) {
    Tensor x = random_floats(Shape{c.m, c.k}, 6);
    b.input("x", DType::F32, dims_of(x));
    feeds["x"] = x;
    std::vector<std::string> ins{"x", "w", "ws", "wz"};
    if (c.bias) {
      b.initializer("bias", random_floats(Shape{c.n}, 7));
      ins.push_back("bias");
    }
    b.node("DynamicQuantizeMatMul", ins, {"y"}, "", ms);
  } else {
    Tensor a = random_ints<uint8_t>(Shape{c.m, c.k}, 0, 255, 8);
    b.input("a", DType::U8, dims_of(a));
    feeds["a"] = a;
    b.initializer("as", Tensor::scalar(0.015f));
    b.initializer("az", Tensor::scalar(uint8_t(131)));
    if (c.op == MsOp::MatMulIntegerToFloat) {
      std::vector<std::string> ins{"a", "w", "as", "ws", "az", "wz"};
      if (c.bias) {
        b.initializer("bias", random_floats(Shape{c.n}, 7));
        ins.push_back("bias");
      }
      b.node("MatMulIntegerToFloat", ins, {"y"}, "", ms);
    } else {
      std::vector<std::string> ins{"a", "as", "az", "w", "ws", "wz"};
      ins.push_back(c.bias ? "bias" : "");
      if (c.bias) b.initializer("bias", random_ints<int32_t>(Shape{c.n}, -2000, 2000, 9));
      if (c.op == MsOp::QGemmRequantized) {
        b.initializer("ys", Tensor::scalar(0.05f));
        b.initializer("yz", Tensor::scalar(uint8_t(100)));
        ins.push_back("ys");
        ins.push_back("yz");
      }
      while (ins.back().empty()) ins.pop_back();
      auto& node = b.node("QGemm", ins, {"y"}, "", ms);
      ModelBuilder::attr(node, "alpha", 0.5);
      if (c.trans_b) ModelBuilder::attr(node, "transB", int64_t(1));
    }
  }
  b.output_untyped("y");
  expect_int8_on_and_off_match_ort(b, feeds, 1, c.op == MsOp::QGemmRequantized ? kIntsWithinOne : kCosine, c.name);
}

INSTANTIATE_TEST_SUITE_P(
    Forms, MsQuantizedProductVsOrt,
    ::testing::Values(MsCase{"integer_to_float", MsOp::MatMulIntegerToFloat, 5, 37, 19},
                      MsCase{"integer_to_float_per_column_bias", MsOp::MatMulIntegerToFloat, 5, 64, 24, true, true},
                      MsCase{"dynamic_quantize", MsOp::DynamicQuantizeMatMul, 6, 45, 13},
                      MsCase{"dynamic_quantize_per_column_bias", MsOp::DynamicQuantizeMatMul, 6, 45, 13, true, true},
                      MsCase{"qgemm_f32", MsOp::QGemm, 4, 33, 17, false, true},
                      MsCase{"qgemm_f32_per_column_trans_b", MsOp::QGemm, 4, 33, 17, true, true, true},
                      MsCase{"qgemm_requantized", MsOp::QGemmRequantized, 4, 33, 17, false, true}),
    [](const auto& info) { return info.param.name; });

// QDQ MatMul and Gemm (what graft quantize --static writes): f32 in, QuantizeLinear -> DequantizeLinear of x,
// DequantizeLinear of int8 weights (and of the int32 Gemm bias), f32 out.
struct QdqProductCase {
  std::string name;
  std::vector<int64_t> x_shape;
  int64_t n = 0;
  bool gemm = false, per_column = false;
};

class QdqProductVsOrt : public ::testing::TestWithParam<QdqProductCase> {};

TEST_P(QdqProductVsOrt, MatchesOrt) {
  GRAFT_REQUIRE_ORT();
  const QdqProductCase& c = GetParam();
  const int64_t k = c.x_shape.back();
  ModelBuilder b(13);
  Tensor x = random_floats(Shape(c.x_shape), 20);
  b.input("x", DType::F32, dims_of(x));
  b.initializer("xs", Tensor::scalar(0.019f));
  b.initializer("xz", Tensor::scalar(uint8_t(125)));
  // Gemm: transB = 1, weights [N, K] with per-row (output) scales on axis 0; MatMul: [K, N], axis 1.
  b.initializer("wq", random_ints<int8_t>(c.gemm ? Shape{c.n, k} : Shape{k, c.n}, -127, 127, 21));
  Tensor ws = scales_tensor(c.n, c.per_column, 0.01f);
  b.initializer("ws", ws);
  b.initializer("wz", Tensor::zeros(DType::I8, c.per_column ? Shape{c.n} : Shape{}));
  b.node("QuantizeLinear", {"x", "xs", "xz"}, {"xq"});
  b.node("DequantizeLinear", {"xq", "xs", "xz"}, {"xd"});
  auto& wd = b.node("DequantizeLinear", {"wq", "ws", "wz"}, {"wd"});
  if (c.per_column) ModelBuilder::attr(wd, "axis", int64_t(c.gemm ? 0 : 1));
  if (c.gemm) {
    b.initializer("bq", random_ints<int32_t>(Shape{c.n}, -3000, 3000, 22));
    auto sv = ws.to_vector<float>();
    for (auto& s : sv) s *= 0.019f;
    b.initializer("bs", Tensor::from_vector(sv, ws.shape()));
    auto& bd = b.node("DequantizeLinear", {"bq", "bs"}, {"bd"});
    if (c.per_column) ModelBuilder::attr(bd, "axis", int64_t(0));
    ModelBuilder::attr(b.node("Gemm", {"xd", "wd", "bd"}, {"y"}), "transB", int64_t(1));
  } else {
    b.node("MatMul", {"xd", "wd"}, {"y"});
  }
  b.output_untyped("y");
  expect_int8_on_and_off_match_ort(b, {{"x", x}}, 1, kCosine, c.name);
}

INSTANTIATE_TEST_SUITE_P(Forms, QdqProductVsOrt,
                         ::testing::Values(QdqProductCase{"matmul_per_tensor", {2, 5, 40}, 24},
                                           QdqProductCase{"matmul_per_column", {7, 33}, 19, false, true},
                                           QdqProductCase{"gemm_per_column_bias", {6, 48}, 21, true, true}),
                         [](const auto& info) { return info.param.name; });

// ---- convolutions -------------------------------------------------------------------------------------------

enum class ConvForm { Qdq, QdqRelu, QdqReluQuantized, QLinearConv, ConvInteger };

struct ConvCase {
  std::string name;
  ConvForm form;
  std::vector<int64_t> x_shape;  // [N, C, spatial...]
  int64_t out_channels = 0;
  std::vector<int64_t> kernel;
  std::vector<int64_t> strides = {}, pads = {}, dilations = {};
  int64_t group = 1;
  bool per_channel = true;
  DType x_type = DType::U8;
  bool expect_int8 = true;
  DType w_type = DType::I8;
  int w_zero_point = 0;  // ConvInteger only
};

void conv_attrs(::onnx::NodeProto& n, const ConvCase& c) {
  ModelBuilder::attr(n, "kernel_shape", c.kernel);
  if (!c.strides.empty()) ModelBuilder::attr(n, "strides", c.strides);
  if (!c.pads.empty()) ModelBuilder::attr(n, "pads", c.pads);
  if (!c.dilations.empty()) ModelBuilder::attr(n, "dilations", c.dilations);
  if (c.group != 1) ModelBuilder::attr(n, "group", c.group);
}

class QuantizedConvVsOrt : public ::testing::TestWithParam<ConvCase> {};

TEST_P(QuantizedConvVsOrt, MatchesOrt) {
  GRAFT_REQUIRE_ORT();
  const ConvCase& c = GetParam();
  ModelBuilder b(13);
  Feeds feeds;
  const int64_t o = c.out_channels, cg = c.x_shape[1] / c.group;
  std::vector<int64_t> wshape{o, cg};
  wshape.insert(wshape.end(), c.kernel.begin(), c.kernel.end());
  const bool u8 = c.x_type == DType::U8;
  Tensor xz = u8 ? Tensor::scalar(uint8_t(117)) : Tensor::scalar(int8_t(-7));
  Tensor ws = scales_tensor(o, c.per_channel, 0.02f);
  Tensor wz = Tensor::zeros(DType::I8, c.per_channel ? Shape{o} : Shape{});
  Tensor wq = random_ints<int8_t>(Shape(wshape), -127, 127, 11);
  Tensor bias = random_ints<int32_t>(Shape{o}, -3000, 3000, 12);
  if (c.form == ConvForm::Qdq || c.form == ConvForm::QdqRelu || c.form == ConvForm::QdqReluQuantized) {
    Tensor x = random_floats(Shape(c.x_shape), 10);
    b.input("x", DType::F32, dims_of(x));
    feeds["x"] = x;
    b.initializer("xs", Tensor::scalar(0.021f));
    b.initializer("xz", xz);
    b.initializer("wq", wq);
    b.initializer("ws", ws);
    b.initializer("wz", wz);
    b.initializer("bq", bias);
    // The bias's scale: x_scale * w_scale, zero point 0 (what graft quantize --static writes).
    auto sv = ws.to_vector<float>();
    for (auto& s : sv) s *= 0.021f;
    b.initializer("bs", Tensor::from_vector(sv, ws.shape()));
    b.node("QuantizeLinear", {"x", "xs", "xz"}, {"xq"});
    b.node("DequantizeLinear", {"xq", "xs", "xz"}, {"xd"});
    auto& wd = b.node("DequantizeLinear", {"wq", "ws", "wz"}, {"wd"});
    auto& bd = b.node("DequantizeLinear", {"bq", "bs"}, {"bd"});
    if (c.per_channel) {
      ModelBuilder::attr(wd, "axis", int64_t(0));
      ModelBuilder::attr(bd, "axis", int64_t(0));
    }
    conv_attrs(b.node("Conv", {"xd", "wd", "bd"}, {c.form == ConvForm::Qdq ? "y" : "c"}), c);
    if (c.form == ConvForm::QdqRelu) b.node("Relu", {"c"}, {"y"});
    if (c.form == ConvForm::QdqReluQuantized) {  // the next layer's QuantizeLinear: an 8-bit result
      b.node("Relu", {"c"}, {"r"});
      b.initializer("ys", Tensor::scalar(0.03f));
      b.initializer("yz", u8 ? Tensor::scalar(uint8_t(0)) : Tensor::scalar(int8_t(-5)));
      b.node("QuantizeLinear", {"r", "ys", "yz"}, {"y"});
    }
  } else {
    Tensor x = u8 ? random_ints<uint8_t>(Shape(c.x_shape), 0, 255, 10) : random_ints<int8_t>(Shape(c.x_shape), -128, 127, 10);
    b.input("x", x.dtype(), dims_of(x));
    feeds["x"] = x;
    b.initializer("xz", xz);
    if (c.form == ConvForm::QLinearConv) {
      b.initializer("xs", Tensor::scalar(0.021f));
      b.initializer("wq", wq);
      b.initializer("ws", ws);
      b.initializer("wz", wz);
      b.initializer("bq", bias);
      b.initializer("ys", Tensor::scalar(0.25f));
      b.initializer("yz", u8 ? Tensor::scalar(uint8_t(128)) : Tensor::scalar(int8_t(3)));
      conv_attrs(b.node("QLinearConv", {"x", "xs", "xz", "wq", "ws", "wz", "ys", "yz", "bq"}, {"y"}), c);
    } else {
      Tensor w = c.w_type == DType::U8 ? random_ints<uint8_t>(Shape(wshape), 0, 255, 11) : wq;
      b.initializer("w", w);
      std::vector<std::string> ins{"x", "w", "xz"};
      if (c.w_zero_point) {
        b.initializer("wz", Tensor::scalar(uint8_t(c.w_zero_point)));
        ins.push_back("wz");
      }
      conv_attrs(b.node("ConvInteger", ins, {"y"}), c);
    }
  }
  b.output_untyped("y");
  const Agreement agreement = c.form == ConvForm::ConvInteger ? kExactInts
                              : c.form == ConvForm::QLinearConv || c.form == ConvForm::QdqReluQuantized
                                  ? kIntsWithinOne
                                  : kCosine;
  expect_int8_on_and_off_match_ort(b, feeds, c.expect_int8 ? 1 : 0, agreement, c.name);
}

INSTANTIATE_TEST_SUITE_P(
    Forms, QuantizedConvVsOrt,
    ::testing::Values(
        ConvCase{"qdq_3x3_pad", ConvForm::Qdq, {1, 8, 12, 12}, 16, {3, 3}, {}, {1, 1, 1, 1}},
        ConvCase{"qdq_relu_stride2_odd", ConvForm::QdqRelu, {2, 5, 13, 11}, 7, {3, 3}, {2, 2}, {1, 0, 1, 2}},
        ConvCase{"qdq_per_tensor_1x1", ConvForm::Qdq, {2, 16, 7, 7}, 24, {1, 1}, {}, {}, {}, 1, false},
        ConvCase{"qdq_grouped_dilated", ConvForm::QdqRelu, {1, 12, 15, 15}, 9, {3, 3}, {}, {2, 2, 2, 2}, {2, 2}, 3},
        ConvCase{"qdq_depthwise", ConvForm::Qdq, {1, 8, 10, 10}, 8, {3, 3}, {}, {1, 1, 1, 1}, {}, 8},
        ConvCase{"qdq_1d_s8", ConvForm::Qdq, {2, 6, 30}, 10, {5}, {2}, {2, 2}, {}, 1, true, DType::I8},
        ConvCase{"qdq_relu_quantized_u8", ConvForm::QdqReluQuantized, {1, 8, 12, 12}, 16, {3, 3}, {}, {1, 1, 1, 1}},
        ConvCase{"qdq_relu_quantized_s8_grouped", ConvForm::QdqReluQuantized, {2, 6, 9, 9}, 9, {3, 3}, {2, 2},
                 {1, 1, 1, 1}, {}, 3, true, DType::I8},
        ConvCase{"qlinearconv_u8", ConvForm::QLinearConv, {1, 8, 9, 9}, 11, {3, 3}, {}, {1, 1, 1, 1}},
        ConvCase{"qlinearconv_s8_per_tensor_stride", ConvForm::QLinearConv, {2, 5, 11, 9}, 6, {3, 3}, {2, 2}, {}, {},
                 1, false, DType::I8},
        ConvCase{"convinteger_s8_weights", ConvForm::ConvInteger, {1, 7, 9, 9}, 5, {3, 3}, {}, {1, 1, 1, 1}},
        ConvCase{"convinteger_u8_weights_zp128_grouped", ConvForm::ConvInteger, {1, 6, 8, 8}, 4, {3, 3}, {1, 1},
                 {0, 0, 0, 0}, {}, 2, true, DType::U8, true, DType::U8, 128},
        // u8 weights minus a zero point other than 128 do not fit int8: int8 weights shifted by a per-channel
        // offset, corrected by the offset times the activations' window sums (padding, strides, dilations,
        // groups, 1-d and 3-d, s8 activations, no zero point at all).
        ConvCase{"convinteger_u8_weights_zp3", ConvForm::ConvInteger, {1, 6, 8, 8}, 4, {3, 3}, {}, {}, {}, 1, true,
                 DType::U8, true, DType::U8, 3},
        ConvCase{"convinteger_u8_weights_no_zp_grouped_strided_dilated", ConvForm::ConvInteger, {2, 6, 11, 10}, 6,
                 {3, 3}, {2, 1}, {1, 2, 0, 1}, {1, 2}, 3, true, DType::U8, true, DType::U8, 0},
        ConvCase{"convinteger_u8_weights_zp200_1d", ConvForm::ConvInteger, {2, 5, 17}, 4, {4}, {3}, {2, 1}, {}, 1,
                 true, DType::U8, true, DType::U8, 200},
        ConvCase{"convinteger_u8_weights_zp77_3d", ConvForm::ConvInteger, {1, 4, 5, 6, 5}, 3, {2, 3, 2}, {},
                 {1, 0, 1, 0, 1, 1}, {}, 1, true, DType::U8, true, DType::U8, 77},
        ConvCase{"convinteger_s8_activations_u8_weights_zp50", ConvForm::ConvInteger, {1, 5, 7, 7}, 8, {3, 3}, {},
                 {1, 1, 1, 1}, {}, 1, true, DType::I8, true, DType::U8, 50}),
    [](const auto& info) { return info.param.name; });

// A QDQ bottleneck-like block as graft quantize --static writes it: conv1 (3x3, Relu) -> QuantizeLinear ->
// DequantizeLinear -> conv2 (1x1) + the block's dequantized input as a residual -> Relu. The first
// convolution's u8 result flows straight into the second, which the executable keeps channels-last between
// them; both run as int8 convolutions, and the result matches ONNX Runtime's.
TEST(QuantizedConvChain, BlockMatchesOrtWithBothConvolutionsInt8) {
  GRAFT_REQUIRE_ORT();
  ModelBuilder b(13);
  const int64_t c = 12;
  Tensor x = random_floats(Shape{2, c, 10, 10}, 30);
  b.input("x", DType::F32, dims_of(x));
  auto qdq = [&](const std::string& v, float scale, uint8_t zp) {
    b.initializer(v + "_s", Tensor::scalar(scale));
    b.initializer(v + "_z", Tensor::scalar(zp));
    b.node("QuantizeLinear", {v, v + "_s", v + "_z"}, {v + "_q"});
    b.node("DequantizeLinear", {v + "_q", v + "_s", v + "_z"}, {v + "_d"});
  };
  auto weights = [&](const std::string& name, Shape shape, uint32_t seed) {
    b.initializer(name + "_q", random_ints<int8_t>(shape, -127, 127, seed));
    b.initializer(name + "_s", scales_tensor(shape[0], true, 0.01f));
    b.initializer(name + "_z", Tensor::zeros(DType::I8, Shape{shape[0]}));
    ModelBuilder::attr(b.node("DequantizeLinear", {name + "_q", name + "_s", name + "_z"}, {name}), "axis", int64_t(0));
  };
  qdq("x", 0.02f, 128);
  weights("w1", Shape{c, c, 3, 3}, 31);
  weights("w2", Shape{c, c, 1, 1}, 32);
  b.initializer("b1", random_floats(Shape{c}, 33));
  auto& conv1 = b.node("Conv", {"x_d", "w1", "b1"}, {"c1"});
  ModelBuilder::attr(conv1, "pads", std::vector<int64_t>{1, 1, 1, 1});
  b.node("Relu", {"c1"}, {"r1"});
  qdq("r1", 0.05f, 0);
  b.node("Conv", {"r1_d", "w2"}, {"c2"});
  b.node("Add", {"c2", "x_d"}, {"s"});
  b.node("Relu", {"s"}, {"y"});
  b.output_untyped("y");
  expect_int8_on_and_off_match_ort(b, {{"x", x}}, 2, kCosine, "block");
}

}  // namespace
}  // namespace graft::onnx
