// Shape / data-movement ops (broadcast, reshape, transpose, slices, concatenation, padding, reversal)
// against index-mapping references written here, on several dtypes, plus builder errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <optional>

#include "test_util.h"

using namespace graft;
using graft::testing::random_tensor;
using graft::testing::run1;
using graft::testing::run_graph;

namespace {

using graft::testing::Idx;
using graft::testing::ravel;
using graft::testing::unravel;

// Distinct values 0, 1, 2, ... (bool: a pattern) converted to `dt`.
Tensor counting(DType dt, Shape shape, int64_t offset = 0) {
  std::vector<double> v;
  for (int64_t i = 0; i < shape.size(); ++i) {
    double x = double(i + offset);
    if (dt == DType::Bool) x = ((i + offset) % 3 == 0) ? 1 : 0;
    if (dt == DType::I8 || dt == DType::U8) x = double((i + offset) % 100);
    v.push_back(x);
  }
  return Tensor::from_vector(v, shape).cast(dt);
}

// The expected output: out_dims, and for each output index the source index in x (or nullopt: `fill`).
std::vector<double> gather_ref(const Tensor& x, const Idx& out_dims,
                               const std::function<std::optional<Idx>(const Idx&)>& src, double fill = 0) {
  std::vector<double> out;
  int64_t n = 1;
  for (int64_t d : out_dims) n *= d;
  for (int64_t i = 0; i < n; ++i) {
    std::optional<Idx> s = src(unravel(i, out_dims));
    out.push_back(s ? x.value_as_double(ravel(*s, x.shape().dims())) : fill);
  }
  return out;
}

void expect_values(const Tensor& got, DType dt, const Idx& dims, const std::vector<double>& want,
                   const std::string& what) {
  ASSERT_EQ(got.dtype(), dt) << what;
  ASSERT_EQ(got.shape(), Shape(dims)) << what;
  ASSERT_EQ(size_t(got.size()), want.size()) << what;
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_EQ(got.value_as_double(int64_t(i)), want[i]) << what << " at flat index " << i;
}

template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

#define EXPECT_HAS(msg, sub) EXPECT_NE((msg).find(sub), std::string::npos) << "message: " << (msg) << "\nwanted: " << (sub)

const DType kDTypes[] = {DType::F32, DType::I64, DType::Bool, DType::F16, DType::BF16, DType::U8, DType::F64};

// Python's slice.indices(length) followed by the index walk: the positions x[start:stop:step] picks.
Idx python_slice(int64_t len, std::optional<int64_t> start, std::optional<int64_t> stop, int64_t step) {
  int64_t lower = step < 0 ? -1 : 0, upper = step < 0 ? len - 1 : len;
  auto fix = [&](std::optional<int64_t> v, int64_t dflt) {
    if (!v) return dflt;
    int64_t s = *v;
    if (s < 0) {
      s += len;
      if (s < lower) s = lower;
    } else if (s > upper) {
      s = upper;
    }
    return s;
  };
  int64_t b = fix(start, step < 0 ? upper : lower), e = fix(stop, step < 0 ? lower : upper);
  // Count first: stepping past the end must not overflow for huge steps.
  int64_t n = 0;
  if (step > 0 && b < e) n = (e - b - 1) / step + 1;
  if (step < 0 && b > e) n = (b - e - 1) / (step == INT64_MIN ? INT64_MAX : -step) + 1;
  Idx out;
  for (int64_t k = 0; k < n; ++k) out.push_back(b + k * step);
  return out;
}

}  // namespace

// ---- broadcast -------------------------------------------------------------------------------------

TEST(Layout, BroadcastInDimAllDTypes) {
  for (DType dt : kDTypes) {
    Tensor x = counting(dt, Shape{3, 1});
    Tensor s = counting(dt, Shape{}, 5);
    Tensor v = counting(dt, Shape{3});
    auto outs = run_graph(
        [](std::vector<Node> in) {
          return std::vector<Node>{BroadcastInDim(in[0], Shape{2, 3, 4}, {1, 2}),
                                   BroadcastInDim(in[1], Shape{2, 2}, {}),
                                   BroadcastInDim(in[2], Shape{3, 2}, {0}),
                                   BroadcastInDim(in[0], Shape{3, 2, 5}, {0, 1})};
        },
        {x, s, v});
    std::string what = std::string("BroadcastInDim ") + std::string(dtype_name(dt));
    expect_values(outs[0], dt, {2, 3, 4}, gather_ref(x, {2, 3, 4}, [](const Idx& o) { return Idx{o[1], 0}; }), what);
    expect_values(outs[1], dt, {2, 2}, gather_ref(s, {2, 2}, [](const Idx&) { return Idx{}; }), what);
    expect_values(outs[2], dt, {3, 2}, gather_ref(v, {3, 2}, [](const Idx& o) { return Idx{o[0]}; }), what);
    expect_values(outs[3], dt, {3, 2, 5}, gather_ref(x, {3, 2, 5}, [](const Idx& o) { return Idx{o[0], 0}; }), what);
  }
}

