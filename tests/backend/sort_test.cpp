// Sort and TopK on the CPU backend against references written here with std::stable_sort on index
// permutations. Order: NaN is larger than every number (NumPy / PyTorch): last when ascending, first
// when descending; equal keys keep their order; TopK breaks ties by the lower index.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>

#include "graft/graft.h"
#include "test_util.h"

using namespace graft;

namespace {

using Dims = std::vector<int64_t>;

using graft::testing::product;
std::vector<Tensor> run(const std::function<std::vector<Node>(std::vector<Node>)>& build,
                        const std::vector<Tensor>& inputs) {
  Graph g("sort_test");
  std::vector<Node> params;
  for (size_t i = 0; i < inputs.size(); ++i)
    params.push_back(g.parameter("p" + std::to_string(i), inputs[i].dtype(), inputs[i].shape()));
  g.set_outputs(build(params));
  auto exe = cpu_backend()->compile(g);
  return exe->run(std::span<const Tensor>(inputs));
}

// Values drawn from a small set so that ties are common; `nan_every` > 0 sprinkles NaNs.
Tensor random_keys(DType t, const Dims& dims, uint32_t seed, int levels = 7, int nan_every = 0) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> u(is_unsigned_integer(t) ? 0 : -levels, levels);
  std::vector<double> v(size_t(product(dims)));
  for (size_t i = 0; i < v.size(); ++i) {
    v[i] = u(rng) * (is_floating(t) ? 0.5 : 1.0);
    if (nan_every > 0 && rng() % nan_every == 0) v[i] = NAN;
  }
  return Tensor::from_vector(v, Shape(dims)).cast(t);
}

// NaN-aware "a comes before b" for ascending order.
bool less_nan_last(double a, double b) {
  if (std::isnan(a)) return false;
  if (std::isnan(b)) return true;
  return a < b;
}

// Reference: the permutation of each line along `axis`, in the layout [outer, len, inner].
struct LineView {
  int64_t outer = 1, len = 1, inner = 1;
  LineView(const Dims& d, int axis) {
    len = d[size_t(axis)];
    for (int i = 0; i < axis; ++i) outer *= d[size_t(i)];
    for (size_t i = size_t(axis) + 1; i < d.size(); ++i) inner *= d[i];
  }
  int64_t at(int64_t o, int64_t t, int64_t i) const { return (o * len + t) * inner + i; }
};

std::vector<int64_t> ref_order(const std::vector<double>& keys, const LineView& v, int64_t o, int64_t i,
                               bool descending) {
  std::vector<int64_t> perm(size_t(v.len));
  std::iota(perm.begin(), perm.end(), 0);
  std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) {
    double ka = keys[size_t(v.at(o, a, i))], kb = keys[size_t(v.at(o, b, i))];
    return descending ? less_nan_last(kb, ka) : less_nan_last(ka, kb);
  });
  return perm;
}

void expect_same(double got, double want, const std::string& where) {
  if (std::isnan(want))
    EXPECT_TRUE(std::isnan(got)) << where;
  else
    EXPECT_EQ(got, want) << where;
}

