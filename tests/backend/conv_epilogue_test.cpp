// The convolution epilogue fusion (backend/cpu/conv_epilogue): Convolution -> Add(bias) [-> Add(residual)]
// [-> Max(., lo)] [-> Min(., hi) | -> HardSwish or SiLU gate] run as one kernel. Each case runs fused, with the fusion disabled
// (CompileOptions::fuse_conv_epilogues = false), and against a plain-loop reference written here, with
// weights and bias as run-time parameters and as compile-time constants.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "graft/graft.h"
#include "test_util.h"

using namespace graft;

namespace {

struct Case {
  std::vector<int64_t> x, w;  // [N, C, spatial...]; [O, C/G, k...] or transposed [C, O/G, k...]
  std::vector<int64_t> strides, pad;
  int64_t groups = 1;
  bool transposed = false;
  // Epilogue
  std::vector<int64_t> bias_shape;  // empty: no bias Add; else e.g. {1, O, 1, 1} or {O, 1, 1}
  bool residual = false;
  int residual_kind = 0;  // 0: a parameter, 1: computed in the graph (its buffer may become the output's)
  double lo = -INFINITY, hi = INFINITY;  // Max(., lo) when finite; Min(., hi) when finite
  bool nan_input = false;  // NaNs and infinities in x
  enum Gate { kNoGate, kHardSwish, kSilu } gate = kNoGate;  // last, as the ONNX importer writes them
};

using graft::testing::product;
using graft::testing::ravel;
using graft::testing::unravel;
ConvolutionAttrs attrs_of(const Case& c) {
  size_t s = c.x.size() - 2;
  ConvolutionAttrs a;
  a.strides = c.strides.empty() ? std::vector<int64_t>(s, 1) : c.strides;
  a.dilations.assign(s, 1);
  a.pad_low = c.pad.empty() ? std::vector<int64_t>(s, 0) : c.pad;
  a.pad_high = a.pad_low;
  a.output_padding.assign(s, 0);
  a.groups = c.groups;
  a.transposed = c.transposed;
  return a;
}

// Plain loops: y = conv(x, w) in double, scattering every (input, kernel tap) product into the output.
std::vector<double> conv_reference(const Case& c, const std::vector<double>& x, const std::vector<double>& w,
                                   const std::vector<int64_t>& yd) {
  ConvolutionAttrs a = attrs_of(c);
  const size_t s = c.x.size() - 2;
  const int64_t G = c.groups, cg = c.x[1] / G, og = yd[1] / G;
  std::vector<int64_t> ksp(c.w.begin() + 2, c.w.end());
  std::vector<double> y(size_t(product(yd)), 0.0);
  for (int64_t f = 0; f < product(c.x); ++f) {
    std::vector<int64_t> xi = unravel(f, c.x);
    const int64_t n = xi[0], ic = xi[1], grp = ic / cg;
    for (int64_t oc = 0; oc < og; ++oc)
      for (int64_t kf = 0; kf < product(ksp); ++kf) {
        std::vector<int64_t> ki = unravel(kf, ksp);
        std::vector<int64_t> yi{n, grp * og + oc};
        bool ok = true;
        for (size_t d = 0; d < s; ++d) {
          int64_t p;
          if (c.transposed) {
            p = xi[d + 2] * a.strides[d] - a.pad_low[d] + ki[d];
          } else {  // output position p with p * stride - pad + k = input position
            int64_t t = xi[d + 2] + a.pad_low[d] - ki[d];
            ok &= t % a.strides[d] == 0;
            p = t / a.strides[d];
          }
          ok &= p >= 0 && p < yd[d + 2];
          yi.push_back(p);
        }
        if (!ok) continue;
        std::vector<int64_t> wi = c.transposed ? std::vector<int64_t>{ic, oc} : std::vector<int64_t>{grp * og + oc, ic % cg};
        wi.insert(wi.end(), ki.begin(), ki.end());
        y[size_t(ravel(yi, yd))] += x[size_t(f)] * w[size_t(ravel(wi, c.w))];
      }
  }
  return y;
}

std::vector<double> random_values(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> v(static_cast<size_t>(n));
  for (double& e : v) e = u(rng);
  return v;
}

Tensor f32(const std::vector<double>& v, const std::vector<int64_t>& dims) {
  return Tensor::from_vector(v, Shape(dims)).cast(DType::F32);
}

bool same(double got, double want, double tol) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want)) return got == want;
  return std::abs(got - want) <= tol;
}