TEST(Layout, BroadcastToNumpyRules) {
  Tensor x = random_tensor(DType::F32, Shape{4, 1, 5}, 11);
  Tensor y = run1([](std::vector<Node> in) { return BroadcastTo(in[0], Shape{2, 4, 3, 5}); }, {x});
  expect_values(y, DType::F32, {2, 4, 3, 5},
                gather_ref(x, {2, 4, 3, 5}, [](const Idx& o) { return Idx{o[1], 0, o[3]}; }), "BroadcastTo");
  // Same shape is the identity (no op recorded).
  Graph g;
  Node p = g.parameter("p", DType::F32, {2, 3});
  EXPECT_EQ(BroadcastTo(p, Shape{2, 3}).op_index(), p.op_index());
  EXPECT_EQ(BroadcastInDim(p, Shape{2, 3}, {0, 1}).op_index(), p.op_index());
}

TEST(Layout, BroadcastErrors) {
  Graph g;
  Node x = g.parameter("x", DType::F32, {3, 2});
  std::string m = error_of([&] { BroadcastInDim(x, Shape{3, 4}, {0, 1}); });
  EXPECT_HAS(m, "BroadcastInDim");
  EXPECT_HAS(m, "[3, 2]");
  EXPECT_HAS(m, "[3, 4]");
  m = error_of([&] { BroadcastInDim(x, Shape{2, 3}, {1, 0}); });
  EXPECT_HAS(m, "must increase");
  m = error_of([&] { BroadcastInDim(x, Shape{3, 2}, {0}); });
  EXPECT_HAS(m, "BroadcastInDim");
  m = error_of([&] { BroadcastInDim(x, Shape{3, 2}, {0, 2}); });
  EXPECT_HAS(m, "out of range");
  m = error_of([&] { BroadcastTo(x, Shape{3, 3}); });
  EXPECT_HAS(m, "BroadcastTo");
  m = error_of([&] { BroadcastTo(x, Shape{2}); });
  EXPECT_HAS(m, "higher rank");
  // [3, 2] broadcasts with [1, 2] to [3, 2], which is not the requested [1, 2].
  m = error_of([&] { BroadcastTo(x, Shape{1, 2}); });
  EXPECT_HAS(m, "BroadcastTo");
}

// ---- reshape, expand, squeeze ----------------------------------------------------------------------