// Sorts keys and two payloads (the position along the axis as int64, and an f16 copy of the keys) and
// checks all three against the reference.
void check_sort(DType t, const Dims& dims, int axis, bool descending, uint32_t seed, int nan_every = 0) {
  Tensor keys = random_keys(t, dims, seed, 7, nan_every);
  int ax = axis < 0 ? axis + int(dims.size()) : axis;
  LineView v(dims, ax);
  std::vector<int64_t> pos(size_t(product(dims)));
  for (int64_t o = 0; o < v.outer; ++o)
    for (int64_t s = 0; s < v.len; ++s)
      for (int64_t i = 0; i < v.inner; ++i) pos[size_t(v.at(o, s, i))] = s;
  Tensor payload = Tensor::from_vector(pos, Shape(dims));
  Tensor second = random_keys(DType::F16, dims, seed + 1);
  std::vector<Tensor> got = run([&](std::vector<Node> in) { return Sort(in, axis, descending); },
                                {keys, payload, second});
  ASSERT_EQ(got.size(), 3u);
  std::vector<double> kv = keys.to_vector<double>(), sv = second.to_vector<double>();
  std::vector<double> gk = got[0].to_vector<double>(), gs = got[2].to_vector<double>();
  std::vector<int64_t> gp = got[1].to_vector<int64_t>();
  for (int64_t o = 0; o < v.outer; ++o)
    for (int64_t i = 0; i < v.inner; ++i) {
      std::vector<int64_t> perm = ref_order(kv, v, o, i, descending);
      for (int64_t s = 0; s < v.len; ++s) {
        int64_t dst = v.at(o, s, i), src = v.at(o, perm[size_t(s)], i);
        std::string where = "line (" + std::to_string(o) + ", " + std::to_string(i) + ") slot " + std::to_string(s);
        expect_same(gk[size_t(dst)], kv[size_t(src)], where);
        EXPECT_EQ(gp[size_t(dst)], perm[size_t(s)]) << where;
        expect_same(gs[size_t(dst)], sv[size_t(src)], where);
        if (::testing::Test::HasFailure()) return;
      }
    }
}

TEST(SortTest, StableMultiOperandAscendingOnEveryAxis) {
  for (int axis = 0; axis < 3; ++axis) {
    SCOPED_TRACE("axis " + std::to_string(axis));
    check_sort(DType::F32, {7, 5, 6}, axis, false, 10 + axis);
  }
}

TEST(SortTest, StableDescendingKeepsTiesInOrder) {
  for (int axis : {0, -1}) {
    SCOPED_TRACE("axis " + std::to_string(axis));
    check_sort(DType::F32, {9, 11}, axis, true, 20);
  }
  // By hand: ties of 2 keep positions 1, 3, 4 in that order either way.
  Tensor keys = Tensor::from_vector(std::vector<float>{1, 2, 0, 2, 2}, Shape{5});
  Tensor pos = Tensor::from_vector(std::vector<int32_t>{0, 1, 2, 3, 4}, Shape{5});
  auto desc = run([&](std::vector<Node> in) { return Sort(in, 0, true); }, {keys, pos});
  EXPECT_EQ(desc[1].to_vector<int32_t>(), (std::vector<int32_t>{1, 3, 4, 0, 2}));
  auto asc = run([&](std::vector<Node> in) { return Sort(in, 0, false); }, {keys, pos});
  EXPECT_EQ(asc[1].to_vector<int32_t>(), (std::vector<int32_t>{2, 0, 1, 3, 4}));
}

TEST(SortTest, NanSortsLastAscendingAndFirstDescending) {
  Tensor keys = Tensor::from_vector(std::vector<float>{3, NAN, -1, NAN, 2, -INFINITY, INFINITY}, Shape{7});
  Tensor pos = Tensor::from_vector(std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6}, Shape{7});
  auto asc = run([&](std::vector<Node> in) { return Sort(in, 0, false); }, {keys, pos});
  EXPECT_EQ(asc[1].to_vector<int64_t>(), (std::vector<int64_t>{5, 2, 4, 0, 6, 1, 3}));
  auto desc = run([&](std::vector<Node> in) { return Sort(in, 0, true); }, {keys, pos});
  EXPECT_EQ(desc[1].to_vector<int64_t>(), (std::vector<int64_t>{1, 3, 6, 0, 4, 2, 5}));
  for (bool d : {false, true}) {
    SCOPED_TRACE(d ? "descending" : "ascending");
    check_sort(DType::F64, {6, 13}, 1, d, 30, 4);
    check_sort(DType::F16, {13, 3}, 0, d, 31, 3);
    check_sort(DType::BF16, {4, 10}, 1, d, 32, 5);
  }
}

