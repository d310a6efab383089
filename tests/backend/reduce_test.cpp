// Reductions, arg-min/max and cumulative scans against plain-loop double-precision references.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "test_util.h"

using namespace graft;
using graft::testing::random_tensor;
using graft::testing::run1;
using graft::testing::run_graph;

namespace {

using graft::testing::Idx;
using graft::testing::ravel;
using graft::testing::unravel;

Idx normalize(Idx axes, int rank) {
  if (axes.empty())
    for (int i = 0; i < rank; ++i) axes.push_back(i);
  for (int64_t& a : axes)
    if (a < 0) a += rank;
  std::sort(axes.begin(), axes.end());
  return axes;
}

// Reference reduction in double. Returns the output dims (keepdims applied) and values.
std::pair<Idx, std::vector<double>> ref_reduce(const Tensor& x, ReduceOp op, Idx axes_in, bool keepdims) {
  Idx dims = x.shape().dims();
  Idx axes = normalize(axes_in, x.rank());
  auto reduced = [&](size_t i) { return std::binary_search(axes.begin(), axes.end(), int64_t(i)); };
  Idx od, kd;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (!reduced(i)) od.push_back(dims[i]);
    kd.push_back(reduced(i) ? 1 : dims[i]);
  }
  int64_t n_out = 1, count = 1;
  for (int64_t d : od) n_out *= d;
  for (int64_t a : axes) count *= dims[size_t(a)];
  double init = 0;
  switch (op) {
    case ReduceOp::Prod: case ReduceOp::And: init = 1; break;
    case ReduceOp::Max: init = -INFINITY; break;
    case ReduceOp::Min: init = INFINITY; break;
    default: break;
  }
  std::vector<double> acc(size_t(n_out), init);
  for (int64_t f = 0; f < x.size(); ++f) {
    Idx idx = unravel(f, dims);
    Idx oi;
    for (size_t i = 0; i < dims.size(); ++i)
      if (!reduced(i)) oi.push_back(idx[i]);
    double& a = acc[size_t(ravel(oi, od))];
    double v = x.value_as_double(f);
    switch (op) {
      case ReduceOp::Sum: case ReduceOp::Mean: a += v; break;
      case ReduceOp::Prod: a *= v; break;
      case ReduceOp::Max: a = (std::isnan(a) || std::isnan(v)) ? NAN : std::max(a, v); break;
      case ReduceOp::Min: a = (std::isnan(a) || std::isnan(v)) ? NAN : std::min(a, v); break;
      case ReduceOp::And: a = (a != 0 && v != 0); break;
      case ReduceOp::Or: a = (a != 0 || v != 0); break;
      default: break;
    }
  }
  if (op == ReduceOp::Mean)
    for (double& a : acc) a /= double(count);
  return {keepdims ? kd : od, acc};
}

void expect_close(const Tensor& got, const Idx& dims, const std::vector<double>& want, double rtol, double atol,
                  const std::string& what) {
  ASSERT_EQ(got.shape(), Shape(dims)) << what;
  ASSERT_EQ(size_t(got.size()), want.size()) << what;
  for (size_t i = 0; i < want.size(); ++i) {
    double g = got.value_as_double(int64_t(i));
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(g)) << what << " at " << i << ": got " << g;
    } else if (std::isinf(want[i])) {
      EXPECT_EQ(g, want[i]) << what << " at " << i;
    } else {
      ASSERT_NEAR(g, want[i], atol + rtol * std::fabs(want[i])) << what << " at " << i;
    }
  }
}

std::string axes_str(const Idx& a) {
  std::string s = "{";
  for (int64_t v : a) s += std::to_string(v) + ",";
  return s + "}";
}

const std::vector<Idx> kAxisSets = {{0}, {1}, {2}, {3}, {-1}, {-4}, {0, 1}, {2, 3}, {0, 2}, {1, 3},
                                    {0, 3}, {-3, -1}, {0, 2, 3}, {0, 1, 2}, {3, 0, 1}, {}};

}  // namespace

