// graft quantize (graft/onnx/quantize.h) against independent references:
//  - the written int8 / int4 tensors decoded and compared with the quantization arithmetic redone here
//    NumPy-style (np.rint rounds half to even, np.clip), not with graft's own functions;
//  - ONNX Runtime (bench/ort/run_model.js) loads and runs every output form; its outputs on the quantized
//    model are compared with its outputs on the fp32 model (cosine), and graft's run of the quantized model
//    with ONNX Runtime's (cosine >= 0.999);
//  - the shared all-MiniLM-L6-v2 (skipped when ../shared is absent) in every form: cosine >= 0.99 vs fp32.
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>

#include "graft/onnx/quantize.h"
#include "onnx/model_impl.h"
#include "onnx/onnx_test_util.h"

namespace graft::onnx {
namespace {

namespace fs = std::filesystem;
using testing::ModelBuilder;
using testing::TempDir;

// ---- helpers ------------------------------------------------------------------------------------------

double cosine(const std::vector<double>& a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), b.size());
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

const ::onnx::TensorProto* find_initializer(const ::onnx::ModelProto& m, const std::string& name) {
  for (const auto& t : m.graph().initializer())
    if (t.name() == name) return &t;
  return nullptr;
}
std::vector<const ::onnx::NodeProto*> nodes_of(const ::onnx::ModelProto& m, const std::string& op) {
  std::vector<const ::onnx::NodeProto*> out;
  for (const auto& n : m.graph().node())
    if (n.op_type() == op) out.push_back(&n);
  return out;
}
int64_t attr_i(const ::onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return a.i();
  return -1;
}
// An initializer of the written model as a Tensor (graft's loader: the file's bytes, read back).
Tensor init_value(const Model& m, const std::string& name) { return m.initializer(name); }
std::vector<float> floats(const Tensor& t) {
  const float* p = static_cast<const float*>(t.raw());
  return std::vector<float>(p, p + t.shape().size());
}

// NumPy's np.rint: round half to even, written out rather than through the C library's rounding mode.
double rint_even(double x) {
  double f = std::floor(x), d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return std::fmod(f, 2.0) == 0 ? f : f + 1;
}
double clip(double x, double lo, double hi) { return x < lo ? lo : x > hi ? hi : x; }

std::vector<double> doubles(const Tensor& t) {
  const float* p = static_cast<const float*>(t.raw());
  return std::vector<double>(p, p + t.shape().size());
}
std::vector<double> graft_run(const fs::path& model, const std::map<std::string, Tensor>& in, const std::string& out) {
  InferenceSession s(Model::load(model));
  return doubles(s.run(in).at(out));
}
// ONNX Runtime (bench/ort/run_npy.js through onnx_test_util.h's run_ort) on the same inputs.
std::vector<double> ort_run(const fs::path& model, const std::map<std::string, Tensor>& in, const std::string& out) {
  TempDir work;
  return doubles(testing::run_ort(model, in, work.path).at(out));
}

// x [4, 64] -> MatMul(W1 [64, 48]) -> Relu -> Gemm(W2 [32, 48], transB = 1, C [32], alpha = 0.5) -> y [4, 32]
fs::path write_mlp(const fs::path& dir, int64_t opset = 17) {
  ModelBuilder b(opset);
  b.input("x", DType::F32, {int64_t(4), int64_t(64)});
  b.output("y", DType::F32, {int64_t(4), int64_t(32)});
  b.initializer("W1", testing::random_tensor(Shape{64, 48}, 1, -0.5f, 0.5f));
  b.initializer("W2", testing::random_tensor(Shape{32, 48}, 2, -0.3f, 0.3f));
  b.initializer("C", testing::random_tensor(Shape{32}, 3));
  b.node("MatMul", {"x", "W1"}, {"h"}, "fc1");
  b.node("Relu", {"h"}, {"r"}, "relu");
  auto& g = b.node("Gemm", {"r", "W2", "C"}, {"y"}, "fc2");
  ModelBuilder::attr(g, "transB", int64_t(1));
  ModelBuilder::attr(g, "alpha", 0.5);
  fs::path p = dir / "mlp.onnx";
  testing::write_file(p, b.bytes());
  return p;
}

// x [1, 3, 10, 10] -> Conv(W [8, 3, 3, 3], B [8], pads 1) -> Relu -> y
fs::path write_conv(const fs::path& dir) {
  ModelBuilder b(17);
  b.input("x", DType::F32, {int64_t(1), int64_t(3), int64_t(10), int64_t(10)});
  b.output("y", DType::F32, {int64_t(1), int64_t(8), int64_t(10), int64_t(10)});
  b.initializer("W", testing::random_tensor(Shape{8, 3, 3, 3}, 4, -0.5f, 0.5f));
  b.initializer("B", testing::random_tensor(Shape{8}, 5, -0.2f, 0.2f));
  auto& c = b.node("Conv", {"x", "W", "B"}, {"c"}, "conv");
  ModelBuilder::attr(c, "pads", std::vector<int64_t>{1, 1, 1, 1});
  b.node("Relu", {"c"}, {"y"}, "relu");
  fs::path p = dir / "conv.onnx";
  testing::write_file(p, b.bytes());
  return p;
}

// Calibration sets: DIR/set_i/x.npy.
fs::path write_sets(const fs::path& dir, Shape shape, int n) {
  fs::path root = dir / "calib";
  for (int i = 0; i < n; ++i) {
    fs::create_directories(root / ("set_" + std::to_string(i)));
    write_npy(root / ("set_" + std::to_string(i)) / "x.npy", testing::random_tensor(shape, 100 + uint32_t(i), -2, 3));
  }
  return root;
}

// The symmetric int8 reference of column/row channel `c` of w (or of all of it when c < 0).
void expect_symmetric_int8(const Tensor& w, int axis, const Tensor& q, const Tensor& scale, const std::string& what) {
  const auto& d = w.shape().dims();
  std::vector<float> wv = floats(w), sv = floats(scale);
  const int8_t* qv = static_cast<const int8_t*>(q.raw());
  int64_t channels = axis < 0 ? 1 : d[size_t(axis)], inner = 1;
  for (size_t k = size_t(axis < 0 ? 0 : axis + 1); axis >= 0 && k < d.size(); ++k) inner *= d[k];
  ASSERT_EQ(int64_t(sv.size()), channels) << what;
  std::vector<double> absmax(size_t(channels), 0);
  for (size_t i = 0; i < wv.size(); ++i) {
    size_t c = axis < 0 ? 0 : size_t((int64_t(i) / inner) % channels);
    absmax[c] = std::max(absmax[c], std::abs(double(wv[i])));
  }
  int bad = 0;
  for (int64_t c = 0; c < channels; ++c) EXPECT_NEAR(sv[size_t(c)], absmax[size_t(c)] / 127, 1e-7) << what << " scale " << c;
  for (size_t i = 0; i < wv.size() && bad < 5; ++i) {
    size_t c = axis < 0 ? 0 : size_t((int64_t(i) / inner) % channels);
    double want = clip(rint_even(double(wv[i]) / double(sv[c])), -127, 127);
    if (qv[i] != want) {
      ++bad;
      ADD_FAILURE() << what << ": q[" << i << "] = " << int(qv[i]) << ", want " << want;
    }
  }
}

// A standard model: node names unique, every node input defined before the node reads it (graph inputs,
// initializers, earlier outputs), no initializer left unread, and onnx.checker with full_check (Debian's
// python3-onnx; skipped when absent) accepts it.
void expect_standard_model(const fs::path& path) {
  Model model = Model::load(path);
  const ::onnx::ModelProto& m = proto_of(model);
  std::set<std::string> defined{""}, names, read;
  for (const auto& v : m.graph().input()) defined.insert(v.name());
  for (const auto& t : m.graph().initializer()) defined.insert(t.name());
  for (const auto& n : m.graph().node()) {
    EXPECT_TRUE(names.insert(n.name()).second) << path << ": node name " << n.name() << " twice";
    for (const auto& i : n.input()) {
      EXPECT_TRUE(defined.count(i)) << path << ": " << n.name() << " reads " << i << " before it is defined";
      read.insert(i);
    }
    for (const auto& o : n.output()) EXPECT_TRUE(defined.insert(o).second) << path << ": " << o << " defined twice";
  }
  for (const auto& t : m.graph().initializer()) EXPECT_TRUE(read.count(t.name())) << path << ": unread " << t.name();
  if (std::system("/usr/bin/python3 -c 'import onnx' > /dev/null 2>&1") != 0) return;
  std::string cmd = "/usr/bin/python3 -c \"import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), "
                    "full_check=True)\" '" + path.string() + "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << "onnx.checker rejects " << path;
}

// ---- the arithmetic ------------------------------------------------------------------------------------

TEST(QuantMath, RoundsHalfToEvenAndClamps) {
  EXPECT_EQ(quant::round_half_even(0.5f), 0);
  EXPECT_EQ(quant::round_half_even(1.5f), 2);
  EXPECT_EQ(quant::round_half_even(2.5f), 2);
  EXPECT_EQ(quant::round_half_even(-2.5f), -2);
  EXPECT_EQ(quant::quantize_value(1000.f, 1.f, 0, -127, 127), 127);
  EXPECT_EQ(quant::quantize_value(-3.5f, 1.f, 10, 0, 255), 6);  // rint(-3.5) = -4, + 10
  auto s = quant::asymmetric(0.5f, 2.f, 0, 255);  // the range is extended to contain 0: [0, 2]
  EXPECT_FLOAT_EQ(s.scale, 2.f / 255);
  EXPECT_EQ(s.zero_point, 0);
  s = quant::asymmetric(-1.f, 0.f, 0, 255);
  EXPECT_EQ(s.zero_point, 255);
  EXPECT_EQ(quant::symmetric_scale(0), 1.f);
}

// ---- a small generated model, every form ---------------------------------------------------------------

class QuantizeSmall : public ::testing::Test {
 protected:
  TempDir dir;
  std::map<std::string, Tensor> feeds{{"x", testing::random_tensor(Shape{4, 64}, 42, -2, 3)}};

