// The hand-written kernels' index arithmetic, run on the host without a GPU: each op's launch parameters
// come from the same plan functions the CUDA kernel factories use (kernels/plans.h), each element goes
// through the same per-element functions the kernels call (kernels/element_math.h), and the result must
// equal the CPU backend's. Covers views (broadcast, transpose, slice, reverse), concatenate, pad, gather
// and scatter with XLA dimension numbers, direct and im2col convolutions, and window reductions.
#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <random>

#include "backend/cuda/kernels/element_math.h"
#include "backend/cuda/kernels/plans.h"
#include "graft/backend/backend.h"
#include "graft/graph/ops.h"

using namespace graft;
using namespace graft::cuda;

namespace {

std::mt19937 rng(42);

Tensor random_f64(const Shape& s, double lo = -2, double hi = 2) {
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(size_t(s.size()));
  for (double& x : v) x = u(rng);
  return Tensor::from_vector(v, s);
}

// The op producing `out` (through reshapes), its operand and result types, and the CPU backend's values of
// its operands and of `out` for `inputs` (builders add ops before the one under test: index normalization,
// the index tuples of TakeAlongAxis; the emulation must see what the op itself sees).
struct OneOp {
  Graph g;
  const Op* op = nullptr;
  std::vector<ValueType> in;
  std::vector<Tensor> operands;
  Tensor want;
};

// (`out` must be recorded in g already: pass it as a named node, not an expression next to g.)
OneOp record(const Graph& g, Node out, const std::vector<Tensor>& inputs) {
  OneOp r{g};
  ValueRef v = out.ref();
  while (r.g.op(v.op).kind == OpKind::Reshape) v = r.g.op(v.op).inputs[0];
  r.op = &r.g.op(v.op);
  std::vector<Node> outs;
  for (const ValueRef& o : r.op->inputs) {
    r.in.push_back(r.g.op(o.op).outputs[size_t(o.output)]);
    outs.push_back(r.g.node(o));
  }
  outs.push_back(r.g.node(out.ref()));
  r.g.set_outputs(outs);
  CompileOptions opts;
  opts.fold_constants = false;
  r.operands = cpu_backend()->compile(r.g, opts)->run(inputs);
  r.want = r.operands.back();
  r.operands.pop_back();
  return r;
}

void expect_equal(const std::vector<double>& got, const Tensor& want, double tol = 0) {
  std::vector<double> w = want.to_vector<double>();
  ASSERT_EQ(got.size(), w.size());
  for (size_t i = 0; i < w.size(); ++i)
    ASSERT_NEAR(got[i], w[i], tol * (1 + std::abs(w[i]))) << "element " << i;
}

}  // namespace

TEST(KernelMath, ViewCopies) {
  auto check = [](const Graph& g, Node out, std::vector<Tensor> in) {
    OneOp r = record(g, out, in);
    StridedCopy p = view_copy_plan(*r.op, r.in, r.op->outputs[0]);
    std::vector<double> src = r.operands[0].to_vector<double>(), got(static_cast<size_t>(p.count));
    for (int64_t i = 0; i < p.count; ++i) {
      int64_t so, d;
      strided_offsets<int64_t>(p.rank, p.dims, p.src_strides, p.dst_strides, i, &so, &d);
      got[size_t(p.dst_offset + d)] = src[size_t(p.src_offset + so)];
    }
    SCOPED_TRACE(op_name(r.op->kind));
    expect_equal(got, r.want);
  };
  for (int round = 0; round < 3; ++round) {
    {
      Graph g;
      Node x = g.parameter("x", DType::F64, {2, 3, 4, 5});
      check(g, Transpose(x, {3, 1, 0, 2}), {random_f64(Shape{2, 3, 4, 5})});
    }
    {
      Graph g;
      Node x = g.parameter("x", DType::F64, {3, 1, 4});
      check(g, BroadcastInDim(x, {2, 3, 5, 4}, {1, 2, 3}), {random_f64(Shape{3, 1, 4})});
    }
    {
      Graph g;
      Node x = g.parameter("x", DType::F64, {7, 6, 5});
      check(g, Slice(x, {1, 0, 2}, {7, 5, 5}, {3, 2, 1}), {random_f64(Shape{7, 6, 5})});
    }
    {
      Graph g;
      Node x = g.parameter("x", DType::F64, {4, 3, 6});
      check(g, Reverse(x, {0, 2}), {random_f64(Shape{4, 3, 6})});
    }
  }
}

