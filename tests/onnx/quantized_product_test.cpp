// Quantized products (MatMulInteger, alone and in ONNX Runtime's quantize_dynamic layout DynamicQuantizeLinear
// -> MatMulInteger -> Cast -> Mul) against ONNX Runtime on the same model files: int32 results exactly, f32
// results to cosine >= 0.999 (in practice equal to float rounding). Each case also says whether the CPU
// backend ran it as an int8 product (cpu.quantized_product, ExecutableStats::num_quantized_products) or,
// for forms oneDNN's int8 matmul cannot take (u8 weights that do not fit int8 once centered, run-time weight
// zero points), as the int32 product it was imported as; both paths are checked against ONNX Runtime.
#include "quantized_test_util.h"

namespace graft::onnx {
namespace {

using namespace testing;

// ---- MatMulInteger alone: int32 results ----------------------------------------------------------------

struct IntCase {
  std::string name;
  std::vector<int64_t> a_shape;  // [..., K]
  int64_t n = 0;
  DType a_type = DType::U8, w_type = DType::I8;
  bool a_zero_point = true;       // a run-time scalar input
  int w_zero_point = 0;           // constant, per tensor ...
  bool w_zero_point_per_column = false;  // ... or per column (value + column % 3)
  bool w_constant = true;         // an initializer, else a graph input
  bool w_zero_point_input = false;  // the weight zero point a graph input (run time)
  bool expect_int8 = true;
};

class MatMulIntegerVsOrt : public ::testing::TestWithParam<IntCase> {};

TEST_P(MatMulIntegerVsOrt, Int32Exact) {
  GRAFT_REQUIRE_ORT();
  const IntCase& c = GetParam();
  int64_t k = c.a_shape.back();
  ModelBuilder b(13);
  Feeds feeds;
  Tensor a = c.a_type == DType::U8 ? random_ints<uint8_t>(Shape(c.a_shape), 0, 255, 1)
                                   : random_ints<int8_t>(Shape(c.a_shape), -128, 127, 1);
  Tensor w = c.w_type == DType::U8 ? random_ints<uint8_t>(Shape{k, c.n}, 0, 255, 2)
                                   : random_ints<int8_t>(Shape{k, c.n}, -126, 127, 2);  // fits int8 minus zero points up to 2
  b.input("a", a.dtype(), dims_of(a));
  feeds["a"] = a;
  std::vector<std::string> ins{"a", "w", "", ""};
  if (c.w_constant) {
    b.initializer("w", w);
  } else {
    b.input("w", w.dtype(), dims_of(w));
    feeds["w"] = w;
  }
  if (c.a_zero_point) {
    Tensor z = c.a_type == DType::U8 ? Tensor::scalar(uint8_t(131)) : Tensor::scalar(int8_t(-5));
    b.input("az", z.dtype(), {});
    feeds["az"] = z;
    ins[2] = "az";
  }
  if (c.w_zero_point != 0 || c.w_zero_point_per_column || c.w_zero_point_input) {
    std::vector<int> zs(c.w_zero_point_per_column ? size_t(c.n) : 1);
    for (size_t j = 0; j < zs.size(); ++j) zs[j] = c.w_zero_point + (c.w_zero_point_per_column ? int(j % 3) : 0);
    Shape zshape = c.w_zero_point_per_column ? Shape{c.n} : Shape{};
    Tensor z = Tensor::from_vector(std::vector<double>(zs.begin(), zs.end()), zshape).cast(c.w_type);
    if (c.w_zero_point_input) {
      b.input("wz", z.dtype(), dims_of(z));
      feeds["wz"] = z;
    } else {
      b.initializer("wz", z);
    }
    ins[3] = "wz";
  }
  while (!ins.empty() && ins.back().empty()) ins.pop_back();
  b.node("MatMulInteger", ins, {"y"});
  b.output_untyped("y");
  Tensor want = run_reference(b, feeds);
  auto [fused, n_int8] = run_graft(b, feeds, true);
  EXPECT_EQ(n_int8, c.expect_int8 ? 1 : 0) << c.name;
  expect_equal_ints(fused, want, c.name + " (int8 products on)");
  auto [plain, n_plain] = run_graft(b, feeds, false);
  EXPECT_EQ(n_plain, 0);
  expect_equal_ints(plain, want, c.name + " (int8 products off)");
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, MatMulIntegerVsOrt,
    ::testing::Values(
        IntCase{"u8_s8_k37", {5, 37}, 19},
        IntCase{"batch_dims_k300", {2, 3, 300}, 70},
        IntCase{"k1_n1", {4, 1}, 1},
        IntCase{"no_zero_points", {3, 64}, 16, DType::U8, DType::I8, false},
        IntCase{"s8_activations", {6, 45}, 13, DType::I8, DType::I8},
        IntCase{"s8_weight_zero_point_const", {6, 45}, 13, DType::U8, DType::I8, true, 0, true},
        // u8 weights with zero point 128 are int8 once centered: still an int8 product.
        IntCase{"u8_weights_zp128", {7, 33}, 21, DType::U8, DType::U8, true, 128},
        // u8 weights with zero point 3 (values up to 252) do not fit int8: the int32 product.
        IntCase{"u8_weights_zp3_falls_back", {7, 33}, 21, DType::U8, DType::U8, true, 3, false, true, false, false},
        IntCase{"runtime_s8_weights", {9, 40}, 24, DType::U8, DType::I8, true, 0, false, false},
        IntCase{"runtime_weight_zero_point_falls_back", {9, 40}, 24, DType::U8, DType::I8, true, 1, true, true, true,
                false}),
    [](const auto& info) { return info.param.name; });

// ---- quantize_dynamic's layout: f32 in, f32 out -----------------------------------------------------------

struct DynCase {
  std::string name;
  std::vector<int64_t> x_shape;
  int64_t n = 0;
  bool per_column = false;
};

class DynamicQuantizedMatMulVsOrt : public ::testing::TestWithParam<DynCase> {};

TEST_P(DynamicQuantizedMatMulVsOrt, MatchesOrt) {
  GRAFT_REQUIRE_ORT();
  const DynCase& c = GetParam();
  int64_t k = c.x_shape.back();
  ModelBuilder b(13);
  Tensor x = random_floats(Shape(c.x_shape), 3);
  b.input("x", DType::F32, dims_of(x));
  // Weights quantized as bench/quantize_dynamic_layout.py does: symmetric int8, zero point 0.
  Tensor wq = random_ints<int8_t>(Shape{k, c.n}, -127, 127, 4);
  std::vector<float> scales(c.per_column ? size_t(c.n) : 1);
  for (size_t j = 0; j < scales.size(); ++j) scales[j] = 0.01f + 0.001f * float(j % 7);
  Shape sshape = c.per_column ? Shape{c.n} : Shape{};
  b.initializer("wq", wq);
  b.initializer("ws", Tensor::from_vector(scales, sshape));
  b.initializer("wz", Tensor::from_vector(std::vector<int8_t>(scales.size(), 0), sshape));
  b.node("DynamicQuantizeLinear", {"x"}, {"xq", "xs", "xz"});
  b.node("MatMulInteger", {"xq", "wq", "xz", "wz"}, {"acc"});
  auto& cast = b.node("Cast", {"acc"}, {"accf"});
  ModelBuilder::attr(cast, "to", int64_t(1));
  b.node("Mul", {"xs", "ws"}, {"s"});
  b.node("Mul", {"accf", "s"}, {"y"});
  b.output_untyped("y");
  Tensor want = run_reference(b, {{"x", x}});
  auto [fused, n_int8] = run_graft(b, {{"x", x}}, true);
  EXPECT_EQ(n_int8, 1) << c.name;
  expect_cosine(fused, want, 0.999999, c.name + " (int8 products on)");
  auto [plain, n_plain] = run_graft(b, {{"x", x}}, false);
  EXPECT_EQ(n_plain, 0);
  expect_cosine(plain, want, 0.999999, c.name + " (int8 products off)");
}

INSTANTIATE_TEST_SUITE_P(Layouts, DynamicQuantizedMatMulVsOrt,
                         ::testing::Values(DynCase{"per_tensor", {2, 5, 64}, 48},
                                           DynCase{"per_column", {2, 5, 64}, 48, true},
                                           DynCase{"per_column_odd_k", {3, 37}, 11, true},
                                           DynCase{"per_tensor_k1", {4, 1}, 3}),
                         [](const auto& info) { return info.param.name; });

// DynamicQuantizeLinear's range: a full ReduceMin and ReduceMax of one f32 value run as one kernel (cpu.min_max),
// against std::minmax_element, NaN-propagating as graft's reductions are.
TEST(MinMaxFusion, OneKernelSameValuesAsSeparateReductions) {
  for (int64_t n : {1, 17, 100003}) {
    for (bool with_nan : {false, true}) {
      Tensor x = random_floats(Shape{n}, uint32_t(n));
      if (with_nan) x.data<float>()[n / 2] = NAN;
      Graph g("range");
      Node p = g.parameter("x", DType::F32, {n});
      g.set_outputs({ReduceMin(p), ReduceMax(p)});
      auto exe = cpu_backend()->compile(g);
      EXPECT_EQ(exe->stats().num_kernels, 1) << n;
      auto out = exe->run({x});
      auto v = x.to_vector<float>();
      auto [lo, hi] = std::minmax_element(v.begin(), v.end());
      if (with_nan) {
        EXPECT_TRUE(std::isnan(out[0].item<float>()) && std::isnan(out[1].item<float>())) << n;
      } else {
        EXPECT_EQ(out[0].item<float>(), *lo) << n;
        EXPECT_EQ(out[1].item<float>(), *hi) << n;
      }
    }
  }
}

}  // namespace
}  // namespace graft::onnx