  // The written model is well formed (expect_standard_model); ORT on it vs ORT on the fp32 one
  // (cos >= min_cos), graft vs ORT on it (cos >= 0.999).
  void check_runs(const fs::path& fp32, const fs::path& q, double min_cos,
                  std::map<std::string, Tensor> in = {}, const std::string& out = "y") {
    expect_standard_model(q);
    if (in.empty()) in = feeds;
    std::vector<double> g = graft_run(q, in, out);
    if (!testing::ort_available()) {
      std::vector<double> ref = graft_run(fp32, in, out);
      EXPECT_GE(cosine(g, ref), min_cos) << "graft (quantized) vs graft (fp32), " << q;
      return;
    }
    std::vector<double> ref = ort_run(fp32, in, out), got = ort_run(q, in, out);
    double c_fp32 = cosine(got, ref), c_graft = cosine(g, got);
    std::printf("[ figure ] %s: ORT quantized vs fp32 cos %.6f, graft vs ORT (quantized) cos %.7f\n",
                q.filename().c_str(), c_fp32, c_graft);
    EXPECT_GE(c_fp32, min_cos) << q;
    EXPECT_GE(c_graft, 0.999) << q;
  }
};

TEST_F(QuantizeSmall, DynamicPerTensorWritesOrtLayout) {
  fs::path in = write_mlp(dir.path), out = dir.path / "dyn.onnx";
  QuantizeReport r = quantize_model(in, out);
  EXPECT_EQ(r.quantized, (std::vector<std::string>{"fc1", "fc2"}));
  EXPECT_EQ(r.removed_initializers, 2);  // W1, W2 (C is still added after the product)
  Model q = Model::load(out), orig = Model::load(in);
  const auto& p = proto_of(q);
  EXPECT_TRUE(nodes_of(p, "MatMul").empty());
  EXPECT_TRUE(nodes_of(p, "Gemm").empty());
  ASSERT_EQ(nodes_of(p, "DynamicQuantizeLinear").size(), 2u);
  ASSERT_EQ(nodes_of(p, "MatMulInteger").size(), 2u);
  EXPECT_EQ(nodes_of(p, "Cast").size(), 2u);
  EXPECT_EQ(nodes_of(p, "Add").size(), 1u);
  EXPECT_EQ(find_initializer(p, "W1"), nullptr);
  // fc1's weight: int8 per tensor, zero point 0.
  const auto* mmi = nodes_of(p, "MatMulInteger")[0];
  Tensor wq = init_value(q, mmi->input(1)), zp = init_value(q, mmi->input(3));
  EXPECT_EQ(wq.dtype(), DType::I8);
  EXPECT_EQ(zp.dtype(), DType::I8);
  EXPECT_EQ(zp.shape().rank(), 0);
  EXPECT_EQ(static_cast<const int8_t*>(zp.raw())[0], 0);
  // Its scale is the second input of the Mul that reads the activation scale.
  std::string scale_name;
  for (const auto* m : nodes_of(p, "Mul"))
    if (m->input(0) == nodes_of(p, "DynamicQuantizeLinear")[0]->output(1) && !scale_name.size()) scale_name = m->input(1);
  expect_symmetric_int8(orig.initializer("W1"), -1, wq, init_value(q, scale_name), "W1");
  check_runs(in, out, 0.99);
}

TEST_F(QuantizeSmall, DynamicPerChannelScalesEachColumnAndFoldsGemm) {
  fs::path in = write_mlp(dir.path), out = dir.path / "dyn_pc.onnx";
  QuantizeOptions o;
  o.per_channel = true;
  quantize_model(in, out, o);
  Model q = Model::load(out), orig = Model::load(in);
  const auto& p = proto_of(q);
  auto mmi = nodes_of(p, "MatMulInteger");
  ASSERT_EQ(mmi.size(), 2u);
  // fc2: Gemm with transB = 1: the weight is stored transposed to [48, 32], scales per column times alpha.
  Tensor wq = init_value(q, mmi[1]->input(1));
  EXPECT_EQ(wq.shape(), (Shape{48, 32}));
  EXPECT_EQ(init_value(q, mmi[1]->input(3)).shape(), (Shape{32}));
  Tensor w2 = orig.initializer("W2");  // [32, 48]: row n is output column n
  std::vector<float> wt(48 * 32);
  for (int n = 0; n < 32; ++n)
    for (int k = 0; k < 48; ++k) wt[size_t(k * 32 + n)] = floats(w2)[size_t(n * 48 + k)];
  std::string scale_name;
  for (const auto* m : nodes_of(p, "Mul"))
    if (m->input(0) == nodes_of(p, "DynamicQuantizeLinear")[1]->output(1)) scale_name = m->input(1);
  std::vector<float> scales = floats(init_value(q, scale_name));
  for (float& s : scales) s /= 0.5f;  // alpha folded into the scale
  expect_symmetric_int8(Tensor::from_vector(wt, Shape{48, 32}), 1, wq, Tensor::from_vector(scales, Shape{32}), "W2");
  check_runs(in, out, 0.99);
}

TEST_F(QuantizeSmall, StaticQdqFromCalibrationFolder) {
  fs::path in = write_mlp(dir.path), out = dir.path / "static.onnx";
  fs::path sets = write_sets(dir.path, Shape{4, 64}, 3);
  QuantizeOptions o;
  o.mode = QuantizeMode::Static;
  o.calibration = calibration_sets_from_dir(sets);
  ASSERT_EQ(o.calibration.size(), 3u);
  quantize_model(in, out, o);
  Model q = Model::load(out), orig = Model::load(in);
  const auto& p = proto_of(q);
  EXPECT_EQ(nodes_of(p, "QuantizeLinear").size(), 2u);     // x and relu's output
  // 2 activations, 2 weights; the Gemm's bias stays fp32 (alpha = 0.5: C is not added at the product's scale)
  EXPECT_EQ(nodes_of(p, "DequantizeLinear").size(), 4u);
  // x's scale and zero point: the range of the calibration data (extended to 0) over [0, 255].
  double lo = 0, hi = 0;
  for (const auto& s : o.calibration)
    for (float v : floats(s.inputs.at("x"))) lo = std::min(lo, double(v)), hi = std::max(hi, double(v));
  const auto* qx = nodes_of(p, "QuantizeLinear")[0];
  ASSERT_EQ(qx->input(0), "x");
  double scale = (hi - lo) / 255;
  EXPECT_NEAR(floats(init_value(q, qx->input(1)))[0], scale, 1e-6);
  Tensor zp = init_value(q, qx->input(2));
  EXPECT_EQ(zp.dtype(), DType::U8);
  EXPECT_EQ(static_cast<const uint8_t*>(zp.raw())[0], clip(rint_even(-lo / scale), 0, 255));
  EXPECT_EQ(nodes_of(p, "Gemm")[0]->input(2), "C");
  check_runs(in, out, 0.99, {{"x", o.calibration[0].inputs.at("x")}});
}

TEST_F(QuantizeSmall, StaticConvPerChannelWithPercentile) {
  fs::path in = write_conv(dir.path), out = dir.path / "conv_static.onnx";
  QuantizeOptions o;
  o.mode = QuantizeMode::Static;
  o.method = CalibrationMethod::Percentile;
  o.percentile = 99.9;
  o.calibration = calibration_sets_from_dir(write_sets(dir.path, Shape{1, 3, 10, 10}, 2));
  quantize_model(in, out, o);
  Model q = Model::load(out), orig = Model::load(in);
  const auto& p = proto_of(q);
  const ::onnx::NodeProto* conv = nodes_of(p, "Conv")[0];
  const ::onnx::NodeProto* wdq = nullptr;
  for (const auto* d : nodes_of(p, "DequantizeLinear"))
    if (d->output(0) == conv->input(1)) wdq = d;
  ASSERT_NE(wdq, nullptr);
  EXPECT_EQ(attr_i(*wdq, "axis"), 0);
  expect_symmetric_int8(orig.initializer("W"), 0, init_value(q, wdq->input(0)), init_value(q, wdq->input(1)), "W");
  // The bias: int32 with scale x_scale * w_scale[c], zero point 0.
  const ::onnx::NodeProto* bias_dq = nullptr;
  for (const auto* d : nodes_of(p, "DequantizeLinear"))
    if (d->output(0) == conv->input(2)) bias_dq = d;
  ASSERT_NE(bias_dq, nullptr);
  Tensor bq = init_value(q, bias_dq->input(0));
  EXPECT_EQ(bq.dtype(), DType::I32);
  float x_scale = floats(init_value(q, nodes_of(p, "QuantizeLinear")[0]->input(1)))[0];
  std::vector<float> bscale = floats(init_value(q, bias_dq->input(1))), bias = floats(orig.initializer("B"));
  std::vector<float> wscale = floats(init_value(q, wdq->input(1)));
  for (size_t i = 0; i < bias.size(); ++i) {
    EXPECT_FLOAT_EQ(bscale[i], x_scale * wscale[i]);
    EXPECT_EQ(static_cast<const int32_t*>(bq.raw())[i], rint_even(double(bias[i]) / double(bscale[i]))) << i;
  }
  // Percentile calibration: x's range is narrower than its min/max.
  double lo = 0, hi = 0;
  for (const auto& s : o.calibration)
    for (float v : floats(s.inputs.at("x"))) lo = std::min(lo, double(v)), hi = std::max(hi, double(v));
  EXPECT_LT(x_scale, (hi - lo) / 255);
  check_runs(in, out, 0.99, {{"x", o.calibration[1].inputs.at("x")}});
}

// The MatMulNBits reference: W [K, N] in blocks of `block` along K, asymmetric over [0, 2^bits - 1]. The
// quantizer may shrink a block's min-max range (clamping its extremes) when that lowers the block's squared
// error: the stored scale lies within [0.8, 1] of the min-max scale, and the block's error is at most the
// min-max choice's, both computed here.
void expect_nbits(const Tensor& w, int bits, int64_t block, const Tensor& packed, const Tensor& scales,
                  const Tensor& zps) {
  int64_t K = w.shape().dims()[0], N = w.shape().dims()[1], blocks = (K + block - 1) / block;
  double qmax = (1 << bits) - 1;
  std::vector<float> wv = floats(w), sv = floats(scales);
  const uint8_t* bp = static_cast<const uint8_t*>(packed.raw());
  const uint8_t* zp = static_cast<const uint8_t*>(zps.raw());
  ASSERT_EQ(packed.shape(), (Shape{N, blocks, block * bits / 8}));
  ASSERT_EQ(int64_t(sv.size()), N * blocks);
  int bad = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t b = 0; b < blocks; ++b) {
      double lo = 0, hi = 0;
      for (int64_t k = b * block; k < std::min(K, (b + 1) * block); ++k)
        lo = std::min(lo, double(wv[size_t(k * N + n)])), hi = std::max(hi, double(wv[size_t(k * N + n)]));
      double mm_scale = (hi - lo) / qmax, mm_zp = clip(rint_even(-lo / mm_scale), 0, qmax);
      float s = sv[size_t(n * blocks + b)];
      EXPECT_LE(s, mm_scale * (1 + 1e-6));
      EXPECT_GE(s, mm_scale * 0.8 * (1 - 1e-3));
      int64_t zrow = bits == 8 ? blocks : (blocks + 1) / 2;
      int z = bits == 8 ? zp[n * zrow + b] : (zp[n * zrow + b / 2] >> (4 * (b % 2))) & 15;
      const uint8_t* blob = bp + (n * blocks + b) * (block * bits / 8);
      double err = 0, mm_err = 0;
      for (int64_t i = 0; i < block && bad < 5; ++i) {
        int64_t k = b * block + i;
        double v = k < K ? double(wv[size_t(k * N + n)]) : 0.0;  // the last block is padded with zeros
        int q = bits == 8 ? blob[i] : (blob[i / 2] >> (4 * (i % 2))) & 15;
        double want = clip(rint_even(v / double(s)) + z, 0, qmax);
        if (q != want) {
          ++bad;
          ADD_FAILURE() << "n " << n << " k " << k << ": q " << q << ", want " << want;
        }
        double decoded = (q - z) * double(s);
        // Within half a step of the original unless clamped at an end of the range.
        if (q > 0 && q < qmax) EXPECT_LE(std::abs(decoded - v), 0.5 * s + 1e-6);
        err += (decoded - v) * (decoded - v);
        double mm = (clip(rint_even(v / mm_scale) + mm_zp, 0, qmax) - mm_zp) * mm_scale;
        mm_err += (mm - v) * (mm - v);
      }
      EXPECT_LE(err, mm_err * (1 + 1e-4) + 1e-12) << "n " << n << " block " << b;
    }
}