TEST(Reduce, FloatOpsOverAxisSets) {
  Tensor x = random_tensor(DType::F32, Shape{3, 4, 5, 6}, 1, -2, 2);
  Tensor xp = random_tensor(DType::F32, Shape{3, 4, 5, 6}, 2, 0.8, 1.2);  // products stay moderate
  for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Prod, ReduceOp::Max, ReduceOp::Min, ReduceOp::Mean}) {
    const Tensor& in = op == ReduceOp::Prod ? xp : x;
    for (bool keep : {false, true}) {
      auto outs = run_graph(
          [&](std::vector<Node> p) {
            std::vector<Node> o;
            for (const Idx& a : kAxisSets) o.push_back(Reduce(p[0], op, a, keep));
            return o;
          },
          {in});
      for (size_t k = 0; k < kAxisSets.size(); ++k) {
        auto [dims, want] = ref_reduce(in, op, kAxisSets[k], keep);
        EXPECT_EQ(outs[k].dtype(), DType::F32);
        expect_close(outs[k], dims, want, 1e-5, 1e-5,
                     std::string(reduce_op_name(op)) + " axes " + axes_str(kAxisSets[k]) + (keep ? " keepdims" : ""));
      }
    }
  }
}

TEST(Reduce, F64AndConvenienceWrappers) {
  Tensor x = random_tensor(DType::F64, Shape{5, 7, 3}, 3);
  auto outs = run_graph(
      [](std::vector<Node> p) {
        return std::vector<Node>{ReduceSum(p[0], {1}), ReduceMean(p[0], {0, 2}, true), ReduceMax(p[0]),
                                 ReduceMin(p[0], {-1}), ReduceProd(p[0], {2, 0})};
      },
      {x});
  auto check = [&](size_t k, ReduceOp op, Idx axes, bool keep) {
    auto [dims, want] = ref_reduce(x, op, axes, keep);
    expect_close(outs[k], dims, want, 1e-12, 1e-13, "f64 " + std::string(reduce_op_name(op)));
  };
  check(0, ReduceOp::Sum, {1}, false);
  check(1, ReduceOp::Mean, {0, 2}, true);
  check(2, ReduceOp::Max, {}, false);
  check(3, ReduceOp::Min, {-1}, false);
  check(4, ReduceOp::Prod, {0, 2}, false);
  EXPECT_EQ(outs[2].shape(), Shape{});
}

// Big enough for the parallel path (> 65536 elements) and for vectorized inner==1 sums.
TEST(Reduce, LargeSumsMatchDouble) {
  Tensor x = random_tensor(DType::F32, Shape{64, 1100}, 4);
  auto outs = run_graph(
      [](std::vector<Node> p) {
        return std::vector<Node>{ReduceSum(p[0], {1}), ReduceSum(p[0], {0}), ReduceMean(p[0]), ReduceMax(p[0], {1})};
      },
      {x});
  auto [d0, w0] = ref_reduce(x, ReduceOp::Sum, {1}, false);
  auto [d1, w1] = ref_reduce(x, ReduceOp::Sum, {0}, false);
  auto [d2, w2] = ref_reduce(x, ReduceOp::Mean, {}, false);
  auto [d3, w3] = ref_reduce(x, ReduceOp::Max, {1}, false);
  expect_close(outs[0], d0, w0, 1e-4, 1e-4, "sum rows");
  expect_close(outs[1], d1, w1, 1e-4, 1e-4, "sum cols");
  expect_close(outs[2], d2, w2, 1e-4, 1e-5, "mean all");
  expect_close(outs[3], d3, w3, 0, 0, "max rows");
}

TEST(Reduce, HalfPrecisionAccumulatesInFloat) {
  for (DType dt : {DType::F16, DType::BF16}) {
    Tensor x = random_tensor(dt, Shape{4, 300}, 5, 0, 1);
    auto outs = run_graph([](std::vector<Node> p) { return std::vector<Node>{ReduceSum(p[0], {1}), ReduceSum(p[0], {0}), ReduceMax(p[0], {1})}; },
                          {x});
    auto [d0, w0] = ref_reduce(x, ReduceOp::Sum, {1}, false);
    auto [d1, w1] = ref_reduce(x, ReduceOp::Sum, {0}, false);
    auto [d2, w2] = ref_reduce(x, ReduceOp::Max, {1}, false);
    // Summing 300 values in a 16-bit accumulator would be far off; f32 accumulation + one rounding is not.
    double rt = dt == DType::F16 ? 1e-3 : 8e-3;
    EXPECT_EQ(outs[0].dtype(), dt);
    expect_close(outs[0], d0, w0, rt, 0, std::string(dtype_name(dt)) + " sum 300");
    expect_close(outs[1], d1, w1, rt, 1e-3, std::string(dtype_name(dt)) + " sum 4");
    expect_close(outs[2], d2, w2, 0, 0, std::string(dtype_name(dt)) + " max");
  }
}

