// Every op kind of graft's IR on the CUDA backend against the CPU backend, on random inputs: f32 within
// 1e-5 relative (TF32 off), f16 2e-3, bf16 1e-2, integers and bool exactly. Skips without a GPU.
#include "cuda/gpu/gpu_test_util.h"

namespace graft::gpu_test {
namespace {

const std::vector<DType> kAll = {DType::Bool, DType::I8,  DType::I16, DType::I32, DType::I64,  DType::U8,  DType::U16,
                                 DType::U32,  DType::U64, DType::F16, DType::BF16, DType::F32, DType::F64};

class GpuOps : public Gpu {
 protected:
  std::mt19937 rng_{1234};
  // Builds one graph per dtype the builder accepts (others are skipped) and compares it.
  template <typename F>
  int for_each_dtype(const char* name, F build, const std::vector<Shape>& shapes, double lo = -2, double hi = 2) {
    int ran = 0;
    for (DType t : kAll) {
      Graph g(std::string(name) + "_" + std::string(dtype_name(t)));
      std::vector<Node> params;
      for (size_t i = 0; i < shapes.size(); ++i) params.push_back(g.parameter("p" + std::to_string(i), t, shapes[i]));
      std::vector<Node> outs;
      try {
        outs = build(params);
      } catch (const Error&) {
        continue;  // a dtype this op does not take
      }
      if (outs.empty()) continue;
      g.set_outputs(outs);
      SCOPED_TRACE(g.name());
      expect_same(*gpu_, g, random_inputs(g, rng_, lo, hi));
      ++ran;
    }
    return ran;
  }
};

// One graph per dtype with every op of the kind the dtype takes (one compilation each).
TEST_F(GpuOps, UnaryOpsOnEveryDtype) {
  int ran = for_each_dtype(
      "unary",
      [](std::vector<Node> p) {
        std::vector<Node> v;
#define UNARY_CASE(name)     \
  try {                      \
    v.push_back(name(p[0])); \
  } catch (const Error&) {   \
  }
        GRAFT_UNARY_OPS(UNARY_CASE)
#undef UNARY_CASE
        return v;
      },
      {Shape{3, 17}}, -3, 3);
  EXPECT_EQ(ran, 13);
  // Halves round to even; NaN, infinities and signed zeros go through every float op unchanged in kind.
  Graph g("specials");
  Node x = g.parameter("x", DType::F32, {8});
  g.set_outputs({Round(x), Sign(x), Abs(x), IsNan(x), IsInf(x), Floor(x), Logistic(x), Tanh(x), Erf(x)});
  Tensor v = Tensor::from_vector(std::vector<float>{0.5f, 1.5f, -2.5f, -0.0f, NAN, INFINITY, -INFINITY, 2.4999f});
  expect_same(*gpu_, g, {v});
}

TEST_F(GpuOps, BinaryOpsOnEveryDtypeWithBroadcasting) {
  int ran = for_each_dtype(
      "binary",
      [](std::vector<Node> p) {
        std::vector<Node> v;
#define BINARY_CASE(name)                                                                              \
  if (OpKind::name != OpKind::Div && OpKind::name != OpKind::Rem && OpKind::name != OpKind::Fmod &&      \
      OpKind::name != OpKind::Pow) {                                                                    \
    try {                                                                                               \
      v.push_back(name(p[0], p[1]));                                                                    \
    } catch (const Error&) {                                                                            \
    }                                                                                                   \
  }
        GRAFT_BINARY_OPS(BINARY_CASE)
#undef BINARY_CASE
        return v;
      },
      {Shape{3, 1, 5}, Shape{4, 5}}, -40, 40);
  EXPECT_EQ(ran, 13);
  // Division and powers: floats anywhere, integers with nonzero divisors and small exponents.
  for (DType t : kAll) {
    if (t == DType::Bool) continue;
    Graph g(std::string("divide_") + std::string(dtype_name(t)));
    Node a = g.parameter("a", t, {6, 7});
    Node b = g.parameter("b", t, {7});
    g.set_outputs({Div(a, b), Rem(a, b), Fmod(a, b), Pow(a, b)});
    Tensor av = random_tensor(t, Shape{6, 7}, rng_, is_unsigned_integer(t) ? 0 : -100, 100);
    std::vector<double> bs = random_tensor(t, Shape{7}, rng_, 1, 5).to_vector<double>();
    for (size_t i = 0; i < bs.size(); i += 2)
      if (is_signed_integer(t) || is_floating(t)) bs[i] = -bs[i];
    Tensor bv = Tensor::from_vector(bs, Shape{7}).cast(t);
    SCOPED_TRACE(g.name());
    expect_same(*gpu_, g, {av, bv});
  }
  // Shifts by negative amounts and by the bit width or more.
  Graph sh("shifts");
  Node a = sh.parameter("a", DType::I32, {8});
  Node s = sh.parameter("s", DType::I32, {8});
  sh.set_outputs({ShiftLeft(a, s), ShiftRight(a, s)});
  expect_same(*gpu_, sh,
              {Tensor::from_vector(std::vector<int32_t>{1, -1, 7, -8, 1 << 30, -5, 3, 3}),
               Tensor::from_vector(std::vector<int32_t>{0, 1, 31, 2, 32, 40, -1, 5})});
}

TEST_F(GpuOps, IntegerDivisionByZeroIsAnErrorNamingTheOp) {
  Graph g("div0");
  Node a = g.parameter("a", DType::I32, {4});
  Node b = g.parameter("b", DType::I32, {4});
  g.set_current_name("my_div");
  g.set_outputs({Div(a, b) + a});
  auto exe = gpu_->compile(g);
  try {
    exe->run({Tensor::from_vector(std::vector<int32_t>{1, 2, 3, 4}), Tensor::from_vector(std::vector<int32_t>{1, 0, 1, 1})});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Div \"my_div\": integer division by zero"), std::string::npos) << e.what();
  }
  // The executable is usable after the error.
  auto out = exe->run({Tensor::from_vector(std::vector<int32_t>{4, 4, 4, 4}), Tensor::from_vector(std::vector<int32_t>{2, 2, 2, 2})});
  EXPECT_EQ(out[0].to_vector<int32_t>(), (std::vector<int32_t>{6, 6, 6, 6}));
}