TEST_F(QuantizeSmall, WeightOnlyInt4AndInt8AsMatMulNBits) {
  fs::path in = write_mlp(dir.path);
  for (int bits : {4, 8}) {
    fs::path out = dir.path / ("nbits" + std::to_string(bits) + ".onnx");
    QuantizeOptions o;
    o.mode = QuantizeMode::WeightOnly;
    o.weight_bits = bits;
    o.block_size = 16;  // K = 64: four blocks
    o.error_compensation = false;  // int4: each block rounded on its own, as expect_nbits redoes it
    QuantizeReport r = quantize_model(in, out, o);
    EXPECT_EQ(r.quantized, std::vector<std::string>{"fc1"});  // the Gemm stays
    Model q = Model::load(out);
    const auto& p = proto_of(q);
    auto nb = nodes_of(p, "MatMulNBits");
    ASSERT_EQ(nb.size(), 1u);
    EXPECT_EQ(nb[0]->domain(), "com.microsoft");
    EXPECT_EQ(attr_i(*nb[0], "bits"), bits);
    EXPECT_EQ(attr_i(*nb[0], "K"), 64);
    EXPECT_EQ(attr_i(*nb[0], "N"), 48);
    EXPECT_EQ(attr_i(*nb[0], "block_size"), 16);
    EXPECT_EQ(q.opset("com.microsoft"), 1);
    EXPECT_EQ(nodes_of(p, "Gemm").size(), 1u);
    expect_nbits(Model::load(in).initializer("W1"), bits, 16, init_value(q, nb[0]->input(1)),
                 init_value(q, nb[0]->input(2)), init_value(q, nb[0]->input(3)));
    check_runs(in, out, 0.99);
  }
}