TEST(Reduce, IntegerSumsWrapAndIntegerMinMax) {
  using I32 = std::vector<int32_t>;
  constexpr int32_t kMax = std::numeric_limits<int32_t>::max(), kMin = std::numeric_limits<int32_t>::min();
  Tensor a = Tensor::from_vector(I32{kMax, 1, 5, kMin, -1, -7, kMax, kMax, kMax}, Shape{3, 3});
  auto outs = run_graph(
      [](std::vector<Node> p) {
        return std::vector<Node>{ReduceSum(p[0], {1}), ReduceSum(p[0], {0}), ReduceMax(p[0], {1}), ReduceMin(p[0], {1}),
                                 ReduceProd(p[0], {1}), ReduceSum(p[0])};
      },
      {a});
  auto wrap = [](int64_t v) { return int32_t(uint32_t(uint64_t(v))); };
  EXPECT_EQ(outs[0].to_vector<int32_t>(),
            (I32{wrap(int64_t(kMax) + 1 + 5), wrap(int64_t(kMin) - 8), wrap(3 * int64_t(kMax))}));
  EXPECT_EQ(outs[1].to_vector<int32_t>(),
            (I32{wrap(int64_t(kMax) + kMin + kMax), wrap(int64_t(1) - 1 + kMax), wrap(int64_t(5) - 7 + kMax)}));
  EXPECT_EQ(outs[2].to_vector<int32_t>(), (I32{kMax, -1, kMax}));
  EXPECT_EQ(outs[3].to_vector<int32_t>(), (I32{1, kMin, kMax}));
  EXPECT_EQ(outs[4].to_vector<int32_t>(),
            (I32{wrap(int64_t(kMax) * 5), wrap(int64_t(uint64_t(int64_t(kMin)) * 7)), wrap(int64_t(uint64_t(kMax) * uint64_t(kMax) * uint64_t(kMax)))}));
  int64_t total = 0;
  for (int32_t v : a.to_vector<int32_t>()) total += v;
  EXPECT_EQ(outs[5].item<int32_t>(), wrap(total));

  // int8 / uint8 wrap; uint8 max/min compare unsigned.
  Tensor b = Tensor::from_vector(std::vector<int8_t>{100, 100, -128, -1, 127, 1}, Shape{3, 2});
  auto bo = run_graph([](std::vector<Node> p) { return std::vector<Node>{ReduceSum(p[0], {1}), ReduceMin(p[0], {0}), ReduceMax(p[0], {0})}; }, {b});
  EXPECT_EQ(bo[0].to_vector<int8_t>(), (std::vector<int8_t>{int8_t(-56), 127, -128}));
  EXPECT_EQ(bo[1].to_vector<int8_t>(), (std::vector<int8_t>{-128, -1}));
  EXPECT_EQ(bo[2].to_vector<int8_t>(), (std::vector<int8_t>{127, 100}));
  Tensor u = Tensor::from_vector(std::vector<uint8_t>{200, 100, 255, 0, 1, 128}, Shape{2, 3});
  auto uo = run_graph([](std::vector<Node> p) { return std::vector<Node>{ReduceSum(p[0], {1}), ReduceMax(p[0], {1}), ReduceMin(p[0], {0}), ReduceProd(p[0], {0})}; }, {u});
  EXPECT_EQ(uo[0].to_vector<uint8_t>(), (std::vector<uint8_t>{uint8_t(555 % 256), 129}));
  EXPECT_EQ(uo[1].to_vector<uint8_t>(), (std::vector<uint8_t>{255, 128}));
  EXPECT_EQ(uo[2].to_vector<uint8_t>(), (std::vector<uint8_t>{0, 1, 128}));
  EXPECT_EQ(uo[3].to_vector<uint8_t>(), (std::vector<uint8_t>{0, 100, uint8_t(255 * 128 % 256)}));

  // int64 sums and products wrap too (inner > 1 layout: reduce axis 0 of [2, 3]).
  constexpr int64_t kMax64 = std::numeric_limits<int64_t>::max();
  Tensor l = Tensor::from_vector(std::vector<int64_t>{kMax64, 3, -4, 1, kMax64, 5}, Shape{2, 3});
  auto lo = run_graph([](std::vector<Node> p) { return std::vector<Node>{ReduceSum(p[0], {0}), ReduceProd(p[0], {0}), ReduceMin(p[0], {0})}; }, {l});
  auto w64 = [](uint64_t v) { return int64_t(v); };
  EXPECT_EQ(lo[0].to_vector<int64_t>(), (std::vector<int64_t>{w64(uint64_t(kMax64) + 1), w64(uint64_t(3) + uint64_t(kMax64)), 1}));
  EXPECT_EQ(lo[1].to_vector<int64_t>(), (std::vector<int64_t>{kMax64, w64(uint64_t(3) * uint64_t(kMax64)), -20}));
  EXPECT_EQ(lo[2].to_vector<int64_t>(), (std::vector<int64_t>{1, 3, -4}));
}