TEST_F(GpuOps, SelectConvertIota) {
  for (DType t : kAll) {
    Graph g(std::string("select_") + std::string(dtype_name(t)));
    Node p = g.parameter("p", DType::Bool, {2, 1, 5});
    Node a = g.parameter("a", t, {3, 5});
    Node b = g.parameter("b", t, {2, 3, 1});
    g.set_outputs({Select(p, a, b), Iota(g, t, Shape{3, 4}, 1)});
    expect_same(*gpu_, g, random_inputs(g, rng_, -50, 50));
  }
  for (DType from : kAll) {
    Graph g(std::string("convert_") + std::string(dtype_name(from)));
    Node x = g.parameter("x", from, {64});
    std::vector<Node> outs;
    for (DType to : kAll)
      if (to != from) outs.push_back(Convert(x, to));
    g.set_outputs(outs);
    // Out of every integer range, to see saturation and wrapping.
    expect_same(*gpu_, g, {random_tensor(from, Shape{64}, rng_, -70000, 70000)});
  }
  Graph g("convert_specials");
  Node x = g.parameter("x", DType::F32, {6});
  g.set_outputs({Convert(x, DType::I32), Convert(x, DType::U8), Convert(x, DType::I64), Convert(x, DType::Bool),
                 Convert(x, DType::F16), Convert(x, DType::BF16)});
  expect_same(*gpu_, g, {Tensor::from_vector(std::vector<float>{NAN, INFINITY, -INFINITY, 3e9f, -3e9f, 65520.f})});
}