// Error-compensated int4 (the default) against round-to-nearest. The compensation minimizes the squared
// error of fc1's output over the calibration inputs, so the model's output error on those inputs must come
// out well below round-to-nearest's, and on inputs it has not seen (same distribution) still lower. Without
// sets it runs on made-up inputs (standard normal here, unlike the real inputs' [-2, 3]): still lower. Errors are measured by graft's run of the written
// models (its MatMulNBits decoding is the contrib importer's, not the quantizer's); check_runs holds graft
// to ONNX Runtime on them.
TEST_F(QuantizeSmall, WeightOnlyInt4ErrorCompensationLowersOutputError) {
  fs::path in = write_mlp(dir.path);
  std::vector<CalibrationSet> sets;
  for (uint32_t i = 0; i < 8; ++i)
    sets.push_back({"set" + std::to_string(i), {{"x", testing::random_tensor(Shape{4, 64}, 200 + i, -2, 3)}}});
  auto quantize = [&](bool compensate, const std::vector<CalibrationSet>& cal, const std::string& name) {
    QuantizeOptions o;
    o.mode = QuantizeMode::WeightOnly;
    o.weight_bits = 4;
    o.block_size = 16;
    o.error_compensation = compensate;
    o.calibration = cal;
    fs::path out = dir.path / name;
    EXPECT_EQ(quantize_model(in, out, o).quantized, std::vector<std::string>{"fc1"});
    return out;
  };
  fs::path rtn = quantize(false, {}, "rtn.onnx"), comp = quantize(true, sets, "comp.onnx"),
           made_up = quantize(true, {}, "made_up.onnx");
  auto sq_err = [&](const fs::path& q, const std::map<std::string, Tensor>& x) {
    std::vector<double> got = graft_run(q, x, "y"), ref = graft_run(in, x, "y");
    double e = 0;
    for (size_t i = 0; i < got.size(); ++i) e += (got[i] - ref[i]) * (got[i] - ref[i]);
    return e;
  };
  double rtn_seen = 0, comp_seen = 0;
  for (const CalibrationSet& set : sets) {
    rtn_seen += sq_err(rtn, set.inputs);
    comp_seen += sq_err(comp, set.inputs);
  }
  double rtn_new = sq_err(rtn, feeds), comp_new = sq_err(comp, feeds), made_up_new = sq_err(made_up, feeds);
  std::printf("[ figure ] int4 output squared error, calibration inputs: round-to-nearest %.5g, compensated %.5g; "
              "unseen inputs: round-to-nearest %.5g, compensated %.5g, compensated on made-up inputs %.5g\n",
              rtn_seen, comp_seen, rtn_new, comp_new, made_up_new);
  EXPECT_LT(comp_seen, 0.5 * rtn_seen);
  EXPECT_LT(comp_new, rtn_new);
  EXPECT_LT(made_up_new, rtn_new);  // made-up inputs, enough of them, must not do worse than no compensation
  check_runs(in, comp, 0.99);
  check_runs(in, made_up, 0.99);
}