// Builds the chain with weights and bias as parameters or constants, runs it fused and unfused, and
// checks both against the reference.
void check(const Case& c, bool constant_weights, bool expect_fused = true) {
  SCOPED_TRACE(::testing::Message() << (constant_weights ? "constant" : "parameter") << " weights");
  std::vector<double> xv = random_values(product(c.x), 1), wv = random_values(product(c.w), 2);
  if (c.nan_input) {
    xv[0] = NAN;
    xv[xv.size() / 2] = INFINITY;
    xv[xv.size() - 1] = -INFINITY;
  }
  Tensor xt = f32(xv, c.x), wt = f32(wv, c.w);
  xv = xt.to_vector<double>();
  wv = wt.to_vector<double>();

  Graph g("conv_epilogue");
  std::vector<Tensor> args;
  Node x = g.parameter("x", DType::F32, Shape(c.x));
  args.push_back(xt);
  Node w = constant_weights ? g.constant(wt) : g.parameter("w", DType::F32, Shape(c.w));
  if (!constant_weights) args.push_back(wt);
  Node y = Convolution(x, w, attrs_of(c));
  const std::vector<int64_t> yd = y.shape().dims();
  std::vector<double> want = conv_reference(c, xv, wv, yd);
  if (!c.bias_shape.empty()) {
    Tensor bt = f32(random_values(product(c.bias_shape), 3), c.bias_shape);
    std::vector<double> bv = bt.to_vector<double>();
    Node b = constant_weights ? g.constant(bt) : g.parameter("b", DType::F32, Shape(c.bias_shape));
    if (!constant_weights) args.push_back(bt);
    y = y + b;
    const std::vector<int64_t>& bd = c.bias_shape;  // NumPy broadcasting against yd
    for (size_t i = 0; i < want.size(); ++i) {
      std::vector<int64_t> yi = unravel(int64_t(i), yd), bi(yi.end() - long(bd.size()), yi.end());
      for (size_t d = 0; d < bd.size(); ++d)
        if (bd[d] == 1) bi[d] = 0;
      want[i] = double(float(want[i]) + float(bv[size_t(ravel(bi, bd))]));
    }
  }
  if (c.residual) {
    Tensor rt = f32(random_values(product(yd), 4), yd);
    std::vector<double> rv = rt.to_vector<double>();
    Node r = g.parameter("r", DType::F32, Shape(yd));
    args.push_back(rt);
    if (c.residual_kind == 1) {  // an intermediate that dies here: the output may take its buffer
      r = r * ScalarLike(r, 2.0);
      for (double& v : rv) v *= 2;
    }
    y = y + r;
    for (size_t i = 0; i < want.size(); ++i) want[i] += rv[i];
  }
  if (std::isfinite(c.lo)) {
    y = Max(y, ScalarLike(y, c.lo));
    for (double& v : want) v = std::isnan(v) ? v : std::max(v, c.lo);
  }
  if (std::isfinite(c.hi)) {
    y = Min(y, ScalarLike(y, c.hi));
    for (double& v : want) v = std::isnan(v) ? v : std::min(v, c.hi);
  }
  const bool clamped = std::isfinite(c.lo) || std::isfinite(c.hi);
  if (c.gate == Case::kHardSwish) {  // the importer's HardSwish: y * HardSigmoid(y; 1/6, 0.5)
    y = y * Min(Max(y * ScalarLike(y, 1.0 / 6.0) + ScalarLike(y, 0.5), ScalarLike(y, 0)), ScalarLike(y, 1));
    for (double& v : want) v = std::isnan(v) ? v : v * std::clamp(v / 6 + 0.5, 0.0, 1.0);
  } else if (c.gate == Case::kSilu) {  // PyTorch's SiLU export: y * Sigmoid(y)
    y = y * Logistic(y);
    for (double& v : want) v = v == -INFINITY ? NAN : v / (1 + std::exp(-v));
  }
  g.set_outputs({y});

  double scale = 1;
  for (double v : want)
    if (std::isfinite(v)) scale = std::max(scale, std::abs(v));
  for (bool fuse : {true, false}) {
    SCOPED_TRACE(fuse ? "fused" : "unfused");
    CompileOptions o;
    o.fuse_conv_epilogues = fuse;
    auto exe = cpu_backend()->compile(g, o);
    EXPECT_EQ(exe->stats().num_fused_conv_epilogues, fuse && expect_fused ? 1 : 0);
    if (c.gate != Case::kNoGate && c.residual_kind == 0)  // the gate is inside the convolution, or a group after it
      EXPECT_EQ(exe->stats().num_fused_groups, fuse && expect_fused && !clamped ? 0 : 1);
    for (int rep = 0; rep < 2; ++rep) {  // twice: the second run reuses primitives and reordered weights
      Tensor out = exe->run(args)[0];
      ASSERT_EQ(out.shape().dims(), yd);
      std::vector<double> got = out.to_vector<double>();
      int bad = 0;
      for (size_t i = 0; i < want.size(); ++i)
        if (!same(got[i], want[i], 1e-4 * scale) && ++bad <= 5)
          ADD_FAILURE() << "element " << i << ": got " << got[i] << ", want " << want[i];
      EXPECT_EQ(bad, 0) << "of " << want.size() << " elements";
    }
  }
}