TEST_F(GpuOps, LayoutOps) {
  Graph g("layout");
  Node x = g.parameter("x", DType::F32, {2, 3, 4, 5});
  Node s = g.parameter("s", DType::F32, {4, 1});
  Node i = g.parameter("i", DType::I16, {3, 4});
  g.set_outputs({
      BroadcastInDim(s, {2, 3, 4, 6}, {2, 3}),
      Reshape(x, {6, 20}),
      Transpose(x, {3, 1, 0, 2}),
      Transpose(i, {1, 0}),
      Slice(x, {1, 0, 1, 0}, {2, 3, 4, 5}, {1, 2, 2, 3}),
      Reverse(x, {1, 3}),
      Concatenate({x, x * 2.0, Slice(x, {0, 0, 0, 0}, {2, 3, 4, 2})}, 3),
      Concatenate({i, i}, 0),
  });
  expect_same(*gpu_, g, random_inputs(g, rng_));
  for (PadMode mode : {PadMode::Constant, PadMode::Reflect, PadMode::Edge, PadMode::Wrap}) {
    Graph p("pad_" + std::to_string(int(mode)));
    Node y = p.parameter("y", DType::F64, {3, 4, 5});
    Node v = p.parameter("v", DType::F64, {});
    p.set_outputs({Pad(y, {1, 0, 2}, {2, -1, 3}, mode, v), Pad(y, {0, 3, -2}, {1, 2, 0}, mode, v)});
    expect_same(*gpu_, p, random_inputs(p, rng_));
  }
}

TEST_F(GpuOps, DynamicSlices) {
  Graph g("dynamic");
  Node x = g.parameter("x", DType::BF16, {5, 6, 7});
  Node u = g.parameter("u", DType::BF16, {2, 3, 4});
  Node a = g.parameter("a", DType::I64, {});
  Node b = g.parameter("b", DType::I32, {});
  Node c = g.parameter("c", DType::I64, {});
  g.set_outputs({DynamicSlice(x, {a, b, c}, {2, 3, 4}), DynamicUpdateSlice(x, u, {c, a, b})});
  for (auto [av, bv, cv] : {std::tuple<int64_t, int32_t, int64_t>{1, 2, 3}, {-4, 9, 100}, {4, -1, 2}}) {
    std::vector<Tensor> in = random_inputs(g, rng_);
    in[2] = Tensor::scalar(av), in[3] = Tensor::scalar(bv), in[4] = Tensor::scalar(cv);
    expect_same(*gpu_, g, in);  // starts are clamped, as XLA does
  }
}

TEST_F(GpuOps, GatherAndScatter) {
  Graph g("gather_scatter");
  Node table = g.parameter("table", DType::F32, {10, 6});
  Node ids = g.parameter("ids", DType::I64, {3, 4});
  Node x = g.parameter("x", DType::F32, {4, 5});
  Node idx = g.parameter("idx", DType::I64, {4, 3});
  Node upd = g.parameter("upd", DType::F32, {4, 3});
  g.set_outputs({
      Take(table, ids, 0),
      Take(table, Reshape(Slice(ids, {0, 0}, {1, 4}), {4}), 1),
      TakeAlongAxis(x, idx, 1),
      ScatterAlongAxis(x, idx, upd, 1, ReduceOp::Sum),
      ScatterAlongAxis(x, idx, upd, 1, ReduceOp::Max),
      ScatterAlongAxis(x, idx, upd, 1, ReduceOp::Min),
      ScatterAlongAxis(x, idx, upd, 1, ReduceOp::Prod),
      ScatterAlongAxis(x, idx, upd, 1, ReduceOp::Replace),  // duplicate indices: the last one wins
  });
  std::vector<Tensor> in = random_inputs(g, rng_);
  in[1] = random_tensor(DType::I64, Shape{3, 4}, rng_, 0, 5);
  in[3] = random_tensor(DType::I64, Shape{4, 3}, rng_, 0, 4);
  expect_same(*gpu_, g, in);
  // Integer and 16-bit scatters go through compare-and-swap loops.
  for (DType t : {DType::I8, DType::U16, DType::I64, DType::F16, DType::BF16}) {
    Graph s(std::string("scatter_") + std::string(dtype_name(t)));
    Node y = s.parameter("y", t, {3, 8});
    Node k = s.parameter("k", DType::I64, {3, 5});
    Node v = s.parameter("v", t, {3, 5});
    s.set_outputs({ScatterAlongAxis(y, k, v, 1, ReduceOp::Sum), ScatterAlongAxis(y, k, v, 1, ReduceOp::Max),
                   ScatterAlongAxis(y, k, v, 1, ReduceOp::Replace)});
    std::vector<Tensor> sin = random_inputs(s, rng_, 0, 10);
    sin[1] = random_tensor(DType::I64, Shape{3, 5}, rng_, 0, 7);
    expect_same(*gpu_, s, sin, Tolerance{.f16 = 5e-3, .bf16 = 2e-2});
  }
}

