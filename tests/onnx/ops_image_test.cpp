// Image ops (AffineGrid, GridSample in 1-, 2- and 3-D, Col2Im, CenterCropPad, MaxRoiPool, DeformConv) against
// plain loops written here from the ONNX specification (and its reference implementation's conventions), and
// against PyTorch outputs stored in tests/fixtures/image_ops (gen_image_op_fixtures.py); Multinomial by its
// distribution and seeding.
#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

#include "onnx_test_util.h"

namespace graft::onnx {
namespace {

using testing::ModelBuilder;
using namespace testing::ops;
// These ops are opset 18-20 ops: run them at opset 20 unless a test says otherwise.
Tensor run20(const std::string& op, const std::vector<In>& inputs, Attrs attrs = {}, int64_t opset = 20) {
  return run_op(op, inputs, std::move(attrs), opset)[0];
}

Tensor f32(std::vector<float> v, Shape s) { return Tensor::from_vector(v, s); }
Tensor i64(std::vector<int64_t> v) { return Tensor::from_vector(v, Shape{int64_t(v.size())}); }
Tensor rnd(Shape s, uint32_t seed, float lo = -1, float hi = 1) { return testing::random_tensor(s, seed, lo, hi); }

void expect_close(const Tensor& got, const Tensor& want, double tol = 1e-5) {
  ASSERT_EQ(got.shape(), want.shape()) << got.str() << " vs " << want.str();
  for (int64_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got.value_as_double(i), want.value_as_double(i), tol)
        << "element " << i << "\n" << got.str() << "\nvs\n" << want.str();
}

Tensor from_doubles(const std::vector<double>& v, Shape s) {
  std::vector<float> f(v.begin(), v.end());
  return Tensor::from_vector(f, s);
}

std::vector<int64_t> unravel(int64_t flat, const std::vector<int64_t>& dims) {
  std::vector<int64_t> idx(dims.size());
  for (int i = int(dims.size()) - 1; i >= 0; --i) {
    idx[size_t(i)] = flat % dims[size_t(i)];
    flat /= dims[size_t(i)];
  }
  return idx;
}

int64_t prod(const std::vector<int64_t>& v) { return std::accumulate(v.begin(), v.end(), int64_t(1), std::multiplies<>()); }

std::filesystem::path fixture(const std::string& name) {
  return std::filesystem::path(GRAFT_SOURCE_DIR) / "tests" / "fixtures" / "image_ops" / (name + ".npy");
}

// ---- AffineGrid ----

Tensor ref_affine_grid(const Tensor& theta, const std::vector<int64_t>& size, bool align) {
  int D = int(size.size()) - 2;
  std::vector<int64_t> S(size.begin() + 2, size.end());
  int64_t N = size[0], P = prod(S);
  std::vector<double> th = theta.to_vector<double>(), out;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t p = 0; p < P; ++p) {
      auto idx = unravel(p, S);
      std::vector<double> h(size_t(D + 1), 1.0);  // (x, y, [z], 1)
      for (int i = 0; i < D; ++i) {
        double s = double(S[size_t(i)]), k = double(idx[size_t(i)]);
        h[size_t(D - 1 - i)] = align ? (s > 1 ? -1 + 2 * k / (s - 1) : -1.0) : -1 + (2 * k + 1) / s;
      }
      for (int r = 0; r < D; ++r) {
        double v = 0;
        for (int j = 0; j <= D; ++j) v += th[size_t((n * D + r) * (D + 1) + j)] * h[size_t(j)];
        out.push_back(v);
      }
    }
  std::vector<int64_t> dims = {N};
  dims.insert(dims.end(), S.begin(), S.end());
  dims.push_back(D);
  return from_doubles(out, Shape(dims));
}

TEST(OnnxImageOps, AffineGridMatchesTheSpecificationLoops) {
  for (bool align : {false, true}) {
    auto attrs = [&](auto& n) { ModelBuilder::attr(n, "align_corners", int64_t(align)); };
    Tensor th2 = rnd({2, 2, 3}, 1), th3 = rnd({3, 3, 4}, 2);
    expect_close(run20("AffineGrid", {{"t", th2}, {"s", i64({2, 3, 4, 5}), true}}, attrs),
                 ref_affine_grid(th2, {2, 3, 4, 5}, align));
    expect_close(run20("AffineGrid", {{"t", th3}, {"s", i64({3, 2, 2, 3, 1}), true}}, attrs),
                 ref_affine_grid(th3, {3, 2, 2, 3, 1}, align));
    // The identity transform gives the sampling grid of GridSample: the pixel centres (or corners).
    Tensor id = f32({1, 0, 0, 0, 1, 0}, {1, 2, 3});
    Tensor g = run20("AffineGrid", {{"t", id}, {"s", i64({1, 1, 2, 4}), true}}, attrs);
    std::vector<float> want = align ? std::vector<float>{-1, -1, -1.f / 3, -1, 1.f / 3, -1, 1, -1, -1, 1, -1.f / 3, 1, 1.f / 3, 1, 1, 1}
                                    : std::vector<float>{-0.75, -0.5, -0.25, -0.5, 0.25, -0.5, 0.75, -0.5,
                                                         -0.75, 0.5, -0.25, 0.5, 0.25, 0.5, 0.75, 0.5};
    expect_close(g, f32(want, {1, 2, 4, 2}));
  }
}

TEST(OnnxImageOps, AffineGridMatchesTorchFixtures) {
  for (int ac : {0, 1}) {
    auto attrs = [&](auto& n) { ModelBuilder::attr(n, "align_corners", int64_t(ac)); };
    std::string a = "_align" + std::to_string(ac);
    expect_close(run20("AffineGrid", {{"t", read_npy(fixture("affine2d_theta"))}, {"s", i64({2, 3, 4, 5}), true}}, attrs),
                 read_npy(fixture("affine2d" + a)));
    expect_close(run20("AffineGrid", {{"t", read_npy(fixture("affine3d_theta"))}, {"s", i64({2, 1, 3, 4, 5}), true}}, attrs),
                 read_npy(fixture("affine3d" + a)));
  }
}

// ---- GridSample ----

// The ONNX reference (opset 20): unnormalize, round for nearest (nearbyint; std::round in 3-D), pad the
// coordinate when outside the border, then interpolate with taps padded the same way.
double gs_reflect(double x, double lo, double hi) {
  double rng = hi - lo;
  if (x < lo) {
    double dx = lo - x;
    int64_t n = int64_t(dx / rng);
    double r = dx - double(n) * rng;
    return n % 2 == 0 ? lo + r : hi - r;
  }
  if (x > hi) {
    double dx = x - hi;
    int64_t n = int64_t(dx / rng);
    double r = dx - double(n) * rng;
    return n % 2 == 0 ? hi - r : lo + r;
  }
  return x;
}

void cubic_coeffs(double t, double c[4]) {
  const double A = -0.75;
  double x = t + 1;
  c[0] = ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
  c[1] = ((A + 2) * t - (A + 3)) * t * t + 1;
  x = 1 - t;
  c[2] = ((A + 2) * x - (A + 3)) * x * x + 1;
  x = 2 - t;
  c[3] = ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
}

Tensor ref_grid_sample(const Tensor& X, const Tensor& G, const std::string& mode, const std::string& pad, bool align) {
  int D = X.rank() - 2;
  int64_t N = X.shape()[0], C = X.shape()[1];
  std::vector<int64_t> S, O;
  for (int i = 0; i < D; ++i) {
    S.push_back(X.shape()[i + 2]);
    O.push_back(G.shape()[i + 1]);
  }
  int64_t P = prod(S), Q = prod(O);
  std::vector<double> x = X.to_vector<double>(), g = G.to_vector<double>(), out(size_t(N * C * Q));
  std::vector<double> lo(static_cast<size_t>(D)), hi(static_cast<size_t>(D));
  for (int i = 0; i < D; ++i) {
    lo[size_t(i)] = align ? 0 : -0.5;
    hi[size_t(i)] = align ? double(S[size_t(i)] - 1) : double(S[size_t(i)]) - 0.5;
  }
  auto pixel = [&](int64_t n, int64_t c, const std::vector<int64_t>& idx) {
    int64_t flat = 0;
    for (int i = 0; i < D; ++i) {
      int64_t v = idx[size_t(i)], s = S[size_t(i)];
      if (pad == "zeros") {
        if (v < 0 || v >= s) return 0.0;
      } else if (pad == "border") {
        v = std::clamp<int64_t>(v, 0, s - 1);
      } else {
        v = int64_t(gs_reflect(double(v), lo[size_t(i)], hi[size_t(i)]));
      }
      flat = flat * s + v;
    }
    return x[size_t((n * C + c) * P + flat)];
  };
  for (int64_t n = 0; n < N; ++n)
    for (int64_t q = 0; q < Q; ++q) {
      std::vector<double> p(static_cast<size_t>(D));
      for (int i = 0; i < D; ++i) {
        double v = g[size_t((n * Q + q) * D + (D - 1 - i))], s = double(S[size_t(i)]);
        double u = align ? (v + 1) / 2 * (s - 1) : ((v + 1) * s - 1) / 2;
        if (mode == "nearest") u = D == 3 ? std::round(u) : std::nearbyint(u);
        if (u < lo[size_t(i)] || u > hi[size_t(i)]) {
          if (pad == "border") u = std::clamp(u, 0.0, s - 1);
          if (pad == "reflection") u = gs_reflect(u, lo[size_t(i)], hi[size_t(i)]);
        }
        p[size_t(i)] = u;
      }
      for (int64_t c = 0; c < C; ++c) {
        double y = 0;
        if (mode == "nearest") {
          std::vector<int64_t> idx(static_cast<size_t>(D));
          for (int i = 0; i < D; ++i) idx[size_t(i)] = int64_t(p[size_t(i)]);
          y = pixel(n, c, idx);
        } else {
          int taps = mode == "linear" ? 2 : 4;
          int64_t combos = 1;
          for (int i = 0; i < D; ++i) combos *= taps;
          for (int64_t k = 0; k < combos; ++k) {
            std::vector<int64_t> idx(static_cast<size_t>(D));
            double w = 1;
            int64_t r = k;
            for (int i = 0; i < D; ++i) {
              int j = int(r % taps);
              r /= taps;
              double f = std::floor(p[size_t(i)]), t = p[size_t(i)] - f;
              if (taps == 2) {
                idx[size_t(i)] = int64_t(f) + j;
                w *= j == 0 ? 1 - t : t;
              } else {
                double cc[4];
                cubic_coeffs(t, cc);
                idx[size_t(i)] = int64_t(f) - 1 + j;
                w *= cc[j];
              }
            }
            y += w * pixel(n, c, idx);
          }
        }
        out[size_t((n * C + c) * Q + q)] = y;
      }
    }
  std::vector<int64_t> dims = {N, C};
  dims.insert(dims.end(), O.begin(), O.end());
  return from_doubles(out, Shape(dims));
}

Tensor grid_sample(const Tensor& x, const Tensor& g, const std::string& mode, const std::string& pad, bool align,
                   int64_t opset = 20) {
  return run20("GridSample", {{"x", x}, {"g", g}}, [&](auto& n) {
    ModelBuilder::attr(n, "mode", mode);
    ModelBuilder::attr(n, "padding_mode", pad);
    ModelBuilder::attr(n, "align_corners", int64_t(align));
  }, opset);
}

TEST(OnnxImageOps, GridSampleMatchesTheSpecificationLoopsIn1D2D3D) {
  struct Case {
    Shape x, g;
  };
  for (const Case& cs : {Case{{2, 2, 7}, {2, 9, 1}}, Case{{2, 3, 4, 5}, {2, 3, 4, 2}}, Case{{1, 2, 3, 4, 5}, {1, 2, 3, 4, 3}}}) {
    Tensor x = rnd(cs.x, 11, -2, 2), g = rnd(cs.g, 12, -1.8f, 1.8f);  // well outside [-1, 1] too
    for (std::string mode : {"linear", "nearest", "cubic"})
      for (std::string pad : {"zeros", "border", "reflection"})
        for (bool align : {false, true}) {
          SCOPED_TRACE(mode + " " + pad + " align " + std::to_string(align) + " rank " + std::to_string(cs.x.rank()));
          expect_close(grid_sample(x, g, mode, pad, align), ref_grid_sample(x, g, mode, pad, align), 2e-5);
        }
  }
}

TEST(OnnxImageOps, GridSampleOpset16NamesAndDoubles) {
  Tensor x = rnd({1, 2, 4, 4}, 3), g = rnd({1, 3, 3, 2}, 4, -1.2f, 1.2f);
  expect_close(grid_sample(x, g, "bilinear", "border", false, 16), ref_grid_sample(x, g, "linear", "border", false));
  expect_close(grid_sample(x, g, "bicubic", "zeros", true, 16), ref_grid_sample(x, g, "cubic", "zeros", true));
  // f64 data with an f32 grid.
  std::vector<double> xv = x.to_vector<double>();
  Tensor x64 = Tensor::from_vector(xv, x.shape());
  Tensor y = grid_sample(x64, g, "linear", "reflection", false);
  EXPECT_EQ(y.dtype(), DType::F64);
  expect_close(y, ref_grid_sample(x, g, "linear", "reflection", false));
}

TEST(OnnxImageOps, GridSampleMatchesTorchFixtures) {
  Tensor x3 = read_npy(fixture("gs3d_x")), g3 = read_npy(fixture("gs3d_grid"));
  for (std::string mode : {"bilinear", "nearest"})
    for (std::string pad : {"zeros", "border", "reflection"})
      for (int ac : {0, 1}) {
        std::string name = "gs3d_" + mode + "_" + pad + "_align" + std::to_string(ac);
        SCOPED_TRACE(name);
        expect_close(grid_sample(x3, g3, mode == "bilinear" ? "linear" : mode, pad, ac != 0), read_npy(fixture(name)), 2e-5);
      }
  Tensor x2 = read_npy(fixture("gs2d_x")), g2 = read_npy(fixture("gs2d_grid"));
  for (std::string pad : {"zeros", "border", "reflection"})
    for (int ac : {0, 1}) {
      std::string name = "gs2d_bicubic_" + pad + "_align" + std::to_string(ac);
      SCOPED_TRACE(name);
      expect_close(grid_sample(x2, g2, "cubic", pad, ac != 0), read_npy(fixture(name)), 2e-5);
    }
}

TEST(OnnxImageOps, AffineGridFeedsGridSample) {
  // An identity AffineGrid followed by GridSample reproduces the input, for either align_corners.
  for (bool align : {false, true}) {
    ModelBuilder b(20);
    Tensor x = rnd({2, 3, 2, 3, 4}, 9);
    b.input("x", DType::F32, {int64_t(2), int64_t(3), int64_t(2), int64_t(3), int64_t(4)});
    b.initializer("theta", f32({1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0}, {2, 3, 4}));
    b.initializer("size", i64({2, 3, 2, 3, 4}));
    b.output_untyped("y");
    ModelBuilder::attr(b.node("AffineGrid", {"theta", "size"}, {"grid"}), "align_corners", int64_t(align));
    ModelBuilder::attr(b.node("GridSample", {"x", "grid"}, {"y"}), "align_corners", int64_t(align));
    expect_close(testing::run_model(b.model(), {{"x", x}}).at("y"), x);
  }
}

// ---- Col2Im ----

Tensor ref_col2im(const Tensor& X, const std::vector<int64_t>& image, const std::vector<int64_t>& block,
                  const std::vector<int64_t>& dil, const std::vector<int64_t>& pads, const std::vector<int64_t>& strides) {
  size_t D = image.size();
  int64_t N = X.shape()[0], K = prod(block), C = X.shape()[1] / K, L = X.shape()[2];
  std::vector<int64_t> ncol(D);
  for (size_t i = 0; i < D; ++i)
    ncol[i] = (image[i] + pads[i] + pads[i + D] - (dil[i] * (block[i] - 1) + 1)) / strides[i] + 1;
  EXPECT_EQ(prod(ncol), L);
  int64_t P = prod(image);
  std::vector<double> x = X.to_vector<double>(), out(size_t(N * C * P), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t k = 0; k < K; ++k)
        for (int64_t l = 0; l < L; ++l) {
          auto kk = unravel(k, block), ll = unravel(l, ncol);
          int64_t flat = 0;
          bool in = true;
          for (size_t i = 0; i < D; ++i) {
            int64_t p = ll[i] * strides[i] - pads[i] + kk[i] * dil[i];
            in = in && p >= 0 && p < image[i];
            flat = flat * image[i] + p;
          }
          if (in) out[size_t((n * C + c) * P + flat)] += x[size_t(((n * C + c) * K + k) * L + l)];
        }
  std::vector<int64_t> dims = {N, C};
  dims.insert(dims.end(), image.begin(), image.end());
  return from_doubles(out, Shape(dims));
}

TEST(OnnxImageOps, Col2ImMatchesTheSpecificationLoops) {
  // 2-D with asymmetric pads, strides and dilations; image_shape and block_shape as initializers.
  {
    std::vector<int64_t> image = {6, 7}, block = {2, 3}, dil = {2, 1}, pads = {1, 0, 2, 1}, strides = {1, 2};
    // blocks: (6 + 3 - 3) / 1 + 1 = 7, (7 + 1 - 3) / 2 + 1 = 3
    Tensor x = rnd({2, 3 * 6, 21}, 21);
    Tensor y = run20("Col2Im", {{"x", x}, {"i", i64(image), true}, {"b", i64(block), true}}, [&](auto& n) {
      ModelBuilder::attr(n, "dilations", dil);
      ModelBuilder::attr(n, "pads", pads);
      ModelBuilder::attr(n, "strides", strides);
    }, 18);
    expect_close(y, ref_col2im(x, image, block, dil, pads, strides));
  }
  // 3-D and 1-D with defaults.
  {
    Tensor x = rnd({1, 2 * 8, 2 * 3 * 2}, 22);
    Tensor y = run20("Col2Im", {{"x", x}, {"i", i64({3, 4, 3}), true}, {"b", i64({2, 2, 2}), true}}, {}, 18);
    expect_close(y, ref_col2im(x, {3, 4, 3}, {2, 2, 2}, {1, 1, 1}, {0, 0, 0, 0, 0, 0}, {1, 1, 1}));
    Tensor x1 = rnd({2, 3, 4}, 23);
    Tensor y1 = run20("Col2Im", {{"x", x1}, {"i", i64({5}), true}, {"b", i64({3}), true}},
                     [](auto& n) { ModelBuilder::attr(n, "pads", std::vector<int64_t>{1, 0}); }, 18);
    expect_close(y1, ref_col2im(x1, {5}, {3}, {1}, {1, 0}, {1}));
  }
  // The ONNX documentation's example: a 5x5 image from 5 columns of 1x5 blocks is the transposed input.
  std::vector<float> v(25);
  std::iota(v.begin(), v.end(), 1.f);
  Tensor y = run20("Col2Im", {{"x", f32(v, {1, 5, 5})}, {"i", i64({5, 5}), true}, {"b", i64({1, 5}), true}}, {}, 18);
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 5; ++j) EXPECT_EQ(y.value_as_double(i * 5 + j), double(j * 5 + i + 1));
}

