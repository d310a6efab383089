// Gather / Scatter (XLA dimension numbers) and the NumPy-style Take / TakeAlongAxis / ScatterAlongAxis
// on the CPU backend, against naive references written here on explicit multi-indices.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <random>

#include "graft/graft.h"
#include "test_util.h"

using namespace graft;

namespace {

using Dims = std::vector<int64_t>;

using graft::testing::product;
using graft::testing::ravel;
using graft::testing::unravel;

bool contains(const Dims& v, int64_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

// Compiles a graph over parameters shaped like `inputs` and runs it.
std::vector<Tensor> run(const std::function<std::vector<Node>(std::vector<Node>)>& build,
                        const std::vector<Tensor>& inputs) {
  Graph g("gather_scatter_test");
  std::vector<Node> params;
  for (size_t i = 0; i < inputs.size(); ++i)
    params.push_back(g.parameter("p" + std::to_string(i), inputs[i].dtype(), inputs[i].shape()));
  g.set_outputs(build(params));
  auto exe = cpu_backend()->compile(g);
  return exe->run(std::span<const Tensor>(inputs));
}

Tensor run1(const std::function<Node(std::vector<Node>)>& build, const std::vector<Tensor>& inputs) {
  return run([&](std::vector<Node> in) { return std::vector<Node>{build(in)}; }, inputs)[0];
}

Tensor random_values(DType t, const Dims& dims, uint32_t seed, int lo = -50, int hi = 50) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> u(lo, hi);
  std::vector<double> v(size_t(product(dims)));
  for (double& x : v) x = u(rng) * (is_floating(t) ? 0.25 : 1.0);
  return Tensor::from_vector(v, Shape(dims)).cast(t);
}

Tensor random_indices(const Dims& dims, int64_t lo, int64_t hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> u(lo, hi);
  std::vector<int64_t> v(size_t(product(dims)));
  for (int64_t& x : v) x = u(rng);
  return Tensor::from_vector(v, Shape(dims));
}

void expect_equal(const Tensor& got, const std::vector<double>& want, const Dims& want_dims) {
  ASSERT_EQ(got.shape(), Shape(want_dims));
  std::vector<double> g = got.to_vector<double>();
  ASSERT_EQ(g.size(), want.size());
  for (size_t i = 0; i < g.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(g[i])) << "at " << i;
    } else {
      EXPECT_EQ(g[i], want[i]) << "at flat index " << i;
    }
    if (::testing::Test::HasFailure()) return;
  }
}

// ---- references ----------------------------------------------------------------------------------

// XLA gather straight from its definition, one output element at a time.
std::vector<double> ref_gather(const std::vector<double>& x, const Dims& xd, const std::vector<int64_t>& idx,
                               const Dims& id, const GatherAttrs& a, const Dims& od) {
  std::vector<double> out(size_t(product(od)));
  int ir = int(id.size());
  for (int64_t f = 0; f < product(od); ++f) {
    Dims o = unravel(f, od);
    Dims batch, offs;
    for (size_t d = 0; d < od.size(); ++d) (contains(a.offset_dims, int64_t(d)) ? offs : batch).push_back(o[d]);
    Dims start(xd.size(), 0);
    for (size_t k = 0; k < a.start_index_map.size(); ++k) {
      Dims g = batch;
      if (a.index_vector_dim < ir) g.insert(g.begin() + a.index_vector_dim, int64_t(k));
      start[size_t(a.start_index_map[k])] = idx[size_t(ravel(g, id))];
    }
    Dims xi(xd.size());
    size_t j = 0;
    for (size_t d = 0; d < xd.size(); ++d)
      xi[d] = contains(a.collapsed_slice_dims, int64_t(d)) ? start[d] : start[d] + offs[j++];
    out[size_t(f)] = x[size_t(ravel(xi, xd))];
  }
  return out;
}

double combine(ReduceOp op, double a, double b) {
  switch (op) {
    case ReduceOp::Replace: return b;
    case ReduceOp::Sum: return a + b;
    case ReduceOp::Prod: return a * b;
    case ReduceOp::Max: return std::max(a, b);
    case ReduceOp::Min: return std::min(a, b);
    default: return NAN;
  }
}

