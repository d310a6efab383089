// Resize / Upsample in nearest and linear mode against ONNX Runtime on random inputs: the fused form the
// importer writes ("onnx.resize", run by src/backend/cpu/kernels/resize.cpp) must give ONNX Runtime's values bit
// for bit — every coordinate transform, every nearest mode, up- and downsampling, scales and sizes, 1 to 3
// resized axes of 2-D to 5-D tensors, tf_crop_and_resize's extrapolation, Resize-10 and Upsample-9 — and the
// decomposition (per-axis gathers, what other backends and autodiff use) must stay within f32 rounding of them.
// Each model holds all the cases of one opset (one ONNX Runtime process per opset).
#include <cstring>

#include "graft/autodiff/gradient.h"
#include "quantized_test_util.h"

namespace graft::onnx {
namespace {

using namespace testing;

struct ResizeCase {
  std::string name;
  std::vector<int64_t> shape;
  std::string mode = "linear", coord = "half_pixel", nearest = "round_prefer_floor";
  std::vector<float> scales;  // or
  std::vector<int64_t> sizes;
  std::vector<float> roi;     // tf_crop_and_resize
  float extrapolation = 0;
  DType dtype = DType::F32;
  bool fused = true;          // the importer writes the fused form
  // A nearest position lands on a rounding tie that f32 and f64 coordinates break differently: the
  // decomposition (f64, ONNX's reference arithmetic) may pick the other neighbour there.
  bool tie = false;
};

// The case's input: normal floats, or bytes for u8.
Tensor case_input(const ResizeCase& c, uint32_t seed) {
  if (c.dtype == DType::U8) return random_ints<uint8_t>(Shape(c.shape), 0, 255, seed);
  return random_floats(Shape(c.shape), seed);
}

// One model over every case of an opset: input x<i> -> Resize (Upsample for opset 9) -> y<i>.
ModelBuilder cases_model(const std::vector<ResizeCase>& cases, int64_t opset) {
  ModelBuilder b(opset);
  for (size_t i = 0; i < cases.size(); ++i) {
    const ResizeCase& c = cases[i];
    const std::string s = std::to_string(i);
    b.input("x" + s, c.dtype, {c.shape.begin(), c.shape.end()});
    b.output_untyped("y" + s);
    std::vector<std::string> inputs = {"x" + s};
    if (opset >= 11) {
      if (!c.roi.empty()) b.initializer("roi" + s, Tensor::from_vector(c.roi));
      inputs.push_back(c.roi.empty() ? "" : "roi" + s);
    }
    if (!c.scales.empty()) {
      b.initializer("scales" + s, Tensor::from_vector(c.scales));
      inputs.push_back("scales" + s);
    } else {
      inputs.push_back("");
      b.initializer("sizes" + s, Tensor::from_vector(c.sizes));
      inputs.push_back("sizes" + s);
    }
    auto& n = b.node(opset < 10 ? "Upsample" : "Resize", inputs, {"y" + s}, c.name);
    ModelBuilder::attr(n, "mode", c.mode);
    if (opset >= 11) {
      ModelBuilder::attr(n, "coordinate_transformation_mode", c.coord);
      if (c.mode == "nearest") ModelBuilder::attr(n, "nearest_mode", c.nearest);
      if (c.extrapolation != 0) ModelBuilder::attr(n, "extrapolation_value", double(c.extrapolation));
    }
  }
  return b;
}

// Which outputs the traced graph computes with the fused form.
int fused_count(const Model& m, const std::vector<ResizeCase>& cases) {
  Graph g("t");
  std::map<std::string, Node> in;
  for (size_t i = 0; i < cases.size(); ++i)
    in["x" + std::to_string(i)] = g.parameter("x" + std::to_string(i), cases[i].dtype, Shape(cases[i].shape));
  m.trace(g, in);
  int n = 0;
  for (const Op& op : g.ops())
    if (op.kind == OpKind::Composite && std::get<CompositeAttrs>(op.attrs).name() == "onnx.resize") ++n;
  return n;
}

void expect_bitwise_equal(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  ASSERT_EQ(got.shape(), want.shape()) << what;
  const size_t bytes = dtype_size(got.dtype());
  const auto* g = static_cast<const unsigned char*>(got.raw());
  const auto* w = static_cast<const unsigned char*>(want.raw());
  int bad = 0;
  for (int64_t i = 0; i < got.size() && bad < 5; ++i)
    if (std::memcmp(g + size_t(i) * bytes, w + size_t(i) * bytes, bytes) != 0)
      ADD_FAILURE() << what << ": element " << i << " is " << got.value_as_double(i) << ", ONNX Runtime "
                    << want.value_as_double(i) << " (" << ++bad << ")";
}

void check_against_ort(const std::vector<ResizeCase>& cases, int64_t opset) {
  ModelBuilder b = cases_model(cases, opset);
  Feeds feeds;
  for (size_t i = 0; i < cases.size(); ++i) feeds["x" + std::to_string(i)] = case_input(cases[i], uint32_t(7 + i));
  TempDir dir;
  auto file = dir.path / "model.onnx", work = dir.path / "ort";
  std::filesystem::create_directories(work);
  write_file(file, b.bytes());
  std::map<std::string, Tensor> want = run_ort(file, feeds, work);

  int expected_fused = 0;
  for (const ResizeCase& c : cases) expected_fused += c.fused ? 1 : 0;
  EXPECT_EQ(fused_count(b.model(), cases), expected_fused) << "opset " << opset;

  InferenceSession fused(b.model());
  SessionOptions o;
  o.compile.use_fused_composites = false;  // the decomposition
  InferenceSession decomposed(b.model(), o);
  auto got = fused.run(feeds), got_decomposed = decomposed.run(feeds);
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string y = "y" + std::to_string(i), what = cases[i].name + " (opset " + std::to_string(opset) + ")";
    ASSERT_TRUE(want.count(y)) << what;
    if (cases[i].fused) expect_bitwise_equal(got.at(y), want.at(y), what);
    if (cases[i].tie) continue;
    const Tensor& d = got_decomposed.at(y);
    ASSERT_EQ(d.shape(), want.at(y).shape()) << what;
    const double tol = cases[i].mode == "nearest" ? 0 : 1e-5;
    EXPECT_LE(max_abs_diff(d.cast(DType::F32), want.at(y).cast(DType::F32)), tol) << what << " (decomposition)";
  }
}

TEST(ResizeKernelVsOrt, Opset19LinearAndNearestBitForBit) {
  GRAFT_REQUIRE_ORT();
  std::vector<ResizeCase> cases = {
      {"bilinear_half_pixel_x2", {2, 3, 7, 9}, "linear", "half_pixel", "", {1, 1, 2, 2}},
      {"bilinear_half_pixel_down", {1, 3, 11, 13}, "linear", "half_pixel", "", {1, 1, 0.5f, 0.6f}},
      {"bilinear_align_corners_sizes", {1, 2, 5, 6}, "linear", "align_corners", "", {}, {1, 2, 11, 13}},
      {"bilinear_asymmetric_odd", {1, 2, 6, 5}, "linear", "asymmetric", "", {1, 1, 1.7f, 2.3f}},
      {"bilinear_pytorch_one_row", {1, 2, 6, 5}, "linear", "pytorch_half_pixel", "", {}, {1, 2, 1, 9}},
      {"bilinear_half_pixel_symmetric", {1, 2, 6, 5}, "linear", "half_pixel_symmetric", "", {1, 1, 1.5f, 0.8f}},
      {"bilinear_tf_crop", {1, 2, 6, 7}, "linear", "tf_crop_and_resize", "", {}, {1, 2, 5, 9},
       {0, 0, -0.2f, 0.3f, 1, 1, 0.9f, 1.25f}, 2.5f},
      {"bilinear_2d", {7, 9}, "linear", "half_pixel", "", {}, {12, 5}},
      {"bilinear_width_only", {1, 3, 4, 10}, "linear", "half_pixel", "", {1, 1, 1, 2.5f}},
      {"bilinear_to_1024_shape", {1, 1, 64, 64}, "linear", "half_pixel", "", {}, {1, 1, 256, 256}},
      {"trilinear_3d", {3, 5, 6}, "linear", "half_pixel", "", {1, 2, 1.5f}},
      {"trilinear_5d", {1, 2, 3, 4, 5}, "linear", "align_corners", "", {1, 1, 2, 2, 2}},
      {"trilinear_5d_mixed", {2, 2, 3, 4, 6}, "linear", "asymmetric", "", {1, 1, 1, 2, 0.5f}},
      {"nearest_prefer_floor", {1, 2, 5, 7}, "nearest", "half_pixel", "round_prefer_floor", {1, 1, 2, 3}},
      {"nearest_prefer_ceil_down", {1, 2, 10, 9}, "nearest", "asymmetric", "round_prefer_ceil", {1, 1, 0.6f, 0.5f}},
      {"nearest_floor_align_corners", {1, 2, 5, 7}, "nearest", "align_corners", "floor", {}, {1, 2, 9, 4}},
      {"nearest_ceil_pytorch", {2, 1, 6, 5}, "nearest", "pytorch_half_pixel", "ceil", {1, 1, 1.5f, 2.5f}},
      {"nearest_symmetric", {1, 2, 6, 5}, "nearest", "half_pixel_symmetric", "round_prefer_floor", {1, 1, 1.3f, 0.7f}},
      {"nearest_tf_crop", {1, 1, 6, 7}, "nearest", "tf_crop_and_resize", "round_prefer_floor", {}, {1, 1, 4, 9},
       {0, 0, 0.1f, -0.3f, 1, 1, 1.2f, 0.8f}, -1.5f, DType::F32, true, true},
      {"nearest_middle_axis", {2, 5, 3}, "nearest", "half_pixel", "round_prefer_floor", {1, 2.5f, 1}},
      {"nearest_5d", {1, 2, 3, 4, 5}, "nearest", "asymmetric", "floor", {1, 1, 2, 1.5f, 0.6f}},
      {"nearest_1d", {11}, "nearest", "half_pixel", "round_prefer_ceil", {}, {17}},
      {"nearest_u8", {1, 3, 5, 6}, "nearest", "half_pixel", "round_prefer_floor", {1, 1, 2, 2}, {}, {}, 0,
       DType::U8},
  };
  // Long axes at odd ratios, where f32 and f64 coordinates part at some positions: ONNX Runtime's own rounding.
  for (const char* coord :
       {"half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel", "half_pixel_symmetric", "tf_crop_and_resize"})
    for (const char* mode : {"nearest", "linear"})
      for (auto [from, to] : {std::pair<int64_t, int64_t>{389, 211}, {211, 389}}) {
        ResizeCase c{std::string(mode) + "_" + coord + "_" + std::to_string(from) + "_to_" + std::to_string(to),
                     {1, 1, 3, from}, mode, coord, "round_prefer_floor", {}, {1, 1, 2, to}};
        if (std::string(coord) == "tf_crop_and_resize") c.roi = {0, 0, 0.05f, 0.13f, 1, 1, 0.95f, 0.91f};
        c.tie = true;
        cases.push_back(c);
      }
  check_against_ort(cases, 19);
}

TEST(ResizeKernelVsOrt, Resize10AndUpsample9BitForBit) {
  GRAFT_REQUIRE_ORT();
  std::vector<ResizeCase> resize10 = {
      {"resize10_linear", {1, 2, 4, 5}, "linear", "", "", {1, 1, 2, 3}},
      {"resize10_nearest", {1, 2, 4, 5}, "nearest", "", "", {1, 1, 3, 2}},
  };
  check_against_ort(resize10, 10);
  std::vector<ResizeCase> upsample9 = {
      {"upsample9_linear", {2, 3, 4, 5}, "linear", "", "", {1, 1, 2, 2}},
      {"upsample9_nearest", {1, 3, 4, 5}, "nearest", "", "", {1, 1, 2, 2}},
  };
  check_against_ort(upsample9, 9);
}

// The fused form keeps the model's f16 values when widen_f16 is off (linear computed in f32, rounded once).
TEST(ResizeKernel, F16WithoutWideningRoundsTheF32Result) {
  ResizeCase c{"f16", {1, 2, 5, 6}, "linear", "half_pixel", "", {1, 1, 2, 1.5f}};
  c.dtype = DType::F16;
  ResizeCase c32 = c;
  c32.dtype = DType::F32;
  ModelBuilder b16 = cases_model({c}, 19), b32 = cases_model({c32}, 19);
  Tensor x = random_floats(Shape(c.shape), 3).cast(DType::F16);
  SessionOptions o;
  o.compile.widen_f16 = false;
  InferenceSession s16(b16.model(), o), s32(b32.model());
  EXPECT_EQ(fused_count(b16.model(), {c}), 1);
  Tensor y16 = s16.run({{"x0", x}}).at("y0");
  Tensor want = s32.run({{"x0", x.cast(DType::F32)}}).at("y0").cast(DType::F16);
  ASSERT_EQ(y16.dtype(), DType::F16);
  expect_bitwise_equal(y16, want, "f16 linear");
}


// Autodiff goes through the decomposition of the fused node: the gradient of <w, resize(x)> is the adjoint
// applied to w, so <gradient, v> must equal <w, resize(v)> for any v (resize is linear in x).
TEST(ResizeKernel, GradientIsTheAdjoint) {
  for (const ResizeCase& c : {ResizeCase{"linear", {1, 2, 5, 6}, "linear", "half_pixel", "", {1, 1, 2, 1.5f}},
                              ResizeCase{"nearest", {1, 2, 5, 6}, "nearest", "asymmetric", "floor", {1, 1, 0.6f, 2}}}) {
    ModelBuilder b = cases_model({c}, 19);
    Model m = b.model();
    Graph g("grad");
    Node x = g.parameter("x", DType::F32, Shape(c.shape));
    Node y = m.call(g, {{"x0", x}}, {"y0"}).at("y0");
    Tensor w = random_floats(y.shape(), 5);
    Node loss = ReduceSum(y * g.constant(w));
    g.set_outputs({y, Gradient(loss, x)});
    auto exe = cpu_backend()->compile(g);
    Tensor v = random_floats(Shape(c.shape), 6);
    auto at_v = exe->run({v});
    double lhs = 0, rhs = 0;
    auto gv = at_v[1].to_vector<double>(), vv = v.to_vector<double>(), rv = at_v[0].to_vector<double>(),
         wv = w.to_vector<double>();
    for (size_t i = 0; i < vv.size(); ++i) lhs += gv[i] * vv[i];
    for (size_t i = 0; i < wv.size(); ++i) rhs += wv[i] * rv[i];
    EXPECT_NEAR(lhs, rhs, 1e-4 * (1 + std::abs(rhs))) << c.name;
  }
}

}  // namespace
}  // namespace graft::onnx