TEST(Layout, ReshapeInfersMinusOne) {
  Graph g;
  Node x = g.parameter("x", DType::F32, {2, 3, 4});
  EXPECT_EQ(Reshape(x, {-1, 4}).shape(), (Shape{6, 4}));
  EXPECT_EQ(Reshape(x, {4, -1, 3}).shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(Reshape(x, {-1}).shape(), (Shape{24}));
  EXPECT_EQ(Reshape(x, {2, 3, 4}).op_index(), x.op_index());  // identity elided
  Node e = g.parameter("e", DType::F32, {0, 5});
  EXPECT_EQ(Reshape(e, {5, 0, 1}).shape(), (Shape{5, 0, 1}));
  Node s = g.parameter("s", DType::F32, {});
  EXPECT_EQ(Reshape(s, {1, 1}).shape(), (Shape{1, 1}));
  EXPECT_EQ(Reshape(s, {-1}).shape(), (Shape{1}));

  for (DType dt : {DType::F32, DType::I64, DType::Bool, DType::F16}) {
    Tensor t = counting(dt, Shape{2, 3, 4});
    Tensor r = run1([](std::vector<Node> in) { return Reshape(in[0], {4, -1}); }, {t});
    std::vector<double> want;
    for (int64_t i = 0; i < 24; ++i) want.push_back(t.value_as_double(i));
    expect_values(r, dt, {4, 6}, want, "Reshape");
  }
}

TEST(Layout, ReshapeErrors) {
  Graph g;
  Node x = g.parameter("x", DType::F32, {2, 3, 4});
  std::string m = error_of([&] { Reshape(x, {5, 5}); });
  EXPECT_HAS(m, "Reshape");
  EXPECT_HAS(m, "[2, 3, 4]");
  EXPECT_HAS(m, "24 elements");
  EXPECT_HAS(m, "25 elements");
  m = error_of([&] { Reshape(x, {-1, -1}); });
  EXPECT_HAS(m, "more than one -1");
  m = error_of([&] { Reshape(x, {5, -1}); });
  EXPECT_HAS(m, "cannot infer");
  m = error_of([&] { Reshape(x, {0, -1}); });
  EXPECT_HAS(m, "cannot infer");
  m = error_of([&] { Reshape(x, {-2, 12}); });
  EXPECT_HAS(m, "bad target dimension");
}

TEST(Layout, ExpandDimsAndSqueeze) {
  Graph g;
  Node x = g.parameter("x", DType::F32, {2, 1, 3, 1});
  EXPECT_EQ(ExpandDims(x, 0).shape(), (Shape{1, 2, 1, 3, 1}));
  EXPECT_EQ(ExpandDims(x, 4).shape(), (Shape{2, 1, 3, 1, 1}));
  EXPECT_EQ(ExpandDims(x, -1).shape(), (Shape{2, 1, 3, 1, 1}));
  EXPECT_EQ(ExpandDims(x, -5).shape(), (Shape{1, 2, 1, 3, 1}));
  EXPECT_EQ(ExpandDims(x, 2).shape(), (Shape{2, 1, 1, 3, 1}));
  EXPECT_THROW(ExpandDims(x, 5), Error);
  EXPECT_THROW(ExpandDims(x, -6), Error);
  EXPECT_EQ(Squeeze(x, {}).shape(), (Shape{2, 3}));
  EXPECT_EQ(Squeeze(x, {1}).shape(), (Shape{2, 3, 1}));
  EXPECT_EQ(Squeeze(x, {-1}).shape(), (Shape{2, 1, 3}));
  EXPECT_EQ(Squeeze(x, {3, 1}).shape(), (Shape{2, 3}));
  std::string m = error_of([&] { Squeeze(x, {0}); });
  EXPECT_HAS(m, "Squeeze");
  EXPECT_HAS(m, "is not 1");
  EXPECT_THROW(Squeeze(x, {4}), Error);
  EXPECT_THROW(Squeeze(x, {1, 1}), Error);

  Tensor t = counting(DType::I64, Shape{2, 1, 3, 1});
  auto outs = run_graph(
      [](std::vector<Node> in) {
        return std::vector<Node>{Squeeze(in[0], {}), ExpandDims(Squeeze(in[0], {1}), 0)};
      },
      {t});
  EXPECT_EQ(outs[0].shape(), (Shape{2, 3}));
  EXPECT_EQ(outs[0].to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(outs[1].shape(), (Shape{1, 2, 3, 1}));
  EXPECT_EQ(outs[1].to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
}

// ---- transpose -------------------------------------------------------------------------------------

TEST(Layout, TransposeEvery4dPermutation) {
  for (DType dt : {DType::F32, DType::F16, DType::I64, DType::Bool}) {
    Tensor x = counting(dt, Shape{2, 3, 4, 5});
    Idx perm{0, 1, 2, 3};
    std::vector<Idx> perms;
    do perms.push_back(perm);
    while (std::next_permutation(perm.begin(), perm.end()));
    auto outs = run_graph(
        [&](std::vector<Node> in) {
          std::vector<Node> o;
          for (const Idx& p : perms) o.push_back(Transpose(in[0], p));
          return o;
        },
        {x});
    ASSERT_EQ(outs.size(), perms.size());
    for (size_t k = 0; k < perms.size(); ++k) {
      const Idx& p = perms[k];
      Idx od;
      for (int64_t a : p) od.push_back(x.shape()[int(a)]);
      auto want = gather_ref(x, od, [&](const Idx& o) {
        Idx s(4);
        for (size_t i = 0; i < 4; ++i) s[size_t(p[i])] = o[i];
        return s;
      });
      expect_values(outs[k], dt, od, want, "Transpose perm #" + std::to_string(k));
    }
  }
}

TEST(Layout, TransposeNegativeAxesIdentityAndErrors) {
  Tensor x = random_tensor(DType::F32, Shape{3, 4, 5}, 3);
  Tensor y = run1([](std::vector<Node> in) { return Transpose(in[0], {-1, 0, -2}); }, {x});
  expect_values(y, DType::F32, {5, 3, 4}, gather_ref(x, {5, 3, 4}, [](const Idx& o) { return Idx{o[1], o[2], o[0]}; }),
                "Transpose negative axes");
  Graph g;
  Node p = g.parameter("p", DType::F32, {3, 4, 5});
  int before = g.num_ops();
  EXPECT_EQ(Transpose(p, {0, 1, 2}).op_index(), p.op_index());
  EXPECT_EQ(Transpose(p, {-3, -2, -1}).op_index(), p.op_index());
  EXPECT_EQ(g.num_ops(), before);
  std::string m = error_of([&] { Transpose(p, {0, 1}); });
  EXPECT_HAS(m, "Transpose");
  EXPECT_HAS(m, "[0, 1]");
  m = error_of([&] { Transpose(p, {0, 1, 1}); });
  EXPECT_HAS(m, "given twice");
  m = error_of([&] { Transpose(p, {0, 1, 3}); });
  EXPECT_HAS(m, "out of range");
}

// ---- slices ----------------------------------------------------------------------------------------

TEST(Layout, SliceWithStrides) {
  Tensor x = counting(DType::F32, Shape{7, 6, 5});
  struct Case { Idx starts, limits, strides; };
  std::vector<Case> cases = {
      {{0, 0, 0}, {7, 6, 5}, {2, 3, 4}}, {{1, 2, 0}, {7, 5, 5}, {3, 1, 2}}, {{6, 5, 4}, {7, 6, 5}, {1, 1, 1}},
      {{2, 1, 1}, {2, 6, 4}, {1, 2, 1}},  // empty first axis
      {{0, 0, 0}, {7, 6, 5}, {7, 6, 5}}, {{1, 1, 1}, {6, 6, 3}, {10, 2, 1}}, {{0, 3, 2}, {5, 4, 5}, {1, 1, 2}},
  };
  for (DType dt : kDTypes) {
    Tensor xt = counting(dt, Shape{7, 6, 5});
    auto outs = run_graph(
        [&](std::vector<Node> in) {
          std::vector<Node> o;
          for (const Case& c : cases) o.push_back(Slice(in[0], c.starts, c.limits, c.strides));
          return o;
        },
        {xt});
    for (size_t k = 0; k < cases.size(); ++k) {
      const Case& c = cases[k];
      Idx od;
      for (size_t i = 0; i < 3; ++i) od.push_back(std::max<int64_t>(0, (c.limits[i] - c.starts[i] + c.strides[i] - 1) / c.strides[i]));
      auto want = gather_ref(xt, od, [&](const Idx& o) {
        Idx s(3);
        for (size_t i = 0; i < 3; ++i) s[i] = c.starts[i] + o[i] * c.strides[i];
        return s;
      });
      expect_values(outs[k], dt, od, want, "Slice case " + std::to_string(k) + " " + std::string(dtype_name(dt)));
    }
  }
  // Default strides, and the full slice is the identity.
  Graph g;
  Node p = g.parameter("p", DType::F32, {7, 6, 5});
  EXPECT_EQ(Slice(p, {0, 0, 0}, {7, 6, 5}).op_index(), p.op_index());
  EXPECT_EQ(Slice(p, {1, 0, 0}, {3, 6, 5}).shape(), (Shape{2, 6, 5}));
  (void)x;
}

TEST(Layout, SliceErrors) {
  Graph g;
  Node p = g.parameter("p", DType::F32, {4, 5});
  std::string m = error_of([&] { Slice(p, {0, 0}, {4, 5}, {1, -1}); });
  EXPECT_HAS(m, "must be positive");
  m = error_of([&] { Slice(p, {0, 0}, {4, 6}); });
  EXPECT_HAS(m, "Slice");
  EXPECT_HAS(m, "out of range");
  EXPECT_HAS(m, "[4, 5]");
  EXPECT_THROW(Slice(p, {3, 0}, {2, 5}), Error);  // start > limit
  EXPECT_THROW(Slice(p, {-1, 0}, {2, 5}), Error);
  EXPECT_THROW(Slice(p, {0}, {2}), Error);
  EXPECT_THROW(Slice(p, {0, 0}, {4, 5}, {0, 1}), Error);
}

// Every (start, stop, step) over a grid, for several lengths, against Python's slicing rules.
TEST(Layout, SliceAxisPythonSemantics) {
  std::vector<std::optional<int64_t>> bounds = {std::nullopt, -100, -8, -7, -6, -5, -3, -1, 0, 1, 2, 4, 5, 6, 7, 9, 100};
  std::vector<int64_t> steps = {-7, -3, -2, -1, 1, 2, 3, 7};
  for (int64_t len : {0, 1, 5, 6}) {
    Tensor x = counting(DType::I64, Shape{2, len, 3});
    struct Case { std::optional<int64_t> b, e; int64_t step; };
    std::vector<Case> cases;
    for (auto b : bounds)
      for (auto e : bounds)
        for (int64_t s : steps) cases.push_back({b, e, s});
    auto outs = run_graph(
        [&](std::vector<Node> in) {
          std::vector<Node> o;
          for (size_t k = 0; k < cases.size(); ++k)
            o.push_back(SliceAxis(in[0], k % 2 ? 1 : -2, cases[k].b, cases[k].e, cases[k].step));
          return o;
        },
        {x});
    for (size_t k = 0; k < cases.size(); ++k) {
      const Case& c = cases[k];
      Idx picks = python_slice(len, c.b, c.e, c.step);
      Idx od{2, int64_t(picks.size()), 3};
      auto want = gather_ref(x, od, [&](const Idx& o) { return Idx{o[0], picks[size_t(o[1])], o[2]}; });
      auto str = [](std::optional<int64_t> v) { return v ? std::to_string(*v) : std::string(""); };
      expect_values(outs[k], DType::I64, od, want,
                    "x[" + str(c.b) + ":" + str(c.e) + ":" + std::to_string(c.step) + "] with len " +
                        std::to_string(len));
    }
  }
  Graph g;
  Node p = g.parameter("p", DType::F32, {4});
  EXPECT_HAS(error_of([&] { SliceAxis(p, 0, 0, 4, 0); }), "step 0");
  EXPECT_THROW(SliceAxis(p, 1, 0, 4, 1), Error);
}

// ONNX exporters write "to the end" as INT64_MAX / INT64_MIN bounds (e.g. x[::-1] is start=INT64_MAX,
// end=INT64_MIN, step=-1); these must not overflow.
TEST(Layout, SliceAxisExtremeBounds) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max(), kMin = std::numeric_limits<int64_t>::min();
  std::vector<std::optional<int64_t>> bounds = {kMin, kMin + 1, -kMax, -3, 0, 2, kMax - 1, kMax};
  std::vector<int64_t> steps = {-1, -2, 1, 3};
  Tensor x = counting(DType::F32, Shape{7});
  struct Case { std::optional<int64_t> b, e; int64_t step; };
  std::vector<Case> cases;
  for (auto b : bounds)
    for (auto e : bounds)
      for (int64_t st : steps) cases.push_back({b, e, st});
  auto outs = run_graph(
      [&](std::vector<Node> in) {
        std::vector<Node> o;
        for (const Case& c : cases) o.push_back(SliceAxis(in[0], 0, c.b, c.e, c.step));
        return o;
      },
      {x});
  for (size_t k = 0; k < cases.size(); ++k) {
    Idx picks = python_slice(7, cases[k].b, cases[k].e, cases[k].step);
    Idx od{int64_t(picks.size())};
    expect_values(outs[k], DType::F32, od, gather_ref(x, od, [&](const Idx& o) { return Idx{picks[size_t(o[0])]}; }),
                  "x[" + std::to_string(*cases[k].b) + ":" + std::to_string(*cases[k].e) + ":" +
                      std::to_string(cases[k].step) + "]");
  }
}

// Steps of extreme size must not overflow int64 arithmetic: Python takes one element
// (x[::sys.maxsize] == x[:1], x[::-sys.maxsize] == x[-1:]).
TEST(Layout, SliceAxisHugeSteps) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  Tensor x = counting(DType::F32, Shape{7});
  for (int64_t step : {kMax, int64_t(1) << 62, -kMax, -(int64_t(1) << 62)}) {
    Idx picks = python_slice(7, std::nullopt, std::nullopt, step);
    Tensor y;
    std::string err;
    try {
      y = run1([&](std::vector<Node> in) { return SliceAxis(in[0], 0, std::nullopt, std::nullopt, step); }, {x});
    } catch (const Error& e) {
      err = e.what();
    }
    ASSERT_EQ(err, "") << "step " << step;
    Idx od{int64_t(picks.size())};
    expect_values(y, DType::F32, od, gather_ref(x, od, [&](const Idx& o) { return Idx{picks[size_t(o[0])]}; }),
                  "x[::" + std::to_string(step) + "]");
  }
}

TEST(Layout, SliceAxisStepZeroAndBadAxis) {
  Graph g;
  Node p = g.parameter("p", DType::F32, {4});
  EXPECT_HAS(error_of([&] { SliceAxis(p, 0, 0, 4, 0); }), "step 0");
  EXPECT_THROW(SliceAxis(p, 1, 0, 4, 1), Error);
}

TEST(Layout, SliceAxisOtherDTypes) {
  for (DType dt : kDTypes) {
    Tensor x = counting(dt, Shape{9, 2});
    auto outs = run_graph(
        [](std::vector<Node> in) {
          return std::vector<Node>{SliceAxis(in[0], 0, std::nullopt, std::nullopt, -1),
                                   SliceAxis(in[0], 0, -2, 1, -3), SliceAxis(in[0], 0, 1, -1, 2)};
        },
        {x});
    std::vector<std::tuple<std::optional<int64_t>, std::optional<int64_t>, int64_t>> cs = {
        {std::nullopt, std::nullopt, -1}, {-2, 1, -3}, {1, -1, 2}};
    for (size_t k = 0; k < cs.size(); ++k) {
      auto [b, e, s] = cs[k];
      Idx picks = python_slice(9, b, e, s);
      Idx od{int64_t(picks.size()), 2};
      expect_values(outs[k], dt, od, gather_ref(x, od, [&](const Idx& o) { return Idx{picks[size_t(o[0])], o[1]}; }),
                    "SliceAxis " + std::string(dtype_name(dt)));
    }
  }
}

// ---- dynamic slices --------------------------------------------------------------------------------

TEST(Layout, DynamicSliceClampsStarts) {
  for (DType idx_t : {DType::I32, DType::I64}) {
    Graph g;
    Node x = g.parameter("x", DType::F32, {5, 6});
    Node s0 = g.parameter("s0", idx_t, {});
    Node s1 = g.parameter("s1", idx_t, {});
    g.set_outputs({DynamicSlice(x, {s0, s1}, {2, 3}), DynamicSlice(x, {s0, s1}, {5, 0}),
                   DynamicSlice(x, {s0, s1}, {5, 6})});
    auto exe = cpu_backend()->compile(g);
    Tensor xv = random_tensor(DType::F32, Shape{5, 6}, 21);
    for (int64_t a : std::vector<int64_t>{-7, -1, 0, 1, 2, 3, 4, 9, int64_t(1) << 40}) {
      for (int64_t b : std::vector<int64_t>{-3, 0, 2, 3, 4, 6, 100}) {
        if (idx_t == DType::I32 && (a > INT32_MAX || b > INT32_MAX)) continue;
        Tensor ta = Tensor::from_vector(std::vector<double>{double(a)}, Shape{}).cast(idx_t);
        Tensor tb = Tensor::from_vector(std::vector<double>{double(b)}, Shape{}).cast(idx_t);
        auto outs = exe->run({xv, ta, tb});
        int64_t ca = std::clamp<int64_t>(a, 0, 5 - 2), cb = std::clamp<int64_t>(b, 0, 6 - 3);
        auto want = gather_ref(xv, {2, 3}, [&](const Idx& o) { return Idx{ca + o[0], cb + o[1]}; });
        std::string what = "DynamicSlice start (" + std::to_string(a) + ", " + std::to_string(b) + ")";
        expect_values(outs[0], DType::F32, {2, 3}, want, what);
        EXPECT_EQ(outs[1].shape(), (Shape{5, 0}));
        expect_values(outs[2], DType::F32, {5, 6}, gather_ref(xv, {5, 6}, [](const Idx& o) { return o; }), what);
      }
    }
  }
}

TEST(Layout, DynamicUpdateSliceClampsStarts) {
  for (DType dt : {DType::F32, DType::I64, DType::Bool, DType::F16}) {
    Graph g;
    Node x = g.parameter("x", dt, {4, 5});
    Node u = g.parameter("u", dt, {2, 3});
    Node s0 = g.parameter("s0", DType::I64, {});
    Node s1 = g.parameter("s1", DType::I32, {});
    g.set_outputs({DynamicUpdateSlice(x, u, {s0, s1})});
    auto exe = cpu_backend()->compile(g);
    Tensor xv = counting(dt, Shape{4, 5});
    Tensor uv = counting(dt, Shape{2, 3}, 50);
    if (dt == DType::Bool) uv = Tensor::from_vector(std::vector<bool>{false, true, true, false, true, true}, Shape{2, 3});
    for (int64_t a : {-5, 0, 1, 2, 3, 10}) {
      for (int32_t b : {-1, 0, 1, 2, 3, 7}) {
        auto outs = exe->run({xv, uv, Tensor::scalar<int64_t>(a), Tensor::scalar<int32_t>(b)});
        int64_t ca = std::clamp<int64_t>(a, 0, 2), cb = std::clamp<int64_t>(b, 0, 2);
        std::vector<double> want;
        for (int64_t i = 0; i < 4; ++i)
          for (int64_t j = 0; j < 5; ++j) {
            bool in_u = i >= ca && i < ca + 2 && j >= cb && j < cb + 3;
            want.push_back(in_u ? uv.value_as_double((i - ca) * 3 + (j - cb)) : xv.value_as_double(i * 5 + j));
          }
        expect_values(outs[0], dt, {4, 5}, want,
                      "DynamicUpdateSlice " + std::string(dtype_name(dt)) + " at (" + std::to_string(a) + ", " +
                          std::to_string(b) + ")");
      }
    }
    // The input tensor is not modified by the update.
    EXPECT_EQ(xv.value_as_double(0), counting(dt, Shape{4, 5}).value_as_double(0));
  }
}

TEST(Layout, DynamicSliceErrors) {
  Graph g;
  Node x = g.parameter("x", DType::F32, {4, 5});
  Node i = g.parameter("i", DType::I64, {});
  Node f = g.parameter("f", DType::F32, {});
  Node v = g.parameter("v", DType::I64, {1});
  EXPECT_HAS(error_of([&] { DynamicSlice(x, {i, f}, {1, 1}); }), "integer scalar");
  EXPECT_HAS(error_of([&] { DynamicSlice(x, {i, v}, {1, 1}); }), "integer scalar");
  EXPECT_HAS(error_of([&] { DynamicSlice(x, {i, i}, {5, 1}); }), "exceeds axis 0");
  EXPECT_THROW(DynamicSlice(x, {i}, {1, 1}), Error);
  Node big = g.parameter("big", DType::F32, {5, 5});
  EXPECT_HAS(error_of([&] { DynamicUpdateSlice(x, big, {i, i}); }), "larger than operand");
  Node wrong = g.parameter("wrong", DType::I64, {2, 2});
  EXPECT_HAS(error_of([&] { DynamicUpdateSlice(x, wrong, {i, i}); }), "does not match operand");
}

// ---- concatenate -----------------------------------------------------------------------------------

TEST(Layout, ConcatenateSeveralInputsAndEmptyPieces) {
  for (DType dt : kDTypes) {
    Tensor a = counting(dt, Shape{2, 3, 4}), b = counting(dt, Shape{2, 1, 4}, 40),
           c = counting(dt, Shape{2, 0, 4}), d = counting(dt, Shape{2, 5, 4}, 7);
    auto outs = run_graph(
        [](std::vector<Node> in) {
          return std::vector<Node>{Concatenate({in[0], in[1], in[2], in[3]}, 1),
                                   Concatenate({in[2], in[0], in[2]}, -2), Concatenate({in[0], in[0]}, -1),
                                   Concatenate({in[0], in[0], in[0]}, 0), Concatenate({in[2], in[2]}, 1)};
        },
        {a, b, c, d});
    std::string what = "Concatenate " + std::string(dtype_name(dt));
    // Axis 1: a(3) b(1) c(0) d(5).
    std::vector<double> w0;
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < 9; ++j)
        for (int64_t k = 0; k < 4; ++k) {
          if (j < 3) w0.push_back(a.value_as_double((i * 3 + j) * 4 + k));
          else if (j < 4) w0.push_back(b.value_as_double((i * 1 + 0) * 4 + k));
          else w0.push_back(d.value_as_double((i * 5 + (j - 4)) * 4 + k));
        }
    expect_values(outs[0], dt, {2, 9, 4}, w0, what + " axis 1");
    expect_values(outs[1], dt, {2, 3, 4}, gather_ref(a, {2, 3, 4}, [](const Idx& o) { return o; }), what + " empties");
    expect_values(outs[2], dt, {2, 3, 8},
                  gather_ref(a, {2, 3, 8}, [](const Idx& o) { return Idx{o[0], o[1], o[2] % 4}; }), what + " axis -1");
    expect_values(outs[3], dt, {6, 3, 4},
                  gather_ref(a, {6, 3, 4}, [](const Idx& o) { return Idx{o[0] % 2, o[1], o[2]}; }), what + " axis 0");
    EXPECT_EQ(outs[4].shape(), (Shape{2, 0, 4}));
  }
}