void check_both(const Case& c, bool expect_fused = true) {
  check(c, false, expect_fused);
  check(c, true, expect_fused);
}

constexpr double kInf = std::numeric_limits<double>::infinity();

// `got` equals `want` to 1e-4 relative and has NaN exactly where `want` has; the tests put a NaN into the
// first example of a batch of two, so NaN must reach the outputs, but at most half of them.
void expect_same_values_and_nans(const std::vector<float>& want, const std::vector<float>& got) {
  ASSERT_EQ(got.size(), want.size());
  int nans = 0, bad = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::isnan(want[i])) {
      ++nans;
      if (!std::isnan(got[i]) && ++bad <= 5) ADD_FAILURE() << "element " << i << ": " << got[i] << ", want NaN";
    } else if (!(std::abs(got[i] - want[i]) <= 1e-4f * std::max(1.f, std::abs(want[i]))) && ++bad <= 5) {
      ADD_FAILURE() << "element " << i << ": " << got[i] << " vs " << want[i];
    }
  }
  EXPECT_GT(nans, 0);
  EXPECT_LE(nans, int(want.size()) / 2);
}

}  // namespace

TEST(ConvEpilogue, BiasOnly2d) { check_both({.x = {2, 3, 9, 8}, .w = {6, 3, 3, 3}, .pad = {1, 1}, .bias_shape = {1, 6, 1, 1}}); }

TEST(ConvEpilogue, BiasRank3Shape) { check_both({.x = {1, 4, 7, 7}, .w = {5, 4, 3, 3}, .bias_shape = {5, 1, 1}}); }

TEST(ConvEpilogue, BiasRelu) {
  check_both({.x = {2, 8, 10, 10}, .w = {16, 8, 3, 3}, .pad = {1, 1}, .bias_shape = {1, 16, 1, 1}, .lo = 0});
}

TEST(ConvEpilogue, BiasRelu6Pointwise) {  // 1x1: the plain-layout (gemm) path
  check_both({.x = {1, 16, 12, 12}, .w = {24, 16, 1, 1}, .bias_shape = {1, 24, 1, 1}, .lo = 0, .hi = 6});
}

