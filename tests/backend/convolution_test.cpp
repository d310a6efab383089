// Convolution on the CPU backend against a naive N-d reference written here (double accumulation,
// index arithmetic on explicit multi-indices), for plain, strided, dilated, padded, grouped, depthwise
// and transposed convolutions in 1, 2 and 3 spatial dimensions.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <random>

#include "graft/graft.h"
#include "test_util.h"

using namespace graft;

namespace {

struct ConvCase {
  std::vector<int64_t> x;  // [N, C, spatial...]
  std::vector<int64_t> w;  // [O, C/G, k...] or transposed [C, O/G, k...]
  std::vector<int64_t> strides, dilations, pad_low, pad_high, output_padding;
  int64_t groups = 1;
  bool transposed = false;
};

ConvolutionAttrs attrs_of(const ConvCase& c) {
  size_t s = c.x.size() - 2;
  auto or_default = [s](const std::vector<int64_t>& v, int64_t d) { return v.empty() ? std::vector<int64_t>(s, d) : v; };
  ConvolutionAttrs a;
  a.strides = or_default(c.strides, 1);
  a.dilations = or_default(c.dilations, 1);
  a.pad_low = or_default(c.pad_low, 0);
  a.pad_high = or_default(c.pad_high, 0);
  a.output_padding = or_default(c.output_padding, 0);
  a.groups = c.groups;
  a.transposed = c.transposed;
  return a;
}

using graft::testing::product;
// Row-major multi-index of a flat position.
using graft::testing::ravel;
using graft::testing::unravel;
// The reference. Forward convolution gathers over (channel in group, kernel offset); the transposed
// one scatters every input element through every kernel tap into the output.
std::vector<double> reference(const ConvCase& c, const std::vector<double>& x, const std::vector<double>& w,
                              const std::vector<int64_t>& ydims) {
  ConvolutionAttrs a = attrs_of(c);
  const size_t s = c.x.size() - 2;
  const int64_t G = c.groups;
  std::vector<int64_t> xsp(c.x.begin() + 2, c.x.end()), ksp(c.w.begin() + 2, c.w.end()),
      ysp(ydims.begin() + 2, ydims.end());
  std::vector<double> y(size_t(product(ydims)), 0.0);
  if (!c.transposed) {
    const int64_t cg = c.x[1] / G, og = ydims[1] / G;
    for (int64_t f = 0; f < product(ydims); ++f) {
      std::vector<int64_t> yi = unravel(f, ydims);
      int64_t n = yi[0], o = yi[1], grp = o / og;
      double acc = 0;
      for (int64_t ci = 0; ci < cg; ++ci)
        for (int64_t kf = 0; kf < product(ksp); ++kf) {
          std::vector<int64_t> ki = unravel(kf, ksp);
          std::vector<int64_t> xi{n, grp * cg + ci};
          bool ok = true;
          for (size_t d = 0; d < s; ++d) {
            int64_t p = yi[d + 2] * a.strides[d] - a.pad_low[d] + ki[d] * a.dilations[d];
            ok &= p >= 0 && p < xsp[d];
            xi.push_back(p);
          }
          if (!ok) continue;
          std::vector<int64_t> wi{o, ci};
          wi.insert(wi.end(), ki.begin(), ki.end());
          acc += x[size_t(ravel(xi, c.x))] * w[size_t(ravel(wi, c.w))];
        }
      y[size_t(f)] = acc;
    }
  } else {
    const int64_t cg = c.x[1] / G, og = c.w[1];
    for (int64_t f = 0; f < product(c.x); ++f) {
      std::vector<int64_t> xi = unravel(f, c.x);
      int64_t n = xi[0], ic = xi[1], grp = ic / cg;
      for (int64_t oc = 0; oc < og; ++oc)
        for (int64_t kf = 0; kf < product(ksp); ++kf) {
          std::vector<int64_t> ki = unravel(kf, ksp);
          std::vector<int64_t> yi{n, grp * og + oc};
          bool ok = true;
          for (size_t d = 0; d < s; ++d) {
            int64_t p = xi[d + 2] * a.strides[d] - a.pad_low[d] + ki[d] * a.dilations[d];
            ok &= p >= 0 && p < ysp[d];
            yi.push_back(p);
          }
          if (!ok) continue;
          std::vector<int64_t> wi{ic, oc};
          wi.insert(wi.end(), ki.begin(), ki.end());
          y[size_t(ravel(yi, ydims))] += x[size_t(f)] * w[size_t(ravel(wi, c.w))];
        }
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

// The values rounded to `dtype` (so the reference sees exactly what the kernel sees).
Tensor to_tensor(const std::vector<double>& v, const std::vector<int64_t>& dims, DType dtype) {
  return Tensor::from_vector(v, Shape(dims)).cast(dtype);
}

// Runs the case through the CPU backend and checks it against the reference; returns the output shape.
std::vector<int64_t> check_case(const ConvCase& c, DType dtype = DType::F32, double rtol = 1e-4, uint32_t seed = 1) {
  Graph g("conv");
  Node x = g.parameter("x", dtype, Shape(c.x));
  Node w = g.parameter("w", dtype, Shape(c.w));
  Node y = Convolution(x, w, attrs_of(c));
  g.set_outputs({y});
  std::vector<int64_t> ydims = y.shape().dims();

  Tensor xt = to_tensor(random_values(product(c.x), seed), c.x, dtype);
  Tensor wt = to_tensor(random_values(product(c.w), seed + 100), c.w, dtype);
  std::vector<double> want = reference(c, xt.to_vector<double>(), wt.to_vector<double>(), ydims);

  auto exe = cpu_backend()->compile(g);
  for (int rep = 0; rep < 2; ++rep) {  // twice: the second run reuses the primitive and buffers
    Tensor out = exe->run({xt, wt})[0];
    EXPECT_EQ(out.dtype(), dtype);
    EXPECT_EQ(out.shape().dims(), ydims);
    std::vector<double> got = out.to_vector<double>();
    double scale = 0;
    for (double v : want) scale = std::max(scale, std::abs(v));
    int bad = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      if (std::abs(got[i] - want[i]) > rtol * std::max(1.0, scale)) {
        if (++bad <= 5) ADD_FAILURE() << "element " << i << ": got " << got[i] << ", want " << want[i];
      }
    }
    EXPECT_EQ(bad, 0) << "of " << want.size() << " elements";
  }
  return ydims;
}

}  // namespace

TEST(Convolution, Conv1d) {
  EXPECT_EQ(check_case({.x = {2, 3, 11}, .w = {4, 3, 3}}), (std::vector<int64_t>{2, 4, 9}));
}

TEST(Convolution, Conv1dStridePadDilation) {
  EXPECT_EQ(check_case({.x = {1, 4, 20}, .w = {5, 4, 4}, .strides = {3}, .dilations = {2}, .pad_low = {2},
                        .pad_high = {1}}),
            (std::vector<int64_t>{1, 5, 6}));
}

TEST(Convolution, Conv2d) { check_case({.x = {2, 3, 9, 8}, .w = {6, 3, 3, 3}}); }

TEST(Convolution, Conv2dStride2) {
  EXPECT_EQ(check_case({.x = {1, 3, 10, 9}, .w = {4, 3, 3, 3}, .strides = {2, 2}, .pad_low = {1, 1},
                        .pad_high = {1, 1}}),
            (std::vector<int64_t>{1, 4, 5, 5}));
}

TEST(Convolution, Conv2dMixedStrides) {
  check_case({.x = {2, 2, 11, 13}, .w = {3, 2, 2, 4}, .strides = {3, 1}});
}

TEST(Convolution, Conv2dDilation2) {
  EXPECT_EQ(check_case({.x = {1, 3, 12, 12}, .w = {4, 3, 3, 3}, .dilations = {2, 2}}),
            (std::vector<int64_t>{1, 4, 8, 8}));
}

TEST(Convolution, Conv2dAsymmetricPadding) {
  EXPECT_EQ(check_case({.x = {1, 2, 7, 6}, .w = {3, 2, 3, 3}, .pad_low = {0, 2}, .pad_high = {2, 1}}),
            (std::vector<int64_t>{1, 3, 7, 7}));
}

TEST(Convolution, Conv2dGroups2) { check_case({.x = {2, 4, 8, 8}, .w = {6, 2, 3, 3}, .groups = 2}); }

TEST(Convolution, Conv2dDepthwise) {
  check_case({.x = {2, 6, 9, 9}, .w = {6, 1, 3, 3}, .pad_low = {1, 1}, .pad_high = {1, 1}, .groups = 6});
}

TEST(Convolution, Conv2dDepthwiseMultiplier) {
  check_case({.x = {1, 4, 8, 7}, .w = {8, 1, 3, 3}, .strides = {2, 2}, .groups = 4});
}

TEST(Convolution, Conv2dPointwise) { check_case({.x = {3, 16, 5, 5}, .w = {8, 16, 1, 1}}); }

TEST(Convolution, Conv2dPointwiseStrided) {
  check_case({.x = {2, 8, 9, 9}, .w = {4, 8, 1, 1}, .strides = {2, 2}, .pad_low = {1, 0}, .pad_high = {0, 1}});
}

TEST(Convolution, Conv2dBatch) {
  check_case({.x = {5, 8, 12, 12}, .w = {16, 8, 3, 3}, .pad_low = {1, 1}, .pad_high = {1, 1}});
}

TEST(Convolution, Conv2dLargerChannels) {
  // Enough channels that oneDNN picks its blocked (vectorized) implementations.
  check_case({.x = {2, 32, 14, 14}, .w = {64, 32, 3, 3}, .strides = {2, 2}, .pad_low = {1, 1}, .pad_high = {1, 1}});
}

// The same reference as loops over explicit 2-d indices, fast enough for the Winograd cases' larger shapes
// (no groups, dilation or transposition).
namespace {
std::vector<double> reference_2d(const ConvCase& c, const std::vector<double>& x, const std::vector<double>& w,
                                 const std::vector<int64_t>& ydims) {
  const ConvolutionAttrs a = attrs_of(c);
  const int64_t N = c.x[0], C = c.x[1], H = c.x[2], W = c.x[3], O = c.w[0], KH = c.w[2], KW = c.w[3];
  const int64_t OH = ydims[2], OW = ydims[3];
  std::vector<double> y(size_t(N * O * OH * OW), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t ci = 0; ci < C; ++ci)
        for (int64_t kh = 0; kh < KH; ++kh)
          for (int64_t kw = 0; kw < KW; ++kw) {
            const double wv = w[size_t(((o * C + ci) * KH + kh) * KW + kw)];
            for (int64_t oh = 0; oh < OH; ++oh) {
              const int64_t ih = oh * a.strides[0] - a.pad_low[0] + kh;
              if (ih < 0 || ih >= H) continue;
              for (int64_t ow = 0; ow < OW; ++ow) {
                const int64_t iw = ow * a.strides[1] - a.pad_low[1] + kw;
                if (iw < 0 || iw >= W) continue;
                y[size_t(((n * O + o) * OH + oh) * OW + ow)] += wv * x[size_t(((n * C + ci) * H + ih) * W + iw)];
              }
            }
          }
  return y;
}
}  // namespace

// 3x3 stride-1 convolutions with 16+ channels run on oneDNN's Winograd kernels (F(2x2, 3x3), or F(4x4, 3x3)
// where its tiles fit the output, else the direct kernel; convolution.cpp, pick_winograd), with weights constant (transformed once)
// or fed at run time, a bias and a ReLU epilogue. Checked against the double reference to 1e-5 of the
// output's scale, ten times tighter than the other cases: Winograd's transforms must not cost f32 accuracy.
TEST(Convolution, WinogradShapes) {
  const std::vector<ConvCase> cases{
      {.x = {1, 16, 12, 12}, .w = {16, 16, 3, 3}, .pad_low = {1, 1}, .pad_high = {1, 1}},   // 4x4 tiles fit
      {.x = {2, 32, 7, 7}, .w = {32, 32, 3, 3}, .pad_low = {1, 1}, .pad_high = {1, 1}},     // ResNet's last stage
      {.x = {1, 24, 14, 14}, .w = {40, 24, 3, 3}, .pad_low = {1, 1}, .pad_high = {1, 1}},   // 14x14: overhang
      {.x = {1, 16, 10, 9}, .w = {16, 16, 3, 3}},                                          // unpadded, odd width
      {.x = {1, 128, 28, 28}, .w = {128, 128, 3, 3}, .pad_low = {1, 1}, .pad_high = {1, 1}},  // F(4x4, 3x3)
      // Only F(4x4, 3x3) is offered and 14 is not a multiple of 4: every implementation is looked at, then
      // the direct kernel (this walk once read a destroyed descriptor inside oneDNN and crashed).
      {.x = {1, 256, 14, 14}, .w = {256, 256, 3, 3}, .pad_low = {1, 1}, .pad_high = {1, 1}},
  };
  for (const ConvCase& c : cases)
    for (bool constant_weights : {true, false}) {
      SCOPED_TRACE(std::to_string(c.x[1]) + " -> " + std::to_string(c.w[0]) + " channels at " +
                   std::to_string(c.x[2]) + "x" + std::to_string(c.x[3]) + (constant_weights ? ", constant" : ""));
      Graph g("winograd");
      Tensor xt = to_tensor(random_values(product(c.x), 5), c.x, DType::F32);
      Tensor wt = to_tensor(random_values(product(c.w), 6), c.w, DType::F32);
      Tensor bt = to_tensor(random_values(c.w[0], 7), {1, c.w[0], 1, 1}, DType::F32);
      Node x = g.parameter("x", DType::F32, Shape(c.x));
      Node w = constant_weights ? g.constant(wt) : g.parameter("w", DType::F32, Shape(c.w));
      Node y = Convolution(x, w, attrs_of(c)) + g.constant(bt);
      g.set_outputs({Max(y, ScalarLike(y, 0.0))});
      std::vector<int64_t> ydims = y.shape().dims();
      std::vector<double> want = reference_2d(c, xt.to_vector<double>(), wt.to_vector<double>(), ydims);
      const int64_t plane = ydims[2] * ydims[3];
      const std::vector<double> bias = bt.to_vector<double>();
      double scale = 0;
      for (size_t i = 0; i < want.size(); ++i) {
        want[i] = std::max(want[i] + bias[size_t(int64_t(i) / plane % ydims[1])], 0.0);
        scale = std::max(scale, std::abs(want[i]));
      }
      auto exe = cpu_backend()->compile(g);
      std::vector<Tensor> args{xt};
      if (!constant_weights) args.push_back(wt);
      for (int rep = 0; rep < 2; ++rep) {
        std::vector<double> got = exe->run(args)[0].to_vector<double>();
        int bad = 0;
        for (size_t i = 0; i < want.size(); ++i)
          if (!(std::abs(got[i] - want[i]) <= 1e-5 * scale) && ++bad <= 5)
            ADD_FAILURE() << "element " << i << ": got " << got[i] << ", want " << want[i];
      }
    }
}

TEST(Convolution, Conv3d) {
  EXPECT_EQ(check_case({.x = {2, 3, 6, 7, 5}, .w = {4, 3, 3, 2, 3}, .strides = {2, 1, 1}, .pad_low = {1, 0, 1},
                        .pad_high = {0, 1, 1}}),
            (std::vector<int64_t>{2, 4, 3, 7, 5}));
}

TEST(Convolution, Conv3dGroupsDilation) {
  check_case({.x = {1, 4, 7, 7, 7}, .w = {4, 2, 2, 2, 2}, .dilations = {2, 1, 3}, .groups = 2});
}

TEST(Convolution, KernelCoversInput) {
  EXPECT_EQ(check_case({.x = {2, 3, 5, 5}, .w = {7, 3, 5, 5}}), (std::vector<int64_t>{2, 7, 1, 1}));
}

TEST(Convolution, Transposed1d) {
  EXPECT_EQ(check_case({.x = {2, 3, 6}, .w = {3, 4, 3}, .strides = {2}, .transposed = true}),
            (std::vector<int64_t>{2, 4, 13}));
}

TEST(Convolution, Transposed2dStridePadOutputPadding) {
  // (5-1)*2 - 1 - 1 + 3 + 1 = 10
  EXPECT_EQ(check_case({.x = {1, 4, 5, 5}, .w = {4, 3, 3, 3}, .strides = {2, 2}, .pad_low = {1, 1},
                        .pad_high = {1, 1}, .output_padding = {1, 1}, .transposed = true}),
            (std::vector<int64_t>{1, 3, 10, 10}));
}

TEST(Convolution, Transposed2dGroups) {
  check_case({.x = {2, 4, 4, 5}, .w = {4, 3, 2, 3}, .strides = {2, 3}, .groups = 2, .transposed = true});
}

TEST(Convolution, Transposed2dDepthwise) {
  check_case({.x = {1, 6, 5, 5}, .w = {6, 1, 3, 3}, .strides = {2, 2}, .pad_low = {1, 1}, .pad_high = {1, 1},
              .groups = 6, .transposed = true});
}

TEST(Convolution, Transposed2dDilationAsymmetric) {
  check_case({.x = {2, 3, 4, 6}, .w = {3, 5, 3, 2}, .strides = {1, 2}, .dilations = {2, 2}, .pad_low = {2, 0},
              .pad_high = {0, 1}, .output_padding = {0, 1}, .transposed = true});
}

TEST(Convolution, Transposed2dOutputPaddingBeyondHighPad) {
  // output_padding larger than pad_high: oneDNN would need a negative padding; the direct loop runs it.
  check_case({.x = {1, 2, 4, 4}, .w = {2, 3, 3, 3}, .strides = {3, 3}, .output_padding = {2, 1}, .transposed = true});
}

TEST(Convolution, Transposed3d) {
  check_case({.x = {1, 4, 3, 4, 3}, .w = {4, 2, 2, 3, 2}, .strides = {2, 2, 1}, .pad_low = {0, 1, 0},
              .pad_high = {1, 0, 0}, .output_padding = {1, 0, 0}, .groups = 2, .transposed = true});
}

TEST(Convolution, F64DirectPath) {
  check_case({.x = {2, 4, 9, 8}, .w = {6, 2, 3, 3}, .strides = {2, 1}, .dilations = {1, 2}, .pad_low = {1, 0},
              .pad_high = {2, 1}, .groups = 2},
             DType::F64, 1e-12);
  check_case({.x = {2, 4, 5, 4}, .w = {4, 3, 3, 2}, .strides = {2, 2}, .pad_low = {1, 0}, .pad_high = {0, 1},
              .output_padding = {1, 1}, .groups = 2, .transposed = true},
             DType::F64, 1e-12);
  check_case({.x = {1, 2, 4, 3, 5}, .w = {3, 2, 2, 2, 2}}, DType::F64, 1e-12);
}

TEST(Convolution, F16AndBF16) {
  // Inputs are rounded to the dtype first; the output rounding dominates the error.
  ConvCase c{.x = {2, 4, 7, 7}, .w = {6, 2, 3, 3}, .pad_low = {1, 1}, .pad_high = {1, 1}, .groups = 2};
  check_case(c, DType::F16, 2e-3);
  check_case(c, DType::BF16, 1e-2);
  ConvCase t{.x = {1, 4, 4, 4}, .w = {4, 2, 3, 3}, .strides = {2, 2}, .transposed = true};
  check_case(t, DType::F16, 2e-3);
}

TEST(Convolution, NegativePaddingCrops) {
  // Not an ONNX case, but the builder allows it: a negative low pad drops input rows.
  check_case({.x = {1, 2, 9, 9}, .w = {3, 2, 3, 3}, .pad_low = {-1, 0}, .pad_high = {0, -2}});
}

TEST(Convolution, KernelsShareScratch) {
  // Convolutions whose reordered copies share per-thread scratch, run alternately: channel counts
  // that do not fill oneDNN's blocks must not see what the larger one left in the padding.
  ConvCase big{.x = {2, 48, 12, 12}, .w = {40, 48, 3, 3}, .pad_low = {1, 1}, .pad_high = {1, 1}};
  ConvCase odd{.x = {1, 5, 6, 6}, .w = {3, 5, 3, 3}};
  ConvCase tr{.x = {1, 5, 4, 4}, .w = {5, 3, 2, 2}, .strides = {2, 2}, .transposed = true};
  for (int i = 0; i < 2; ++i) {
    check_case(big, DType::F32, 1e-4, 7 + i);
    check_case(odd, DType::F32, 1e-4, 9 + i);
    check_case(tr, DType::F32, 1e-4, 11 + i);
  }
}

TEST(Convolution, ChainedInOneGraph) {
  // conv(3x3, 6->8) then transposed conv(2x2/2, 8->4) in one executable.
  ConvCase first{.x = {2, 6, 8, 8}, .w = {8, 6, 3, 3}, .pad_low = {1, 1}, .pad_high = {1, 1}};
  ConvCase second{.x = {2, 8, 8, 8}, .w = {8, 4, 2, 2}, .strides = {2, 2}, .transposed = true};
  Graph g("chain");
  Node x = g.parameter("x", DType::F32, Shape(first.x));
  Node w1 = g.parameter("w1", DType::F32, Shape(first.w));
  Node w2 = g.parameter("w2", DType::F32, Shape(second.w));
  g.set_outputs({Convolution(Convolution(x, w1, attrs_of(first)), w2, attrs_of(second))});
  Tensor xt = to_tensor(random_values(product(first.x), 3), first.x, DType::F32);
  Tensor w1t = to_tensor(random_values(product(first.w), 4), first.w, DType::F32);
  Tensor w2t = to_tensor(random_values(product(second.w), 5), second.w, DType::F32);
  std::vector<double> mid = reference(first, xt.to_vector<double>(), w1t.to_vector<double>(), second.x);
  std::vector<int64_t> ydims{2, 4, 16, 16};
  std::vector<double> want = reference(second, mid, w2t.to_vector<double>(), ydims);
  Tensor got = cpu_backend()->compile(g)->run({xt, w1t, w2t})[0];
  ASSERT_EQ(got.shape().dims(), ydims);
  std::vector<double> gv = got.to_vector<double>();
  for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(gv[i], want[i], 1e-4 * std::max(1.0, std::abs(want[i]))) << i;
}

TEST(Convolution, EmptyAxes) {
  EXPECT_EQ(check_case({.x = {0, 3, 7}, .w = {2, 3, 3}}), (std::vector<int64_t>{0, 2, 5}));
  // No input channels: every output is an empty sum.
  EXPECT_EQ(check_case({.x = {2, 0, 6, 6}, .w = {3, 0, 3, 3}}), (std::vector<int64_t>{2, 3, 4, 4}));
}

TEST(Convolution, ChannelMismatchNamesShapes) {
  Graph g;
  Node x = g.parameter("x", DType::F32, {1, 3, 8, 8});
  Node w = g.parameter("w", DType::F32, {4, 2, 3, 3});
  try {
    Convolution(x, w, {});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("[1, 3, 8, 8]"), std::string::npos) << m;
    EXPECT_NE(m.find("[4, 2, 3, 3]"), std::string::npos) << m;
    EXPECT_NE(m.find("channels"), std::string::npos) << m;
  }
}

TEST(Convolution, BadShapesAreRejected) {
  Graph g;
  Node x = g.parameter("x", DType::F32, {1, 4, 5, 5});
  // Kernel larger than the padded input.
  EXPECT_THROW(Convolution(x, g.parameter("w1", DType::F32, {2, 4, 7, 7}), {}), Error);
  // Rank mismatch.
  EXPECT_THROW(Convolution(x, g.parameter("w2", DType::F32, {2, 4, 3}), {}), Error);
  // Output channels not divisible by groups.
  ConvolutionAttrs a;
  a.groups = 2;
  EXPECT_THROW(Convolution(x, g.parameter("w3", DType::F32, {3, 2, 3, 3}), a), Error);
  // Wrong number of strides.
  ConvolutionAttrs b;
  b.strides = {1, 1, 1};
  EXPECT_THROW(Convolution(x, g.parameter("w4", DType::F32, {2, 4, 3, 3}), b), Error);
  // Integer operands.
  Node xi = g.parameter("xi", DType::I32, {1, 4, 5, 5});
  EXPECT_THROW(Convolution(xi, g.parameter("wi", DType::I32, {2, 4, 3, 3}), {}), Error);
}

// Timing of the oneDNN f32 path against the direct loop (the f64 path); run by hand with
// --gtest_also_run_disabled_tests --gtest_filter='*ConvolutionTiming*'.
TEST(Convolution, DISABLED_ConvolutionTiming) {
  struct Bench { const char* name; ConvCase c; };
  std::vector<Bench> benches = {
      {"resnet 3x3 64->64 56x56", {.x = {1, 64, 56, 56}, .w = {64, 64, 3, 3}, .pad_low = {1, 1}, .pad_high = {1, 1}}},
      {"stem 7x7/2 3->64 224x224",
       {.x = {1, 3, 224, 224}, .w = {64, 3, 7, 7}, .strides = {2, 2}, .pad_low = {3, 3}, .pad_high = {3, 3}}},
      {"depthwise 3x3 128 28x28",
       {.x = {1, 128, 28, 28}, .w = {128, 1, 3, 3}, .pad_low = {1, 1}, .pad_high = {1, 1}, .groups = 128}},
      {"pointwise 1x1 256->64 56x56", {.x = {1, 256, 56, 56}, .w = {64, 256, 1, 1}}},
      {"conv1d k3 128->128 L=1000", {.x = {1, 128, 1000}, .w = {128, 128, 3}, .pad_low = {1}, .pad_high = {1}}},
      {"conv3d 3x3x3 16->16 16^3",
       {.x = {1, 16, 16, 16, 16}, .w = {16, 16, 3, 3, 3}, .pad_low = {1, 1, 1}, .pad_high = {1, 1, 1}}},
      {"batch 8 3x3 32->32 28x28",
       {.x = {8, 32, 28, 28}, .w = {32, 32, 3, 3}, .pad_low = {1, 1}, .pad_high = {1, 1}}},
      {"small 3x3 4->8 9x9", {.x = {1, 4, 9, 9}, .w = {8, 4, 3, 3}}},
      {"grouped 3x3 g=4 64->64 28x28",
       {.x = {1, 64, 28, 28}, .w = {64, 16, 3, 3}, .pad_low = {1, 1}, .pad_high = {1, 1}, .groups = 4}},
      {"transposed 4x4/2 64->32 28x28",
       {.x = {1, 64, 28, 28}, .w = {64, 32, 4, 4}, .strides = {2, 2}, .pad_low = {1, 1}, .pad_high = {1, 1},
        .transposed = true}},
  };
  for (const Bench& b : benches) {
    double ms[2];
    DType types[2] = {DType::F32, DType::F64};
    for (int t = 0; t < 2; ++t) {
      Graph g;
      Node x = g.parameter("x", types[t], Shape(b.c.x));
      Node w = g.parameter("w", types[t], Shape(b.c.w));
      g.set_outputs({Convolution(x, w, attrs_of(b.c))});
      auto exe = cpu_backend()->compile(g);
      Tensor xt = to_tensor(random_values(product(b.c.x), 1), b.c.x, types[t]);
      Tensor wt = to_tensor(random_values(product(b.c.w), 2), b.c.w, types[t]);
      exe->run({xt, wt});
      // The fastest of several runs: the least disturbed by other work on a shared machine.
      ms[t] = 1e30;
      for (int r = 0; r < (t == 0 ? 30 : 3); ++r) {
        auto t0 = std::chrono::steady_clock::now();
        exe->run({xt, wt});
        ms[t] = std::min(ms[t], std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      }
    }
    std::printf("%-32s oneDNN f32 %8.3f ms   direct f64 %8.3f ms   x%.1f\n", b.name, ms[0], ms[1], ms[1] / ms[0]);
  }
}