// XLA scatter from its definition: update elements in row-major order of `updates`.
std::vector<double> ref_scatter(std::vector<double> x, const Dims& xd, const std::vector<int64_t>& idx,
                                const Dims& id, const std::vector<double>& u, const Dims& ud, const ScatterAttrs& a) {
  int ir = int(id.size());
  for (int64_t f = 0; f < product(ud); ++f) {
    Dims ui = unravel(f, ud);
    Dims scatter, window;
    for (size_t d = 0; d < ud.size(); ++d)
      (contains(a.update_window_dims, int64_t(d)) ? window : scatter).push_back(ui[d]);
    Dims start(xd.size(), 0);
    for (size_t k = 0; k < a.scatter_dims_to_operand_dims.size(); ++k) {
      Dims g = scatter;
      if (a.index_vector_dim < ir) g.insert(g.begin() + a.index_vector_dim, int64_t(k));
      start[size_t(a.scatter_dims_to_operand_dims[k])] = idx[size_t(ravel(g, id))];
    }
    Dims xi(xd.size());
    size_t j = 0;
    for (size_t d = 0; d < xd.size(); ++d)
      xi[d] = contains(a.inserted_window_dims, int64_t(d)) ? start[d] : start[d] + window[j++];
    double& dst = x[size_t(ravel(xi, xd))];
    dst = combine(a.combiner, dst, u[size_t(f)]);
  }
  return x;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// ---- Take -------------------------------------------------------------------------------------------

TEST(TakeTest, NegativeAndMultiDimIndicesOnEveryAxis) {
  Dims xd{5, 4, 3};
  Tensor x = random_values(DType::F32, xd, 1);
  std::vector<double> xv = x.to_vector<double>();
  for (int axis = 0; axis < 3; ++axis) {
    int64_t n = xd[size_t(axis)];
    Tensor ids = random_indices({2, 3}, -n, n - 1, 10 + axis);
    std::vector<int64_t> iv = ids.to_vector<int64_t>();
    Tensor got = run1([&](std::vector<Node> in) { return Take(in[0], in[1], axis); }, {x, ids});
    Dims od;
    for (int d = 0; d < axis; ++d) od.push_back(xd[size_t(d)]);
    od.push_back(2);
    od.push_back(3);
    for (int d = axis + 1; d < 3; ++d) od.push_back(xd[size_t(d)]);
    std::vector<double> want;
    for (int64_t f = 0; f < product(od); ++f) {
      Dims o = unravel(f, od);
      Dims xi;
      for (int d = 0; d < axis; ++d) xi.push_back(o[size_t(d)]);
      int64_t i = iv[size_t(o[size_t(axis)] * 3 + o[size_t(axis) + 1])];
      xi.push_back(i < 0 ? i + n : i);
      for (int d = axis + 1; d < 3; ++d) xi.push_back(o[size_t(d) + 1]);
      want.push_back(xv[size_t(ravel(xi, xd))]);
    }
    SCOPED_TRACE("axis " + std::to_string(axis));
    expect_equal(got, want, od);
  }
}

TEST(TakeTest, Int32IndicesScalarIndexAndSmallDtypes) {
  for (DType t : {DType::F16, DType::I8, DType::Bool, DType::F64, DType::BF16}) {
    Tensor x = random_values(t, {6, 5}, 3, -3, 3);
    std::vector<double> xv = x.to_vector<double>();
    Tensor ids = Tensor::from_vector(std::vector<int32_t>{5, -1, 0, 2}, Shape{4});
    Tensor got = run1([&](std::vector<Node> in) { return Take(in[0], in[1], 0); }, {x, ids});
    std::vector<double> want;
    for (int64_t i : {5, 5, 0, 2})
      for (int64_t j = 0; j < 5; ++j) want.push_back(xv[size_t(i * 5 + j)]);
    SCOPED_TRACE(std::string(dtype_name(t)));
    expect_equal(got, want, {4, 5});
    // A scalar index removes the axis.
    Tensor one = Tensor::scalar<int64_t>(-2);
    Tensor col = run1([&](std::vector<Node> in) { return Take(in[0], in[1], 1); }, {x, one});
    std::vector<double> want_col;
    for (int64_t i = 0; i < 6; ++i) want_col.push_back(xv[size_t(i * 5 + 3)]);
    expect_equal(col, want_col, {6});
  }
}

TEST(TakeTest, EmbeddingLookupIsExact) {
  const int64_t vocab = 30522, dim = 384;
  Tensor table = Tensor::uninitialized(DType::F32, Shape{vocab, dim});
  float* tp = table.data<float>();
  for (int64_t i = 0; i < vocab * dim; ++i) tp[i] = float(i % 9973) * 0.5f - float(i / dim);
  Tensor ids = random_indices({32, 128}, 0, vocab - 1, 7);
  Graph g("embedding");
  Node t = g.parameter("table", DType::F32, Shape{vocab, dim});
  Node i = g.parameter("ids", DType::I64, Shape{32, 128});
  g.set_outputs({Take(t, i, 0)});
  auto exe = cpu_backend()->compile(g);
  std::vector<Tensor> out = exe->run({table, ids});
  ASSERT_EQ(out[0].shape(), (Shape{32, 128, dim}));
  const int64_t* iv = ids.data<int64_t>();
  const float* o = out[0].data<float>();
  for (int64_t b = 0; b < 32 * 128; ++b)
    ASSERT_EQ(std::memcmp(o + b * dim, tp + iv[b] * dim, dim * sizeof(float)), 0) << "row " << b;
}

TEST(TakeTest, EmptyIndicesAndEmptyOperand) {
  Tensor x = random_values(DType::F32, {4, 3}, 2);
  Tensor ids = Tensor::from_vector(std::vector<int64_t>{}, Shape{0});
  Tensor got = run1([&](std::vector<Node> in) { return Take(in[0], in[1], 0); }, {x, ids});
  EXPECT_EQ(got.shape(), (Shape{0, 3}));
  Tensor x0 = Tensor(DType::F32, Shape{4, 0});
  Tensor ids2 = Tensor::from_vector(std::vector<int64_t>{3, 1}, Shape{2});
  Tensor got2 = run1([&](std::vector<Node> in) { return Take(in[0], in[1], 0); }, {x0, ids2});
  EXPECT_EQ(got2.shape(), (Shape{2, 0}));
}

TEST(TakeTest, OutOfRangeIndexNamesIndexAxisAndExtent) {
  Tensor x = random_values(DType::F32, {5, 3}, 4);
  Tensor ids = Tensor::from_vector(std::vector<int64_t>{1, 7, 2}, Shape{3});
  auto f = [&] { run1([&](std::vector<Node> in) { return Take(in[0], in[1], 0); }, {x, ids}); };
  EXPECT_THROW(f(), Error);
  std::string msg = error_of(f);
  EXPECT_NE(msg.find("Gather"), std::string::npos) << msg;
  EXPECT_NE(msg.find("index 7"), std::string::npos) << msg;
  EXPECT_NE(msg.find("axis 0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("extent 5"), std::string::npos) << msg;
  // Too negative: -6 wraps to -1, still outside.
  Tensor neg = Tensor::from_vector(std::vector<int64_t>{-6}, Shape{1});
  std::string msg2 = error_of([&] { run1([&](std::vector<Node> in) { return Take(in[0], in[1], 1); }, {x, neg}); });
  EXPECT_NE(msg2.find("index -3"), std::string::npos) << msg2;
  EXPECT_NE(msg2.find("axis 1"), std::string::npos) << msg2;
  // Many indices (the parallel validation path) with one bad one far in.
  std::vector<int64_t> many(100000, 2);
  many[77777] = 5;
  Tensor big = Tensor::from_vector(many, Shape{int64_t(many.size())});
  std::string msg3 = error_of([&] { run1([&](std::vector<Node> in) { return Take(in[0], in[1], 0); }, {x, big}); });
  EXPECT_NE(msg3.find("index 5"), std::string::npos) << msg3;
  EXPECT_NE(msg3.find("77777"), std::string::npos) << msg3;
}

// ---- TakeAlongAxis -----------------------------------------------------------------------------------

TEST(TakeAlongAxisTest, MatchesNaiveWithNegativeIndices) {
  Dims xd{4, 5, 6};
  Tensor x = random_values(DType::F32, xd, 5);
  std::vector<double> xv = x.to_vector<double>();
  for (int axis = 0; axis < 3; ++axis) {
    Dims id = xd;
    id[size_t(axis)] = 3;
    int64_t n = xd[size_t(axis)];
    Tensor ids = random_indices(id, -n, n - 1, 20 + axis);
    std::vector<int64_t> iv = ids.to_vector<int64_t>();
    Tensor got = run1([&](std::vector<Node> in) { return TakeAlongAxis(in[0], in[1], axis); }, {x, ids});
    std::vector<double> want;
    for (int64_t f = 0; f < product(id); ++f) {
      Dims o = unravel(f, id);
      int64_t i = iv[size_t(f)];
      o[size_t(axis)] = i < 0 ? i + n : i;
      want.push_back(xv[size_t(ravel(o, xd))]);
    }
    SCOPED_TRACE("axis " + std::to_string(axis));
    expect_equal(got, want, id);
  }
}

TEST(TakeAlongAxisTest, OutOfRangeThrows) {
  Tensor x = random_values(DType::F32, {2, 3}, 6);
  Tensor ids = Tensor::from_vector(std::vector<int64_t>{0, 1, 2, 3}, Shape{2, 2});
  std::string msg = error_of([&] { run1([&](std::vector<Node> in) { return TakeAlongAxis(in[0], in[1], 1); }, {x, ids}); });
  EXPECT_NE(msg.find("index 3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("extent 3"), std::string::npos) << msg;
}

// ---- general XLA gather --------------------------------------------------------------------------------

struct GatherCase {
  Dims operand, indices;
  GatherAttrs attrs;
  Dims out;
};

void check_gather(const GatherCase& c, DType t, uint32_t seed) {
  Tensor x = random_values(t, c.operand, seed);
  // Valid starts for each component of the index vectors.
  const GatherAttrs& a = c.attrs;
  std::mt19937 rng(seed + 1);
  std::vector<int64_t> iv(size_t(product(c.indices)));
  int ir = int(c.indices.size());
  for (int64_t f = 0; f < product(c.indices); ++f) {
    Dims ii = unravel(f, c.indices);
    int64_t k = a.index_vector_dim < ir ? ii[size_t(a.index_vector_dim)] : 0;
    int64_t ax = a.start_index_map[size_t(k)];
    int64_t hi = c.operand[size_t(ax)] - a.slice_sizes[size_t(ax)];
    iv[size_t(f)] = std::uniform_int_distribution<int64_t>(0, hi)(rng);
  }
  Tensor ids = Tensor::from_vector(iv, Shape(c.indices));
  Tensor got = run1([&](std::vector<Node> in) { return Gather(in[0], in[1], a); }, {x, ids});
  std::vector<double> want = ref_gather(x.to_vector<double>(), c.operand, iv, c.indices, a, c.out);
  expect_equal(got, want, c.out);
}

TEST(GatherTest, IndexVectorDimInTheMiddleWithInterleavedOffsetDims) {
  GatherCase c;
  c.operand = {3, 4, 5, 6};
  c.indices = {2, 2, 7};  // index vectors of length 2 along axis 1
  c.attrs.index_vector_dim = 1;
  c.attrs.start_index_map = {1, 3};
  c.attrs.collapsed_slice_dims = {1};
  c.attrs.slice_sizes = {3, 1, 2, 4};
  c.attrs.offset_dims = {0, 2, 4};  // batch axes land at 1 and 3
  c.out = {3, 2, 2, 7, 4};
  for (DType t : {DType::F32, DType::F16, DType::I8, DType::F64}) {
    SCOPED_TRACE(std::string(dtype_name(t)));
    check_gather(c, t, 11);
  }
}

TEST(GatherTest, BatchDimsAsLeadingIndexComponents) {
  // x[b, ids[b, k], :] written as one gather: index vectors (b, id), both axes collapsed.
  GatherCase c;
  c.operand = {3, 10, 8};
  c.indices = {3, 5, 2};
  c.attrs.index_vector_dim = 2;
  c.attrs.start_index_map = {0, 1};
  c.attrs.collapsed_slice_dims = {0, 1};
  c.attrs.slice_sizes = {1, 1, 8};
  c.attrs.offset_dims = {2};
  c.out = {3, 5, 8};
  check_gather(c, DType::F32, 12);
}

TEST(GatherTest, WindowedSlicesNoCollapseAndPermutedStartMap) {
  GatherCase c;
  c.operand = {7, 9};
  c.indices = {4, 2};
  c.attrs.index_vector_dim = 1;
  c.attrs.start_index_map = {1, 0};
  c.attrs.collapsed_slice_dims = {};
  c.attrs.slice_sizes = {3, 4};
  c.attrs.offset_dims = {1, 2};
  c.out = {4, 3, 4};
  check_gather(c, DType::I32, 13);
  // Index vector dim first, offset axis before the batch axis.
  GatherCase d;
  d.operand = {6, 5, 4};
  d.indices = {2, 3, 2};
  d.attrs.index_vector_dim = 0;
  d.attrs.start_index_map = {0, 2};
  d.attrs.collapsed_slice_dims = {0};
  d.attrs.slice_sizes = {1, 5, 2};
  d.attrs.offset_dims = {0, 3};
  d.out = {5, 3, 2, 2};
  check_gather(d, DType::F32, 14);
}

TEST(GatherTest, RandomizedTakeLikeConfigurations) {
  std::mt19937 rng(2024);
  for (int trial = 0; trial < 30; ++trial) {
    int rank = 1 + int(rng() % 4);
    Dims xd;
    for (int i = 0; i < rank; ++i) xd.push_back(1 + int64_t(rng() % 5));
    int axis = int(rng() % rank);
    Dims id;
    int irank = int(rng() % 3);
    for (int i = 0; i < irank; ++i) id.push_back(int64_t(rng() % 4));  // may be empty
    Tensor x = random_values(DType::F32, xd, 100 + trial);
    Tensor ids = random_indices(id, -xd[size_t(axis)], xd[size_t(axis)] - 1, 200 + trial);
    Tensor got = run1([&](std::vector<Node> in) { return Take(in[0], in[1], axis); }, {x, ids});
    std::vector<double> xv = x.to_vector<double>();
    std::vector<int64_t> iv = ids.to_vector<int64_t>();
    Dims od(xd.begin(), xd.begin() + axis);
    od.insert(od.end(), id.begin(), id.end());
    od.insert(od.end(), xd.begin() + axis + 1, xd.end());
    std::vector<double> want;
    for (int64_t f = 0; f < product(od); ++f) {
      Dims o = unravel(f, od);
      Dims xi(o.begin(), o.begin() + axis);
      Dims ii(o.begin() + axis, o.begin() + axis + irank);
      int64_t i = iv[size_t(ravel(ii, id))];
      xi.push_back(i < 0 ? i + xd[size_t(axis)] : i);
      xi.insert(xi.end(), o.begin() + axis + irank, o.end());
      want.push_back(xv[size_t(ravel(xi, xd))]);
    }
    SCOPED_TRACE("trial " + std::to_string(trial));
    expect_equal(got, want, od);
    if (HasFailure()) return;
  }
}

TEST(GatherTest, SliceRunningPastTheEndThrows) {
  GatherAttrs a;
  a.index_vector_dim = 1;
  a.start_index_map = {0};
  a.collapsed_slice_dims = {};
  a.slice_sizes = {2, 3};
  a.offset_dims = {1, 2};
  Tensor x = random_values(DType::F32, {4, 3}, 15);
  Tensor ids = Tensor::from_vector(std::vector<int64_t>{0, 2, 3}, Shape{3, 1});
  std::string msg = error_of([&] { run1([&](std::vector<Node> in) { return Gather(in[0], in[1], a); }, {x, ids}); });
  EXPECT_NE(msg.find("index 3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("axis 0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("extent 4"), std::string::npos) << msg;
}

TEST(GatherTest, LargeParallelGatherMatchesReference) {
  // TakeAlongAxis over ~200k elements: the element-wise (run length 1) parallel path.
  Dims xd{64, 50, 70};
  Tensor x = random_values(DType::F32, xd, 16);
  Dims id{64, 40, 70};
  Tensor ids = random_indices(id, 0, 49, 17);
  Tensor got = run1([&](std::vector<Node> in) { return TakeAlongAxis(in[0], in[1], 1); }, {x, ids});
  const float* xv = x.data<float>();
  const int64_t* iv = ids.data<int64_t>();
  std::vector<double> want;
  for (int64_t a = 0; a < 64; ++a)
    for (int64_t b = 0; b < 40; ++b)
      for (int64_t c = 0; c < 70; ++c) want.push_back(xv[(a * 50 + iv[(a * 40 + b) * 70 + c]) * 70 + c]);
  expect_equal(got, want, id);
}

// ---- Scatter -------------------------------------------------------------------------------------------

ScatterAttrs row_scatter(ReduceOp op) {
  ScatterAttrs a;
  a.update_window_dims = {1};
  a.inserted_window_dims = {0};
  a.scatter_dims_to_operand_dims = {0};
  a.index_vector_dim = 1;
  a.combiner = op;
  return a;
}

TEST(ScatterTest, EveryCombinerWithDuplicateIndices) {
  Dims xd{6, 3}, id{7, 1}, ud{7, 3};
  std::vector<int64_t> iv{4, 1, 4, 0, 1, 4, 5};
  Tensor ids = Tensor::from_vector(iv, Shape(id));
  for (ReduceOp op : {ReduceOp::Replace, ReduceOp::Sum, ReduceOp::Prod, ReduceOp::Max, ReduceOp::Min}) {
    for (DType t : {DType::F32, DType::I32, DType::F64, DType::I64, DType::U8}) {
      // Products of four values stay exact (and inside u8) in these ranges.
      Tensor x = random_values(t, xd, 30, is_unsigned_integer(t) ? 0 : -9, is_unsigned_integer(t) ? 3 : 9);
      Tensor u = random_values(t, ud, 31, is_unsigned_integer(t) ? 0 : -9, is_unsigned_integer(t) ? 3 : 9);
      ScatterAttrs a = row_scatter(op);
      Tensor got = run1([&](std::vector<Node> in) { return Scatter(in[0], in[1], in[2], a); }, {x, ids, u});
      std::vector<double> want = ref_scatter(x.to_vector<double>(), xd, iv, id, u.to_vector<double>(), ud, a);
      SCOPED_TRACE(std::string(reduce_op_name(op)) + " " + std::string(dtype_name(t)));
      expect_equal(got, want, xd);
    }
  }
}

TEST(ScatterTest, Float16AndBoolCombiners) {
  Dims xd{4, 2}, id{5, 1}, ud{5, 2};
  std::vector<int64_t> iv{3, 0, 3, 3, 1};
  Tensor ids = Tensor::from_vector(iv, Shape(id));
  Tensor x = random_values(DType::F16, xd, 40, -8, 8);
  Tensor u = random_values(DType::F16, ud, 41, -8, 8);
  for (ReduceOp op : {ReduceOp::Replace, ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min}) {
    ScatterAttrs a = row_scatter(op);
    Tensor got = run1([&](std::vector<Node> in) { return Scatter(in[0], in[1], in[2], a); }, {x, ids, u});
    std::vector<double> want = ref_scatter(x.to_vector<double>(), xd, iv, id, u.to_vector<double>(), ud, a);
    SCOPED_TRACE(reduce_op_name(op));
    expect_equal(got, want, xd);  // small quarter-integers: exact in f16
  }
  Tensor bx = Tensor::from_vector(std::vector<bool>{false, true, false, true, true, true, false, false}, Shape(xd));
  Tensor bu = Tensor::from_vector(std::vector<bool>{true, false, true, true, false, false, true, false, false, true},
                                  Shape(ud));
  Tensor sum = run1([&](std::vector<Node> in) { return Scatter(in[0], in[1], in[2], row_scatter(ReduceOp::Sum)); },
                    {bx, ids, bu});
  // Sum is "or", by hand: row0 (F,T)|(T,T); row1 (F,T)|(F,T); row2 untouched; row3 (F,F)|(T,F)|(F,F)|(T,F).
  expect_equal(sum, {1, 1, 0, 1, 1, 1, 1, 0}, xd);
  Tensor prod = run1([&](std::vector<Node> in) { return Scatter(in[0], in[1], in[2], row_scatter(ReduceOp::Prod)); },
                     {bx, ids, bu});
  expect_equal(prod, {0, 1, 0, 1, 1, 1, 0, 0}, xd);
}

TEST(ScatterTest, NanPropagatesThroughMaxAndMin) {
  Tensor x = Tensor::from_vector(std::vector<float>{1, NAN, 3}, Shape{3, 1});
  Tensor ids = Tensor::from_vector(std::vector<int64_t>{0, 1, 2}, Shape{3, 1});
  Tensor u = Tensor::from_vector(std::vector<float>{NAN, 5, 1}, Shape{3, 1});
  Tensor mx = run1([&](std::vector<Node> in) { return Scatter(in[0], in[1], in[2], row_scatter(ReduceOp::Max)); },
                   {x, ids, u});
  expect_equal(mx, {NAN, NAN, 3}, {3, 1});
  Tensor mn = run1([&](std::vector<Node> in) { return Scatter(in[0], in[1], in[2], row_scatter(ReduceOp::Min)); },
                   {x, ids, u});
  expect_equal(mn, {NAN, NAN, 1}, {3, 1});
}

TEST(ScatterTest, GeneralWindowsAndIndexVectorDimFirst) {
  // operand [4, 5, 6]; index vectors (i, k) select x[i, :, k:k+2] windows of [5, 2].
  Dims xd{4, 5, 6}, id{2, 3}, ud{3, 5, 2};
  ScatterAttrs a;
  a.index_vector_dim = 0;
  a.scatter_dims_to_operand_dims = {0, 2};
  a.inserted_window_dims = {0};
  a.update_window_dims = {1, 2};
  std::vector<int64_t> iv{3, 0, 3, /* k: */ 4, 1, 3};  // component-major: i = (3, 0, 3), k = (4, 1, 3)
  Tensor ids = Tensor::from_vector(iv, Shape(id));
  for (ReduceOp op : {ReduceOp::Replace, ReduceOp::Sum, ReduceOp::Max}) {
    a.combiner = op;
    Tensor x = random_values(DType::F32, xd, 50);
    Tensor u = random_values(DType::F32, ud, 51);
    Tensor got = run1([&](std::vector<Node> in) { return Scatter(in[0], in[1], in[2], a); }, {x, ids, u});
    std::vector<double> want = ref_scatter(x.to_vector<double>(), xd, iv, id, u.to_vector<double>(), ud, a);
    SCOPED_TRACE(reduce_op_name(op));
    expect_equal(got, want, xd);
  }
}

TEST(ScatterTest, LargeWindowsSplitAcrossThreadsStayInOrder) {
  Dims xd{6, 3, 20000}, id{9, 1}, ud{9, 3, 20000};
  std::vector<int64_t> iv{2, 5, 2, 0, 2, 5, 1, 2, 3};
  Tensor ids = Tensor::from_vector(iv, Shape(id));
  ScatterAttrs a;
  a.index_vector_dim = 1;
  a.scatter_dims_to_operand_dims = {0};
  a.inserted_window_dims = {0};
  a.update_window_dims = {1, 2};
  for (ReduceOp op : {ReduceOp::Replace, ReduceOp::Sum}) {
    a.combiner = op;
    Tensor x = random_values(DType::F64, xd, 60);
    Tensor u = random_values(DType::F64, ud, 61);
    Tensor got = run1([&](std::vector<Node> in) { return Scatter(in[0], in[1], in[2], a); }, {x, ids, u});
    std::vector<double> want = ref_scatter(x.to_vector<double>(), xd, iv, id, u.to_vector<double>(), ud, a);
    SCOPED_TRACE(reduce_op_name(op));
    expect_equal(got, want, xd);
  }
}

TEST(ScatterTest, OutOfRangeWindowThrowsNamingTheIndex) {
  Tensor x = random_values(DType::F32, {4, 3}, 70);
  Tensor ids = Tensor::from_vector(std::vector<int64_t>{1, 4}, Shape{2, 1});
  Tensor u = random_values(DType::F32, {2, 3}, 71);
  std::string msg = error_of([&] {
    run1([&](std::vector<Node> in) { return Scatter(in[0], in[1], in[2], row_scatter(ReduceOp::Sum)); }, {x, ids, u});
  });
  EXPECT_NE(msg.find("Scatter"), std::string::npos) << msg;
  EXPECT_NE(msg.find("index 4"), std::string::npos) << msg;
  EXPECT_NE(msg.find("axis 0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("extent 4"), std::string::npos) << msg;
  Tensor neg = Tensor::from_vector(std::vector<int64_t>{-1, 0}, Shape{2, 1});
  std::string msg2 = error_of([&] {
    run1([&](std::vector<Node> in) { return Scatter(in[0], in[1], in[2], row_scatter(ReduceOp::Sum)); }, {x, neg, u});
  });
  EXPECT_NE(msg2.find("index -1"), std::string::npos) << msg2;
}

TEST(ScatterTest, InPlaceOnAnIntermediate) {
  // The operand is an intermediate that dies at the scatter, so the planner may reuse its buffer.
  Tensor x = random_values(DType::F32, {5, 4}, 80);
  Tensor ids = Tensor::from_vector(std::vector<int64_t>{3, 0, 3}, Shape{3, 1});
  Tensor u = random_values(DType::F32, {3, 4}, 81);
  std::vector<double> doubled = x.to_vector<double>();
  for (double& v : doubled) v = v * 2 + 1;
  for (ReduceOp op : {ReduceOp::Replace, ReduceOp::Sum}) {
    ScatterAttrs a = row_scatter(op);
    Tensor got = run1([&](std::vector<Node> in) { return Scatter(in[0] * 2.0 + 1.0, in[1], in[2], a) * 1.0; },
                      {x, ids, u});
    std::vector<double> want = ref_scatter(doubled, {5, 4}, {3, 0, 3}, {3, 1}, u.to_vector<double>(), {3, 4}, a);
    SCOPED_TRACE(reduce_op_name(op));
    expect_equal(got, want, {5, 4});
  }
}

TEST(ScatterTest, EmptyUpdatesLeaveTheOperand) {
  Tensor x = random_values(DType::F32, {4, 3}, 90);
  Tensor ids = Tensor::from_vector(std::vector<int64_t>{}, Shape{0, 1});
  Tensor u = Tensor(DType::F32, Shape{0, 3});
  Tensor got = run1([&](std::vector<Node> in) { return Scatter(in[0], in[1], in[2], row_scatter(ReduceOp::Sum)); },
                    {x, ids, u});
  expect_equal(got, x.to_vector<double>(), {4, 3});
}

// ---- ScatterAlongAxis ------------------------------------------------------------------------------------

TEST(ScatterAlongAxisTest, MatchesNaiveForEveryAxisAndCombiner) {
  Dims xd{4, 5, 3};
  for (int axis = 0; axis < 3; ++axis) {
    for (ReduceOp op : {ReduceOp::Replace, ReduceOp::Sum, ReduceOp::Prod, ReduceOp::Max, ReduceOp::Min}) {
      Dims id = xd;
      id[size_t(axis)] = 4;
      int64_t n = xd[size_t(axis)];
      Tensor x = random_values(DType::F32, xd, 300 + axis);
      Tensor ids = random_indices(id, -n, n - 1, 310 + axis);
      Tensor u = random_values(DType::F32, id, 320 + axis);
      Tensor got = run1([&](std::vector<Node> in) { return ScatterAlongAxis(in[0], in[1], in[2], axis, op); },
                        {x, ids, u});
      std::vector<double> want = x.to_vector<double>();
      std::vector<int64_t> iv = ids.to_vector<int64_t>();
      std::vector<double> uv = u.to_vector<double>();
      for (int64_t f = 0; f < product(id); ++f) {  // row-major order of the updates
        Dims o = unravel(f, id);
        int64_t i = iv[size_t(f)];
        o[size_t(axis)] = i < 0 ? i + n : i;
        double& d = want[size_t(ravel(o, xd))];
        d = double(float(combine(op, d, uv[size_t(f)])));  // the kernel rounds to f32 after each step
      }
      SCOPED_TRACE("axis " + std::to_string(axis) + " " + std::string(reduce_op_name(op)));
      expect_equal(got, want, xd);
      if (HasFailure()) return;
    }
  }
}

}  // namespace

// ScatterAlongAxis with indices broadcast along every other axis (x.scatter(axis, i.expand(...), u), as
// detection heads write whole rows) takes a slice-scatter path; it must equal the element-wise scatter
// written out here, on axis 0 and a middle axis, for replace and add (with repeated rows).
TEST(ScatterAlongAxisTest, BroadcastRowIndicesMatchElementwiseScatter) {
  for (int axis : {0, 1})
    for (ReduceOp op : {ReduceOp::Replace, ReduceOp::Sum}) {
      Dims xd = axis == 0 ? Dims{6, 3, 4} : Dims{3, 6, 4};
      Dims ud = xd;
      ud[size_t(axis)] = 4;
      std::vector<int64_t> rows = op == ReduceOp::Replace ? std::vector<int64_t>{4, 0, -1, 2}
                                                          : std::vector<int64_t>{1, 1, 3, -6};
      Tensor x = graft::testing::random_tensor(DType::F32, Shape(xd), 1);
      Tensor u = graft::testing::random_tensor(DType::F32, Shape(ud), 2);
      Dims rd(3, 1);
      rd[size_t(axis)] = 4;
      Tensor r = Tensor::from_vector(rows, Shape(rd));
      Tensor y = graft::testing::run1(
          [&](std::vector<Node> p) { return ScatterAlongAxis(p[0], BroadcastTo(p[2], Shape(ud)), p[1], axis, op); },
          {x, u, r});
      // Reference: for every update element, its destination is its own position with the axis
      // coordinate replaced by the row index.
      std::vector<double> want(size_t(x.size()));
      for (int64_t i = 0; i < x.size(); ++i) want[size_t(i)] = x.value_as_double(i);
      for (int64_t i = 0; i < u.size(); ++i) {
        Dims at = unravel(i, ud);
        int64_t row = rows[size_t(at[size_t(axis)])];
        at[size_t(axis)] = row < 0 ? row + xd[size_t(axis)] : row;
        double& w = want[size_t(ravel(at, xd))];
        w = op == ReduceOp::Sum ? w + u.value_as_double(i) : u.value_as_double(i);
      }
      for (int64_t i = 0; i < y.size(); ++i)
        EXPECT_NEAR(y.value_as_double(i), want[size_t(i)], 1e-5) << "axis " << axis << " element " << i;
    }
}

// TakeAlongAxis with indices broadcast along every other axis (torch.gather(x, d, i.expand(...))) is a
// Take of whole slices; it must equal the element-wise gather written out here.
TEST(TakeAlongAxisTest, BroadcastRowIndicesMatchElementwiseGather) {
  for (int axis : {0, 1, 2}) {
    Dims xd{5, 4, 3};
    Dims od = xd;
    od[size_t(axis)] = 4;
    std::vector<int64_t> rows{2, -1, 0, 2};
    Tensor x = graft::testing::random_tensor(DType::F32, Shape(xd), 3);
    Dims rd(3, 1);
    rd[size_t(axis)] = 4;
    Tensor r = Tensor::from_vector(rows, Shape(rd));
    Tensor y = graft::testing::run1(
        [&](std::vector<Node> p) { return TakeAlongAxis(p[0], BroadcastTo(p[1], Shape(od)), axis); }, {x, r});
    ASSERT_EQ(y.shape(), Shape(od));
    for (int64_t i = 0; i < y.size(); ++i) {
      Dims at = unravel(i, od);
      int64_t row = rows[size_t(at[size_t(axis)])];
      at[size_t(axis)] = row < 0 ? row + xd[size_t(axis)] : row;
      EXPECT_EQ(y.value_as_double(i), x.value_as_double(ravel(at, xd))) << "axis " << axis << " element " << i;
    }
  }
}
