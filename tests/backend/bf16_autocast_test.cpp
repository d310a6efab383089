// CompileOptions::precision on the CPU backend (backend/cpu/onednn.h, products_in_bf16): with BF16 the
// products, convolutions and fused attention run on oneDNN's bf16 primitives (the executable's stats
// count them), giving what the same math on bf16-rounded operands with wide accumulation gives (a plain
// double-precision reference here), and within bf16's ~1e-2 relative error of the f32 result. F16 has no
// CPU kernels here: it runs f32, bit-identical to F32.
#include <gtest/gtest.h>

#include <cmath>

#include "graft/graph/ops.h"
#include "test_util.h"

namespace graft {
namespace {

bool cpu_has_bf16() { return __builtin_cpu_supports("avx512bf16"); }

CompileOptions with(Precision p) {
  CompileOptions o;
  o.precision = p;
  return o;
}

// The tensor rounded to bf16 (as the kernels round their operands) and widened back.
Tensor bf16_rounded(const Tensor& t) { return t.cast(DType::BF16).cast(DType::F32); }

// max |a - b| / max |b|
double relative_error(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  double err = 0, scale = 0;
  for (int64_t i = 0; i < a.size(); ++i) {
    err = std::max(err, std::fabs(a.value_as_double(i) - b.value_as_double(i)));
    scale = std::max(scale, std::fabs(b.value_as_double(i)));
  }
  return err / std::max(scale, 1e-30);
}

// `g` compiled in f32 and under bf16 autocast and run on `args`: the bf16 result, its executable's stats and its
// relative error against the f32 result.
struct Bf16Run {
  Tensor got;
  ExecutableStats stats;
  double from_f32 = 0;
};

Bf16Run run_bf16_and_f32(const Graph& g, const std::vector<Tensor>& args) {
  auto f32 = cpu_backend()->compile(g);
  auto bf16 = cpu_backend()->compile(g, with(Precision::BF16));
  Tensor want = f32->run(std::span<const Tensor>(args)).at(0);
  Tensor got = bf16->run(std::span<const Tensor>(args)).at(0);
  return {got, bf16->stats(), relative_error(got, want)};
}

// bf16 rounding shows in the result (it is not the f32 path) and stays within bf16's precision.
void expect_bf16_rounding(const Bf16Run& r) {
  EXPECT_LT(r.from_f32, 2e-2);
  EXPECT_GT(r.from_f32, 1e-6);
}

// The reference: a graph whose Converts round what the kernels round, run in f32 with `options`.
Tensor run_reference(const Graph& g, const std::vector<Tensor>& args, const CompileOptions& options) {
  return cpu_backend()->compile(g, options)->run(std::span<const Tensor>(args)).at(0);
}

CompileOptions without_constant_folding() {  // (keeps a reference's rounding Converts of constants as written)
  CompileOptions o;
  o.fold_constants = false;
  return o;
}

TEST(Bf16Autocast, ProductsWithRuntimeAndConstantWeightsAndEpilogues) {
  Tensor x = testing::random_tensor(DType::F32, Shape{2, 33, 96}, 1);
  Tensor w = testing::random_tensor(DType::F32, Shape{96, 40}, 2);
  Tensor wc = testing::random_tensor(DType::F32, Shape{40, 24}, 3);
  Tensor bias = testing::random_tensor(DType::F32, Shape{24}, 4);
  for (bool constant_w : {false, true}) {
    SCOPED_TRACE(constant_w ? "constant weights" : "run-time weights");
    auto build = [&](const Tensor& wc_value) {
      Graph g;
      Node xn = g.parameter("x", DType::F32, x.shape()), wn = g.parameter("w", DType::F32, w.shape());
      Node h = MatMul(xn, wn);                                       // run-time weights
      Node wcn = constant_w ? g.constant(wc_value) : g.parameter("wc", DType::F32, wc.shape());
      Node y = Gelu(MatMul(h, wcn) + g.constant(bias));              // fused bias + gelu (cpu.product)
      Node z = MatMul(Transpose(y, {0, 2, 1}), y);                   // transposed operand read in place
      g.set_outputs({z});
      return g;
    };
    // The reference rounds what the kernels round: x and w for the first product, then h (computed from
    // them) — so it is built from the same graph with every product's operands rounded in the graph.
    Graph g = build(wc);
    std::vector<Tensor> args{x, w};
    if (!constant_w) args.push_back(wc);
    Graph ref_graph;
    {
      Node xn = ref_graph.parameter("x", DType::F32, x.shape()), wn = ref_graph.parameter("w", DType::F32, w.shape());
      auto r = [](Node n) { return Convert(Convert(n, DType::BF16), DType::F32); };
      Node h = MatMul(r(xn), r(wn));
      Node wcn = constant_w ? ref_graph.constant(bf16_rounded(wc)) : r(ref_graph.parameter("wc", DType::F32, wc.shape()));
      Node y = Gelu(MatMul(r(h), wcn) + ref_graph.constant(bias));
      Node yr = r(y);
      ref_graph.set_outputs({MatMul(Transpose(yr, {0, 2, 1}), yr)});
    }
    Bf16Run r = run_bf16_and_f32(g, args);
    if (!cpu_has_bf16()) GTEST_SKIP() << "no AVX512-BF16 on this CPU";
    EXPECT_EQ(r.stats.num_bf16_kernels, 3);
    EXPECT_EQ(r.stats.num_fused_epilogues, 1);
    expect_bf16_rounding(r);
    EXPECT_LT(relative_error(r.got, run_reference(ref_graph, args, without_constant_folding())), 1e-4);
  }
}

TEST(Bf16Autocast, ConvolutionsPlainPointwiseDepthwiseTransposedWithEpilogues) {
  struct Case {
    Shape x, w;
    int64_t groups, pad;
    bool transposed, bias_relu, constant_w;
  };
  const std::vector<Case> cases = {
      {{2, 16, 12, 12}, {32, 16, 3, 3}, 1, 1, false, true, true},    // 3x3, bias + relu fused
      {{1, 32, 10, 10}, {24, 32, 1, 1}, 1, 0, false, false, true},   // pointwise (plain layout)
      {{1, 32, 10, 10}, {32, 1, 3, 3}, 32, 1, false, true, false},   // depthwise, run-time weights
      {{1, 8, 6, 6}, {8, 4, 2, 2}, 1, 0, true, false, true},         // transposed
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.w.str());
    Tensor x = testing::random_tensor(DType::F32, c.x, 5);
    Tensor w = testing::random_tensor(DType::F32, c.w, 6);
    Tensor b = testing::random_tensor(DType::F32, Shape{c.transposed ? c.w[1] : c.w[0]}, 7);
    ConvolutionAttrs at;
    const int64_t s = 1;
    at.strides = {s, s};
    at.pad_low = at.pad_high = {c.pad, c.pad};
    at.dilations = {1, 1};
    at.output_padding = {0, 0};
    at.groups = c.groups;
    at.transposed = c.transposed;
    if (c.transposed) at.strides = {2, 2};
    auto build = [&](const Tensor& wv, bool round) {
      Graph g;
      Node xn = g.parameter("x", DType::F32, x.shape());
      Node wn = c.constant_w ? g.constant(wv) : g.parameter("w", DType::F32, w.shape());
      if (round) {
        xn = Convert(Convert(xn, DType::BF16), DType::F32);
        if (!c.constant_w) wn = Convert(Convert(wn, DType::BF16), DType::F32);
      }
      Node y = Convolution(xn, wn, at);
      if (c.bias_relu) y = Max(y + Reshape(g.constant(b), {1, b.shape()[0], 1, 1}), ScalarLike(y, 0));
      g.set_outputs({y});
      return g;
    };
    std::vector<Tensor> args{x};
    if (!c.constant_w) args.push_back(w);
    Bf16Run r = run_bf16_and_f32(build(w, false), args);
    if (!cpu_has_bf16()) GTEST_SKIP() << "no AVX512-BF16 on this CPU";
    EXPECT_EQ(r.stats.num_bf16_kernels, 1);
    expect_bf16_rounding(r);
    EXPECT_LT(relative_error(r.got, run_reference(build(bf16_rounded(w), true), args, without_constant_folding())), 1e-5);
  }
}

TEST(Bf16Autocast, FusedAttention) {
  const int64_t B = 2, H = 4, S = 24, D = 16;
  Tensor q = testing::random_tensor(DType::F32, Shape{B, S, H, D}, 8, -1, 1);
  Tensor k = testing::random_tensor(DType::F32, Shape{B, S, H, D}, 9, -1, 1);
  Tensor v = testing::random_tensor(DType::F32, Shape{B, S, H, D}, 10, -1, 1);
  auto build = [&](bool round) {
    Graph g;
    Node qn = g.parameter("q", DType::F32, q.shape()), kn = g.parameter("k", DType::F32, k.shape()),
         vn = g.parameter("v", DType::F32, v.shape());
    auto r = [&](Node n) { return round ? Convert(Convert(n, DType::BF16), DType::F32) : n; };
    Node s = MatMul(Transpose(r(qn), {0, 2, 1, 3}), Transpose(r(kn), {0, 2, 3, 1})) * g.scalar(0.25f);
    Node o = MatMul(r(Softmax(s, -1)), Transpose(r(vn), {0, 2, 1, 3}));
    g.set_outputs({Transpose(o, {0, 2, 1, 3})});
    return g;
  };
  std::vector<Tensor> args{q, k, v};
  Bf16Run r = run_bf16_and_f32(build(false), args);
  EXPECT_EQ(r.stats.num_fused_attention, 1);
  if (!cpu_has_bf16()) GTEST_SKIP() << "no AVX512-BF16 on this CPU";
  EXPECT_EQ(r.stats.num_bf16_kernels, 1);
  expect_bf16_rounding(r);
  // The unfused chain on rounded operands: the same roundings (the probabilities rounded after the softmax).
  CompileOptions plain;
  plain.fuse_attention = false;
  EXPECT_LT(relative_error(r.got, run_reference(build(true), args, plain)), 1e-4);
}

TEST(Bf16Autocast, F16PrecisionRunsF32) {
  Tensor x = testing::random_tensor(DType::F32, Shape{8, 16}, 11);
  Tensor w = testing::random_tensor(DType::F32, Shape{16, 4}, 12);
  Graph g;
  Node xn = g.parameter("x", DType::F32, x.shape());
  Node wn = g.parameter("w", DType::F32, w.shape());
  g.set_outputs({MatMul(xn, wn)});
  auto f32 = cpu_backend()->compile(g);
  auto f16 = cpu_backend()->compile(g, with(Precision::F16));
  EXPECT_EQ(f16->stats().num_bf16_kernels, 0);
  EXPECT_EQ(relative_error(f16->run({x, w}).at(0), f32->run({x, w}).at(0)), 0.0);
}

}  // namespace
}  // namespace graft