TEST(KernelMath, ConcatenateAndPad) {
  {
    Graph g;
    Node a = g.parameter("a", DType::F64, {2, 3, 4});
    Node b = g.parameter("b", DType::F64, {2, 5, 4});
    std::vector<Tensor> in = {random_f64(Shape{2, 3, 4}), random_f64(Shape{2, 5, 4})};
    OneOp r = record(g, Concatenate({a, b, a}, 1), {in[0], in[1]});
    std::vector<StridedCopy> parts = concat_plans(*r.op, r.in, r.op->outputs[0]);
    std::vector<double> got(static_cast<size_t>(r.want.size()));
    const Tensor* srcs[3] = {&in[0], &in[1], &in[0]};
    for (size_t k = 0; k < parts.size(); ++k) {
      std::vector<double> src = srcs[k]->to_vector<double>();
      const StridedCopy& p = parts[k];
      for (int64_t i = 0; i < p.count; ++i) {
        int64_t so, d;
        strided_offsets<int64_t>(p.rank, p.dims, p.src_strides, p.dst_strides, i, &so, &d);
        got[size_t(p.dst_offset + d)] = src[size_t(p.src_offset + so)];
      }
    }
    expect_equal(got, r.want);
  }
  for (PadMode mode : {PadMode::Constant, PadMode::Reflect, PadMode::Edge, PadMode::Wrap}) {
    Graph g;
    Node x = g.parameter("x", DType::F64, {3, 4, 5});
    Node v = g.parameter("v", DType::F64, {});
    std::vector<Tensor> in = {random_f64(Shape{3, 4, 5}), Tensor::scalar(7.5)};
    OneOp r = record(g, Pad(x, {1, -1, 2}, {2, 3, -2}, mode, v), in);
    std::vector<std::vector<int64_t>> maps;
    PadParams p = pad_plan(*r.op, r.in, r.op->outputs[0], &maps);
    for (int k = 0; k < p.rank; ++k) p.maps[k] = maps[size_t(k)].data();
    std::vector<double> src = in[0].to_vector<double>(), got(static_cast<size_t>(p.count));
    for (int64_t i = 0; i < p.count; ++i) {
      const int64_t off = pad_source(p, i);
      got[size_t(i)] = off < 0 ? 7.5 : src[size_t(off)];
    }
    SCOPED_TRACE(int(mode));
    expect_equal(got, r.want);
  }
}

TEST(KernelMath, GatherWithDimensionNumbers) {
  auto check = [](const Graph& g, Node out, std::vector<Tensor> in) {
    OneOp r = record(g, out, in);
    IndexMap m = gather_plan(*r.op, r.in, r.op->outputs[0]);
    // The gather's operands in the recorded graph: operand and int64 indices (after the builder's Convert).
    std::vector<double> operand = r.operands[0].to_vector<double>();
    std::vector<int64_t> idx = r.operands[1].to_vector<int64_t>();
    std::vector<double> got(static_cast<size_t>(m.count));
    for (int64_t i = 0; i < m.count; ++i) {
      int64_t b;
      int bad = -1;
      const int64_t off = index_map_offset(idx.data(), m, i, &b, &bad);
      ASSERT_GE(off, 0) << "element " << i << " index vector " << b;
      got[size_t(i)] = operand[size_t(off)];
    }
    expect_equal(got, r.want);
  };
  {
    Graph g;  // an embedding lookup
    Node t = g.parameter("t", DType::F64, {10, 6});
    Node ids = g.parameter("ids", DType::I64, {3, 4});
    check(g, Take(t, ids, 0), {random_f64(Shape{10, 6}), random_f64(Shape{3, 4}, 0, 9).cast(DType::I64)});
  }
  {
    Graph g;  // take along a middle axis
    Node t = g.parameter("t", DType::F64, {4, 7, 3});
    Node ids = g.parameter("ids", DType::I64, {5});
    check(g, Take(t, ids, 1), {random_f64(Shape{4, 7, 3}), random_f64(Shape{5}, 0, 6).cast(DType::I64)});
  }
  {
    Graph g;  // torch.gather
    Node x = g.parameter("x", DType::F64, {4, 6, 3});
    Node i = g.parameter("i", DType::I64, {4, 5, 3});
    check(g, TakeAlongAxis(x, i, 1), {random_f64(Shape{4, 6, 3}), random_f64(Shape{4, 5, 3}, 0, 5).cast(DType::I64)});
  }
  {
    Graph g;  // XLA gather: 2-component index vectors (index_vector_dim 0), windows of 2x3, one axis collapsed
    Node x = g.parameter("x", DType::F64, {6, 7, 5});
    Node i = g.parameter("i", DType::I64, {2, 4});
    GatherAttrs a;
    a.offset_dims = {0, 2};
    a.collapsed_slice_dims = {1};
    a.start_index_map = {0, 2};
    a.slice_sizes = {2, 1, 3};
    a.index_vector_dim = 0;
    // Starts within [0, 6-2] on axis 0 and [0, 5-3] on axis 2.
    Tensor iv = Tensor::from_vector(std::vector<int64_t>{0, 4, 2, 1, 2, 0, 1, 2}, Shape{2, 4});
    Node out = Gather(x, i, a);
    check(g, out, {random_f64(Shape{6, 7, 5}), iv});
  }
}

