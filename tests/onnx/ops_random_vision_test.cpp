// Random ops (distribution properties, seeds, dtypes), RoiAlign, MelWeightMatrix, Resize (align_corners
// downsampling, tf_crop_and_resize, antialias, keep_aspect_ratio_policy with axes) and MaxPool's Indices,
// against straightforward loop implementations of the ONNX specification written here, or values computed
// with NumPy from the specification's formulas.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "onnx_test_util.h"

namespace graft::onnx {
namespace {

using testing::ModelBuilder;
using namespace testing::ops;

Tensor f32(std::vector<float> v, Shape s) { return Tensor::from_vector(v, s); }
Tensor i64(std::vector<int64_t> v, Shape s) { return Tensor::from_vector(v, s); }

void expect_close(const Tensor& got, const Tensor& want, double tol = 1e-5) {
  ASSERT_EQ(got.shape(), want.shape()) << got.str() << " vs " << want.str();
  ASSERT_EQ(got.dtype(), want.dtype()) << got.str() << " vs " << want.str();
  for (int64_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got.value_as_double(i), want.value_as_double(i), tol)
        << "element " << i << "\n" << got.str() << "\nvs\n" << want.str();
}

struct Moments {
  double mean = 0, var = 0, min = INFINITY, max = -INFINITY;
};
Moments moments(const Tensor& t) {
  Moments m;
  int64_t n = t.size();
  for (int64_t i = 0; i < n; ++i) {
    double v = t.value_as_double(i);
    m.mean += v;
    m.min = std::min(m.min, v);
    m.max = std::max(m.max, v);
  }
  m.mean /= double(n);
  for (int64_t i = 0; i < n; ++i) m.var += std::pow(t.value_as_double(i) - m.mean, 2);
  m.var /= double(n - 1);
  return m;
}

// ---- random ops ----

TEST(OnnxRandomOps, RandomUniformRangeMeanVarianceAndDtype) {
  for (int64_t dtype : {int64_t(1), int64_t(11)}) {  // float, double
    Tensor t = run1("RandomUniform", {}, [&](auto& n) {
      ModelBuilder::attr(n, "shape", std::vector<int64_t>{200, 500});
      ModelBuilder::attr(n, "low", -2.0);
      ModelBuilder::attr(n, "high", 3.0);
      ModelBuilder::attr(n, "dtype", dtype);
    });
    EXPECT_EQ(t.shape(), Shape({200, 500}));
    EXPECT_EQ(t.dtype(), dtype == 1 ? DType::F32 : DType::F64);
    Moments m = moments(t);
    double n = double(t.size());
    EXPECT_GE(m.min, -2.0);
    EXPECT_LT(m.max, 3.0);
    EXPECT_LT(m.min, -1.99);
    EXPECT_GT(m.max, 2.99);
    EXPECT_NEAR(m.mean, 0.5, 5 * std::sqrt(25.0 / 12 / n));
    EXPECT_NEAR(m.var, 25.0 / 12, 0.03);
    // Roughly flat: each fifth of the range holds a fifth of the values.
    std::vector<int64_t> hist(5, 0);
    for (int64_t i = 0; i < t.size(); ++i) ++hist[size_t(std::clamp<int64_t>(int64_t(t.value_as_double(i) + 2), 0, 4))];
    for (int64_t h : hist) EXPECT_NEAR(double(h) / n, 0.2, 0.006);
  }
}

TEST(OnnxRandomOps, RandomNormalMeanScaleAndTails) {
  for (int64_t dtype : {int64_t(1), int64_t(11), int64_t(10)}) {  // float, double, float16
    Tensor t = run1("RandomNormal", {}, [&](auto& n) {
      ModelBuilder::attr(n, "shape", std::vector<int64_t>{400, 250});
      ModelBuilder::attr(n, "mean", 1.5);
      ModelBuilder::attr(n, "scale", 2.0);
      ModelBuilder::attr(n, "dtype", dtype);
    });
    EXPECT_EQ(t.shape(), Shape({400, 250}));
    EXPECT_EQ(t.dtype(), dtype == 1 ? DType::F32 : dtype == 11 ? DType::F64 : DType::F16);
    Moments m = moments(t);
    double n = double(t.size());
    EXPECT_NEAR(m.mean, 1.5, 5 * 2.0 / std::sqrt(n));
    EXPECT_NEAR(std::sqrt(m.var), 2.0, 0.03);
    int64_t in1 = 0, in2 = 0;
    for (int64_t i = 0; i < t.size(); ++i) {
      double z = std::abs(t.value_as_double(i) - 1.5) / 2.0;
      in1 += z < 1;
      in2 += z < 2;
    }
    EXPECT_NEAR(double(in1) / n, 0.6827, 0.01);
    EXPECT_NEAR(double(in2) / n, 0.9545, 0.005);
    EXPECT_LT(m.min, 1.5 - 2.0 * 3.5);  // tails reach past 3.5 sigma in 1e5 draws
    EXPECT_GT(m.max, 1.5 + 2.0 * 3.5);
  }
}

TEST(OnnxRandomOps, SeedGivesTheSameValuesAndNoSeedFreshOnes) {
  auto draw = [](std::optional<double> seed, const char* op = "RandomNormal") {
    return run1(op, {}, [&](auto& n) {
      ModelBuilder::attr(n, "shape", std::vector<int64_t>{64});
      if (seed) ModelBuilder::attr(n, "seed", *seed);
    });
  };
  // Separate sessions (separate traces): a seed repeats, different seeds and no seed differ.
  Tensor a = draw(5.0), b = draw(5.0), c = draw(6.0), d = draw(std::nullopt), e = draw(std::nullopt);
  EXPECT_EQ(max_abs_diff(a, b), 0.0);
  EXPECT_GT(max_abs_diff(a, c), 0.1);
  EXPECT_GT(max_abs_diff(d, e), 0.1);
  EXPECT_EQ(max_abs_diff(draw(5.0, "RandomUniform"), draw(5.0, "RandomUniform")), 0.0);

  // One session: a seeded draw is the same on every run.
  ModelBuilder mb(17);
  mb.output("y", DType::F32);
  auto& n = mb.node("RandomUniform", {}, {"y"});
  ModelBuilder::attr(n, "shape", std::vector<int64_t>{16});
  ModelBuilder::attr(n, "seed", 3.0);
  InferenceSession s(mb.model());
  Tensor r1 = s.run({}).at("y").clone(), r2 = s.run({}).at("y").clone();
  EXPECT_EQ(max_abs_diff(r1, r2), 0.0);

  // One session, no seed: every run draws fresh values (as ONNX Runtime does), from one compiled model.
  ModelBuilder ub(17);
  ub.output("y", DType::F32);
  auto& un = ub.node("RandomNormal", {}, {"y"});
  ModelBuilder::attr(un, "shape", std::vector<int64_t>{256});
  InferenceSession fresh(ub.model());
  Tensor u1 = fresh.run({}).at("y").clone(), u2 = fresh.run({}).at("y").clone();
  EXPECT_GT(max_abs_diff(u1, u2), 0.1);
  EXPECT_EQ(fresh.stats().compiles, 1);
  // Still normal: mean near 0 and variance near 1 over the second draw.
  double mean = 0, sq = 0;
  for (int64_t i = 0; i < u2.size(); ++i) mean += u2.value_as_double(i) / double(u2.size());
  for (int64_t i = 0; i < u2.size(); ++i) sq += std::pow(u2.value_as_double(i) - mean, 2) / double(u2.size());
  EXPECT_LT(std::fabs(mean), 0.25);
  EXPECT_NEAR(sq, 1.0, 0.3);
}

TEST(OnnxRandomOps, TraceSeedNodeGivesFreshValuesPerStep) {
  // No seed attribute: TraceOptions::seed fixes the draw, seed_node varies it per run of one executable.
  ModelBuilder mb(17);
  mb.input("x", DType::F32, {int64_t(1000)});
  mb.output("y", DType::F32);
  mb.node("RandomUniformLike", {"x"}, {"y"}, "rand");
  Model m = mb.model();
  auto trace_run = [&](uint64_t seed, std::optional<uint64_t> step) {
    Graph g;
    Node x = g.parameter("x", DType::F32, {1000});
    TraceOptions o;
    o.seed = seed;
    std::vector<Tensor> feeds{Tensor::from_vector(std::vector<float>(1000, 0.f), Shape{1000})};
    if (step) {
      o.seed_node = g.parameter("step", DType::U64, {});
      feeds.push_back(Tensor::scalar(*step));
    }
    auto res = m.trace(g, {{"x", x}}, {}, o);
    g.set_outputs({res.outputs.at("y")});
    return cpu_backend()->compile(g)->run(std::span<const Tensor>(feeds))[0].clone();
  };
  EXPECT_EQ(max_abs_diff(trace_run(7, std::nullopt), trace_run(7, std::nullopt)), 0.0);
  EXPECT_GT(max_abs_diff(trace_run(7, std::nullopt), trace_run(8, std::nullopt)), 0.1);
  EXPECT_EQ(max_abs_diff(trace_run(7, 1), trace_run(7, 1)), 0.0);
  EXPECT_GT(max_abs_diff(trace_run(7, 1), trace_run(7, 2)), 0.1);
}

TEST(OnnxRandomOps, LikeOpsTakeShapeAndDtypeFromTheInput) {
  Tensor x64 = Tensor::from_vector(std::vector<double>(6, 0.0), Shape{2, 3});
  Tensor u = run1("RandomUniformLike", {{"x", x64}});
  EXPECT_EQ(u.shape(), Shape({2, 3}));
  EXPECT_EQ(u.dtype(), DType::F64);
  Tensor n = run1("RandomNormalLike", {{"x", x64}}, [](auto& nd) { ModelBuilder::attr(nd, "dtype", int64_t(1)); });
  EXPECT_EQ(n.shape(), Shape({2, 3}));
  EXPECT_EQ(n.dtype(), DType::F32);
  // An integer input needs an explicit floating dtype.
  Tensor xi = i64({1, 2, 3, 4}, {4});
  Tensor ui = run1("RandomUniformLike", {{"x", xi}}, [](auto& nd) {
    ModelBuilder::attr(nd, "dtype", int64_t(1));
    ModelBuilder::attr(nd, "low", 10.0);
    ModelBuilder::attr(nd, "high", 11.0);
  });
  EXPECT_EQ(ui.dtype(), DType::F32);
  for (int64_t i = 0; i < 4; ++i) {
    EXPECT_GE(ui.value_as_double(i), 10.0);
    EXPECT_LT(ui.value_as_double(i), 11.0);
  }
  EXPECT_THROW_WITH(run1("RandomUniformLike", {{"x", xi}}), "dtype must be a floating-point type");
}

TEST(OnnxRandomOps, BernoulliProbabilitiesAndDtypes) {
  // p = 0 never fires, p = 1 always does, p = 0.3 about 30% of the time.
  std::vector<float> p(30000);
  for (size_t i = 0; i < p.size(); ++i) p[i] = i < 10000 ? 0.f : i < 20000 ? 1.f : 0.3f;
  Tensor pt = f32(p, {30000});
  Tensor y = run1("Bernoulli", {{"p", pt}}, {}, 15);
  EXPECT_EQ(y.dtype(), DType::F32);
  EXPECT_EQ(y.shape(), Shape({30000}));
  double hits = 0;
  for (int64_t i = 0; i < 30000; ++i) {
    double v = y.value_as_double(i);
    ASSERT_TRUE(v == 0 || v == 1) << v;
    if (i < 10000) ASSERT_EQ(v, 0) << i;
    else if (i < 20000) ASSERT_EQ(v, 1) << i;
    else hits += v;
  }
  EXPECT_NEAR(hits / 10000, 0.3, 5 * std::sqrt(0.21 / 10000));
  // dtype attribute: bool and int32 outputs; double probabilities.
  Tensor yb = run1("Bernoulli", {{"p", pt}}, [](auto& n) { ModelBuilder::attr(n, "dtype", int64_t(9)); }, 15);
  EXPECT_EQ(yb.dtype(), DType::Bool);
  Tensor yi = run1("Bernoulli", {{"p", pt}}, [](auto& n) { ModelBuilder::attr(n, "dtype", int64_t(6)); }, 15);
  EXPECT_EQ(yi.dtype(), DType::I32);
  Tensor pd = Tensor::from_vector(std::vector<double>(4000, 0.75), Shape{40, 100});
  Tensor yd = run1("Bernoulli", {{"p", pd}}, {}, 15);
  EXPECT_EQ(yd.dtype(), DType::F64);
  EXPECT_NEAR(moments(yd).mean, 0.75, 5 * std::sqrt(0.1875 / 4000));
  // A seed repeats across sessions.
  auto seeded = [&] { return run1("Bernoulli", {{"p", pd}}, [](auto& n) { ModelBuilder::attr(n, "seed", 2.0); }, 15); };
  EXPECT_EQ(max_abs_diff(seeded(), seeded()), 0.0);
}

// ---- RoiAlign ----

// The ONNX RoiAlign description as plain loops (bilinear samples on a grid per bin, avg or max of the
// largest weighted corner).
Tensor roi_align_ref(const Tensor& x, const Tensor& rois, const Tensor& bidx, int64_t oh, int64_t ow, int64_t sr,
                     double scale, bool half_pixel, bool max_mode) {
  int64_t C = x.shape()[1], H = x.shape()[2], W = x.shape()[3], R = rois.shape()[0];
  std::vector<float> out(size_t(R * C * oh * ow));
  double off = half_pixel ? 0.5 : 0.0;
  for (int64_t r = 0; r < R; ++r) {
    int64_t b = int64_t(bidx.value_as_double(r));
    double x0 = rois.value_as_double(r * 4) * scale - off, y0 = rois.value_as_double(r * 4 + 1) * scale - off;
    double x1 = rois.value_as_double(r * 4 + 2) * scale - off, y1 = rois.value_as_double(r * 4 + 3) * scale - off;
    double rw = x1 - x0, rh = y1 - y0;
    if (!half_pixel) {
      rw = std::max(rw, 1.0);
      rh = std::max(rh, 1.0);
    }
    double bh = rh / double(oh), bw = rw / double(ow);
    int64_t gh = sr > 0 ? sr : int64_t(std::ceil(rh / double(oh))), gw = sr > 0 ? sr : int64_t(std::ceil(rw / double(ow)));
    for (int64_t c = 0; c < C; ++c)
      for (int64_t ph = 0; ph < oh; ++ph)
        for (int64_t pw = 0; pw < ow; ++pw) {
          double acc = 0;
          bool first = true;
          for (int64_t iy = 0; iy < gh; ++iy)
            for (int64_t ix = 0; ix < gw; ++ix) {
              double yy = y0 + double(ph) * bh + (double(iy) + 0.5) * bh / double(gh);
              double xx = x0 + double(pw) * bw + (double(ix) + 0.5) * bw / double(gw);
              double v[4] = {0, 0, 0, 0};
              if (!(yy < -1 || yy > double(H) || xx < -1 || xx > double(W))) {
                yy = std::max(yy, 0.0);
                xx = std::max(xx, 0.0);
                int64_t yl = int64_t(yy), xl = int64_t(xx), yh, xh;
                if (yl >= H - 1) {
                  yl = yh = H - 1;
                  yy = double(yl);
                } else {
                  yh = yl + 1;
                }
                if (xl >= W - 1) {
                  xl = xh = W - 1;
                  xx = double(xl);
                } else {
                  xh = xl + 1;
                }
                double ly = yy - double(yl), lx = xx - double(xl);
                auto at = [&](int64_t yi, int64_t xi) { return x.value_as_double(((b * C + c) * H + yi) * W + xi); };
                v[0] = (1 - ly) * (1 - lx) * at(yl, xl);
                v[1] = (1 - ly) * lx * at(yl, xh);
                v[2] = ly * (1 - lx) * at(yh, xl);
                v[3] = ly * lx * at(yh, xh);
              }
              if (max_mode) {
                double m = std::max({v[0], v[1], v[2], v[3]});
                acc = first ? m : std::max(acc, m);
                first = false;
              } else {
                acc += v[0] + v[1] + v[2] + v[3];
              }
            }
          if (!max_mode) acc /= double(std::max<int64_t>(gh * gw, 1));
          out[size_t(((r * C + c) * oh + ph) * ow + pw)] = float(acc);
        }
  }
  return f32(out, {R, C, oh, ow});
}

TEST(OnnxRoiAlign, HandDerivedAverageOfOneBin) {
  // X = 4x4 ramp x[h][w] = 4h + w; roi (x 0.5..2.5, y 1..3) output_half_pixel, 1x1 bin, sampling 2:
  // samples at y in {1.5, 2.5}, x in {1.0, 2.0}; the ramp is linear so the mean is x(2, 1.5) = 9.5.
  std::vector<float> xv(16);
  for (int i = 0; i < 16; ++i) xv[size_t(i)] = float(i);
  Tensor y = run1("RoiAlign", {{"X", f32(xv, {1, 1, 4, 4})}, {"rois", f32({0.5f, 1, 2.5f, 3}, {1, 4})}, {"b", i64({0}, {1})}},
                  [](auto& n) {
                    ModelBuilder::attr(n, "sampling_ratio", int64_t(2));
                    ModelBuilder::attr(n, "coordinate_transformation_mode", "output_half_pixel");
                  },
                  16);
  expect_close(y, f32({9.5f}, {1, 1, 1, 1}));
}

TEST(OnnxRoiAlign, MatchesTheSpecificationLoops) {
  Tensor x = testing::random_tensor({2, 3, 7, 9}, 11, -2, 2);
  // Rois in image coordinates (spatial_scale 0.5): inside, partly outside, tiny, and one on batch 1.
  Tensor rois = f32({0, 0, 12, 10,  3.5f, 2, 17, 13,  -4, -3, 6, 20,  5, 5, 5.6f, 5.2f,  10, 1, 30, 30}, {5, 4});
  Tensor bidx = i64({0, 1, 0, 1, 1}, {5});
  for (bool half : {true, false})
    for (bool max_mode : {false, true})
      for (int64_t sr : {int64_t(0), int64_t(2)})
        for (bool known_rois : {false, true}) {
          SCOPED_TRACE(::testing::Message() << "half_pixel " << half << " max " << max_mode << " sampling " << sr
                                          << " known rois " << known_rois);
          Tensor got = run1("RoiAlign", {{"X", x}, {"rois", rois, known_rois}, {"b", bidx, known_rois}}, [&](auto& n) {
            ModelBuilder::attr(n, "output_height", int64_t(3));
            ModelBuilder::attr(n, "output_width", int64_t(2));
            ModelBuilder::attr(n, "sampling_ratio", sr);
            ModelBuilder::attr(n, "spatial_scale", 0.5);
            ModelBuilder::attr(n, "mode", max_mode ? "max" : "avg");
            ModelBuilder::attr(n, "coordinate_transformation_mode", half ? "half_pixel" : "output_half_pixel");
          }, 16);
          Tensor want = roi_align_ref(x, rois, bidx, 3, 2, sr, 0.5, half, max_mode);
          // Run-time rois with an adaptive grid cap the samples per bin at ceil(extent / bins): the rois
          // larger than the feature map (#2: 11.5 rows, #4: 10 x 14.5 on a 7 x 9 map) then differ.
          if (!known_rois && sr == 0) {
            std::vector<float> a = got.to_vector<float>(), b = want.to_vector<float>(), sa, sb;
            int64_t per = 3 * 3 * 2;
            for (int64_t r : {0, 1, 3}) {
              sa.insert(sa.end(), a.begin() + r * per, a.begin() + (r + 1) * per);
              sb.insert(sb.end(), b.begin() + r * per, b.begin() + (r + 1) * per);
            }
            expect_close(f32(sa, {3, 3, 3, 2}), f32(sb, {3, 3, 3, 2}), 1e-4);
          } else {
            expect_close(got, want, 1e-4);
          }
        }
  // Opset 10 has no coordinate_transformation_mode: it behaves as output_half_pixel.
  Tensor got10 = run1("RoiAlign", {{"X", x}, {"rois", rois}, {"b", bidx}}, [&](auto& n) {
    ModelBuilder::attr(n, "output_height", int64_t(2));
    ModelBuilder::attr(n, "output_width", int64_t(2));
    ModelBuilder::attr(n, "sampling_ratio", int64_t(3));
    ModelBuilder::attr(n, "spatial_scale", 0.5);
  }, 10);
  expect_close(got10, roi_align_ref(x, rois, bidx, 2, 2, 3, 0.5, false, false), 1e-4);
}

// ---- MelWeightMatrix ----

TEST(OnnxMelWeightMatrix, MatchesNumPyValues) {
  // NumPy, following the operator description: num_mel_bins 5, dft_length 32, sample_rate 8000, edges
  // 100 and 3800 Hz (f32) -> bin edges [0 1 2 4 5 8 11].
  std::vector<float> want = {
      0, 0, 0, 0, 0,  1, 0, 0, 0, 0,  0, 1, 0, 0, 0,  0, 0.5f, 0.5f, 0, 0,  0, 0, 1, 0, 0,
      0, 0, 0, 1, 0,  0, 0, 0, 2.f / 3, 1.f / 3,  0, 0, 0, 1.f / 3, 2.f / 3,  0, 0, 0, 0, 1,
      0, 0, 0, 0, 2.f / 3,  0, 0, 0, 0, 1.f / 3};
  want.resize(17 * 5, 0.f);
  Tensor got = run1("MelWeightMatrix", {{"n", Tensor::scalar(int64_t(5)), true}, {"dft", Tensor::scalar(int64_t(32)), true},
                                        {"rate", Tensor::scalar(int64_t(8000)), true}, {"lo", Tensor::scalar(100.f), true},
                                        {"hi", Tensor::scalar(3800.f), true}});
  expect_close(got, f32(want, {17, 5}), 1e-6);
  Tensor got64 = run1("MelWeightMatrix", {{"n", Tensor::scalar(int64_t(5)), true}, {"dft", Tensor::scalar(int64_t(32)), true},
                                          {"rate", Tensor::scalar(int64_t(8000)), true}, {"lo", Tensor::scalar(100.f), true},
                                          {"hi", Tensor::scalar(3800.f), true}},
                      [](auto& n) { ModelBuilder::attr(n, "output_datatype", int64_t(11)); });
  EXPECT_EQ(got64.dtype(), DType::F64);
  EXPECT_EQ(got64.shape(), Shape({17, 5}));
}

// ---- Resize ----

Tensor resize(const Tensor& x, std::vector<float> scales, std::vector<int64_t> sizes, Attrs attrs, int64_t opset = 18,
              std::vector<float> roi = {}) {
  std::vector<In> in = {{"X", x}, {roi.empty() ? "" : "roi", roi.empty() ? Tensor() : f32(roi, {int64_t(roi.size())}), true}};
  in.push_back({scales.empty() ? "" : "scales", scales.empty() ? Tensor() : f32(scales, {int64_t(scales.size())}), true});
  if (!sizes.empty()) in.push_back({"sizes", i64(sizes, {int64_t(sizes.size())}), true});
  return run1("Resize", in, std::move(attrs), opset);
}

Tensor ramp16() {
  std::vector<float> v(16);
  for (int i = 0; i < 16; ++i) v[size_t(i)] = float(i + 1);
  return f32(v, {1, 1, 4, 4});
}

TEST(OnnxResize, AlignCornersDownsampleUsesTheUnroundedLength) {
  // 2x4 input, scale 0.6: rows 1 output (row 0); columns 2 outputs mapped over length 2.4: x = o * 3 / 1.4.
  Tensor x = f32({1, 2, 3, 4, 5, 6, 7, 8}, {1, 1, 2, 4});
  Tensor y = resize(x, {1, 1, 0.6f, 0.6f}, {}, [](auto& n) {
    ModelBuilder::attr(n, "mode", "linear");
    ModelBuilder::attr(n, "coordinate_transformation_mode", "align_corners");
  });
  expect_close(y, f32({1.f, 1.f + 3.f / 1.4f}, {1, 1, 1, 2}));
  // 4x4 by 0.6 -> 2x2 over 2.4: rows and columns both at 0 and 3 / 1.4.
  Tensor y2 = resize(ramp16(), {1, 1, 0.6f, 0.6f}, {}, [](auto& n) {
    ModelBuilder::attr(n, "mode", "linear");
    ModelBuilder::attr(n, "coordinate_transformation_mode", "align_corners");
  });
  float t = 3.f / 1.4f;
  expect_close(y2, f32({1.f, 1.f + t, 1.f + 4 * t, 1.f + 5 * t}, {1, 1, 2, 2}), 1e-5);
}

TEST(OnnxResize, TfCropAndResizeWithExtrapolation) {
  // roi rows 0.4..1.2 (runs past the bottom), cols 0.6..0.8; 3x3 output; x[h][w] = 4h + w + 1.
  // Rows: 1.2, 2.4, 3.6 (> 3: extrapolated); cols: 1.8, 2.1, 2.4.
  Tensor y = resize(ramp16(), {}, {1, 1, 3, 3}, [](auto& n) {
    ModelBuilder::attr(n, "mode", "linear");
    ModelBuilder::attr(n, "coordinate_transformation_mode", "tf_crop_and_resize");
    ModelBuilder::attr(n, "extrapolation_value", 10.0);
  }, 13, {0, 0, 0.4f, 0.6f, 1, 1, 1.2f, 0.8f});
  auto v = [](double h, double w) { return float(4 * h + w + 1); };
  expect_close(y, f32({v(1.2, 1.8), v(1.2, 2.1), v(1.2, 2.4), v(2.4, 1.8), v(2.4, 2.1), v(2.4, 2.4), 10, 10, 10}, {1, 1, 3, 3}),
               1e-4);
  // The roi as a graph input (not known while tracing) specializes the trace on its value.
  Tensor y2 = run1("Resize", {{"X", ramp16()}, {"roi", f32({0, 0, 0.4f, 0.6f, 1, 1, 1.2f, 0.8f}, {8})}, {"", Tensor()},
                              {"sizes", i64({1, 1, 3, 3}, {4}), true}},
                   [](auto& n) {
                     ModelBuilder::attr(n, "mode", "linear");
                     ModelBuilder::attr(n, "coordinate_transformation_mode", "tf_crop_and_resize");
                     ModelBuilder::attr(n, "extrapolation_value", 10.0);
                   }, 13);
  expect_close(y2, y);
}

TEST(OnnxResize, AntialiasMatchesNumPy) {
  // NumPy values from the operator description's antialias filters (linear: triangle stretched by 1/scale,
  // cubic: cubic kernel stretched by 1/scale, both normalized; taps past the border read the edge).
  Tensor lin = resize(ramp16(), {1, 1, 0.6f, 0.6f}, {}, [](auto& n) {
    ModelBuilder::attr(n, "mode", "linear");
    ModelBuilder::attr(n, "antialias", int64_t(1));
  });
  expect_close(lin, f32({2.875f, 4.5f, 9.375f, 11.0f}, {1, 1, 2, 2}), 1e-4);
  Tensor cub = resize(ramp16(), {1, 1, 0.6f, 0.6f}, {}, [](auto& n) {
    ModelBuilder::attr(n, "mode", "cubic");
    ModelBuilder::attr(n, "antialias", int64_t(1));
  });
  expect_close(cub, f32({2.5180722891566187f, 4.285886402753867f, 9.589328743545611f, 11.357142857142861f}, {1, 1, 2, 2}),
               1e-4);
  Tensor x2 = f32({3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4, 6, 2, 6, 4, 3, 3, 8, 3, 2, 7, 9, 5}, {1, 1, 4, 8});
  Tensor lin2 = resize(x2, {}, {3, 3}, [](auto& n) {
    ModelBuilder::attr(n, "mode", "linear");
    ModelBuilder::attr(n, "antialias", int64_t(1));
    ModelBuilder::attr(n, "axes", std::vector<int64_t>{2, 3});
  });
  expect_close(lin2, f32({2.955602536997886f, 5.036796536796537f, 5.486257928118394f, 4.127906976744185f, 6.261904761904763f,
                          5.383720930232558f, 3.964059196617336f, 4.508658008658009f, 6.008456659619451f},
                         {1, 1, 3, 3}),
               1e-4);
  Tensor cub2 = resize(x2, {}, {3, 3}, [](auto& n) {
    ModelBuilder::attr(n, "mode", "cubic");
    ModelBuilder::attr(n, "antialias", int64_t(1));
    ModelBuilder::attr(n, "axes", std::vector<int64_t>{2, 3});
  });
  expect_close(cub2, f32({2.6603063853730973f, 5.252446178165516f, 5.8527253967629225f, 4.185580569947478f, 6.895747940912378f,
                          5.2448294587818705f, 4.0705834356162836f, 4.347681027921704f, 5.990060672246795f},
                         {1, 1, 3, 3}),
               1e-4);
}

TEST(OnnxResize, KeepAspectRatioPolicyWithAxes) {
  // 4x8 input, sizes (3, 3) on axes (2, 3): not_larger uses scale min(3/4, 3/8) = 0.375 -> 2x3 (1.5 rounds
  // up), not_smaller uses 0.75 -> 3x6. Nearest (asymmetric, floor) so values are easy to derive.
  std::vector<float> v(32);
  for (int i = 0; i < 32; ++i) v[size_t(i)] = float(i);
  Tensor x = f32(v, {1, 1, 4, 8});
  auto run_policy = [&](const char* policy) {
    return resize(x, {}, {3, 3}, [&](auto& n) {
      ModelBuilder::attr(n, "keep_aspect_ratio_policy", policy);
      ModelBuilder::attr(n, "axes", std::vector<int64_t>{2, 3});
      ModelBuilder::attr(n, "coordinate_transformation_mode", "asymmetric");
      ModelBuilder::attr(n, "nearest_mode", "floor");
    });
  };
  Tensor small = run_policy("not_larger");
  ASSERT_EQ(small.shape(), Shape({1, 1, 2, 3}));
  // rows floor(o / 0.375) = 0, 2; cols 0, 2, 5.
  expect_close(small, f32({0, 2, 5, 16, 18, 21}, {1, 1, 2, 3}));
  Tensor big = run_policy("not_smaller");
  ASSERT_EQ(big.shape(), Shape({1, 1, 3, 6}));
  // rows floor(o / 0.75) = 0, 1, 2; cols 0, 1, 2, 4, 5, 6.
  expect_close(big, f32({0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, 16, 17, 18, 20, 21, 22}, {1, 1, 3, 6}));
}

// ---- MaxPool Indices ----

// Loops over the ONNX description: the first maximum of each window (padding excluded); the index is
// row-major (storage_order 0) or column-major over the spatial axes (1), offset by (n * C + c) * spatial.
std::pair<Tensor, Tensor> max_pool_ref(const Tensor& x, std::vector<int64_t> k, std::vector<int64_t> st,
                                       std::vector<int64_t> pads, std::vector<int64_t> dil, int64_t storage_order) {
  int64_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  int64_t OH = (H + pads[0] + pads[2] - ((k[0] - 1) * dil[0] + 1)) / st[0] + 1;
  int64_t OW = (W + pads[1] + pads[3] - ((k[1] - 1) * dil[1] + 1)) / st[1] + 1;
  std::vector<float> y;
  std::vector<int64_t> idx;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double best = -INFINITY;
          int64_t bi = -1;
          for (int64_t i = 0; i < k[0]; ++i)
            for (int64_t j = 0; j < k[1]; ++j) {
              int64_t h = oh * st[0] + i * dil[0] - pads[0], w = ow * st[1] + j * dil[1] - pads[1];
              if (h < 0 || h >= H || w < 0 || w >= W) continue;
              double v = x.value_as_double(((n * C + c) * H + h) * W + w);
              if (v > best) {
                best = v;
                bi = (n * C + c) * H * W + (storage_order == 0 ? h * W + w : h + w * H);
              }
            }
          y.push_back(float(best));
          idx.push_back(bi);
        }
  return {f32(y, {N, C, OH, OW}), i64(idx, {N, C, OH, OW})};
}

TEST(OnnxMaxPoolIndices, RowAndColumnMajorWithPadsStridesDilations) {
  Tensor x = testing::random_tensor({2, 3, 6, 7}, 5);
  struct Case {
    std::vector<int64_t> k, st, pads, dil;
  };
  for (const Case& cs : {Case{{2, 2}, {2, 2}, {0, 0, 0, 0}, {1, 1}}, Case{{3, 3}, {1, 2}, {1, 1, 1, 1}, {1, 1}},
                         Case{{2, 3}, {2, 1}, {1, 0, 0, 2}, {2, 1}}})
    for (int64_t so : {int64_t(0), int64_t(1)}) {
      auto outs = run_op("MaxPool", {{"x", x}}, [&](auto& n) {
        ModelBuilder::attr(n, "kernel_shape", cs.k);
        ModelBuilder::attr(n, "strides", cs.st);
        ModelBuilder::attr(n, "pads", cs.pads);
        ModelBuilder::attr(n, "dilations", cs.dil);
        ModelBuilder::attr(n, "storage_order", so);
      }, 12, 2);
      auto [y, idx] = max_pool_ref(x, cs.k, cs.st, cs.pads, cs.dil, so);
      expect_close(outs[0], y);
      ASSERT_EQ(outs[1].dtype(), DType::I64);
      expect_close(outs[1], idx, 0);
    }
}

TEST(OnnxMaxPoolIndices, HandDerivedWithTiesAndOneDimension) {
  // 1-D: [1, 5, 5, 2, 7, 7], kernel 2, stride 2 -> values 5, 5, 7 at indices 1, 2, 4 (first maximum).
  auto outs = run_op("MaxPool", {{"x", f32({1, 5, 5, 2, 7, 7}, {1, 1, 6})}}, [](auto& n) {
    ModelBuilder::attr(n, "kernel_shape", std::vector<int64_t>{2});
    ModelBuilder::attr(n, "strides", std::vector<int64_t>{2});
  }, 12, 2);
  expect_close(outs[0], f32({5, 5, 7}, {1, 1, 3}));
  expect_close(outs[1], i64({1, 2, 4}, {1, 1, 3}), 0);
}

}  // namespace
}  // namespace graft::onnx