TEST(Reduce, AllAny) {
  std::vector<bool> v;
  for (int i = 0; i < 60; ++i) v.push_back(i % 7 != 3);
  Tensor x = Tensor::from_vector(v, Shape{3, 4, 5});
  for (bool keep : {false, true}) {
    auto outs = run_graph(
        [&](std::vector<Node> p) {
          std::vector<Node> o;
          for (const Idx& a : std::vector<Idx>{{0}, {1}, {2}, {0, 2}, {}}) {
            o.push_back(ReduceAll(p[0], a, keep));
            o.push_back(ReduceAny(Not(p[0]), a, keep));
          }
          return o;
        },
        {x});
    Tensor nx = Tensor::from_vector([&] { std::vector<bool> n; for (bool b : v) n.push_back(!b); return n; }(), Shape{3, 4, 5});
    size_t k = 0;
    for (const Idx& a : std::vector<Idx>{{0}, {1}, {2}, {0, 2}, {}}) {
      auto [d0, w0] = ref_reduce(x, ReduceOp::And, a, keep);
      auto [d1, w1] = ref_reduce(nx, ReduceOp::Or, a, keep);
      EXPECT_EQ(outs[k].dtype(), DType::Bool);
      expect_close(outs[k++], d0, w0, 0, 0, "all " + axes_str(a));
      expect_close(outs[k++], d1, w1, 0, 0, "any " + axes_str(a));
    }
  }
}