TEST(ConvEpilogue, BiasClipAsymmetric) {
  check_both({.x = {1, 4, 9, 9}, .w = {8, 4, 3, 3}, .bias_shape = {1, 8, 1, 1}, .lo = -0.25, .hi = 0.5});
}

TEST(ConvEpilogue, MinOnlyNoBias) { check_both({.x = {1, 4, 9, 9}, .w = {8, 4, 3, 3}, .hi = 0.1}); }

TEST(ConvEpilogue, ResidualRelu) {  // ResNet's block tail: relu(conv + bias + identity)
  check_both({.x = {2, 16, 8, 8}, .w = {16, 16, 3, 3}, .pad = {1, 1}, .bias_shape = {1, 16, 1, 1}, .residual = true, .lo = 0});
}

TEST(ConvEpilogue, ResidualInPlace) {
  check_both({.x = {2, 16, 8, 8}, .w = {16, 16, 3, 3}, .pad = {1, 1}, .bias_shape = {1, 16, 1, 1}, .residual = true,
              .residual_kind = 1, .lo = 0});
}

TEST(ConvEpilogue, ResidualPointwiseNoActivation) {  // MobileNetV2's block tail: conv1x1 + bias + identity
  check_both({.x = {1, 32, 7, 7}, .w = {16, 32, 1, 1}, .bias_shape = {1, 16, 1, 1}, .residual = true});
  check_both({.x = {1, 32, 7, 7}, .w = {16, 32, 1, 1}, .bias_shape = {1, 16, 1, 1}, .residual = true, .residual_kind = 1});
}

TEST(ConvEpilogue, ResidualWithoutBias) {
  check_both({.x = {1, 8, 6, 6}, .w = {8, 8, 3, 3}, .pad = {1, 1}, .residual = true, .lo = 0});
}

TEST(ConvEpilogue, Depthwise) {
  check_both({.x = {2, 12, 9, 9}, .w = {12, 1, 3, 3}, .strides = {2, 2}, .pad = {1, 1}, .groups = 12,
              .bias_shape = {1, 12, 1, 1}, .lo = 0, .hi = 6});
}

TEST(ConvEpilogue, Grouped) {
  check_both({.x = {1, 8, 7, 7}, .w = {12, 2, 3, 3}, .groups = 4, .bias_shape = {1, 12, 1, 1}, .lo = 0});
}

TEST(ConvEpilogue, Transposed) {
  check_both({.x = {1, 6, 5, 5}, .w = {6, 4, 3, 3}, .strides = {2, 2}, .pad = {1, 1}, .transposed = true,
              .bias_shape = {1, 4, 1, 1}, .lo = 0});
}

TEST(ConvEpilogue, TransposedGrouped) {
  check_both({.x = {1, 6, 4, 4}, .w = {6, 2, 3, 3}, .strides = {2, 2}, .groups = 3, .transposed = true,
              .bias_shape = {1, 6, 1, 1}, .residual = true});
}

TEST(ConvEpilogue, Conv1d) {
  check_both({.x = {2, 4, 20}, .w = {8, 4, 5}, .pad = {2}, .bias_shape = {1, 8, 1}, .residual = true, .lo = 0});
  check_both({.x = {2, 4, 20}, .w = {8, 4, 1}, .bias_shape = {8, 1}, .lo = 0, .hi = 6});
}

TEST(ConvEpilogue, Conv3d) {
  check_both({.x = {1, 3, 6, 6, 6}, .w = {8, 3, 3, 3, 3}, .pad = {1, 1, 1}, .bias_shape = {1, 8, 1, 1, 1},
              .residual = false, .lo = 0});
}

// graft's Max/Min propagate NaN; the fused kernel must too (oneDNN's relu/clip post-ops would not).
TEST(ConvEpilogue, NanPropagates) {
  check_both({.x = {1, 8, 8, 8}, .w = {16, 8, 3, 3}, .pad = {1, 1}, .bias_shape = {1, 16, 1, 1}, .lo = 0,
              .nan_input = true});
  check_both({.x = {1, 8, 8, 8}, .w = {16, 8, 1, 1}, .bias_shape = {1, 16, 1, 1}, .lo = 0, .hi = 6, .nan_input = true});
  check_both({.x = {1, 8, 8, 8}, .w = {8, 1, 3, 3}, .pad = {1, 1}, .groups = 8, .bias_shape = {1, 8, 1, 1},
              .residual = true, .lo = 0, .hi = 6, .nan_input = true});
}