TEST(OnnxImageOps, Col2ImMatchesTorchFold) {
  Tensor y = run20("Col2Im", {{"x", read_npy(fixture("col2im_x"))}, {"i", i64({5, 6}), true}, {"b", i64({2, 3}), true}},
                  [](auto& n) {
                    ModelBuilder::attr(n, "dilations", std::vector<int64_t>{1, 2});
                    ModelBuilder::attr(n, "pads", std::vector<int64_t>{1, 0, 1, 0});
                    ModelBuilder::attr(n, "strides", std::vector<int64_t>{2, 1});
                  }, 18);
  expect_close(y, read_npy(fixture("col2im_y")));
}

TEST(OnnxImageOps, Col2ImRejectsAMismatchedBlockCount) {
  EXPECT_THROW_WITH(run20("Col2Im", {{"x", rnd({1, 4, 5}, 1)}, {"i", i64({3, 3}), true}, {"b", i64({2, 2}), true}}, {}, 18),
                    "Col2Im", "blocks");
}

// ---- CenterCropPad ----

TEST(OnnxImageOps, CenterCropPadCropsAndPadsAroundTheCentre) {
  std::vector<float> v(20);
  std::iota(v.begin(), v.end(), 0.f);
  Tensor x = f32(v, {4, 5});
  // Crop 4 -> 1 (rows 1), pad 5 -> 8 (1 before, 2 after).
  Tensor y = run20("CenterCropPad", {{"x", x}, {"s", i64({1, 8}), true}}, {}, 18);
  expect_close(y, f32({0, 5, 6, 7, 8, 9, 0, 0}, {1, 8}));
  // Crop 5 -> 2 on the last axis only (columns 1..2), via negative axes.
  Tensor z = run20("CenterCropPad", {{"x", x}, {"s", i64({2}), true}},
                  [](auto& n) { ModelBuilder::attr(n, "axes", std::vector<int64_t>{-1}); }, 18);
  expect_close(z, f32({1, 2, 6, 7, 11, 12, 16, 17}, {4, 2}));
  // A loop over the definition on a 3-D tensor with axes {0, 2}.
  Tensor a = rnd({3, 2, 6}, 31);
  Tensor b = run20("CenterCropPad", {{"a", a}, {"s", i64({6, 3}), true}},
                  [](auto& n) { ModelBuilder::attr(n, "axes", std::vector<int64_t>{0, 2}); }, 18);
  ASSERT_EQ(b.shape(), Shape({6, 2, 3}));
  for (int64_t i = 0; i < 6; ++i)
    for (int64_t j = 0; j < 2; ++j)
      for (int64_t k = 0; k < 3; ++k) {
        int64_t si = i - 1, sk = k + 1;  // pad 3 -> 6: 1 before; crop 6 -> 3: start 1
        double want = si >= 0 && si < 3 ? a.value_as_double((si * 2 + j) * 6 + sk) : 0.0;
        EXPECT_EQ(b.value_as_double((i * 2 + j) * 3 + k), want);
      }
  // Integer data keeps its dtype.
  Tensor t = run20("CenterCropPad", {{"t", Tensor::from_vector(std::vector<int32_t>{1, 2, 3}, Shape{3})}, {"s", i64({4}), true}}, {}, 18);
  EXPECT_EQ(t.dtype(), DType::I32);
  EXPECT_EQ(t.to_vector<int32_t>(), (std::vector<int32_t>{1, 2, 3, 0}));  // an odd excess pads at the end
}