TEST(SortTest, EveryDtype) {
  for (DType t : {DType::Bool, DType::I8, DType::I16, DType::I32, DType::I64, DType::U8, DType::U16, DType::U32,
                  DType::U64, DType::F16, DType::BF16, DType::F32, DType::F64}) {
    for (bool d : {false, true}) {
      SCOPED_TRACE(std::string(dtype_name(t)) + (d ? " descending" : " ascending"));
      check_sort(t, {5, 17}, 1, d, 40 + unsigned(t));
      if (HasFailure()) return;
    }
  }
}

TEST(SortTest, RandomizedShapesAndAxes) {
  std::mt19937 rng(77);
  for (int trial = 0; trial < 25; ++trial) {
    int rank = 1 + int(rng() % 3);
    Dims dims;
    for (int i = 0; i < rank; ++i) dims.push_back(1 + int64_t(rng() % 9));
    int axis = int(rng() % rank);
    SCOPED_TRACE("trial " + std::to_string(trial));
    check_sort(DType::F32, dims, axis, rng() % 2, 500 + trial, 6);
    if (HasFailure()) return;
  }
}

TEST(SortTest, LargeLinesInParallel) {
  check_sort(DType::F32, {64, 1500}, 1, false, 60);
  check_sort(DType::I32, {700, 40}, 0, true, 61);
}

TEST(SortTest, EmptyTensors) {
  for (Dims dims : {Dims{0, 3}, Dims{3, 0}, Dims{0}}) {
    for (int axis = 0; axis < int(dims.size()); ++axis) {
      Tensor keys(DType::F32, Shape(dims));
      auto got = run([&](std::vector<Node> in) { return Sort(in, axis); }, {keys, Tensor(DType::I64, Shape(dims))});
      EXPECT_EQ(got[0].shape(), Shape(dims));
      EXPECT_EQ(got[1].shape(), Shape(dims));
    }
  }
}

// ---- TopK -------------------------------------------------------------------------------------------

void check_topk(DType t, const Dims& dims, int axis, int64_t k, bool largest, uint32_t seed, int nan_every = 0) {
  Tensor x = random_keys(t, dims, seed, 5, nan_every);
  int ax = axis < 0 ? axis + int(dims.size()) : axis;
  auto got = run(
      [&](std::vector<Node> in) {
        auto [v, i] = TopK(in[0], k, axis, largest);
        return std::vector<Node>{v, i};
      },
      {x});
  Dims od = dims;
  od[size_t(ax)] = k;
  ASSERT_EQ(got[0].shape(), Shape(od));
  ASSERT_EQ(got[1].shape(), Shape(od));
  ASSERT_EQ(got[1].dtype(), DType::I64);
  LineView v(dims, ax), w(od, ax);
  std::vector<double> xv = x.to_vector<double>(), gv = got[0].to_vector<double>();
  std::vector<int64_t> gi = got[1].to_vector<int64_t>();
  for (int64_t o = 0; o < v.outer; ++o)
    for (int64_t i = 0; i < v.inner; ++i) {
      // Stable sort in the wanted direction = ties by lower index first.
      std::vector<int64_t> perm = ref_order(xv, v, o, i, largest);
      for (int64_t s = 0; s < k; ++s) {
        std::string where = "line (" + std::to_string(o) + ", " + std::to_string(i) + ") slot " + std::to_string(s);
        EXPECT_EQ(gi[size_t(w.at(o, s, i))], perm[size_t(s)]) << where;
        expect_same(gv[size_t(w.at(o, s, i))], xv[size_t(v.at(o, perm[size_t(s)], i))], where);
        if (::testing::Test::HasFailure()) return;
      }
    }
}