// A bias that is not per channel is not absorbed (the Add stays an element-wise op).
TEST(ConvEpilogue, NonChannelBiasStaysSeparate) {
  check_both({.x = {1, 4, 6, 6}, .w = {4, 4, 3, 3}, .bias_shape = {1, 1, 1, 4}}, /*expect_fused=*/false);
}

// The fused value is read twice: the chain stops before the op with two uses.
TEST(ConvEpilogue, SharedIntermediateStopsTheChain) {
  Graph g("shared");
  Node x = g.parameter("x", DType::F32, Shape({1, 4, 6, 6}));
  Node w = g.constant(f32(random_values(4 * 4 * 9, 5), {4, 4, 3, 3}));
  Node b = g.constant(f32(random_values(4, 6), {1, 4, 1, 1}));
  ConvolutionAttrs a;
  a.strides = {1, 1};
  a.dilations = {1, 1};
  a.pad_low = a.pad_high = {1, 1};
  a.output_padding = {0, 0};
  Node y = Convolution(x, w, a) + b;
  Node r = Max(y, ScalarLike(y, 0.0));
  g.set_outputs({r, y});
  Tensor xt = f32(random_values(4 * 36, 7), {1, 4, 6, 6});
  CompileOptions off;
  off.fuse_conv_epilogues = false;
  auto fused = cpu_backend()->compile(g);
  auto plain = cpu_backend()->compile(g, off);
  EXPECT_EQ(fused->stats().num_fused_conv_epilogues, 1);  // the bias only: y is a graph output, Max stays
  auto got = fused->run({xt});
  auto want = plain->run({xt});
  for (size_t k = 0; k < 2; ++k) {
    std::vector<float> gv = got[k].to_vector<float>(), wv = want[k].to_vector<float>();
    for (size_t i = 0; i < gv.size(); ++i) ASSERT_NEAR(gv[i], wv[i], 1e-5) << k << " " << i;
  }
}