// ---- MaxRoiPool ----

double round_half_away(double v) { return std::round(v); }

Tensor ref_max_roi_pool(const Tensor& X, const Tensor& rois, int64_t ph, int64_t pw, float scale) {
  int64_t C = X.shape()[1], H = X.shape()[2], W = X.shape()[3], R = rois.shape()[0];
  std::vector<float> x = X.to_vector<float>(), r = rois.to_vector<float>();
  std::vector<double> out;
  for (int64_t n = 0; n < R; ++n) {
    const float* roi = &r[size_t(n * 5)];
    int64_t b = int64_t(roi[0]);
    int64_t sw = int64_t(round_half_away(roi[1] * scale)), sh = int64_t(round_half_away(roi[2] * scale));
    int64_t ew = int64_t(round_half_away(roi[3] * scale)), eh = int64_t(round_half_away(roi[4] * scale));
    float bh = float(std::max<int64_t>(eh - sh + 1, 1)) / float(ph), bw = float(std::max<int64_t>(ew - sw + 1, 1)) / float(pw);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < ph; ++i)
        for (int64_t j = 0; j < pw; ++j) {
          int64_t hs = std::clamp<int64_t>(int64_t(std::floor(float(i) * bh)) + sh, 0, H);
          int64_t he = std::clamp<int64_t>(int64_t(std::ceil(float(i + 1) * bh)) + sh, 0, H);
          int64_t ws = std::clamp<int64_t>(int64_t(std::floor(float(j) * bw)) + sw, 0, W);
          int64_t we = std::clamp<int64_t>(int64_t(std::ceil(float(j + 1) * bw)) + sw, 0, W);
          double m = 0;
          if (he > hs && we > ws) {
            m = -INFINITY;
            for (int64_t y = hs; y < he; ++y)
              for (int64_t xx = ws; xx < we; ++xx) m = std::max(m, double(x[size_t(((b * C + c) * H + y) * W + xx)]));
          }
          out.push_back(m);
        }
  }
  return from_doubles(out, Shape{R, C, ph, pw});
}

