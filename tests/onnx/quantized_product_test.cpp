// Quantized products (MatMulInteger, alone and in ONNX Runtime's quantize_dynamic layout DynamicQuantizeLinear
// -> MatMulInteger -> Cast -> Mul) against ONNX Runtime on the same model files: int32 results exactly, f32
// results to cosine >= 0.999 (in practice equal to float rounding). Each case also says whether the CPU
// backend ran it as an int8 product (cpu.quantized_product, ExecutableStats::num_quantized_products) or,
// for forms oneDNN's int8 matmul cannot take (u8 weights that do not fit int8 once centered, run-time weight
// zero points), as the int32 product it was imported as; both paths are checked against ONNX Runtime.
#include <algorithm>
#include <cmath>
#include <random>

#include "backend/cpu/lowered.h"
#include "backend/cpu/optimize.h"
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

// What the CPU backend's lowering makes of `b`'s model for these inputs: how many int8 products, how many of them
// with an epilogue, how many one-pass quantizations, and how many ops still convert to 8 bits or read an
// 8-bit value element-wise (none should be left between a quantized activation's range and its products).
struct Lowered {
  int quantized = 0, with_epilogue = 0, quantize = 0, converts_to_8bit = 0;
};

Lowered lower(const ModelBuilder& b, const Feeds& feeds) {
  Graph g("lowered");
  std::map<std::string, Node> in;
  for (const auto& [name, t] : feeds) in.emplace(name, g.parameter(name, t.dtype(), t.shape()));
  std::vector<Node> outs;
  for (auto& [name, node] : b.model().call(g, in)) outs.push_back(node);
  g.set_outputs(outs);
  Lowered r;
  cpu::CpuPassCounts counts;
  Graph low = cpu::optimize_for_cpu(g, CompileOptions{}, &counts);
  r.quantized = counts.quantized_products;
  r.with_epilogue = counts.quantized_epilogues;
  r.quantize = counts.quantize;
  for (int i = 0; i < low.num_ops(); ++i) {
    const Op& op = low.op(i);
    if (op.kind == OpKind::Convert && (op.outputs[0].dtype == DType::U8 || op.outputs[0].dtype == DType::I8) &&
        op.outputs[0].shape.size() > 1)
      ++r.converts_to_8bit;
  }
  return r;
}

// ---- fused around the product: quantization, bias, GELU, residual -----------------------------------------

enum class Act { None, GeluErf, GeluTanh };

struct EpilogueCase {
  std::string name;
  std::vector<int64_t> x_shape;
  int64_t n = 0;
  bool per_column = false;
  bool bias = true;
  Act act = Act::None;
  bool residual = false;
  enum class Values { Normal, Positive, Constant, Zeros } values = Values::Normal;
  int products = 1;  // products reading the one quantized activation (like Q, K and V)
};

// x -> DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul(scale) [-> Add(bias) [-> Gelu]] [-> Add(residual)],
// `products` times on the same quantized x. graft must run one cpu.quantize for x and one int8 product per
// MatMulInteger with the epilogue inside, and agree with ONNX Runtime.
class FusedQuantizedMatMulVsOrt : public ::testing::TestWithParam<EpilogueCase> {};