// A MobileNetV2/ResNet-like chain: the values between convolutions are kept channels-last
// (CompileOptions::conv_channels_last); every combination of that and the fusion must agree.
TEST(ConvEpilogue, ChainChannelsLast) {
  for (bool constant_weights : {false, true}) {
    SCOPED_TRACE(constant_weights ? "constant weights" : "parameter weights");
    Graph g("chain");
    std::vector<Tensor> args;
    uint32_t seed = 10;
    auto weight = [&](std::vector<int64_t> dims) {
      Tensor t = f32(random_values(product(dims), seed++), dims);
      if (constant_weights) return g.constant(t);
      args.push_back(t);
      return g.parameter("w" + std::to_string(seed), DType::F32, Shape(dims));
    };
    auto conv = [&](Node x, std::vector<int64_t> wd, int64_t groups, int64_t stride, int64_t pad) {
      ConvolutionAttrs a;
      size_t s = size_t(x.rank() - 2);
      a.strides.assign(s, stride);
      a.dilations.assign(s, 1);
      a.pad_low.assign(s, pad);
      a.pad_high.assign(s, pad);
      a.output_padding.assign(s, 0);
      a.groups = groups;
      std::vector<int64_t> bd(size_t(x.rank()), 1);
      bd[1] = wd[0];
      return Convolution(x, weight(wd), a) + weight(bd);
    };
    auto relu6 = [](Node y) { return Min(Max(y, ScalarLike(y, 0.0)), ScalarLike(y, 6.0)); };
    Node x = g.parameter("x", DType::F32, Shape({2, 3, 17, 17}));
    args.insert(args.begin(), f32(random_values(2 * 3 * 17 * 17, 1), {2, 3, 17, 17}));
    Node a = relu6(conv(x, {16, 3, 3, 3}, 1, 2, 1));           // stem, stride 2
    Node b = relu6(conv(a, {48, 16, 1, 1}, 1, 1, 0));          // expand 1x1
    Node c = relu6(conv(b, {48, 1, 3, 3}, 48, 1, 1));          // depthwise
    Node d = conv(c, {16, 48, 1, 1}, 1, 1, 0) + a;             // project + residual
    Node e = Max(conv(d, {16, 16, 3, 3}, 1, 1, 1) + d, ScalarLike(d, 0.0));  // ResNet-style tail
    Node f = conv(e, {8, 16, 1, 1}, 1, 1, 0);                  // read by the pooling too
    Node pooled = ReduceMean(f, {2, 3});
    Node h = conv(f, {8, 8, 3, 3}, 1, 2, 0);
    g.set_outputs({h, pooled, b});
    std::vector<std::vector<float>> results;
    for (int mode = 0; mode < 4; ++mode) {
      CompileOptions o;
      o.fuse_conv_epilogues = mode & 1;
      o.conv_channels_last = (mode & 2) != 0;
      auto exe = cpu_backend()->compile(g, o);
      if (mode == 3) EXPECT_EQ(exe->stats().num_fused_conv_epilogues, 7);
      for (int rep = 0; rep < 2; ++rep) {
        auto out = exe->run(args);
        std::vector<float> all;
        for (const Tensor& t : out) {
          std::vector<float> v = t.to_vector<float>();
          all.insert(all.end(), v.begin(), v.end());
        }
        results.push_back(all);
      }
    }
    for (size_t r = 1; r < results.size(); ++r) {
      ASSERT_EQ(results[r].size(), results[0].size());
      int bad = 0;
      for (size_t i = 0; i < results[0].size(); ++i)
        if (std::abs(results[r][i] - results[0][i]) > 1e-4f * std::max(1.f, std::abs(results[0][i])) && ++bad <= 5)
          ADD_FAILURE() << "run " << r << " element " << i << ": " << results[r][i] << " vs " << results[0][i];
    }
  }
}

// Poolings between channels-last convolutions read and write channels-last (ResNet's stem max pool):
// max, mean with and without counting padding, dilation, a pooling whose output is also read by a
// non-convolution, NaN propagated through max. The NCHW kernels (checked against ONNX's conformance
// data) are the reference.
TEST(ConvEpilogue, PoolingBetweenChannelsLastConvolutions) {
  Graph g("pools");
  uint32_t seed = 40;
  auto conv = [&](Node x, int64_t cin, int64_t cout) {
    ConvolutionAttrs a;
    a.strides = {1, 1};
    a.dilations = {1, 1};
    a.pad_low = a.pad_high = {1, 1};
    a.output_padding = {0, 0};
    Node w = g.constant(f32(random_values(cout * cin * 9, seed++), {cout, cin, 3, 3}));
    Node b = g.constant(f32(random_values(cout, seed++), {1, cout, 1, 1}));
    return Convolution(x, w, a) + b;
  };
  auto pool = [](Node x, ReduceOp op, int64_t k, int64_t s, int64_t pad, int64_t dil, bool include_pad) {
    ReduceWindowAttrs a;
    a.op = op;
    a.window = {1, 1, k, k};
    a.strides = {1, 1, s, s};
    a.dilations = {1, 1, dil, dil};
    a.pad_low = {0, 0, pad, pad};
    a.pad_high = {0, 0, pad, pad + 1};  // asymmetric: the last window may hang over
    a.count_include_pad = include_pad;
    return ReduceWindow(x, a);
  };
  Node x = g.parameter("x", DType::F32, Shape({2, 3, 19, 17}));
  Node a = conv(x, 3, 20);                                              // 20 channels: not a SIMD multiple
  Node p1 = pool(a, ReduceOp::Max, 3, 2, 1, 1, false);                  // ResNet's stem pool
  Node b = conv(p1, 20, 16);
  Node p2 = pool(b, ReduceOp::Mean, 3, 1, 1, 1, false);                 // average, padding not counted
  Node c = conv(p2, 16, 16);
  Node p3 = pool(c, ReduceOp::Mean, 2, 2, 1, 2, true);                  // dilated, padding counted
  Node d = conv(p3, 16, 8);
  Node p4 = pool(d, ReduceOp::Max, 2, 1, 0, 1, false);                  // read by a conv and a graph output
  Node e = conv(p4, 8, 4);
  g.set_outputs({e, p4, ReduceMean(p1, {2, 3})});
  std::vector<double> xv = random_values(2 * 3 * 19 * 17, 3);
  xv[5 * 17 + 3] = std::numeric_limits<double>::quiet_NaN();  // one pixel of the first example
  Tensor xt = f32(xv, {2, 3, 19, 17});
  std::vector<std::vector<float>> results;
  for (bool cl : {false, true}) {
    CompileOptions o;
    o.conv_channels_last = cl;
    auto out = cpu_backend()->compile(g, o)->run({xt});
    std::vector<float> all;
    for (const Tensor& t : out) {
      std::vector<float> v = t.to_vector<float>();
      all.insert(all.end(), v.begin(), v.end());
    }
    results.push_back(all);
  }
  expect_same_values_and_nans(results[0], results[1]);
}