TEST(OnnxImageOps, MaxRoiPoolMatchesTheSpecificationLoops) {
  Tensor x = rnd({2, 3, 9, 11}, 41, -3, 3);
  // batch, x1, y1, x2, y2: inside, partly outside, malformed (x2 < x1), wholly outside, a half-way scaled corner,
  // and one covering the whole map.
  Tensor rois = f32({0, 1, 2, 7, 6,   1, -3, 4, 14, 12,  0, 6, 5, 3, 1,  1, 30, 30, 40, 40,
                     1, 5, 3, 9, 17,  0, 0, 0, 21, 17},
                    {6, 5});
  for (float scale : {1.0f, 0.5f})
    for (auto shape : {std::vector<int64_t>{2, 3}, std::vector<int64_t>{4, 1}, std::vector<int64_t>{1, 1}}) {
      auto attrs = [&](auto& n) {
        ModelBuilder::attr(n, "pooled_shape", shape);
        ModelBuilder::attr(n, "spatial_scale", double(scale));
      };
      SCOPED_TRACE("scale " + std::to_string(scale) + " pooled " + std::to_string(shape[0]) + "x" + std::to_string(shape[1]));
      Tensor want = ref_max_roi_pool(x, rois, shape[0], shape[1], scale);
      expect_close(run20("MaxRoiPool", {{"x", x}, {"r", rois}}, attrs, 17), want);        // run-time rois
      expect_close(run20("MaxRoiPool", {{"x", x}, {"r", rois, true}}, attrs, 17), want);  // known rois
    }
}