TEST(TopKTest, LargestAndSmallestWithTiesByHand) {
  Tensor x = Tensor::from_vector(std::vector<float>{1, 3, 3, 2, 3, 1}, Shape{6});
  auto run_topk = [&](int64_t k, bool largest) {
    return run(
        [&](std::vector<Node> in) {
          auto [v, i] = TopK(in[0], k, -1, largest);
          return std::vector<Node>{v, i};
        },
        {x});
  };
  auto big = run_topk(4, true);
  EXPECT_EQ(big[0].to_vector<float>(), (std::vector<float>{3, 3, 3, 2}));
  EXPECT_EQ(big[1].to_vector<int64_t>(), (std::vector<int64_t>{1, 2, 4, 3}));
  auto small = run_topk(3, false);
  EXPECT_EQ(small[0].to_vector<float>(), (std::vector<float>{1, 1, 2}));
  EXPECT_EQ(small[1].to_vector<int64_t>(), (std::vector<int64_t>{0, 5, 3}));
}

TEST(TopKTest, MatchesReferenceOnEveryAxisAndDirection) {
  for (int axis = 0; axis < 3; ++axis)
    for (bool largest : {true, false})
      for (int64_t k : {int64_t(1), int64_t(3), int64_t(6)}) {
        SCOPED_TRACE("axis " + std::to_string(axis) + " k " + std::to_string(k) + (largest ? " largest" : " smallest"));
        check_topk(DType::F32, {6, 7, 8}, axis, k, largest, 70 + unsigned(axis));
        if (HasFailure()) return;
      }
}

TEST(TopKTest, NanIsTheLargest) {
  Tensor x = Tensor::from_vector(std::vector<float>{2, NAN, 5, NAN, -1}, Shape{5});
  auto got = run(
      [&](std::vector<Node> in) {
        auto [v, i] = TopK(in[0], 3, 0, true);
        auto [v2, i2] = TopK(in[0], 3, 0, false);
        return std::vector<Node>{i, i2};
      },
      {x});
  EXPECT_EQ(got[0].to_vector<int64_t>(), (std::vector<int64_t>{1, 3, 2}));
  EXPECT_EQ(got[1].to_vector<int64_t>(), (std::vector<int64_t>{4, 0, 2}));
  check_topk(DType::F64, {5, 20}, 1, 7, true, 80, 3);
  check_topk(DType::F16, {20, 5}, 0, 7, false, 81, 3);
}

TEST(TopKTest, IntegerAndSmallFloatDtypes) {
  for (DType t : {DType::I8, DType::U16, DType::I64, DType::BF16, DType::U8}) {
    SCOPED_TRACE(std::string(dtype_name(t)));
    check_topk(t, {4, 30}, 1, 5, true, 90 + unsigned(t));
    check_topk(t, {4, 30}, 1, 5, false, 95 + unsigned(t));
  }
}

TEST(TopKTest, KZeroAndFullK) {
  Tensor x = random_keys(DType::F32, {3, 4}, 100);
  auto got = run(
      [&](std::vector<Node> in) {
        auto [v, i] = TopK(in[0], 0, 1, true);
        return std::vector<Node>{v, i};
      },
      {x});
  EXPECT_EQ(got[0].shape(), (Shape{3, 0}));
  EXPECT_EQ(got[1].shape(), (Shape{3, 0}));
  check_topk(DType::F32, {3, 4}, 1, 4, true, 101);
  check_topk(DType::F32, {3, 4}, 0, 3, false, 102);
  // Empty operand: k = 0 along an empty axis, and lines of length 4 with no lines at all.
  Tensor empty(DType::F32, Shape{0, 4});
  auto e = run(
      [&](std::vector<Node> in) {
        auto [v, i] = TopK(in[0], 2, 1, true);
        auto [v0, i0] = TopK(in[0], 0, 0, true);
        return std::vector<Node>{v, i, v0};
      },
      {empty});
  EXPECT_EQ(e[0].shape(), (Shape{0, 2}));
  EXPECT_EQ(e[2].shape(), (Shape{0, 4}));
}

TEST(TopKTest, LargeInParallel) { check_topk(DType::F32, {128, 500}, 1, 10, true, 110); }

}  // namespace