TEST_F(QuantizeSmall, ExternalDataOnRequest) {
  fs::path in = write_mlp(dir.path), out = dir.path / "ext" / "dyn.onnx";
  QuantizeOptions o;
  o.data.placement = ExternalDataOptions::Placement::External;
  o.data.min_bytes = 64;
  quantize_model(in, out, o);
  EXPECT_TRUE(fs::exists(dir.path / "ext" / "dyn.onnx.data"));
  int external = 0;
  Model written = Model::load(out);
  for (const auto& t : proto_of(written).graph().initializer())
    external += t.data_location() == ::onnx::TensorProto::EXTERNAL;
  EXPECT_GE(external, 2);  // the int8 weights (and C)
  check_runs(in, out, 0.99);
}

TEST_F(QuantizeSmall, ExcludeKeepsMatchingNodes) {
  fs::path in = write_mlp(dir.path), out = dir.path / "ex.onnx";
  QuantizeOptions o;
  o.exclude = "^fc2$";
  QuantizeReport r = quantize_model(in, out, o);
  EXPECT_EQ(r.quantized, std::vector<std::string>{"fc1"});
  ASSERT_EQ(r.skipped.size(), 1u);
  EXPECT_NE(r.skipped[0].find("fc2"), std::string::npos);
  EXPECT_EQ(nodes_of(proto_of(Model::load(out)), "Gemm").size(), 1u);
  EXPECT_NE(find_initializer(proto_of(Model::load(out)), "W2"), nullptr);
}

