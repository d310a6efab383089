// ReduceWindow / MaxPool / AvgPool on the CPU backend against a naive N-d reference written here:
// every output element walks its whole window on explicit multi-indices, skipping padding, and
// averages ONNX-style (count_include_pad: divide by the window's taps; otherwise by the real elements).
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <random>

#include "graft/graft.h"
#include "test_util.h"

using namespace graft;

namespace {

using Dims = std::vector<int64_t>;

using graft::testing::product;
using graft::testing::ravel;
using graft::testing::unravel;

Tensor run1(const std::function<Node(Node)>& build, const Tensor& x) {
  Graph g("reduce_window_test");
  Node p = g.parameter("x", x.dtype(), x.shape());
  g.set_outputs({build(p)});
  auto exe = cpu_backend()->compile(g);
  return exe->run({x})[0];
}

Tensor random_values(DType t, const Dims& dims, uint32_t seed, double lo = -4, double hi = 4) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(size_t(product(dims)));
  for (double& x : v) x = is_floating(t) ? u(rng) : std::floor(u(rng));
  return Tensor::from_vector(v, Shape(dims)).cast(t);
}

// Fills defaults the way the builder does (window 1, stride 1, dilation 1, no padding).
ReduceWindowAttrs full(ReduceWindowAttrs a, size_t rank) {
  auto fill = [&](Dims& v, int64_t d) {
    if (v.empty()) v.assign(rank, d);
  };
  fill(a.window, 1);
  fill(a.strides, 1);
  fill(a.dilations, 1);
  fill(a.pad_low, 0);
  fill(a.pad_high, 0);
  return a;
}

std::vector<double> reference(const std::vector<double>& x, const Dims& xd, ReduceWindowAttrs a, Dims& od) {
  size_t r = xd.size();
  a = full(a, r);
  od.assign(r, 0);
  for (size_t i = 0; i < r; ++i) {
    int64_t span = (a.window[i] - 1) * a.dilations[i] + 1;
    od[i] = (xd[i] + a.pad_low[i] + a.pad_high[i] - span) / a.strides[i] + 1;
  }
  std::vector<double> out(size_t(product(od)));
  for (int64_t f = 0; f < product(od); ++f) {
    Dims o = unravel(f, od);
    double acc = a.op == ReduceOp::Max ? -INFINITY : a.op == ReduceOp::Min ? INFINITY : 0;
    int64_t real = 0;
    bool nan = false;
    for (int64_t w = 0; w < product(a.window); ++w) {
      Dims t = unravel(w, a.window);
      Dims xi(r);
      bool pad = false;
      for (size_t i = 0; i < r; ++i) {
        xi[i] = o[i] * a.strides[i] - a.pad_low[i] + t[i] * a.dilations[i];
        pad |= xi[i] < 0 || xi[i] >= xd[i];
      }
      if (pad) continue;
      ++real;
      double v = x[size_t(ravel(xi, xd))];
      nan |= std::isnan(v);
      if (a.op == ReduceOp::Max) acc = std::max(acc, v);
      else if (a.op == ReduceOp::Min) acc = std::min(acc, v);
      else acc += v;
    }
    if (a.op == ReduceOp::Mean) {
      int64_t count = a.count_include_pad ? product(a.window) : real;
      acc = count ? acc / double(count) : 0.0;
    }
    out[size_t(f)] = nan ? NAN : acc;
  }
  return out;
}

void expect_close(const Tensor& got, const std::vector<double>& want, const Dims& od, double tol) {
  ASSERT_EQ(got.shape(), Shape(od));
  std::vector<double> g = got.to_vector<double>();
  for (size_t i = 0; i < g.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(g[i])) << "at " << i;
    } else if (std::isinf(want[i])) {
      EXPECT_EQ(g[i], want[i]) << "at " << i;
    } else {
      EXPECT_NEAR(g[i], want[i], tol * (1 + std::fabs(want[i]))) << "at flat index " << i;
    }
    if (::testing::Test::HasFailure()) return;
  }
}

void check(DType t, const Dims& xd, const ReduceWindowAttrs& a, uint32_t seed, double tol = 1e-5) {
  Tensor x = random_values(t, xd, seed, is_unsigned_integer(t) ? 0 : -4, 4);
  Dims od;
  std::vector<double> want = reference(x.to_vector<double>(), xd, a, od);
  if (!is_floating(t) && a.op == ReduceOp::Mean)
    for (double& v : want) v = std::trunc(v);
  Tensor got = run1([&](Node n) { return ReduceWindow(n, a); }, x);
  expect_close(got, want, od, tol);
}