TEST_P(FusedQuantizedMatMulVsOrt, MatchesOrtAndFuses) {
  GRAFT_REQUIRE_ORT();
  const EpilogueCase& c = GetParam();
  int64_t k = c.x_shape.back();
  ModelBuilder b(20);  // Gelu is opset 20
  Tensor x = random_floats(Shape(c.x_shape), 7);
  float* xv = x.data<float>();
  for (int64_t i = 0; i < x.size(); ++i) {
    if (c.values == EpilogueCase::Values::Positive) xv[i] = 3.0f + std::abs(xv[i]);  // a range without 0
    if (c.values == EpilogueCase::Values::Constant) xv[i] = 0.7f;                    // min == max
    if (c.values == EpilogueCase::Values::Zeros) xv[i] = 0.0f;                       // scale 0
  }
  Feeds feeds{{"x", x}};
  b.input("x", DType::F32, dims_of(x));
  std::vector<int64_t> out_shape = c.x_shape;
  out_shape.back() = c.n;
  if (c.residual) {
    Tensor r = random_floats(Shape(out_shape), 8);
    b.input("r", DType::F32, dims_of(r));
    feeds["r"] = r;
  }
  b.node("DynamicQuantizeLinear", {"x"}, {"xq", "xs", "xz"});
  for (int p = 0; p < c.products; ++p) {
    std::string s = std::to_string(p);
    Tensor wq = random_ints<int8_t>(Shape{k, c.n}, -127, 127, uint32_t(10 + p));
    std::vector<float> scales(c.per_column ? size_t(c.n) : 1);
    for (size_t j = 0; j < scales.size(); ++j) scales[j] = 0.01f + 0.001f * float((j + size_t(p)) % 7);
    Shape sshape = c.per_column ? Shape{c.n} : Shape{};
    b.initializer("wq" + s, wq);
    b.initializer("ws" + s, Tensor::from_vector(scales, sshape));
    b.initializer("wz" + s, Tensor::from_vector(std::vector<int8_t>(scales.size(), 0), sshape));
    b.node("MatMulInteger", {"xq", "wq" + s, "xz", "wz" + s}, {"acc" + s});
    auto& cast = b.node("Cast", {"acc" + s}, {"accf" + s});
    ModelBuilder::attr(cast, "to", int64_t(1));
    b.node("Mul", {"xs", "ws" + s}, {"s" + s});
    std::string y = "scaled" + s;
    b.node("Mul", {"accf" + s, "s" + s}, {y});
    if (c.bias) {
      b.initializer("bias" + s, random_floats(Shape{c.n}, uint32_t(20 + p)));
      b.node("Add", {y, "bias" + s}, {y + "_b"});
      y += "_b";
    }
    if (c.act != Act::None) {
      auto& gelu = b.node("Gelu", {y}, {y + "_g"});
      if (c.act == Act::GeluTanh) ModelBuilder::attr(gelu, "approximate", "tanh");
      y += "_g";
    }
    if (c.residual) {
      b.node("Add", {"r", y}, {y + "_r"});
      y += "_r";
    }
    b.node("Identity", {y}, {"y" + s});
    b.output_untyped("y" + s);
  }
  TempDir dir;
  auto file = dir.path / "model.onnx", work = dir.path / "ort";
  std::filesystem::create_directories(work);
  testing::write_file(file, b.bytes());
  auto want = testing::run_ort(file, feeds, work);
  Lowered low = lower(b, feeds);
  EXPECT_EQ(low.quantized, c.products) << c.name;
  EXPECT_EQ(low.with_epilogue, c.bias || c.residual ? c.products : 0) << c.name;
  EXPECT_EQ(low.quantize, 1) << c.name << ": x quantized once for all its products";
  EXPECT_EQ(low.converts_to_8bit, 0) << c.name;
  for (bool int8 : {true, false}) {
    SessionOptions o;
    o.compile.int8_products = int8;
    InferenceSession session(b.model(), o);
    auto got = session.run(feeds);
    EXPECT_EQ(session.last_executable_stats()->num_quantized_products, int8 ? c.products : 0) << c.name;
    for (int p = 0; p < c.products; ++p) {
      std::string y = "y" + std::to_string(p), what = c.name + " " + y + (int8 ? " (int8 on)" : " (int8 off)");
      if (c.values == EpilogueCase::Values::Zeros && !c.bias && !c.residual) {
        // All zeros: no direction to compare; every element must be 0 as ONNX Runtime's.
        for (double v : got.at(y).to_vector<double>()) ASSERT_EQ(v, 0.0) << what;
        for (double v : want.at(y).to_vector<double>()) ASSERT_EQ(v, 0.0) << what;
        continue;
      }
      expect_cosine(got.at(y), want.at(y), 0.99999, what);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Epilogues, FusedQuantizedMatMulVsOrt,
    ::testing::Values(
        EpilogueCase{"bias_per_tensor_batch_k37", {2, 3, 37}, 19},
        EpilogueCase{"bias_per_column_k100", {5, 100}, 40, true},
        EpilogueCase{"bias_gelu_erf_per_column", {2, 7, 64}, 48, true, true, Act::GeluErf},
        EpilogueCase{"bias_gelu_tanh_k45", {9, 45}, 30, false, true, Act::GeluTanh},
        EpilogueCase{"bias_residual_batch", {2, 4, 33}, 24, true, true, Act::None, true},
        EpilogueCase{"residual_without_bias", {6, 20}, 10, false, false, Act::None, true},
        EpilogueCase{"no_epilogue", {3, 17}, 5, false, false},
        EpilogueCase{"range_without_zero", {4, 50}, 12, true, true, Act::GeluErf, false, EpilogueCase::Values::Positive},
        EpilogueCase{"constant_activations", {4, 50}, 12, false, true, Act::None, false, EpilogueCase::Values::Constant},
        EpilogueCase{"zero_activations", {4, 50}, 12, false, false, Act::None, false, EpilogueCase::Values::Zeros},
        EpilogueCase{"zero_activations_bias", {4, 50}, 12, true, true, Act::None, true, EpilogueCase::Values::Zeros},
        EpilogueCase{"shared_by_three_products", {2, 16, 64}, 64, true, true, Act::None, false,
                     EpilogueCase::Values::Normal, 3}),
    [](const auto& info) { return info.param.name; });

// The one-pass quantization (cpu.quantize) alone: DynamicQuantizeLinear and per-tensor QuantizeLinear (u8 and
// s8) as graph outputs, the 8-bit values exactly ONNX Runtime's, including ties, saturation and NaN-free edge
// ranges.
TEST(FusedQuantize, EightBitValuesEqualOrt) {
  GRAFT_REQUIRE_ORT();
  for (int which = 0; which < 3; ++which) {
    ModelBuilder b(13);
    Tensor x = random_floats(Shape{3, 1001}, 11);
    float* xv = x.data<float>();
    for (int i = 0; i < 40; ++i) xv[i] = 0.25f * float(i - 20);  // quarters: ties at scales 2 and 0.5
    xv[40] = 1e9f, xv[41] = -1e9f;                              // saturate
    b.input("x", DType::F32, dims_of(x));
    if (which == 0) {
      b.node("DynamicQuantizeLinear", {"x"}, {"y", "ys", "yz"});
    } else {
      bool s8 = which == 2;
      b.initializer("s", Tensor::scalar(s8 ? 0.5f : 2.0f));  // not 1: x / 1 is simplified away
      b.initializer("z", s8 ? Tensor::scalar(int8_t(-3)) : Tensor::scalar(uint8_t(100)));
      b.node("QuantizeLinear", {"x", "s", "z"}, {"y"});
    }
    b.output_untyped("y");
    Tensor want = run_reference(b, {{"x", x}});
    InferenceSession s(b.model());
    Tensor got = s.run({{"x", x}}).at("y");
    Lowered low = lower(b, {{"x", x}});
    EXPECT_EQ(low.quantize, 1) << which;
    EXPECT_EQ(low.converts_to_8bit, 0) << which;
    ASSERT_EQ(got.dtype(), want.dtype()) << which;
    auto g = got.to_vector<int64_t>(), w = want.to_vector<int64_t>();
    ASSERT_EQ(g.size(), w.size());
    int bad = 0;
    for (size_t i = 0; i < w.size() && bad < 5; ++i)
      if (g[i] != w[i]) ADD_FAILURE() << which << ": element " << i << " (x " << xv[i] << ") is " << g[i] << ", ONNX Runtime " << w[i] << " (" << ++bad << ")";
  }
}

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