// ---- errors --------------------------------------------------------------------------------------------

TEST_F(QuantizeSmall, ErrorsNameWhatIsWrong) {
  fs::path out = dir.path / "out.onnx";
  fs::path junk = dir.path / "junk.onnx";
  testing::write_file(junk, "this is not a protobuf");
  EXPECT_THROW_WITH(quantize_model(junk, out), "junk.onnx");
  // No quantizable op.
  ModelBuilder b(17);
  b.input("x", DType::F32, {int64_t(2)});
  b.output("y", DType::F32, {int64_t(2)});
  b.node("Relu", {"x"}, {"y"}, "relu");
  testing::write_file(dir.path / "relu.onnx", b.bytes());
  EXPECT_THROW_WITH(quantize_model(dir.path / "relu.onnx", out), "relu.onnx", "no quantizable op");
  QuantizeOptions relu_static;
  relu_static.mode = QuantizeMode::Static;
  EXPECT_THROW_WITH(quantize_model(dir.path / "relu.onnx", out, relu_static), "relu.onnx", "no quantizable op");
  // Everything excluded.
  fs::path mlp = write_mlp(dir.path);
  QuantizeOptions ex;
  ex.exclude = "fc";
  EXPECT_THROW_WITH(quantize_model(mlp, out, ex), "no quantizable op", "\"fc1\" (MatMul): excluded");
  ex.exclude = "([";
  EXPECT_THROW_WITH(quantize_model(mlp, out, ex), "--exclude", "([");
  // Opset too old for DynamicQuantizeLinear.
  fs::path old = dir.path / "old";
  fs::create_directories(old);
  EXPECT_THROW_WITH(quantize_model(write_mlp(old, 10), out), "opset >= 11", "opset 10");
  // Static: no sets; a missing input; a wrong dtype; a wrong shape; a stray file.
  QuantizeOptions st;
  st.mode = QuantizeMode::Static;
  EXPECT_THROW_WITH(quantize_model(mlp, out, st), "calibration");
  st.calibration = {CalibrationSet{"setA", {{"z", Tensor::zeros(DType::F32, Shape{4, 64})}}}};
  EXPECT_THROW_WITH(quantize_model(mlp, out, st), "setA", "\"x\"", "x.npy");
  st.calibration = {CalibrationSet{"setB", {{"x", Tensor::zeros(DType::F64, Shape{4, 64})}}}};
  EXPECT_THROW_WITH(quantize_model(mlp, out, st), "setB", "x.npy is float64", "x: float32[4, 64]");
  st.calibration = {CalibrationSet{"setC", {{"x", Tensor::zeros(DType::F32, Shape{4, 63})}}}};
  EXPECT_THROW_WITH(quantize_model(mlp, out, st), "setC", "[4, 63]");
  st.calibration = {CalibrationSet{"setD", {{"x", Tensor::zeros(DType::F32, Shape{4, 64})},
                                            {"extra", Tensor::zeros(DType::F32, Shape{1})}}}};
  EXPECT_THROW_WITH(quantize_model(mlp, out, st), "setD", "extra.npy names no input");
  EXPECT_THROW_WITH(calibration_sets_from_dir(dir.path / "nowhere"), "nowhere", "not a folder");
  fs::create_directories(dir.path / "empty_sets" / "one");
  EXPECT_THROW_WITH(calibration_sets_from_dir(dir.path / "empty_sets"), "one", "no .npy");
  // Weight-only options.
  QuantizeOptions wo;
  wo.mode = QuantizeMode::WeightOnly;
  wo.block_size = 24;
  EXPECT_THROW_WITH(quantize_model(mlp, out, wo), "block size", "24");
  wo.block_size = 32;
  wo.weight_bits = 3;
  EXPECT_THROW_WITH(quantize_model(mlp, out, wo), "4 or 8", "3");
  EXPECT_FALSE(fs::exists(out));  // nothing written by a failed run
}