ReduceWindowAttrs attrs(ReduceOp op, Dims window, Dims strides = {}, Dims dilations = {}, Dims lo = {}, Dims hi = {},
                        bool include_pad = false) {
  ReduceWindowAttrs a;
  a.op = op;
  a.window = std::move(window);
  a.strides = std::move(strides);
  a.dilations = std::move(dilations);
  a.pad_low = std::move(lo);
  a.pad_high = std::move(hi);
  a.count_include_pad = include_pad;
  return a;
}

TEST(PoolTest, MaxPoolWithPaddingDilationAndStrides) {
  Dims xd{2, 3, 7, 9};
  Tensor x = random_values(DType::F32, xd, 1);
  Tensor got = run1([](Node n) { return MaxPool(n, {3, 2}, {2, 1}, {1, 0}, {1, 1}, {1, 2}); }, x);
  Dims od;
  std::vector<double> want = reference(x.to_vector<double>(), xd,
                                       attrs(ReduceOp::Max, {1, 1, 3, 2}, {1, 1, 2, 1}, {1, 1, 1, 2}, {0, 0, 1, 0},
                                             {0, 0, 1, 1}),
                                       od);
  EXPECT_EQ(od, (Dims{2, 3, 4, 8}));
  expect_close(got, want, od, 0);
}

TEST(PoolTest, AvgPoolCountIncludePadBothWays) {
  Dims xd{2, 2, 6, 5};
  Tensor x = random_values(DType::F32, xd, 2);
  for (bool include : {false, true}) {
    Tensor got = run1([&](Node n) { return AvgPool(n, {3, 3}, {2, 2}, {1, 1}, {1, 2}, include); }, x);
    Dims od;
    std::vector<double> want = reference(
        x.to_vector<double>(), xd,
        attrs(ReduceOp::Mean, {1, 1, 3, 3}, {1, 1, 2, 2}, {}, {0, 0, 1, 1}, {0, 0, 1, 2}, include), od);
    SCOPED_TRACE(include ? "count_include_pad" : "exclude pad");
    expect_close(got, want, od, 1e-6);
  }
  // By hand, 1-d: [1, 2, 3] with window 2, pad 1 both sides -> windows (pad,1) (2,3)? stride 2:
  // outputs at -1..0 and 1..2: exclude pad -> 1, 2.5; include pad -> 0.5, 2.5.
  Tensor row = Tensor::from_vector(std::vector<float>{1, 2, 3}, Shape{1, 1, 3});
  Tensor ex = run1([](Node n) { return AvgPool(n, {2}, {2}, {1}, {1}, false); }, row);
  EXPECT_EQ(ex.to_vector<float>(), (std::vector<float>{1.f, 2.5f}));
  Tensor in = run1([](Node n) { return AvgPool(n, {2}, {2}, {1}, {1}, true); }, row);
  EXPECT_EQ(in.to_vector<float>(), (std::vector<float>{0.5f, 2.5f}));
}

TEST(PoolTest, OneAndThreeSpatialAxes) {
  check(DType::F32, {2, 3, 11}, attrs(ReduceOp::Max, {1, 1, 4}, {1, 1, 3}, {1, 1, 2}, {0, 0, 2}, {0, 0, 1}), 3);
  check(DType::F32, {2, 3, 11}, attrs(ReduceOp::Mean, {1, 1, 4}, {1, 1, 3}, {1, 1, 1}, {0, 0, 2}, {0, 0, 1}), 4);
  check(DType::F32, {1, 2, 5, 6, 7},
        attrs(ReduceOp::Max, {1, 1, 2, 3, 2}, {1, 1, 2, 1, 3}, {1, 1, 2, 1, 1}, {0, 0, 1, 1, 0}, {0, 0, 0, 1, 1}), 5);
  check(DType::F64, {1, 2, 5, 6, 7},
        attrs(ReduceOp::Mean, {1, 1, 2, 3, 2}, {1, 1, 2, 1, 3}, {}, {0, 0, 1, 1, 0}, {0, 0, 0, 1, 1}, true), 6);
  check(DType::F64, {1, 2, 5, 6, 7},
        attrs(ReduceOp::Mean, {1, 1, 2, 3, 2}, {1, 1, 2, 1, 3}, {}, {0, 0, 1, 1, 0}, {0, 0, 0, 1, 1}, false), 6);
}