TEST_F(GpuOps, OutOfRangeIndicesAreErrorsLikeTheCpus) {
  Graph g("bad_gather");
  Node table = g.parameter("table", DType::F32, {10, 6});
  Node ids = g.parameter("ids", DType::I64, {3});
  g.set_current_name("lookup");
  g.set_outputs({Take(table, ids, 0)});
  auto exe = gpu_->compile(g);
  try {
    exe->run({Tensor(DType::F32, Shape{10, 6}), Tensor::from_vector(std::vector<int64_t>{1, 12, 3})});
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("Gather \"lookup\""), std::string::npos) << m;
    EXPECT_NE(m.find("index 12 is out of range for axis 0 of extent 10"), std::string::npos) << m;
  }
}

TEST_F(GpuOps, Reductions) {
  Graph g("reduce");
  Node x = g.parameter("x", DType::F32, {4, 5, 6, 7});
  Node i = g.parameter("i", DType::I32, {4, 5, 6});
  Node h = g.parameter("h", DType::F16, {3, 1000});
  Node b = g.parameter("b", DType::Bool, {5, 6});
  g.set_outputs({
      ReduceSum(x, {3}), ReduceSum(x, {0}), ReduceSum(x, {1, 2}), ReduceSum(x, {0, 2}), ReduceSum(x, {}),
      ReduceMax(x, {1, 3}), ReduceMin(x, {2}), ReduceProd(x * 0.1 + 1.0, {3}), ReduceMean(x, {0, 1, 2}),
      ReduceSum(i, {1}), ReduceProd(i, {2}), ReduceMax(i, {0, 2}), ReduceMin(i, {}),
      ReduceSum(h, {1}), ReduceMax(h, {0}),
      ReduceAll(b, {0}), ReduceAny(b, {1}),
      ArgMax(x, 1), ArgMin(x, 3, false, true), ArgMax(i, 2, false, true),
      CumSum(x, 2), CumSum(x, 0, true, true), CumProd(x * 0.1 + 1.0, 3, false, true), CumSum(i, 1, true),
  });
  std::vector<Tensor> in = random_inputs(g, rng_, -3, 3);
  expect_same(*gpu_, g, in, Tolerance{.f16 = 5e-3});
  // Ties and NaN in arg-min/max: the first (or last) extreme, the first NaN.
  Graph a("argminmax");
  Node v = a.parameter("v", DType::F32, {2, 5});
  a.set_outputs({ArgMax(v, 1), ArgMax(v, 1, false, true), ArgMin(v, 1), ArgMin(v, 1, false, true), ReduceMax(v, {1})});
  expect_same(*gpu_, a, {Tensor::from_vector(std::vector<float>{1, 3, 3, -1, -1, 2, NAN, 5, NAN, 0}, Shape{2, 5})});
}