TEST(Layout, ConcatenateErrors) {
  Graph g;
  Node a = g.parameter("a", DType::F32, {2, 3});
  Node b = g.parameter("b", DType::F32, {3, 3});
  Node c = g.parameter("c", DType::I32, {2, 3});
  Node d = g.parameter("d", DType::F32, {2, 3, 1});
  std::string m = error_of([&] { Concatenate({a, b}, 1); });
  EXPECT_HAS(m, "Concatenate on axis 1");
  EXPECT_HAS(m, "[2, 3] and [3, 3]");
  EXPECT_HAS(m, "differ on axis 0");
  m = error_of([&] { Concatenate({a, c}, 0); });
  EXPECT_HAS(m, "float32[2, 3]");
  EXPECT_HAS(m, "int32[2, 3]");
  EXPECT_THROW(Concatenate({a, d}, 0), Error);
  EXPECT_THROW(Concatenate({}, 0), Error);
  EXPECT_THROW(Concatenate({a, a}, 2), Error);
  EXPECT_EQ(Concatenate({a, b}, -2).shape(), (Shape{5, 3}));
  EXPECT_EQ(Concatenate({a}, 0).op_index(), a.op_index());
}

// ---- pad -------------------------------------------------------------------------------------------

namespace {
// NumPy's np.pad index rules for one axis (len d, pad position i relative to the original).
int64_t numpy_pad_index(int64_t i, int64_t d, PadMode mode) {
  if (i >= 0 && i < d) return i;
  switch (mode) {
    case PadMode::Edge: return i < 0 ? 0 : d - 1;
    case PadMode::Wrap: return ((i % d) + d) % d;
    case PadMode::Reflect: {
      if (d == 1) return 0;
      // Mirror about the first / last element (edge excluded), repeatedly.
      while (i < 0 || i >= d) {
        if (i < 0) i = -i;
        if (i >= d) i = 2 * (d - 1) - i;
      }
      return i;
    }
    default: return -1;
  }
}
}  // namespace