TEST(Reduce, EmptyReducedAxesGiveIdentities) {
  Tensor f(DType::F32, Shape{0, 3});
  auto fo = run_graph(
      [](std::vector<Node> p) {
        return std::vector<Node>{ReduceSum(p[0], {0}), ReduceProd(p[0], {0}), ReduceMax(p[0], {0}),
                                 ReduceMin(p[0], {0}), ReduceMean(p[0], {0}), ReduceSum(p[0], {1}),
                                 ReduceSum(p[0], {0}, true)};
      },
      {f});
  float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(fo[0].to_vector<float>(), (std::vector<float>{0, 0, 0}));
  EXPECT_EQ(fo[1].to_vector<float>(), (std::vector<float>{1, 1, 1}));
  EXPECT_EQ(fo[2].to_vector<float>(), (std::vector<float>{-inf, -inf, -inf}));
  EXPECT_EQ(fo[3].to_vector<float>(), (std::vector<float>{inf, inf, inf}));
  for (float m : fo[4].to_vector<float>()) EXPECT_TRUE(std::isnan(m)) << "mean of nothing is 0/0 (NumPy: nan)";
  EXPECT_EQ(fo[5].shape(), (Shape{0}));
  EXPECT_EQ(fo[6].shape(), (Shape{1, 3}));

  Tensor h(DType::F16, Shape{2, 0});
  auto ho = run_graph([](std::vector<Node> p) { return std::vector<Node>{ReduceMax(p[0], {1}), ReduceProd(p[0], {1})}; }, {h});
  EXPECT_EQ(ho[0].to_vector<float>(), (std::vector<float>{-inf, -inf}));
  EXPECT_EQ(ho[1].to_vector<float>(), (std::vector<float>{1, 1}));

  Tensor i(DType::I32, Shape{2, 0});
  auto io = run_graph(
      [](std::vector<Node> p) {
        return std::vector<Node>{ReduceMax(p[0], {1}), ReduceMin(p[0], {1}), ReduceSum(p[0], {1}), ReduceProd(p[0], {1})};
      },
      {i});
  EXPECT_EQ(io[0].to_vector<int32_t>(), (std::vector<int32_t>{INT32_MIN, INT32_MIN}));
  EXPECT_EQ(io[1].to_vector<int32_t>(), (std::vector<int32_t>{INT32_MAX, INT32_MAX}));
  EXPECT_EQ(io[2].to_vector<int32_t>(), (std::vector<int32_t>{0, 0}));
  EXPECT_EQ(io[3].to_vector<int32_t>(), (std::vector<int32_t>{1, 1}));

  Tensor u(DType::U8, Shape{0, 2});
  auto uo = run_graph([](std::vector<Node> p) { return std::vector<Node>{ReduceMax(p[0], {0}), ReduceMin(p[0], {0})}; }, {u});
  EXPECT_EQ(uo[0].to_vector<uint8_t>(), (std::vector<uint8_t>{0, 0}));
  EXPECT_EQ(uo[1].to_vector<uint8_t>(), (std::vector<uint8_t>{255, 255}));

  Tensor b(DType::Bool, Shape{3, 0});
  auto bo = run_graph([](std::vector<Node> p) { return std::vector<Node>{ReduceAll(p[0], {1}), ReduceAny(p[0], {1})}; }, {b});
  EXPECT_EQ(bo[0].to_vector<bool>(), (std::vector<bool>{true, true, true}));
  EXPECT_EQ(bo[1].to_vector<bool>(), (std::vector<bool>{false, false, false}));
}

TEST(Reduce, MaxMinPropagateNaN) {
  float nan = std::nanf("");
  // NaN first, middle, last along the reduced axis; inner == 1, inner > 1, and non-adjacent axes.
  Tensor x = Tensor::from_vector(std::vector<float>{nan, 1, 2, 3, 4, nan, 5, 6, 7, 8, 9, nan, 1, 2, 3, 4}, Shape{4, 4});
  auto outs = run_graph(
      [](std::vector<Node> p) {
        return std::vector<Node>{ReduceMax(p[0], {1}), ReduceMin(p[0], {1}), ReduceMax(p[0], {0}),
                                 ReduceMin(p[0], {0}), ReduceMax(p[0]), ReduceSum(p[0], {1})};
      },
      {x});
  for (size_t k = 0; k < outs.size(); ++k) {
    ReduceOp op[] = {ReduceOp::Max, ReduceOp::Min, ReduceOp::Max, ReduceOp::Min, ReduceOp::Max, ReduceOp::Sum};
    Idx ax[] = {{1}, {1}, {0}, {0}, {}, {1}};
    auto [d, w] = ref_reduce(x, op[k], ax[k], false);
    expect_close(outs[k], d, w, 0, 1e-6, "NaN case " + std::to_string(k));
  }
  Tensor y = random_tensor(DType::F32, Shape{3, 4, 5}, 9);
  y.data<float>()[17] = nan;
  y.data<float>()[45] = nan;
  auto yo = run_graph([](std::vector<Node> p) { return std::vector<Node>{ReduceMax(p[0], {0, 2}), ReduceMin(p[0], {0, 2})}; }, {y});
  auto [d0, w0] = ref_reduce(y, ReduceOp::Max, {0, 2}, false);
  auto [d1, w1] = ref_reduce(y, ReduceOp::Min, {0, 2}, false);
  expect_close(yo[0], d0, w0, 0, 0, "non-adjacent max with NaN");
  expect_close(yo[1], d1, w1, 0, 0, "non-adjacent min with NaN");
}