// ---- DeformConv ----

double bilinear_zero(const std::vector<double>& img, int64_t H, int64_t W, double y, double x) {
  double y0 = std::floor(y), x0 = std::floor(x);
  double v = 0;
  for (int dy = 0; dy < 2; ++dy)
    for (int dx = 0; dx < 2; ++dx) {
      int64_t yy = int64_t(y0) + dy, xx = int64_t(x0) + dx;
      if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
      double w = (dy ? y - y0 : 1 - (y - y0)) * (dx ? x - x0 : 1 - (x - x0));
      v += w * img[size_t(yy * W + xx)];
    }
  return v;
}

struct DeformArgs {
  int64_t group = 1, offset_group = 1;
  std::vector<int64_t> dil = {1, 1}, pads = {0, 0, 0, 0}, strides = {1, 1};
};

Tensor ref_deform_conv(const Tensor& X, const Tensor& Wt, const Tensor& off, const Tensor* B, const Tensor* mask,
                       const DeformArgs& a) {
  int64_t N = X.shape()[0], C = X.shape()[1], H = X.shape()[2], W = X.shape()[3];
  int64_t M = Wt.shape()[0], Cg = Wt.shape()[1], kh = Wt.shape()[2], kw = Wt.shape()[3];
  int64_t oh = off.shape()[2], ow = off.shape()[3];
  int64_t cpo = C / a.offset_group, opg = M / a.group;
  std::vector<double> x = X.to_vector<double>(), w = Wt.to_vector<double>(), o = off.to_vector<double>();
  std::vector<double> m = mask ? mask->to_vector<double>() : std::vector<double>{};
  std::vector<double> out(size_t(N * M * oh * ow));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t oc = 0; oc < M; ++oc)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          double acc = B ? B->value_as_double(oc) : 0.0;
          int64_t gi = oc / opg;
          for (int64_t ci = 0; ci < Cg; ++ci) {
            int64_t c = gi * Cg + ci, og = c / cpo;
            std::vector<double> img(x.begin() + (n * C + c) * H * W, x.begin() + (n * C + c + 1) * H * W);
            for (int64_t u = 0; u < kh; ++u)
              for (int64_t v = 0; v < kw; ++v) {
                int64_t k = u * kw + v;
                auto offv = [&](int axis) {
                  return o[size_t((((n * a.offset_group + og) * kh * kw + k) * 2 + axis) * oh * ow + i * ow + j)];
                };
                double y = double(i * a.strides[0] - a.pads[0] + u * a.dil[0]) + offv(0);
                double xx = double(j * a.strides[1] - a.pads[1] + v * a.dil[1]) + offv(1);
                double s = bilinear_zero(img, H, W, y, xx);
                if (mask) s *= m[size_t(((n * a.offset_group + og) * kh * kw + k) * oh * ow + i * ow + j)];
                acc += s * w[size_t(((oc * Cg + ci) * kh + u) * kw + v)];
              }
          }
          out[size_t(((n * M + oc) * oh + i) * ow + j)] = acc;
        }
  return from_doubles(out, Shape{N, M, oh, ow});
}