TEST(KernelMath, ScatterCombinersInOrder) {
  for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min, ReduceOp::Prod, ReduceOp::Replace}) {
    Graph g;
    Node x = g.parameter("x", DType::F64, {4, 6});
    Node i = g.parameter("i", DType::I64, {4, 5});
    Node u = g.parameter("u", DType::F64, {4, 5});
    std::vector<Tensor> in = {random_f64(Shape{4, 6}), random_f64(Shape{4, 5}, 0, 5).cast(DType::I64),
                              random_f64(Shape{4, 5})};
    OneOp r = record(g, ScatterAlongAxis(x, i, u, 1, op), in);
    IndexMap m = scatter_plan(*r.op, r.in);
    std::vector<double> out = r.operands[0].to_vector<double>(), upd = r.operands[2].to_vector<double>();
    std::vector<int64_t> idx = r.operands[1].to_vector<int64_t>();
    std::vector<int64_t> winner(out.size(), -1);
    for (int pass = 0; pass < 2; ++pass)
      for (int64_t e = 0; e < m.count; ++e) {
        int64_t b;
        int bad = -1;
        const int64_t off = index_map_offset(idx.data(), m, e, &b, &bad);
        ASSERT_GE(off, 0);
        double& d = out[size_t(off)];
        if (op == ReduceOp::Replace) {  // the kernel's two passes: claim by the largest vector, then write
          if (pass == 0) winner[size_t(off)] = std::max(winner[size_t(off)], b);
          else if (winner[size_t(off)] == b) d = upd[size_t(e)];
          continue;
        }
        if (pass == 1) continue;
        const double v = upd[size_t(e)];
        d = op == ReduceOp::Sum ? d + v : op == ReduceOp::Prod ? d * v : op == ReduceOp::Max ? std::max(d, v) : std::min(d, v);
      }
    SCOPED_TRACE(reduce_op_name(op));
    expect_equal(out, r.want, 1e-12);
  }
}

TEST(KernelMath, OutOfRangeIndicesAreFound) {
  Graph g;
  Node t = g.parameter("t", DType::F64, {10, 6});
  Node ids = g.parameter("ids", DType::I64, {3});
  Node out = Take(t, ids, 0);
  g.set_outputs({out});
  const Op& op = g.op(out.op_index());
  std::vector<ValueType> in;
  for (const ValueRef& v : op.inputs) in.push_back(g.op(v.op).outputs[size_t(v.output)]);
  IndexMap m = gather_plan(op, in, op.outputs[0]);
  std::vector<int64_t> idx = {1, 12, -1};
  int64_t b;
  int bad = -1;
  EXPECT_GE(index_map_offset(idx.data(), m, 0, &b, &bad), 0);
  EXPECT_EQ(index_map_offset(idx.data(), m, 6, &b, &bad), -1);  // element 6 is in row 1
  EXPECT_EQ(b, 1);
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(m.start_extent[bad], 10);
  EXPECT_EQ(index_map_offset(idx.data(), m, 17, &b, &bad), -1);
  EXPECT_EQ(b, 2);
}