// Element-wise kernels and global reductions between convolutions keep the values channels-last too: a
// squeeze-excitation block (global mean -> 1x1 convolutions on [N, C, 1, 1] -> gate -> Mul with the block's
// activations) and an activation group the convolution cannot absorb, in 2-d and 1-d. A full-shape operand
// stored NCHW (a constant) keeps its element-wise reader, and so the convolution before it, NCHW. The NCHW
// kernels are the reference; the count of channels-last values checks the layout was taken.
TEST(ConvEpilogue, ElementwiseAndGlobalPoolingBetweenChannelsLastConvolutions) {
  for (int rank : {4, 3}) {
    SCOPED_TRACE("rank " + std::to_string(rank));
    Graph g("squeeze_excitation");
    uint32_t seed = 70;
    const std::vector<int64_t> spatial = rank == 4 ? std::vector<int64_t>{9, 7} : std::vector<int64_t>{13};
    auto conv = [&](Node x, int64_t cin, int64_t cout, int64_t k, int64_t groups, int64_t stride) {
      ConvolutionAttrs a;
      const size_t s = size_t(x.rank() - 2);
      a.strides.assign(s, stride);
      a.dilations.assign(s, 1);
      a.pad_low.assign(s, k / 2);
      a.pad_high.assign(s, k / 2);
      a.output_padding.assign(s, 0);
      a.groups = groups;
      std::vector<int64_t> wd{cout, cin / groups}, bd(size_t(x.rank()), 1);
      wd.insert(wd.end(), s, k);
      bd[1] = cout;
      Node w = g.constant(f32(random_values(product(wd), seed++), wd));
      return Convolution(x, w, a) + g.constant(f32(random_values(cout, seed++), bd));
    };
    std::vector<int64_t> xd{2, 8};
    xd.insert(xd.end(), spatial.begin(), spatial.end());
    std::vector<int64_t> full = xd, ones(size_t(rank), 1);
    full[1] = 16;
    ones[0] = 2;
    ones[1] = 16;
    std::vector<int64_t> axes;
    for (int i = 2; i < rank; ++i) axes.push_back(i);
    Node x = g.parameter("x", DType::F32, Shape(xd));
    Node a = Max(conv(x, 8, 16, 3, 1, 1), ScalarLike(x, 0.0));           // channels-last
    Node b = conv(a, 16, 16, 3, 16, 1);                                   // depthwise: channels-last
    Node t = Tanh(b) * ScalarLike(b, 0.5) + b;                            // a group: channels-last
    Node pooled = Reshape(ReduceMean(t, axes), ones);                     // reads t channels-last
    Node gate = Logistic(conv(pooled, 16, 16, 1, 1, 1));                  // [2, 16, 1...]: stays NCHW
    Node se = t * gate;                                                   // channels-last, gate broadcast
    Node c = conv(se, 16, 16, 1, 1, 1) + a;                               // NCHW: read by u
    Node u = c * g.constant(f32(random_values(product(full), seed++), full));  // NCHW operand of full shape
    Node e = conv(u, 16, 8, 3, 1, 2);
    g.set_outputs({e, Reshape(pooled, {2, 16})});
    std::vector<double> xv = random_values(product(xd), 3);
    xv[7] = std::numeric_limits<double>::quiet_NaN();  // reaches the first example's outputs only
    Tensor xt = f32(xv, xd);
    std::vector<std::vector<float>> results;
    for (bool cl : {false, true}) {
      CompileOptions o;
      o.conv_channels_last = cl;
      auto exe = cpu_backend()->compile(g, o);
      // a, b, t and se (the Mul may fuse with t's group only if it had one use; it has two readers: no).
      if (cl) EXPECT_EQ(exe->stats().num_channels_last_values, 4);
      std::vector<float> all;
      for (int rep = 0; rep < 2; ++rep) {
        all.clear();
        for (const Tensor& out : exe->run({xt})) {
          std::vector<float> v = out.to_vector<float>();
          all.insert(all.end(), v.begin(), v.end());
        }
      }
      results.push_back(all);
    }
    expect_same_values_and_nans(results[0], results[1]);
  }
}