Tensor deform_conv(const std::vector<In>& inputs, const DeformArgs& a) {
  return run20("DeformConv", inputs, [&](auto& n) {
    ModelBuilder::attr(n, "group", a.group);
    ModelBuilder::attr(n, "offset_group", a.offset_group);
    ModelBuilder::attr(n, "dilations", a.dil);
    ModelBuilder::attr(n, "pads", a.pads);
    ModelBuilder::attr(n, "strides", a.strides);
  }, 19);
}

TEST(OnnxImageOps, DeformConvMatchesTheSpecificationLoops) {
  // Groups, offset groups, asymmetric pads, strides and dilations; offsets large enough to leave the map.
  DeformArgs a;
  a.group = 2;
  a.offset_group = 2;
  a.dil = {1, 2};
  a.pads = {1, 2, 0, 1};
  a.strides = {2, 1};
  int64_t N = 2, C = 4, H = 6, W = 7, M = 6, kh = 2, kw = 3;
  int64_t oh = (H + 1 + 0 - (kh - 1) - 1) / 2 + 1, ow = (W + 2 + 1 - 2 * (kw - 1) - 1) / 1 + 1;
  Tensor x = rnd({N, C, H, W}, 51), w = rnd({M, C / 2, kh, kw}, 52), b = rnd({M}, 53);
  Tensor off = rnd({N, 2 * kh * kw * 2, oh, ow}, 54, -2.5f, 2.5f), mask = rnd({N, 2 * kh * kw, oh, ow}, 55, 0, 1);
  expect_close(deform_conv({{"x", x}, {"w", w}, {"o", off}, {"b", b}, {"m", mask}}, a),
               ref_deform_conv(x, w, off, &b, &mask, a), 1e-4);
  expect_close(deform_conv({{"x", x}, {"w", w}, {"o", off}}, a), ref_deform_conv(x, w, off, nullptr, nullptr, a), 1e-4);
  // Mask without bias (an empty input name), one group, one offset group.
  DeformArgs d;
  Tensor w1 = rnd({3, C, kh, kw}, 56);
  int64_t oh1 = H - kh + 1, ow1 = W - kw + 1;
  Tensor off1 = rnd({N, kh * kw * 2, oh1, ow1}, 57, -1, 1), mask1 = rnd({N, kh * kw, oh1, ow1}, 58, 0, 1);
  expect_close(deform_conv({{"x", x}, {"w", w1}, {"o", off1}, {"", Tensor()}, {"m", mask1}}, d),
               ref_deform_conv(x, w1, off1, nullptr, &mask1, d), 1e-4);
}