TEST(Layout, PadConstantCustomValueAndCropping) {
  struct Case { Idx lo, hi; };
  std::vector<Case> cases = {{{1, 2}, {3, 0}}, {{-1, 0}, {0, -2}}, {{-2, 3}, {1, -3}}, {{0, 0}, {0, 0}},
                             {{-3, -1}, {0, 0}}, {{2, -5}, {2, 1}}};
  for (DType dt : {DType::F32, DType::I64, DType::F16, DType::Bool, DType::U8}) {
    Tensor x = counting(dt, Shape{3, 5});
    double pv = dt == DType::Bool ? 1 : 7;
    Tensor value = Tensor::from_vector(std::vector<double>{pv}, Shape{}).cast(dt);
    auto outs = run_graph(
        [&](std::vector<Node> in) {
          std::vector<Node> o;
          for (const Case& c : cases) o.push_back(Pad(in[0], c.lo, c.hi, PadMode::Constant, in[1]));
          o.push_back(Pad(in[0], {1, 1}, {1, 1}));  // default value 0
          return o;
        },
        {x, value});
    for (size_t k = 0; k <= cases.size(); ++k) {
      Case c = k < cases.size() ? cases[k] : Case{{1, 1}, {1, 1}};
      double fill = k < cases.size() ? pv : 0;
      Idx od{3 + c.lo[0] + c.hi[0], 5 + c.lo[1] + c.hi[1]};
      auto want = gather_ref(
          x, od,
          [&](const Idx& o) -> std::optional<Idx> {
            int64_t i = o[0] - c.lo[0], j = o[1] - c.lo[1];
            if (i < 0 || i >= 3 || j < 0 || j >= 5) return std::nullopt;
            return Idx{i, j};
          },
          fill);
      expect_values(outs[k], dt, od, want, "Pad constant case " + std::to_string(k) + " " + std::string(dtype_name(dt)));
    }
  }
}