// MobileNetV3's and YOLO's activations after a convolution: oneDNN's hardswish / swish post-ops.
TEST(ConvEpilogue, HardSwishGate) {
  check_both({.x = {1, 16, 12, 12}, .w = {24, 16, 3, 3}, .pad = {1, 1}, .bias_shape = {1, 24, 1, 1},
              .gate = Case::kHardSwish});
  check_both({.x = {1, 24, 9, 9}, .w = {24, 1, 3, 3}, .pad = {1, 1}, .groups = 24, .bias_shape = {1, 24, 1, 1},
              .gate = Case::kHardSwish});                                             // depthwise
  check_both({.x = {2, 8, 7, 7}, .w = {16, 8, 1, 1}, .gate = Case::kHardSwish});    // no bias, 1x1
  check_both({.x = {1, 8, 8, 8}, .w = {8, 8, 3, 3}, .pad = {1, 1}, .bias_shape = {1, 8, 1, 1}, .residual = true,
              .gate = Case::kHardSwish});
}

TEST(ConvEpilogue, SiluGate) {
  check_both({.x = {2, 8, 10, 10}, .w = {16, 8, 3, 3}, .strides = {2, 2}, .pad = {1, 1},
              .bias_shape = {1, 16, 1, 1}, .gate = Case::kSilu});
  check_both({.x = {1, 32, 6, 6}, .w = {16, 32, 1, 1}, .bias_shape = {1, 16, 1, 1}, .gate = Case::kSilu});
  check_both({.x = {1, 4, 6, 6, 6}, .w = {8, 4, 3, 3, 3}, .pad = {1, 1, 1}, .bias_shape = {1, 8, 1, 1, 1},
              .gate = Case::kSilu});  // 3-d
}

// After a clamp the gate stays an element-wise group (the kernel clamps by hand after the primitive).
TEST(ConvEpilogue, GateAfterClampIsNotFused) {
  check_both({.x = {1, 8, 8, 8}, .w = {8, 8, 3, 3}, .pad = {1, 1}, .bias_shape = {1, 8, 1, 1}, .lo = 0,
              .gate = Case::kHardSwish});
}

TEST(ConvEpilogue, GatesPropagateNanAndInfinities) {
  check_both({.x = {1, 8, 8, 8}, .w = {16, 8, 3, 3}, .pad = {1, 1}, .bias_shape = {1, 16, 1, 1}, .nan_input = true,
              .gate = Case::kHardSwish});
  check_both({.x = {1, 8, 8, 8}, .w = {16, 8, 1, 1}, .nan_input = true, .gate = Case::kSilu});
}