TEST(OnnxImageOps, DeformConvWithZeroOffsetsIsConv) {
  // 1-D, 2-D and 3-D: zero offsets (and no mask) give an ordinary convolution.
  for (int D : {1, 2, 3}) {
    std::vector<int64_t> xs = {2, 4}, ws = {6, 2}, k, pads, strides, dil, os = {2, 0};
    for (int i = 0; i < D; ++i) {
      xs.push_back(5 + i);
      ws.push_back(2 + i % 2);
      k.push_back(2 + i % 2);
    }
    pads.assign(size_t(2 * D), 1);
    strides.assign(size_t(D), 1);
    strides[0] = 2;
    dil.assign(size_t(D), 1);
    dil[size_t(D - 1)] = 2;
    Tensor x = rnd(Shape(xs), 61), w = rnd(Shape(ws), 62);
    auto attrs = [&](auto& n) {
      ModelBuilder::attr(n, "group", int64_t(2));
      ModelBuilder::attr(n, "pads", pads);
      ModelBuilder::attr(n, "strides", strides);
      ModelBuilder::attr(n, "dilations", dil);
    };
    Tensor conv = run20("Conv", {{"x", x}, {"w", w}}, attrs, 19);
    std::vector<int64_t> offs = {2, prod(k) * D};
    for (int i = 0; i < D; ++i) offs.push_back(conv.shape()[i + 2]);
    Tensor zeros = Tensor::zeros(DType::F32, Shape(offs));
    SCOPED_TRACE("rank " + std::to_string(D));
    expect_close(run20("DeformConv", {{"x", x}, {"w", w}, {"o", zeros}}, attrs, 19), conv, 1e-4);
  }
}