TEST(Reduce, BuilderErrors) {
  Graph g;
  Node x = g.parameter("x", DType::F32, {2, 3});
  Node b = g.parameter("b", DType::Bool, {2, 3});
  auto msg = [](auto f) -> std::string {
    try {
      f();
    } catch (const Error& e) {
      return e.what();
    }
    return "<no error>";
  };
  std::string m = msg([&] { ReduceSum(x, {2}); });
  EXPECT_NE(m.find("Reduce(sum)"), std::string::npos) << m;
  EXPECT_NE(m.find("out of range"), std::string::npos) << m;
  EXPECT_NE(msg([&] { ReduceSum(x, {1, -1}); }).find("given twice"), std::string::npos);
  EXPECT_NE(msg([&] { ReduceAll(x); }).find("expected bool"), std::string::npos);
  EXPECT_NE(msg([&] { ReduceSum(b); }).find("bool"), std::string::npos);
  EXPECT_THROW(ArgMax(x, 2), Error);
  Node e = g.parameter("e", DType::F32, {0, 3});
  EXPECT_NE(msg([&] { ArgMax(e, 0); }).find("is empty"), std::string::npos);
  EXPECT_THROW(CumSum(b, 0), Error);
  EXPECT_THROW(CumSum(x, 2), Error);
  EXPECT_EQ(ReduceSum(x, {1}, true).shape(), (Shape{2, 1}));
  EXPECT_EQ(ArgMin(x, -1, true).shape(), (Shape{2, 1}));
  EXPECT_EQ(ArgMin(x, 0).dtype(), DType::I64);
}

// ---- arg-min / arg-max -----------------------------------------------------------------------------

namespace {
std::pair<Idx, std::vector<double>> ref_arg(const Tensor& x, int axis, bool is_min, bool last, bool keep) {
  Idx dims = x.shape().dims();
  if (axis < 0) axis += x.rank();
  Idx od = dims;
  od.erase(od.begin() + axis);
  int64_t n = 1;
  for (int64_t d : od) n *= d;
  std::vector<double> out;
  for (int64_t f = 0; f < n; ++f) {
    Idx oi = unravel(f, od);
    Idx idx = oi;
    idx.insert(idx.begin() + axis, 0);
    int64_t best = -1;
    double bv = 0;
    for (int64_t r = 0; r < dims[size_t(axis)]; ++r) {
      idx[size_t(axis)] = r;
      double v = x.value_as_double(ravel(idx, dims));
      if (std::isnan(v)) {  // the first NaN wins (NumPy)
        best = r;
        break;
      }
      bool better = best < 0 || (is_min ? (v < bv || (last && v == bv)) : (v > bv || (last && v == bv)));
      if (better) best = r, bv = v;
    }
    out.push_back(double(best));
  }
  Idx kd = dims;
  kd[size_t(axis)] = 1;
  return {keep ? kd : od, out};
}
}  // namespace

TEST(ArgMinMax, TiesKeepdimsAxesAndDTypes) {
  // Few distinct values, so ties are everywhere.
  Tensor xf = random_tensor(DType::F32, Shape{3, 5, 4}, 13, 0, 3);
  for (float& v : xf.span<float>()) v = std::floor(v);
  for (DType dt : {DType::F32, DType::I32, DType::I64, DType::F16, DType::U8, DType::F64, DType::BF16}) {
    Tensor x = xf.cast(dt);
    struct C { int axis; bool keep, last; };
    std::vector<C> cs;
    for (int axis : {0, 1, 2, -1, -3})
      for (bool keep : {false, true})
        for (bool last : {false, true}) cs.push_back({axis, keep, last});
    auto outs = run_graph(
        [&](std::vector<Node> p) {
          std::vector<Node> o;
          for (const C& c : cs) {
            o.push_back(ArgMax(p[0], c.axis, c.keep, c.last));
            o.push_back(ArgMin(p[0], c.axis, c.keep, c.last));
          }
          return o;
        },
        {x});
    size_t k = 0;
    for (const C& c : cs) {
      for (bool is_min : {false, true}) {
        auto [d, w] = ref_arg(x, c.axis, is_min, c.last, c.keep);
        EXPECT_EQ(outs[k].dtype(), DType::I64);
        expect_close(outs[k++], d, w, 0, 0,
                     std::string(is_min ? "ArgMin" : "ArgMax") + " " + std::string(dtype_name(dt)) + " axis " +
                         std::to_string(c.axis) + (c.keep ? " keep" : "") + (c.last ? " last" : ""));
      }
    }
  }
}