TEST_F(GpuOps, ProductsOnEveryPath) {
  Graph g("dots");
  Node a = g.parameter("a", DType::F32, {2, 3, 64, 48});
  Node b = g.parameter("b", DType::F32, {2, 3, 48, 40});
  Node w = g.parameter("w", DType::F32, {48, 40});
  Node at = g.parameter("at", DType::F32, {2, 48, 3, 64});
  g.set_outputs({
      MatMul(a, b),                                                   // batched
      MatMul(a, w),                                                   // [.., M, K] x [K, N]: one big product
      MatMul(a, Transpose(b, {0, 1, 3, 2}) * 1.0),                    // a transposed (materialized) operand
      DotGeneral(at, b, {{0, 2}, {0, 1}, {1}, {2}}),                 // batch/contract axes in other places
      DotGeneral(w, w, {{}, {}, {0}, {0}}),                           // both operands read transposed
  });
  expect_same(*gpu_, g, random_inputs(g, rng_));
  for (DType t : {DType::F16, DType::BF16, DType::F64, DType::I32, DType::I64, DType::U8}) {
    Graph d(std::string("dot_") + std::string(dtype_name(t)));
    Node x = d.parameter("x", t, {3, 17, 33});
    Node y = d.parameter("y", t, {3, 33, 9});
    d.set_outputs({MatMul(x, y)});
    expect_same(*gpu_, d, random_inputs(d, rng_, is_integer(t) ? 0 : -2, is_integer(t) ? 9 : 2), Tolerance{.f16 = 5e-3, .bf16 = 2e-2});
  }
  // int8 x uint8 -> int32, and 16-bit operands with an f32 result.
  Graph m("dot_mixed");
  Node x8 = m.parameter("x8", DType::I8, {5, 7});
  Node u8 = m.parameter("u8", DType::U8, {7, 3});
  Node xh = m.parameter("xh", DType::BF16, {5, 7});
  Node yh = m.parameter("yh", DType::BF16, {7, 3});
  m.set_outputs({DotGeneral(x8, u8, {{}, {}, {1}, {0}}, DType::I32), DotGeneral(xh, yh, {{}, {}, {1}, {0}}, DType::F32)});
  std::vector<Tensor> in = random_inputs(m, rng_, 0, 100);
  expect_same(*gpu_, m, in, Tolerance{.f32 = 1e-2});
}

TEST_F(GpuOps, ProductPrecisionPolicies) {
  Graph g("policies");
  Node a = g.parameter("a", DType::F32, {64, 256});
  Node w = g.constant(random_tensor(DType::F32, Shape{256, 128}, rng_));
  g.set_outputs({MatMul(a, w)});
  std::vector<Tensor> in = random_inputs(g, rng_);
  CompileOptions tf32;
  tf32.allow_tf32 = true;
  expect_same(*gpu_, g, in, Tolerance{.f32 = 5e-3, .atol = 1e-3}, tf32);
  CompileOptions bf16;
  bf16.precision = Precision::BF16;
  expect_same(*gpu_, g, in, Tolerance{.f32 = 3e-2, .atol = 3e-2}, bf16);
  CompileOptions f16;
  f16.precision = Precision::F16;
  expect_same(*gpu_, g, in, Tolerance{.f32 = 5e-3, .atol = 5e-3}, f16);
}

TEST_F(GpuOps, Convolutions) {
  struct Case {
    const char* name;
    Shape x, w;
    ConvolutionAttrs a;
  };
  std::vector<Case> cases = {
      {"conv2d_3x3", {2, 3, 9, 10}, {4, 3, 3, 3}, {.strides = {1, 1}, .pad_low = {1, 1}, .pad_high = {1, 1}}},
      {"conv2d_1x1", {3, 16, 7, 7}, {8, 16, 1, 1}, {}},
      {"conv2d_strided_dilated", {2, 4, 11, 12}, {6, 4, 3, 2}, {.strides = {2, 3}, .pad_low = {2, 0}, .pad_high = {1, 2}, .dilations = {2, 1}}},
      {"conv2d_groups", {2, 6, 8, 8}, {9, 2, 3, 3}, {.pad_low = {1, 1}, .pad_high = {1, 1}, .groups = 3}},
      {"conv2d_depthwise", {1, 8, 6, 6}, {8, 1, 3, 3}, {.strides = {2, 2}, .pad_low = {1, 1}, .pad_high = {0, 0}, .groups = 8}},
      {"conv1d", {2, 5, 20}, {7, 5, 4}, {.strides = {2}, .pad_low = {3}, .pad_high = {1}}},
      {"conv3d", {1, 2, 5, 6, 7}, {3, 2, 2, 3, 2}, {.pad_low = {1, 0, 1}, .pad_high = {0, 1, 1}}},
      {"deconv2d", {2, 4, 5, 6}, {4, 3, 3, 3}, {.strides = {2, 2}, .pad_low = {1, 1}, .pad_high = {1, 1}, .output_padding = {1, 0}, .transposed = true}},
      {"deconv1d_groups", {1, 4, 7}, {4, 2, 3}, {.strides = {3}, .dilations = {2}, .groups = 2, .transposed = true}},
  };
  for (const Case& c : cases)
    for (DType t : {DType::F32, DType::F16, DType::F64}) {
      Graph g(std::string(c.name) + "_" + std::string(dtype_name(t)));
      Node x = g.parameter("x", t, c.x);
      Node w = g.parameter("w", t, c.w);
      g.set_outputs({Convolution(x, w, c.a)});
      SCOPED_TRACE(g.name());
      expect_same(*gpu_, g, random_inputs(g, rng_), Tolerance{.f16 = 1e-2, .atol = 1e-4});
    }
}

