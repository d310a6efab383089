// com.microsoft MatMulNBits (2/4/8-bit blockwise weights) against ONNX Runtime on the same model files and
// against a double-precision reference decoded here from the contrib op's definition; the CPU backend runs it
// as the "onnx.matmul_nbits" composite with its weights still packed (kernels/matmul_nbits.cpp), which these
// tests check through the executable's constant bytes, and the composite's decomposition (autodiff, other
// backends) is checked against the same references and by gradients.
//
// Bound: every output element is within 1e-5 · Σ_k |a_mk · w_kn| + 1e-6 of ONNX Runtime's and of the double
// reference (both f32 products differ only in accumulation order; the dequantized weights are the same f32
// values, (f32(q) - zp) · scale rounded once).
#include <cmath>
#include <cstring>
#include <random>

#include "graft/autodiff/gradient.h"
#include "graft/backend/backend.h"
#include "graft/graph/ops.h"
#include "quantized_test_util.h"

namespace graft::onnx {
namespace {

using namespace testing;

enum class Zp { None, Packed, Float };

struct NBitsCase {
  std::string name;
  int64_t bits = 4, block = 32, k = 64, n = 48;
  std::vector<int64_t> lead = {3};  // A is lead + [K]
  Zp zp = Zp::None;
  bool bias = false;
  bool ort = true;  // compare with ONNX Runtime too
};

// The operands of one MatMulNBits, made up at random, and W decoded from them in double.
struct NBitsData {
  int64_t blocks = 0, blob = 0, zp_row = 0;
  Tensor a, b, scales, zp, bias;
  std::vector<double> w;  // [K, N]
};

NBitsData make_data(const NBitsCase& c, uint32_t seed) {
  NBitsData d;
  d.blocks = (c.k + c.block - 1) / c.block;
  d.blob = c.block * c.bits / 8;
  d.zp_row = (d.blocks * c.bits + 7) / 8;
  std::vector<int64_t> a_dims = c.lead;
  a_dims.push_back(c.k);
  d.a = random_floats(Shape(a_dims), seed);
  d.b = random_ints<uint8_t>(Shape{c.n, d.blocks, d.blob}, 0, 255, seed + 1);
  std::mt19937 rng(seed + 2);
  std::uniform_real_distribution<float> u(0.01f, 0.1f);
  std::vector<float> s(size_t(c.n * d.blocks));
  for (auto& x : s) x = u(rng);
  d.scales = Tensor::from_vector(s, Shape{c.n, d.blocks});
  const int levels = 1 << c.bits;
  std::vector<float> zf(size_t(c.n * d.blocks));
  if (c.zp == Zp::Packed) {
    d.zp = random_ints<uint8_t>(Shape{c.n * d.zp_row}, 0, 255, seed + 3);
  } else if (c.zp == Zp::Float) {
    std::uniform_real_distribution<float> z(0.f, float(levels - 1));
    for (auto& x : zf) x = z(rng);
    d.zp = Tensor::from_vector(zf, Shape{c.n * d.blocks});
  }
  if (c.bias) d.bias = random_floats(Shape{c.n}, seed + 4);
  const uint8_t* q = d.b.data<uint8_t>();
  d.w.assign(size_t(c.k * c.n), 0.0);
  for (int64_t n = 0; n < c.n; ++n)
    for (int64_t k = 0; k < c.k; ++k) {
      const int64_t j = k / c.block, i = k % c.block, bit = i * c.bits;
      const int v = (q[(n * d.blocks + j) * d.blob + bit / 8] >> (bit % 8)) & (levels - 1);
      double z = levels / 2;
      if (c.zp == Zp::Packed) {
        const int64_t zb = j * c.bits;
        z = (d.zp.data<uint8_t>()[n * d.zp_row + zb / 8] >> (zb % 8)) & (levels - 1);
      } else if (c.zp == Zp::Float) {
        z = zf[size_t(n * d.blocks + j)];
      }
      // The dequantized weight in f32 as ONNX Runtime forms it: (f32(q) - zp) rounded, times the scale, rounded.
      d.w[size_t(k * c.n + n)] = double(float(float(v) - float(z)) * s[size_t(n * d.blocks + j)]);
    }
  return d;
}

ModelBuilder nbits_model(const NBitsCase& c, const NBitsData& d, bool weights_as_initializers = true) {
  ModelBuilder b(17);
  b.import("com.microsoft", 1);
  b.input("a", d.a.dtype(), dims_of(d.a));
  std::vector<std::string> ins = {"a", "b", "s", "", "", ""};
  b.initializer("b", d.b);
  if (weights_as_initializers) b.initializer("s", d.scales);
  if (c.zp != Zp::None) b.initializer("zp", d.zp), ins[3] = "zp";
  if (c.bias) b.initializer("bias", d.bias), ins[5] = "bias";
  while (ins.back().empty()) ins.pop_back();
  auto& node = b.node("MatMulNBits", ins, {"y"}, "nbits", "com.microsoft");
  ModelBuilder::attr(node, "K", c.k);
  ModelBuilder::attr(node, "N", c.n);
  ModelBuilder::attr(node, "bits", c.bits);
  ModelBuilder::attr(node, "block_size", c.block);
  b.output_untyped("y");
  return b;
}

// Y = A · W + bias in double, and per element Σ_k |a · w| for the error bound.
std::pair<std::vector<double>, std::vector<double>> reference(const NBitsCase& c, const NBitsData& d) {
  auto a = d.a.to_vector<double>();
  const int64_t m = d.a.size() / c.k;
  std::vector<double> y(size_t(m * c.n)), mag(size_t(m * c.n));
  std::vector<double> bias = c.bias ? d.bias.to_vector<double>() : std::vector<double>(size_t(c.n), 0.0);
  for (int64_t r = 0; r < m; ++r)
    for (int64_t n = 0; n < c.n; ++n) {
      double s = bias[size_t(n)], g = std::abs(bias[size_t(n)]);
      for (int64_t k = 0; k < c.k; ++k) {
        const double p = a[size_t(r * c.k + k)] * d.w[size_t(k * c.n + n)];
        s += p, g += std::abs(p);
      }
      y[size_t(r * c.n + n)] = s, mag[size_t(r * c.n + n)] = g;
    }
  return {y, mag};
}

void expect_within_bound(const Tensor& got, const std::vector<double>& want, const std::vector<double>& mag,
                         const std::string& what) {
  auto g = got.to_vector<double>();
  ASSERT_EQ(g.size(), want.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < g.size() && bad < 5; ++i)
    if (!(std::abs(g[i] - want[i]) <= 1e-5 * mag[i] + 1e-6))
      ADD_FAILURE() << what << ": element " << i << " is " << g[i] << ", want " << want[i] << " (" << ++bad << ")";
}

class MatMulNBitsVsOrt : public ::testing::TestWithParam<NBitsCase> {};

TEST_P(MatMulNBitsVsOrt, MatchesOnnxRuntimeAndTheDefinition) {
  const NBitsCase& c = GetParam();
  NBitsData d = make_data(c, 11);
  ModelBuilder b = nbits_model(c, d);
  auto [want, mag] = reference(c, d);
  std::vector<int64_t> out_dims = c.lead;
  out_dims.push_back(c.n);
  // The packed kernel; the weights dequantized once at compile time (these are small: the default); the
  // decomposition, as a backend without the kernel runs it.
  for (const char* mode : {"kernel", "dequantized once", "decomposition"}) {
    SessionOptions o;
    const std::string m = mode;
    if (m == "kernel") o.compile.nbits_dequantize_max_bytes = 0;
    if (m == "decomposition") o.compile.use_fused_composites = false;
    InferenceSession s(b.model(), o);
    Tensor y = s.run({{"a", d.a}}).at("y");
    ASSERT_EQ(y.shape(), Shape(out_dims)) << c.name;
    const ExecutableStats* st = s.last_executable_stats();
    ASSERT_NE(st, nullptr);
    if (m == "kernel")  // packed bytes and scales, not W in f32
      EXPECT_LT(st->constant_bytes, size_t(c.k * c.n) * sizeof(float)) << c.name;
    if (m == "dequantized once")
      EXPECT_GE(st->constant_bytes, size_t(c.k * c.n) * sizeof(float)) << c.name;
    expect_within_bound(y, want, mag, c.name + " (" + m + ") vs double");
    if (c.ort && ort_available()) {
      Tensor ort = run_reference(b, {{"a", d.a}});
      auto o_vals = ort.to_vector<double>();
      expect_within_bound(y, o_vals, mag, c.name + " (" + m + ") vs ONNX Runtime");
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Forms, MatMulNBitsVsOrt,
    ::testing::Values(
        NBitsCase{"b4_bs32_rank2", 4, 32, 64, 48, {5}},
        NBitsCase{"b4_bs16_packed_zp_bias_ragged_k", 4, 16, 40, 33, {3}, Zp::Packed, true},
        NBitsCase{"b4_bs128_float_zp_m1", 4, 128, 300, 70, {1}, Zp::Float},
        NBitsCase{"b4_bs32_rank3_m140", 4, 32, 200, 96, {2, 70}, Zp::Packed, true},
        NBitsCase{"b4_bs64_m1_rank3_long_k", 4, 64, 1500, 40, {1, 1}, Zp::None, true},
        NBitsCase{"b4_bs16_m130_long_k_many_panels", 4, 16, 1100, 300, {130}, Zp::Packed},
        NBitsCase{"b8_bs32_packed_zp", 8, 32, 96, 40, {4}, Zp::Packed},
        NBitsCase{"b8_bs16_bias_ragged_k_m129", 8, 16, 50, 24, {129}, Zp::None, true},
        // ONNX Runtime 1.30 refuses 8-bit weights with float zero points ("Only 2b and 4b quantization is supported for
        // unpacked compute"): checked against the double reference only.
        NBitsCase{"b8_bs128_float_zp_rank3", 8, 128, 130, 20, {2, 3}, Zp::Float, false, false},
        NBitsCase{"b2_bs16", 2, 16, 64, 24, {3}, Zp::None},
        NBitsCase{"b2_bs32_packed_zp_bias_ragged_k", 2, 32, 70, 17, {2, 4}, Zp::Packed, true}),
    [](const auto& info) { return info.param.name; });

// The packed weights stay packed: the compiled executable's constants are the 4-bit bytes and the scales, not
// an f32 [K, N] (8x the bytes), and it runs one kernel (the fused one) with no f32 weights in its arena.
TEST(MatMulNBits, ExecutableHoldsThePackedWeights) {
  NBitsCase c{"big", 4, 32, 1024, 1024, {2}, Zp::Packed, true};
  NBitsData d = make_data(c, 21);
  ModelBuilder b = nbits_model(c, d);
  SessionOptions o;
  o.compile.nbits_dequantize_max_bytes = size_t(c.k * c.n) * sizeof(float) - 1;  // just too big to dequantize
  InferenceSession s(b.model(), o);
  Tensor y = s.run({{"a", d.a}}).at("y");
  auto [want, mag] = reference(c, d);
  expect_within_bound(y, want, mag, "big");
  const size_t packed = size_t(d.b.nbytes() + d.scales.nbytes() + d.zp.nbytes() + d.bias.nbytes());
  const size_t f32_weights = size_t(c.k * c.n) * sizeof(float);
  const ExecutableStats* st = s.last_executable_stats();
  ASSERT_NE(st, nullptr);
  EXPECT_GE(st->constant_bytes, size_t(d.b.nbytes()));
  EXPECT_LE(st->constant_bytes, packed + 4096) << "f32 weights would be " << f32_weights;
  // Nor at run time: the decomposition (no fused kernel) would unpack W into f32 intermediates of the arena.
  EXPECT_LT(st->arena_bytes, f32_weights / 8);
  EXPECT_EQ(st->num_kernels, 1);
}

// At the limit (CompileOptions::nbits_dequantize_max_bytes) the weights are dequantized once at compile time:
// the executable holds W in f32 and runs it as an f32 product with the bias fused (one kernel).
TEST(MatMulNBits, WeightsAtTheLimitAreDequantizedOnce) {
  NBitsCase c{"limit", 4, 32, 256, 128, {4}, Zp::Packed, true};
  NBitsData d = make_data(c, 23);
  ModelBuilder b = nbits_model(c, d);
  SessionOptions o;
  o.compile.nbits_dequantize_max_bytes = size_t(c.k * c.n) * sizeof(float);
  InferenceSession s(b.model(), o);
  Tensor y = s.run({{"a", d.a}}).at("y");
  auto [want, mag] = reference(c, d);
  expect_within_bound(y, want, mag, "limit");
  const ExecutableStats* st = s.last_executable_stats();
  ASSERT_NE(st, nullptr);
  EXPECT_GE(st->constant_bytes, size_t(c.k * c.n) * sizeof(float));
  EXPECT_EQ(st->num_fused_epilogues, 1);  // the bias inside the product
  EXPECT_EQ(st->num_kernels, 1);
}

// A float16 model (A, scales, bias in f16): graft computes in f32 (CompileOptions::widen_f16) and rounds the
// output to f16, as ONNX Runtime does on x86; within two f16 steps of its result.
TEST(MatMulNBits, Float16ModelMatchesOnnxRuntime) {
  GRAFT_REQUIRE_ORT();
  NBitsCase c{"f16", 4, 32, 96, 40, {3}, Zp::Packed, true};
  NBitsData d = make_data(c, 61);
  d.a = d.a.cast(DType::F16), d.scales = d.scales.cast(DType::F16), d.bias = d.bias.cast(DType::F16);
  ModelBuilder b = nbits_model(c, d);
  Tensor want = run_reference(b, {{"a", d.a}});
  for (size_t max_bytes : {size_t(0), size_t(1) << 20}) {  // packed; dequantized once
    SessionOptions o;
    o.compile.nbits_dequantize_max_bytes = max_bytes;
    Tensor got = InferenceSession(b.model(), o).run({{"a", d.a}}).at("y");
    ASSERT_EQ(got.dtype(), DType::F16);
    ASSERT_EQ(got.shape(), want.shape());
    auto g = got.to_vector<double>(), w = want.to_vector<double>();
    for (size_t i = 0; i < g.size(); ++i)
      EXPECT_NEAR(g[i], w[i], 2 * std::ldexp(std::abs(w[i]), -10) + 1e-3) << i << " (max_bytes " << max_bytes << ")";
  }
}

// The kernel's work split is a fixed grid per shape and thread count, each output element computed by one
// thread in one order: two executables of the same model give the same bits, run after run.
TEST(MatMulNBits, DeterministicForAThreadCount) {
  NBitsCase c{"det", 4, 32, 1100, 200, {300}, Zp::Packed, true};
  NBitsData d = make_data(c, 51);
  ModelBuilder b = nbits_model(c, d);
  SessionOptions packed;
  packed.compile.nbits_dequantize_max_bytes = 0;
  InferenceSession s1(b.model(), packed), s2(b.model(), packed);
  Tensor y1 = s1.run({{"a", d.a}}).at("y"), y2 = s2.run({{"a", d.a}}).at("y"), y3 = s1.run({{"a", d.a}}).at("y");
  ASSERT_EQ(y1.nbytes(), y2.nbytes());
  EXPECT_EQ(std::memcmp(y1.raw(), y2.raw(), y1.nbytes()), 0);
  EXPECT_EQ(std::memcmp(y1.raw(), y3.raw(), y1.nbytes()), 0);
  auto [want, mag] = reference(c, d);
  expect_within_bound(y1, want, mag, "det");
}

// A model traced for training: the loss's gradient flows through MatMulNBits' decomposition to A and to the
// scales (fine-tuning a 4-bit model trains its scales, bias and every other float weight; the packed bits stay
// constants). Checked against the gradients written out by hand in double: dL/dA = R · Wᵀ, dL/ds(n, j) =
// Σ_m Σ_{k in block j} R[m, n] · a[m, k] · (q - zp), dL/dbias = Σ_m R[m, n].
TEST(MatMulNBits, GradientsThroughTheDecomposition) {
  NBitsCase c{"grad", 4, 16, 40, 12, {3}, Zp::Packed, true};
  NBitsData d = make_data(c, 31);
  ModelBuilder b = nbits_model(c, d);
  Model model = b.model();
  Graph g("nbits_grad");
  Node a = g.parameter("a", DType::F32, d.a.shape());
  Node scales = g.parameter("s", DType::F32, d.scales.shape());
  Node bias = g.parameter("bias", DType::F32, d.bias.shape());
  TraceOptions opts;
  opts.initializer = [&](Graph& gr, const std::string& name, const Tensor& value) -> Node {
    if (name == "s") return scales;
    if (name == "bias") return bias;
    return gr.constant(value);
  };
  Node y = model.call(g, {{"a", a}}, {"y"}, opts).at("y");
  const int64_t m = 3;
  Tensor r = random_floats(Shape{m, c.n}, 33);
  Node loss = ReduceSum(y * g.constant(r), {0, 1});
  std::vector<Node> grads = Gradient(loss, {a, scales, bias});
  g.set_outputs({loss, grads[0], grads[1], grads[2]});
  auto exe = cpu_backend()->compile(g);
  auto out = exe->run({d.a, d.scales, d.bias});
  auto rv = r.to_vector<double>(), av = d.a.to_vector<double>(), sv = d.scales.to_vector<double>();
  std::vector<double> da(size_t(m * c.k), 0.0), ds(size_t(c.n * d.blocks), 0.0), db(size_t(c.n), 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t n = 0; n < c.n; ++n) {
      db[size_t(n)] += rv[size_t(i * c.n + n)];
      for (int64_t k = 0; k < c.k; ++k) {
        const double w = d.w[size_t(k * c.n + n)], sc = sv[size_t(n * d.blocks + k / c.block)];
        da[size_t(i * c.k + k)] += rv[size_t(i * c.n + n)] * w;
        ds[size_t(n * d.blocks + k / c.block)] += rv[size_t(i * c.n + n)] * av[size_t(i * c.k + k)] * (w / sc);
      }
    }
  auto expect_close = [](const Tensor& got, const std::vector<double>& want, const char* what) {
    auto gv = got.to_vector<double>();
    ASSERT_EQ(gv.size(), want.size()) << what;
    for (size_t i = 0; i < gv.size(); ++i) EXPECT_NEAR(gv[i], want[i], 1e-4 * (1 + std::abs(want[i]))) << what << " " << i;
  };
  expect_close(out[1], da, "dL/dA");
  expect_close(out[2], ds, "dL/dscales");
  expect_close(out[3], db, "dL/dbias");
}

TEST(MatMulNBits, BadOperandsNameTheNode) {
  NBitsCase c{"bad", 4, 32, 64, 8, {2}};
  NBitsData d = make_data(c, 41);
  d.b = random_ints<uint8_t>(Shape{c.n, d.blocks, d.blob - 1}, 0, 255, 42);
  EXPECT_THROW_WITH(InferenceSession(nbits_model(c, d).model()).run({{"a", d.a}}), "nbits", "input 'B'");
  NBitsData e = make_data(c, 43);
  e.scales = random_floats(Shape{c.n}, 44);
  EXPECT_THROW_WITH(InferenceSession(nbits_model(c, e).model()).run({{"a", e.a}}), "nbits", "scales");
}

}  // namespace
}  // namespace graft::onnx