TEST(ArgMinMax, NaNIsTheExtremeFirstOneWins) {
  float nan = std::nanf("");
  Tensor x = Tensor::from_vector(std::vector<float>{1, nan, 3, nan, /**/ 5, 5, 1, 1, /**/ nan, 9, -9, 0, /**/ 2, 7, 7, nan},
                                 Shape{4, 4});
  auto outs = run_graph(
      [](std::vector<Node> p) {
        return std::vector<Node>{ArgMax(p[0], 1), ArgMin(p[0], 1), ArgMax(p[0], 1, false, true),
                                 ArgMin(p[0], 1, false, true), ArgMax(p[0], 0)};
      },
      {x});
  EXPECT_EQ(outs[0].to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 0, 3}));
  EXPECT_EQ(outs[1].to_vector<int64_t>(), (std::vector<int64_t>{1, 2, 0, 3}));
  EXPECT_EQ(outs[2].to_vector<int64_t>(), (std::vector<int64_t>{1, 1, 0, 3}));  // NaN still wins over ties
  EXPECT_EQ(outs[3].to_vector<int64_t>(), (std::vector<int64_t>{1, 3, 0, 3}));
  EXPECT_EQ(outs[4].to_vector<int64_t>(), (std::vector<int64_t>{2, 0, 3, 0}));
}

// ---- cumulative ------------------------------------------------------------------------------------

namespace {
std::vector<double> ref_cum(const Tensor& x, int axis, bool prod, bool excl, bool rev) {
  Idx dims = x.shape().dims();
  if (axis < 0) axis += x.rank();
  std::vector<double> out(size_t(x.size()));
  for (int64_t f = 0; f < x.size(); ++f) {
    Idx idx = unravel(f, dims);
    if (idx[size_t(axis)] != 0) continue;
    double acc = prod ? 1 : 0;
    int64_t len = dims[size_t(axis)];
    for (int64_t s = 0; s < len; ++s) {
      idx[size_t(axis)] = rev ? len - 1 - s : s;
      int64_t at = ravel(idx, dims);
      double v = x.value_as_double(at);
      double next = prod ? acc * v : acc + v;
      out[size_t(at)] = excl ? acc : next;
      acc = next;
    }
  }
  return out;
}
}  // namespace

TEST(Cumulative, SumAndProdExclusiveReverseOnSeveralAxes) {
  for (DType dt : {DType::F32, DType::F64, DType::I32, DType::I64, DType::F16}) {
    bool fp = is_floating(dt);
    Tensor x = fp ? random_tensor(dt, Shape{3, 4, 5}, 17, 0.5, 1.5) : random_tensor(dt, Shape{3, 4, 5}, 17, -3, 4);
    for (bool prod : {false, true}) {
      struct C { int axis; bool excl, rev; };
      std::vector<C> cs;
      for (int axis : {0, 1, 2, -1})
        for (bool excl : {false, true})
          for (bool rev : {false, true}) cs.push_back({axis, excl, rev});
      auto outs = run_graph(
          [&](std::vector<Node> p) {
            std::vector<Node> o;
            for (const C& c : cs) o.push_back(prod ? CumProd(p[0], c.axis, c.excl, c.rev) : CumSum(p[0], c.axis, c.excl, c.rev));
            return o;
          },
          {x});
      for (size_t k = 0; k < cs.size(); ++k) {
        const C& c = cs[k];
        std::vector<double> want = ref_cum(x, c.axis, prod, c.excl, c.rev);
        double rt = dt == DType::F16 ? 4e-3 : dt == DType::F32 ? 1e-5 : dt == DType::F64 ? 1e-12 : 0;
        EXPECT_EQ(outs[k].dtype(), dt);
        expect_close(outs[k], x.shape().dims(), want, rt, 0,
                     std::string(prod ? "CumProd " : "CumSum ") + std::string(dtype_name(dt)) + " axis " +
                         std::to_string(c.axis) + (c.excl ? " exclusive" : "") + (c.rev ? " reverse" : ""));
      }
    }
  }
}