TEST_F(GpuOps, WindowReductions) {
  Graph g("pools");
  Node x = g.parameter("x", DType::F32, {2, 3, 9, 8});
  Node i = g.parameter("i", DType::I32, {2, 3, 9, 8});
  g.set_outputs({
      MaxPool(x, {3, 3}, {2, 2}, {1, 1}, {1, 1}),
      AvgPool(x, {3, 2}, {2, 1}, {1, 0}, {1, 1}, false),
      AvgPool(x, {3, 2}, {2, 1}, {1, 0}, {1, 1}, true),
      MaxPool(x, {2, 2}, {1, 1}, {}, {}, {2, 3}),
      ReduceWindow(x, {.op = ReduceOp::Sum, .window = {1, 2, 1, 3}, .strides = {1, 1, 2, 2}}),
      MaxPool(i, {2, 3}), AvgPool(i, {3, 3}, {3, 3}, {1, 1}, {1, 1}),
  });
  expect_same(*gpu_, g, random_inputs(g, rng_, -50, 50));
}

TEST_F(GpuOps, SortAndTopK) {
  Graph g("sort");
  Node k = g.parameter("k", DType::F32, {4, 33});
  Node v = g.parameter("v", DType::I16, {4, 33});
  Node d = g.parameter("d", DType::F64, {6, 3, 5});
  Node i = g.parameter("i", DType::I64, {300});
  auto s1 = Sort({k, v}, 1);
  auto s2 = Sort({k, v}, 0, true);
  auto s3 = Sort({d}, 1, true);
  auto t1 = TopK(k, 5, 1, true);
  auto t2 = TopK(d, 3, 0, false);
  auto t3 = TopK(i, 300, 0, true);
  g.set_outputs({s1[0], s1[1], s2[0], s2[1], s3[0], t1.first, t1.second, t2.first, t2.second, t3.first, t3.second,
                 Sort({i})[0]});
  std::vector<Tensor> in = random_inputs(g, rng_, -3, 3);  // rounded ints: many ties
  // NaN, -0 and +0 among the keys.
  std::vector<float> kv = in[0].to_vector<float>();
  kv[3] = NAN, kv[10] = -0.0f, kv[11] = 0.0f, kv[40] = NAN, kv[41] = -INFINITY;
  in[0] = Tensor::from_vector(kv, Shape{4, 33});
  expect_same(*gpu_, g, in);
}