TEST_F(QuantizeSmall, CommandLine) {
  fs::path graft = fs::path(GRAFT_BINARY_DIR) / "tools" / "graft" / "graft";
  if (!fs::exists(graft)) GTEST_SKIP() << "graft CLI not built at " << graft;
  fs::path in = write_mlp(dir.path);
  auto run = [&](const std::string& args) {
    std::string cmd = graft.string() + " quantize " + args + " > '" + (dir.path / "log").string() + "' 2>&1";
    int rc = std::system(cmd.c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  };
  std::string io = "'" + in.string() + "' '" + (dir.path / "cli.onnx").string() + "'";
  EXPECT_EQ(run(io + " --per-channel"), 0);
  EXPECT_EQ(nodes_of(proto_of(Model::load(dir.path / "cli.onnx")), "MatMulInteger").size(), 2u);
  EXPECT_EQ(run(io + " --weight-only int4 --block-size 32"), 0);
  EXPECT_EQ(nodes_of(proto_of(Model::load(dir.path / "cli.onnx")), "MatMulNBits").size(), 1u);
  fs::path sets = write_sets(dir.path, Shape{4, 64}, 2);
  EXPECT_EQ(run(io + " --weight-only int4 --calibration '" + sets.string() + "'"), 0);  // compensation over them
  EXPECT_EQ(nodes_of(proto_of(Model::load(dir.path / "cli.onnx")), "MatMulNBits").size(), 1u);
  EXPECT_EQ(run(io + " --weight-only int4 --round-to-nearest"), 0);
  EXPECT_EQ(run(io + " --weight-only int8 --calibration '" + sets.string() + "'"), 2);
  EXPECT_EQ(run(io + " --weight-only int4 --round-to-nearest --calibration '" + sets.string() + "'"), 2);
  EXPECT_EQ(run(io + " --weight-only int8 --round-to-nearest"), 2);
  EXPECT_EQ(run(io + " --round-to-nearest"), 2);
  EXPECT_EQ(run(io + " --calibration '" + sets.string() + "'"), 0);  // static
  EXPECT_EQ(nodes_of(proto_of(Model::load(dir.path / "cli.onnx")), "QuantizeLinear").size(), 2u);
  EXPECT_EQ(run(io + " --mode static"), 2);                 // no --calibration
  EXPECT_EQ(run(io + " --weight-only int4 --block-size 20"), 2);
  EXPECT_EQ(run(io + " --mode dynamic --weight-only int8"), 2);
  EXPECT_EQ(run(io + " --percentile 99"), 2);
  EXPECT_EQ(run("'" + (dir.path / "missing.onnx").string() + "' '" + (dir.path / "x.onnx").string() + "'"), 1);
}

// ---- MiniLM ----------------------------------------------------------------------------------------------

class QuantizeMiniLM : public testing::SharedMiniLM {
 protected:
  std::map<std::string, Tensor> inputs() {
    std::map<std::string, Tensor> in;
    for (const char* name : {"input_ids", "attention_mask", "token_type_ids"})
      in[name] = read_npy(model_dir_ / (std::string(name) + ".npy"));
    return in;
  }
  fs::path model() { return model_dir_ / "minilm_l6_opset14.onnx"; }
  // ORT (or graft, without node) on the fp32 model, computed once.
  const std::vector<double>& fp32() {
    static std::vector<double> ref;
    if (ref.empty())
      ref = testing::ort_available() ? ort_run(model(), inputs(), "last_hidden_state")
                                     : graft_run(model(), inputs(), "last_hidden_state");
    return ref;
  }
  void check(const QuantizeOptions& o, const std::string& name, double min_cos = 0.99, size_t count = 36,
             double min_cos_graft_vs_ort = 0.999) {
    TempDir dir;
    fs::path out = dir.path / (name + ".onnx");
    QuantizeReport r = quantize_model(model(), out, o);
    EXPECT_EQ(r.quantized.size(), count) << name;  // all: 6 layers x (Q, K, V, output, 2 feed-forward)
    expect_standard_model(out);
    std::vector<double> g = graft_run(out, inputs(), "last_hidden_state");
    double cg = cosine(g, fp32());
    std::printf("[ figure ] MiniLM %s: graft (quantized) vs fp32 cos %.6f", name.c_str(), cg);
    if (testing::ort_available()) {
      std::vector<double> ort = ort_run(out, inputs(), "last_hidden_state");
      double c = cosine(ort, fp32()), cgo = cosine(g, ort);
      std::printf(", ORT (quantized) vs fp32 cos %.6f, graft vs ORT cos %.7f", c, cgo);
      EXPECT_GE(c, min_cos) << name;
      EXPECT_GE(cgo, min_cos_graft_vs_ort) << name;
    }
    std::printf("\n");
    EXPECT_GE(cg, min_cos) << name;
  }
};

TEST_F(QuantizeMiniLM, Dynamic) { check({}, "dynamic"); }

TEST_F(QuantizeMiniLM, DynamicPerChannel) {
  QuantizeOptions o;
  o.per_channel = true;
  check(o, "dynamic_per_channel");
}

TEST_F(QuantizeMiniLM, Static) {
  QuantizeOptions o;
  o.mode = QuantizeMode::Static;
  // Two sets: the shared inputs, and the same texts with their token ids shifted (another batch).
  o.calibration.push_back({"shared", inputs()});
  auto other = inputs();
  Tensor ids = other["input_ids"].clone();
  auto* p = static_cast<int64_t*>(ids.raw());
  for (int64_t i = 0; i < ids.shape().size(); ++i) p[i] = p[i] > 1000 ? p[i] + 7 : p[i];
  other["input_ids"] = ids;
  o.calibration.push_back({"shifted", other});
  check(o, "static");
}

TEST_F(QuantizeMiniLM, WeightOnlyInt8) {
  QuantizeOptions o;
  o.mode = QuantizeMode::WeightOnly;
  o.weight_bits = 8;
  check(o, "weight_only_int8");
}

// 4 bits on every MatMul, block 32, with the default error compensation over made-up inputs (random token
// ids, no calibration data): this MiniLM's weights are uniformly distributed (../shared regenerates them),
// the worst case for 16 levels (about 7% rounding noise per weight, over 36 products). Measured 0.99697 (ORT
// and graft alike; round-to-nearest below: 0.985).
TEST_F(QuantizeMiniLM, WeightOnlyInt4) {
  QuantizeOptions o;
  o.mode = QuantizeMode::WeightOnly;
  o.weight_bits = 4;
  check(o, "weight_only_int4", 0.99, 36, 0.9999);
}

// Every block rounded to nearest on its own (--round-to-nearest): the figure before error compensation.
TEST_F(QuantizeMiniLM, WeightOnlyInt4RoundToNearest) {
  QuantizeOptions o;
  o.mode = QuantizeMode::WeightOnly;
  o.weight_bits = 4;
  o.error_compensation = false;
  check(o, "weight_only_int4_round_to_nearest", 0.98, 36, 0.9999);
}

}  // namespace
}  // namespace graft::onnx