TEST(Layout, PadReflectEdgeWrapMatchNumpy) {
  struct Case { Idx lo, hi; PadMode mode; };
  std::vector<Case> cases = {
      {{2, 1}, {1, 4}, PadMode::Reflect}, {{0, 4}, {2, 0}, PadMode::Reflect}, {{2, 3}, {1, 7}, PadMode::Edge},
      {{2, 3}, {1, 4}, PadMode::Wrap},    {{7, 11}, {8, 12}, PadMode::Wrap},   // pads longer than the axis
      {{0, 1}, {0, 0}, PadMode::Edge},
  };
  for (DType dt : {DType::F32, DType::I64, DType::F16, DType::Bool}) {
    Tensor x = counting(dt, Shape{3, 5});
    auto outs = run_graph(
        [&](std::vector<Node> in) {
          std::vector<Node> o;
          for (const Case& c : cases) o.push_back(Pad(in[0], c.lo, c.hi, c.mode));
          return o;
        },
        {x});
    for (size_t k = 0; k < cases.size(); ++k) {
      const Case& c = cases[k];
      Idx od{3 + c.lo[0] + c.hi[0], 5 + c.lo[1] + c.hi[1]};
      auto want = gather_ref(x, od, [&](const Idx& o) {
        return Idx{numpy_pad_index(o[0] - c.lo[0], 3, c.mode), numpy_pad_index(o[1] - c.lo[1], 5, c.mode)};
      });
      expect_values(outs[k], dt, od, want, "Pad case " + std::to_string(k) + " " + std::string(dtype_name(dt)));
    }
  }
}