TEST_F(GpuOps, ControlFlow) {
  Graph then_b("then"), else_b("else");
  {
    Node a = then_b.parameter("a", DType::F32, {3});
    then_b.set_outputs({a * 2.0});
    Node b = else_b.parameter("a", DType::F32, {3});
    else_b.set_outputs({b - 1.0});
  }
  Graph cond("cond"), body("body");
  {
    Node i = cond.parameter("i", DType::I32, {});
    Node x = cond.parameter("x", DType::F32, {3});
    cond.set_outputs({Less(i, cond.scalar(int32_t(5)))});
    Node j = body.parameter("i", DType::I32, {});
    Node y = body.parameter("x", DType::F32, {3});
    body.set_outputs({j + body.scalar(int32_t(1)), y * 1.5 + 0.25});
    (void)x;
  }
  Graph g("control");
  Node p = g.parameter("p", DType::Bool, {});
  Node x = g.parameter("x", DType::F32, {3});
  Node n = g.parameter("n", DType::I32, {});
  Node r = If(p, then_b, else_b, {x})[0];
  auto w = While(cond, body, {n, r});
  g.set_outputs({r, w[0], w[1]});
  for (bool pv : {true, false})
    for (int32_t nv : {0, 3, 7})
      expect_same(*gpu_, g, {Tensor::scalar(pv), random_tensor(DType::F32, Shape{3}, rng_), Tensor::scalar(nv)});
}

TEST_F(GpuOps, CompositesExpandAndMatch) {
  Graph g("composites");
  Node x = g.parameter("x", DType::F32, {4, 7, 32});
  Node s = g.parameter("s", DType::F32, {32});
  Node b = g.parameter("b", DType::F32, {32});
  Node q = g.parameter("q", DType::F32, {2, 4, 7, 16});
  Node kk = g.parameter("k", DType::F32, {2, 4, 9, 16});
  Node v = g.parameter("v", DType::F32, {2, 4, 9, 16});
  g.set_outputs({Softmax(x, -1), LogSoftmax(x, 1), LayerNorm(x, s, b), RmsNorm(x, s), Gelu(x), Gelu(x, true), Silu(x),
                 ScaledDotProductAttention(q, kk, v), ScaledDotProductAttention(q, kk, v, std::nullopt, true)});
  expect_same(*gpu_, g, random_inputs(g, rng_), Tolerance{.atol = 1e-5});
}

TEST_F(GpuOps, DeviceTensorsGoInAndComeOut) {
  Graph g("io");
  Node x = g.parameter("x", DType::F32, {1000});
  Node y = g.parameter("y", DType::F32, {1000});
  g.set_outputs({x * y + 1.0, x});
  auto exe = gpu_->compile(g);
  Tensor a = random_tensor(DType::F32, Shape{1000}, rng_);
  Tensor b = random_tensor(DType::F32, Shape{1000}, rng_).to_device(gpu_->device());
  EXPECT_TRUE(b.is_on_device() && b.is_on_host());
  TransferCounters before = transfer_counters();
  std::vector<Tensor> out = exe->run({a, b});
  TransferCounters mid = transfer_counters();
  EXPECT_EQ(mid.to_device - before.to_device, 1u) << "only the host input is copied to the device";
  EXPECT_EQ(mid.to_host, before.to_host);
  EXPECT_EQ(out[0].device(), DeviceKind::CUDA);
  EXPECT_EQ(out[0].device_name(), "cuda:0");
  // Device results feed the next run without touching the host.
  std::vector<Tensor> again = exe->run({out[0], out[1]});
  EXPECT_EQ(transfer_counters().to_device, mid.to_device);
  EXPECT_EQ(transfer_counters().to_host, mid.to_host);
  const std::vector<float> av = a.to_vector<float>(), bv = b.to_vector<float>(), r = again[0].to_vector<float>();
  for (size_t i = 0; i < av.size(); ++i) ASSERT_FLOAT_EQ(r[i], (av[i] * bv[i] + 1.0f) * av[i] + 1.0f);
  EXPECT_EQ(transfer_counters().to_host - mid.to_host, 1u) << "one download, on first host access";
  // run_into writes into given tensors, host ones included (they become device tensors).
  std::vector<Tensor> into = {Tensor(DType::F32, Shape{1000}), Tensor(DType::F32, Shape{1000})};
  exe->run_into(std::vector<Tensor>{a, b}, into);
  EXPECT_FALSE(into[0].is_on_host());
  EXPECT_EQ(max_abs_diff(into[0], out[0]), 0.0);
}

}  // namespace
}  // namespace graft::gpu_test