TEST(KernelMath, ConvolutionsDirectAndThroughIm2col) {
  struct Case {
    Shape x, w;
    ConvolutionAttrs a;
  };
  std::vector<Case> cases = {
      {{2, 3, 9, 10}, {4, 3, 3, 3}, {.strides = {1, 1}, .pad_low = {1, 1}, .pad_high = {1, 1}}},
      {{2, 4, 11, 12}, {6, 4, 3, 2}, {.strides = {2, 3}, .pad_low = {2, 0}, .pad_high = {1, 2}, .dilations = {2, 1}}},
      {{2, 6, 8, 8}, {9, 2, 3, 3}, {.pad_low = {1, 1}, .pad_high = {1, 1}, .groups = 3}},
      {{2, 5, 20}, {7, 5, 4}, {.strides = {2}, .pad_low = {3}, .pad_high = {1}}},
      {{1, 2, 5, 6, 7}, {3, 2, 2, 3, 2}, {.pad_low = {1, 0, 1}, .pad_high = {0, 1, 1}}},
      {{2, 4, 5, 6}, {4, 3, 3, 3}, {.strides = {2, 2}, .pad_low = {1, 1}, .pad_high = {1, 1}, .output_padding = {1, 0}, .transposed = true}},
      {{1, 4, 7}, {4, 2, 3}, {.strides = {3}, .dilations = {2}, .groups = 2, .transposed = true}},
  };
  for (const Case& c : cases) {
    Graph g;
    Node x = g.parameter("x", DType::F64, c.x);
    Node w = g.parameter("w", DType::F64, c.w);
    std::vector<Tensor> in = {random_f64(c.x), random_f64(c.w)};
    OneOp r = record(g, Convolution(x, w, c.a), in);
    ConvGeometry geo = conv_geometry(*r.op, r.in, r.op->outputs[0]);
    std::vector<double> xv = in[0].to_vector<double>(), wv = in[1].to_vector<double>();
    const int64_t n_out = geo.n * geo.o * geo.out_size();
    std::vector<double> got(static_cast<size_t>(n_out));
    for (int64_t i = 0; i < n_out; ++i) got[size_t(i)] = conv_direct_at(xv.data(), wv.data(), geo, i, [](double v) { return v; });
    SCOPED_TRACE(r.op->outputs[0].str());
    expect_equal(got, r.want, 1e-12);
    if (geo.transposed) continue;
    // im2col + a product per (image, group), as the cuBLASLt path does it.
    const int64_t P = geo.out_size(), cg = geo.c / geo.groups, og = geo.o / geo.groups, CK = cg * geo.k_size();
    std::vector<double> col(size_t(geo.n * geo.groups * CK * P)), y(size_t(n_out), 0.0);
    for (int64_t i = 0; i < int64_t(col.size()); ++i) {
      const int64_t src = im2col_source(geo, 0, i);
      col[size_t(i)] = src >= 0 ? xv[size_t(src)] : 0.0;
    }
    for (int64_t n = 0; n < geo.n; ++n)
      for (int64_t grp = 0; grp < geo.groups; ++grp)
        for (int64_t o = 0; o < og; ++o)
          for (int64_t k = 0; k < CK; ++k)
            for (int64_t p = 0; p < P; ++p)
              y[size_t((n * geo.o + grp * og + o) * P + p)] +=
                  wv[size_t((grp * og + o) * CK + k)] * col[size_t(((n * geo.groups + grp) * CK + k) * P + p)];
    expect_equal(y, r.want, 1e-12);
  }
}