TEST(ReduceWindowTest, WindowsOnAnyAxes) {
  // Window on the middle axis only (channels-last pooling pattern), and on every axis.
  check(DType::F32, {4, 9, 5}, attrs(ReduceOp::Sum, {1, 3, 1}, {1, 2, 1}, {}, {0, 1, 0}, {0, 1, 0}), 7);
  check(DType::F32, {6, 7}, attrs(ReduceOp::Min, {2, 3}, {2, 2}, {2, 1}, {1, 0}, {0, 2}), 8);
  check(DType::F32, {2, 5, 6, 3}, attrs(ReduceOp::Max, {1, 2, 2, 1}, {1, 2, 2, 1}), 9);
  check(DType::F32, {13}, attrs(ReduceOp::Sum, {4}, {3}, {2}, {3}, {2}), 10);
  // Identity window: a copy.
  check(DType::F32, {3, 4}, attrs(ReduceOp::Max, {1, 1}), 11);
  check(DType::F32, {3, 4}, attrs(ReduceOp::Mean, {1, 1}), 11);
}

TEST(ReduceWindowTest, RandomizedConfigurations) {
  std::mt19937 rng(123);
  for (int trial = 0; trial < 40; ++trial) {
    int rank = 1 + int(rng() % 4);
    Dims xd, window, strides, dil, lo, hi;
    for (int i = 0; i < rank; ++i) {
      xd.push_back(1 + int64_t(rng() % 6));
      window.push_back(1 + int64_t(rng() % 3));
      strides.push_back(1 + int64_t(rng() % 3));
      dil.push_back(1 + int64_t(rng() % 2));
      lo.push_back(int64_t(rng() % 3));
      hi.push_back(int64_t(rng() % 3));
      int64_t span = (window.back() - 1) * dil.back() + 1;
      while (xd.back() + lo.back() + hi.back() < span) ++hi.back();
    }
    ReduceOp ops[] = {ReduceOp::Max, ReduceOp::Min, ReduceOp::Sum, ReduceOp::Mean};
    ReduceOp op = ops[rng() % 4];
    SCOPED_TRACE("trial " + std::to_string(trial));
    check(DType::F64, xd, attrs(op, window, strides, dil, lo, hi, rng() % 2), 1000 + trial, 1e-12);
    if (HasFailure()) return;
  }
}

TEST(ReduceWindowTest, IntegerAndHalfDtypes) {
  for (DType t : {DType::I32, DType::I8, DType::U8, DType::I64}) {
    SCOPED_TRACE(std::string(dtype_name(t)));
    Dims xd{2, 2, 6, 6};
    for (ReduceOp op : {ReduceOp::Max, ReduceOp::Min, ReduceOp::Sum, ReduceOp::Mean})
      check(t, xd, attrs(op, {1, 1, 3, 2}, {1, 1, 2, 2}, {}, {0, 0, 1, 0}, {0, 0, 1, 1}), 20, 0);
  }
  check(DType::F16, {2, 3, 8, 8}, attrs(ReduceOp::Mean, {1, 1, 3, 3}, {1, 1, 2, 2}, {}, {0, 0, 1, 1}, {0, 0, 1, 1}), 21,
        2e-3);
  check(DType::BF16, {2, 3, 8, 8}, attrs(ReduceOp::Max, {1, 1, 3, 3}, {1, 1, 2, 2}, {}, {0, 0, 1, 1}, {0, 0, 1, 1}), 22,
        0);
  // Bool: max is "any", min is "all".
  Tensor b = Tensor::from_vector(std::vector<bool>{false, true, false, false, true, true}, Shape{6});
  Tensor any = run1([](Node n) { return ReduceWindow(n, attrs(ReduceOp::Max, {2}, {2})); }, b);
  EXPECT_EQ(any.to_vector<int>(), (std::vector<int>{1, 0, 1}));
  Tensor all = run1([](Node n) { return ReduceWindow(n, attrs(ReduceOp::Min, {2}, {2})); }, b);
  EXPECT_EQ(all.to_vector<int>(), (std::vector<int>{0, 0, 1}));
}