// np.pad fixtures generated by tests/fixtures/gen_pad_fixtures.py (checked in).
TEST(Layout, PadAgainstNumpyFixtures) {
  std::filesystem::path dir = std::filesystem::path(GRAFT_SOURCE_DIR) / "tests" / "fixtures";
  Tensor x = read_npy(dir / "pad_input.npy");
  ASSERT_EQ(x.shape(), (Shape{3, 4}));
  struct Case { const char* file; Idx lo, hi; PadMode mode; };
  std::vector<Case> cases = {{"pad_reflect.npy", {2, 3}, {1, 2}, PadMode::Reflect},
                             {"pad_edge.npy", {2, 3}, {4, 1}, PadMode::Edge},
                             {"pad_wrap.npy", {5, 9}, {4, 6}, PadMode::Wrap},
                             {"pad_constant.npy", {1, 0}, {2, 3}, PadMode::Constant}};
  for (const Case& c : cases) {
    Tensor want = read_npy(dir / c.file);
    Tensor got = run1(
        [&](std::vector<Node> in) {
          return c.mode == PadMode::Constant ? Pad(in[0], c.lo, c.hi, c.mode, ScalarLike(in[0], -2.5))
                                             : Pad(in[0], c.lo, c.hi, c.mode);
        },
        {x});
    ASSERT_EQ(got.shape(), want.shape()) << c.file;
    EXPECT_EQ(got.to_vector<float>(), want.to_vector<float>()) << c.file;
  }
}