TEST(KernelMath, WindowReductions) {
  std::vector<ReduceWindowAttrs> attrs = {
      {.op = ReduceOp::Max, .window = {1, 1, 3, 3}, .strides = {1, 1, 2, 2}, .pad_low = {0, 0, 1, 1}, .pad_high = {0, 0, 1, 1}},
      {.op = ReduceOp::Mean, .window = {1, 1, 3, 2}, .strides = {1, 1, 2, 1}, .pad_low = {0, 0, 1, 0}, .pad_high = {0, 0, 1, 1}},
      {.op = ReduceOp::Mean, .window = {1, 1, 3, 2}, .strides = {1, 1, 2, 1}, .pad_low = {0, 0, 1, 0}, .pad_high = {0, 0, 1, 1},
       .count_include_pad = true},
      {.op = ReduceOp::Min, .window = {1, 1, 2, 2}, .strides = {1, 1, 1, 1}, .dilations = {1, 1, 2, 3}},
      {.op = ReduceOp::Sum, .window = {1, 2, 1, 3}, .strides = {1, 1, 2, 2}},
  };
  for (const ReduceWindowAttrs& a : attrs) {
    Graph g;
    Node x = g.parameter("x", DType::F64, {2, 3, 9, 8});
    std::vector<Tensor> in = {random_f64(Shape{2, 3, 9, 8})};
    OneOp r = record(g, ReduceWindow(x, a), in);
    WindowParams p = window_plan(*r.op, r.in, r.op->outputs[0]);
    std::vector<double> xv = in[0].to_vector<double>(), got(static_cast<size_t>(p.count));
    for (int64_t i = 0; i < p.count; ++i) {
      double acc = a.op == ReduceOp::Max ? -INFINITY : a.op == ReduceOp::Min ? INFINITY : 0.0;
      const int64_t valid = window_taps(p, i, [&](int64_t off) {
        const double v = xv[size_t(off)];
        acc = a.op == ReduceOp::Max ? std::max(acc, v) : a.op == ReduceOp::Min ? std::min(acc, v) : acc + v;
      });
      if (a.op == ReduceOp::Mean) acc /= double(a.count_include_pad ? p.taps : valid);
      got[size_t(i)] = acc;
    }
    SCOPED_TRACE(reduce_op_name(a.op));
    expect_equal(got, r.want, 1e-12);
  }
}

// Sort keys: a stable sort of the integer keys (ascending, or of the flipped keys for descending) gives
// the CPU backend's permutation, NaN, infinities, -0/+0 and ties included.
TEST(KernelMath, SortKeysOrderLikeTheCpu) {
  auto check = [](DType t, const Tensor& x) {
    for (bool descending : {false, true}) {
      Graph g;
      Node k = g.parameter("k", t, x.shape());
      Node pos = Iota(g, DType::I64, x.shape(), 0);
      g.set_outputs({Sort({k, pos}, 0, descending)[1]});
      std::vector<int64_t> want = cpu_backend()->compile(g)->run({x})[0].to_vector<int64_t>();
      std::vector<uint64_t> keys;
      visit_dtype(t, [&](auto tag) {
        using T = decltype(tag);
        for (T v : x.span<const T>()) {
          const auto c = to_compute(v);
          uint64_t key;
          if constexpr (sizeof(T) == 8) key = descending ? ~sort_key<uint64_t>(c) : sort_key<uint64_t>(c);
          else key = descending ? uint32_t(~sort_key<uint32_t>(c)) : sort_key<uint32_t>(c);
          keys.push_back(key);
        }
      });
      std::vector<int64_t> got(keys.size());
      for (size_t i = 0; i < got.size(); ++i) got[i] = int64_t(i);
      std::stable_sort(got.begin(), got.end(), [&](int64_t a, int64_t b) { return keys[size_t(a)] < keys[size_t(b)]; });
      EXPECT_EQ(got, want) << dtype_name(t) << (descending ? " descending" : " ascending");
    }
  };
  std::vector<float> f = {3.f, -0.f, NAN, 1.f, 0.f, -INFINITY, 3.f, -2.5f, INFINITY, -NAN, 1e-40f, -1e-40f};
  check(DType::F32, Tensor::from_vector(f));
  check(DType::F16, Tensor::from_vector(f).cast(DType::F16));
  check(DType::F64, Tensor::from_vector(f).cast(DType::F64));
  check(DType::I32, Tensor::from_vector(std::vector<int32_t>{5, -3, 0, -3, 2147483647, -2147483647 - 1, 5, 1}));
  check(DType::I64, Tensor::from_vector(std::vector<int64_t>{5, -3, 0, -3, INT64_MAX, INT64_MIN, 5, 1}));
  check(DType::I8, Tensor::from_vector(std::vector<int8_t>{5, -3, 0, -128, 127, 5}));
  check(DType::U8, Tensor::from_vector(std::vector<uint8_t>{5, 3, 0, 255, 128, 5}));
  check(DType::U64, Tensor::from_vector(std::vector<uint64_t>{5, UINT64_MAX, 0, 1ull << 63, 5}));
  check(DType::Bool, Tensor::from_vector(std::vector<bool>{true, false, true, false}));
}