TEST(ReduceWindowTest, WindowsMadeOnlyOfPadding) {
  Tensor x = Tensor::from_vector(std::vector<float>{1, 2}, Shape{2});
  // pad 3 on the left, window 2 stride 1: the first two windows see nothing but padding.
  Tensor mx = run1([](Node n) { return ReduceWindow(n, attrs(ReduceOp::Max, {2}, {1}, {}, {3}, {0})); }, x);
  EXPECT_EQ(mx.to_vector<float>(), (std::vector<float>{-INFINITY, -INFINITY, 1, 2}));
  Tensor mn = run1([](Node n) { return ReduceWindow(n, attrs(ReduceOp::Min, {2}, {1}, {}, {3}, {0})); }, x);
  EXPECT_EQ(mn.to_vector<float>(), (std::vector<float>{INFINITY, INFINITY, 1, 1}));
  Tensor mean = run1([](Node n) { return ReduceWindow(n, attrs(ReduceOp::Mean, {2}, {1}, {}, {3}, {0})); }, x);
  EXPECT_EQ(mean.to_vector<float>(), (std::vector<float>{0, 0, 1, 1.5f}));
  Tensor mean_pad =
      run1([](Node n) { return ReduceWindow(n, attrs(ReduceOp::Mean, {2}, {1}, {}, {3}, {0}, true)); }, x);
  EXPECT_EQ(mean_pad.to_vector<float>(), (std::vector<float>{0, 0, 0.5f, 1.5f}));
  Tensor xi = Tensor::from_vector(std::vector<int32_t>{5, -2}, Shape{2});
  Tensor mxi = run1([](Node n) { return ReduceWindow(n, attrs(ReduceOp::Max, {2}, {1}, {}, {3}, {0})); }, xi);
  EXPECT_EQ(mxi.to_vector<int32_t>(),
            (std::vector<int32_t>{std::numeric_limits<int32_t>::lowest(), std::numeric_limits<int32_t>::lowest(), 5, 5}));
}

TEST(ReduceWindowTest, NanPropagatesThroughMaxAndMin) {
  Tensor x = Tensor::from_vector(std::vector<float>{1, NAN, 3, 4, 5}, Shape{1, 1, 5});
  Tensor mx = run1([](Node n) { return MaxPool(n, {2}, {1}); }, x);
  std::vector<float> v = mx.to_vector<float>();
  ASSERT_EQ(v.size(), 4u);
  EXPECT_TRUE(std::isnan(v[0]));
  EXPECT_TRUE(std::isnan(v[1]));
  EXPECT_EQ(v[2], 4);
  EXPECT_EQ(v[3], 5);
}

TEST(ReduceWindowTest, EmptyTensors) {
  // An empty spatial plane: the kernel has nothing to do. (An empty batch axis, [0, C, H, W], is refused
  // by the builder's shape inference today: window 1 > padded extent 0.)
  Tensor x(DType::F32, Shape{2, 3, 0});
  Tensor got = run1([](Node n) { return ReduceWindow(n, attrs(ReduceOp::Max, {1, 1, 1}, {}, {}, {0, 0, 0}, {0, 0, 1})); }, x);
  EXPECT_EQ(got.shape(), (Shape{2, 3, 1}));
  EXPECT_EQ(got.to_vector<float>(), std::vector<float>(6, -INFINITY));
  // An empty axis with enough padding for a window: every window is padding.
  Tensor e(DType::F32, Shape{2, 0});
  Tensor s = run1([](Node n) { return ReduceWindow(n, attrs(ReduceOp::Sum, {1, 2}, {1, 1}, {}, {0, 1}, {0, 2})); }, e);
  EXPECT_EQ(s.shape(), (Shape{2, 2}));
  EXPECT_EQ(s.to_vector<float>(), (std::vector<float>{0, 0, 0, 0}));
}

TEST(PoolTest, LargeImageNetStylePoolingIsCorrectAndTimed) {
  Dims xd{8, 64, 56, 56};
  Tensor x = random_values(DType::F32, xd, 30);
  Graph g("pool");
  Node p = g.parameter("x", DType::F32, Shape(xd));
  g.set_outputs({MaxPool(p, {3, 3}, {2, 2}, {1, 1}, {1, 1}), AvgPool(p, {3, 3}, {2, 2}, {1, 1}, {1, 1}, false)});
  auto exe = cpu_backend()->compile(g);
  std::vector<Tensor> out = exe->run({x});
  auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < 5; ++r) out = exe->run({x});
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / 5;
  std::printf("[ pooling ] [8, 64, 56, 56] 3x3/2 max + avg: %.3f ms\n", ms);
  Dims od;
  std::vector<double> vx = x.to_vector<double>();
  expect_close(out[0], reference(vx, xd, attrs(ReduceOp::Max, {1, 1, 3, 3}, {1, 1, 2, 2}, {}, {0, 0, 1, 1}, {0, 0, 1, 1}), od),
               od, 0);
  expect_close(out[1],
               reference(vx, xd, attrs(ReduceOp::Mean, {1, 1, 3, 3}, {1, 1, 2, 2}, {}, {0, 0, 1, 1}, {0, 0, 1, 1}), od),
               od, 1e-5);
}

}  // namespace