TEST(Layout, PadErrors) {
  Graph g;
  Node x = g.parameter("x", DType::F32, {3, 4});
  Node iv = g.parameter("iv", DType::I32, {});
  Node vv = g.parameter("vv", DType::F32, {1});
  EXPECT_HAS(error_of([&] { Pad(x, {0, 4}, {0, 0}, PadMode::Reflect); }), "reflect pad");  // needs pad < extent
  EXPECT_EQ(Pad(x, {0, 3}, {2, 0}, PadMode::Reflect).shape(), (Shape{5, 7}));
  std::string m = error_of([&] { Pad(x, {-2, 0}, {-2, 0}); });
  EXPECT_HAS(m, "Pad");
  EXPECT_HAS(m, "below zero");
  EXPECT_HAS(error_of([&] { Pad(x, {0, 0}, {0, 0}, PadMode::Constant, iv); }), "float32 scalar");
  EXPECT_HAS(error_of([&] { Pad(x, {0, 0}, {0, 0}, PadMode::Constant, vv); }), "float32 scalar");
  EXPECT_THROW(Pad(x, {0}, {0}), Error);
  Node e = g.parameter("e", DType::F32, {0, 2});
  EXPECT_THROW(Pad(e, {1, 0}, {0, 0}, PadMode::Edge), Error);
  EXPECT_THROW(Pad(e, {1, 0}, {0, 0}, PadMode::Wrap), Error);
  EXPECT_EQ(Pad(e, {1, 0}, {0, 0}).shape(), (Shape{1, 2}));
  EXPECT_EQ(Pad(x, {0, 0}, {0, 0}).op_index(), x.op_index());
}

// ---- reverse ---------------------------------------------------------------------------------------

TEST(Layout, ReverseAxes) {
  for (DType dt : kDTypes) {
    Tensor x = counting(dt, Shape{2, 3, 4});
    std::vector<Idx> axes_list = {{0}, {1}, {2}, {-1}, {0, 2}, {2, 0, 1}, {-3, -2}};
    auto outs = run_graph(
        [&](std::vector<Node> in) {
          std::vector<Node> o;
          for (const Idx& a : axes_list) o.push_back(Reverse(in[0], a));
          return o;
        },
        {x});
    for (size_t k = 0; k < axes_list.size(); ++k) {
      Idx axes;
      for (int64_t a : axes_list[k]) axes.push_back(a < 0 ? a + 3 : a);
      Idx dims{2, 3, 4};
      auto want = gather_ref(x, dims, [&](const Idx& o) {
        Idx s = o;
        for (int64_t a : axes) s[size_t(a)] = dims[size_t(a)] - 1 - o[size_t(a)];
        return s;
      });
      expect_values(outs[k], dt, dims, want, "Reverse case " + std::to_string(k) + " " + std::string(dtype_name(dt)));
    }
  }
  Graph g;
  Node p = g.parameter("p", DType::F32, {2, 3});
  EXPECT_EQ(Reverse(p, {}).op_index(), p.op_index());
  EXPECT_HAS(error_of([&] { Reverse(p, {0, -2}); }), "given twice");
  EXPECT_HAS(error_of([&] { Reverse(p, {2}); }), "Reverse");
  Tensor e(DType::F32, Shape{0, 3});
  EXPECT_EQ(run1([](std::vector<Node> in) { return Reverse(in[0], {0, 1}); }, {e}).shape(), (Shape{0, 3}));
}

// A chain of layout ops on every dtype: the composed index maps must agree, fused or not.
TEST(Layout, ChainedLayoutOpsAllDTypes) {
  for (DType dt : kDTypes) {
    for (bool simplify : {true, false}) {
      CompileOptions o;
      o.simplify = simplify;
      o.eliminate_common_subexpressions = simplify;
      Tensor x = counting(dt, Shape{4, 3, 5});
      Tensor y = run1(
          [](std::vector<Node> in) {
            Node t = Transpose(in[0], {2, 0, 1});                    // [5, 4, 3]
            Node s = Slice(t, {1, 0, 0}, {5, 4, 3}, {2, 1, 2});      // [2, 4, 2]
            Node r = Reverse(s, {1});                                // [2, 4, 2]
            Node c = Concatenate({r, r}, 0);                         // [4, 4, 2]
            return Transpose(Reshape(c, {4, 8}), {1, 0});            // [8, 4]
          },
          {x}, o);
      auto want = gather_ref(x, {8, 4}, [](const Idx& o) {
        int64_t ci = o[1], flat = o[0];     // c[ci][flat / 2][flat % 2]
        int64_t ri = ci % 2, j = flat / 2, k = flat % 2;
        int64_t sj = 3 - j;                  // reversed axis 1 of s
        int64_t ti = 1 + 2 * ri, tk = 2 * k; // s = t[1::2, :, ::2]
        // t[a][b][c] = x[b][c][a]
        return Idx{sj, tk, ti};
      });
      expect_values(y, dt, {8, 4}, want, "chained layout " + std::string(dtype_name(dt)));
    }
  }
}