// ---- Multinomial ----

TEST(OnnxImageOps, MultinomialFrequenciesFollowTheProbabilities) {
  std::vector<double> p0 = {0.1, 0.2, 0.3, 0.4}, p1 = {0.7, 0.0, 0.05, 0.25};
  std::vector<float> logits;
  for (const auto* p : {&p0, &p1})
    for (double v : *p) logits.push_back(v > 0 ? float(std::log(v) + 3.0) : -INFINITY);  // unnormalized
  const int64_t S = 20000;
  for (int64_t dtype : {int64_t(6), int64_t(7)}) {
    Tensor t = run20("Multinomial", {{"x", f32(logits, {2, 4})}}, [&](auto& n) {
      ModelBuilder::attr(n, "sample_size", S);
      ModelBuilder::attr(n, "dtype", dtype);
      ModelBuilder::attr(n, "seed", 2.0);
    }, 17);
    ASSERT_EQ(t.shape(), Shape({2, S}));
    EXPECT_EQ(t.dtype(), dtype == 6 ? DType::I32 : DType::I64);
    for (int row = 0; row < 2; ++row) {
      const auto& p = row == 0 ? p0 : p1;
      std::vector<int64_t> count(4, 0);
      for (int64_t i = 0; i < S; ++i) {
        int64_t k = int64_t(t.value_as_double(row * S + i));
        ASSERT_GE(k, 0);
        ASSERT_LT(k, 4);
        ++count[size_t(k)];
      }
      for (size_t k = 0; k < 4; ++k) {
        double sd = std::sqrt(p[k] * (1 - p[k]) / double(S));
        EXPECT_NEAR(double(count[k]) / double(S), p[k], 5 * sd + 1e-9) << "row " << row << " class " << k;
      }
      if (row == 1) EXPECT_EQ(count[1], 0);  // probability 0 is never drawn
    }
  }
}

TEST(OnnxImageOps, MultinomialSeedRepeatsAndDefaultsToOneInt32Sample) {
  Tensor x = f32({0, 0, 0, 0, 0, 0, 0, 0}, {1, 8});
  auto draw = [&](std::optional<double> seed) {
    return run20("Multinomial", {{"x", x}}, [&](auto& n) {
      ModelBuilder::attr(n, "sample_size", int64_t(64));
      if (seed) ModelBuilder::attr(n, "seed", *seed);
    }, 17);
  };
  Tensor a = draw(5.0), b = draw(5.0), c = draw(6.0), d = draw(std::nullopt), e = draw(std::nullopt);
  EXPECT_EQ(a.dtype(), DType::I32);
  EXPECT_EQ(a.to_vector<int32_t>(), b.to_vector<int32_t>());
  EXPECT_NE(a.to_vector<int32_t>(), c.to_vector<int32_t>());
  EXPECT_NE(d.to_vector<int32_t>(), e.to_vector<int32_t>());
  Tensor one = run20("Multinomial", {{"x", x}}, {}, 17);
  EXPECT_EQ(one.shape(), Shape({1, 1}));
  // Every class of a uniform row shows up in 64 draws... with overwhelming probability; a fixed seed makes it certain.
  std::vector<int32_t> v = a.to_vector<int32_t>();
  for (int32_t k = 0; k < 8; ++k) EXPECT_NE(std::find(v.begin(), v.end(), k), v.end()) << k;
}

}  // namespace
}  // namespace graft::onnx