TEST(Cumulative, IntegerWrapAndEmpty) {
  Tensor x = Tensor::from_vector(std::vector<int32_t>{INT32_MAX, 1, 1}, Shape{3});
  Tensor y = run1([](std::vector<Node> p) { return CumSum(p[0], 0); }, {x});
  EXPECT_EQ(y.to_vector<int32_t>(), (std::vector<int32_t>{INT32_MAX, INT32_MIN, INT32_MIN + 1}));
  Tensor e(DType::F32, Shape{2, 0});
  EXPECT_EQ(run1([](std::vector<Node> p) { return CumSum(p[0], 1, true, true); }, {e}).shape(), (Shape{2, 0}));
  Tensor z = run1([](std::vector<Node> p) { return CumProd(p[0], 0, true); }, {Tensor{2.f, 3.f, 4.f}});
  EXPECT_EQ(z.to_vector<float>(), (std::vector<float>{1.f, 2.f, 6.f}));
}

TEST(ArgMinMax, BoolAndUnsignedOperands) {
  Tensor b = Tensor::from_vector(std::vector<bool>{false, true, true, false, false, false}, Shape{2, 3});
  auto bo = run_graph(
      [](std::vector<Node> p) {
        return std::vector<Node>{ArgMax(p[0], 1), ArgMin(p[0], 1), ArgMax(p[0], 1, false, true)};
      },
      {b});
  EXPECT_EQ(bo[0].to_vector<int64_t>(), (std::vector<int64_t>{1, 0}));  // NumPy: all-equal row gives 0
  EXPECT_EQ(bo[1].to_vector<int64_t>(), (std::vector<int64_t>{0, 0}));
  EXPECT_EQ(bo[2].to_vector<int64_t>(), (std::vector<int64_t>{2, 2}));
  Tensor u = Tensor::from_vector(std::vector<uint64_t>{1, uint64_t(1) << 63, 5}, Shape{3});
  EXPECT_EQ(run1([](std::vector<Node> p) { return ArgMax(p[0], 0); }, {u}).item<int64_t>(), 1);  // unsigned compare
  EXPECT_EQ(run1([](std::vector<Node> p) { return ArgMin(p[0], 0); }, {u}).item<int64_t>(), 0);
}

TEST(Cumulative, UnsignedAndBFloat16) {
  Tensor u = Tensor::from_vector(std::vector<uint8_t>{200, 100, 10, 3}, Shape{4});
  EXPECT_EQ(run1([](std::vector<Node> p) { return CumSum(p[0], 0); }, {u}).to_vector<uint8_t>(),
            (std::vector<uint8_t>{200, 44, 54, 57}));
  EXPECT_EQ(run1([](std::vector<Node> p) { return CumProd(p[0], 0, false, true); }, {u}).to_vector<uint8_t>(),
            (std::vector<uint8_t>{uint8_t(200 * 100 * 10 * 3 % 256), uint8_t(100 * 10 * 3 % 256), 30, 3}));
  Tensor h = random_tensor(DType::BF16, Shape{2, 50}, 5, 0, 1);
  Tensor y = run1([](std::vector<Node> p) { return CumSum(p[0], 1); }, {h});
  std::vector<double> want = ref_cum(h, 1, false, false, false);
  // f32 accumulation, one bf16 rounding per output (a bf16 running sum would drift much further).
  expect_close(y, {2, 50}, want, 8e-3, 0, "bf16 cumsum");
}

TEST(Cumulative, MaxAndMinOfSignedIntegersCompareAsSigned) {
  // Running max/min (the Cumulative primitive with a Max/Min combiner) over negative int64 values: the
  // expected values are the running extremes, the exclusive first element the combiner's identity.
  Tensor x = Tensor::from_vector(std::vector<int64_t>{-5, -7, 3, -9, 4}, Shape{5});
  auto scan = [&](ReduceOp op, bool exclusive) {
    return run1([&](std::vector<Node> p) {
      return p[0].graph()->add_op1(OpKind::Cumulative, {p[0]}, CumulativeAttrs{0, op, exclusive, false}, p[0].type());
    }, {x});
  };
  EXPECT_EQ(scan(ReduceOp::Max, false).to_vector<int64_t>(), (std::vector<int64_t>{-5, -5, 3, 3, 4}));
  EXPECT_EQ(scan(ReduceOp::Min, false).to_vector<int64_t>(), (std::vector<int64_t>{-5, -7, -7, -9, -9}));
  EXPECT_EQ(scan(ReduceOp::Max, true).to_vector<int64_t>(),
            (std::vector<int64_t>{INT64_MIN, -5, -5, 3, 3}));
}
