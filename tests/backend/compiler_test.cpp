// The compile pipeline: fusion, memory planning, in-place reuse, folding, CSE, output aliasing, Exec.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>

#include "test_util.h"

using namespace graft;
using graft::testing::random_tensor;

namespace {
std::unique_ptr<Executable> compile(const std::function<std::vector<Node>(Graph&)>& build, CompileOptions o = {}) {
  Graph g;
  g.set_outputs(build(g));
  return cpu_backend()->compile(g, o);
}
}  // namespace

TEST(Compiler, FusesElementwiseChainAndMatchesUnfused) {
  auto build = [](Graph& g) {
    Node x = g.parameter("x", DType::F32, {64, 384});
    Node b = g.parameter("b", DType::F32, {384});
    Node y = x + b;
    Node gelu_tanh = y * 0.5 * (Tanh((y + y * y * y * 0.044715) * 0.7978845608) + 1.0);
    return std::vector<Node>{gelu_tanh * 2.0 - y};
  };
  CompileOptions unfused;
  unfused.fuse_elementwise = false;
  auto fused = compile(build);
  auto plain = compile(build, unfused);
  EXPECT_EQ(fused->stats().num_fused_groups, 1);
  EXPECT_EQ(fused->stats().num_kernels, 1);
  EXPECT_GT(plain->stats().num_kernels, 5);
  Tensor x = random_tensor(DType::F32, {64, 384}, 1), b = random_tensor(DType::F32, {384}, 2);
  Tensor a = fused->run({x, b})[0], c = plain->run({x, b})[0];
  EXPECT_LT(max_abs_diff(a, c), 1e-5);
  // And both against a plain loop.
  for (int64_t i = 0; i < 64; i += 7)
    for (int64_t j = 0; j < 384; j += 13) {
      double y = double(x.at<float>({i, j})) + b.at<float>({j});
      double g = y * 0.5 * (std::tanh((y + y * y * y * 0.044715) * 0.7978845608) + 1.0);
      EXPECT_NEAR(a.at<float>({i, j}), g * 2 - y, 1e-5);
    }
}

TEST(Compiler, FusedGroupWithSeveralOutputs) {
  auto exe = compile([](Graph& g) {
    Node x = g.parameter("x", DType::F32, {1000});
    Node e = Exp(x);
    Node s = e + 1.0;
    Node r = ReduceSum(e);  // e escapes the group into a reduction
    return std::vector<Node>{s * 2.0, r, e};
  });
  Tensor x = random_tensor(DType::F32, {1000}, 4);
  auto out = exe->run({x});
  double sum = 0;
  for (int64_t i = 0; i < 1000; ++i) {
    double e = std::exp(double(x.data<float>()[i]));
    sum += e;
    EXPECT_NEAR(out[0].data<float>()[i], (e + 1) * 2, 1e-5 * (e + 1) * 2);
    EXPECT_NEAR(out[2].data<float>()[i], e, 1e-5 * e);
  }
  EXPECT_NEAR(out[1].item<float>(), sum, 1e-4 * sum);
}

TEST(Compiler, MemoryPlanReusesBuffers) {
  // A long chain of non-fusible ops (transposes): only two intermediates live at a time.
  auto exe = compile([](Graph& g) {
    Node x = g.parameter("x", DType::F32, {128, 128});
    Node y = x;
    for (int i = 0; i < 10; ++i) y = Transpose(y * 1.5, {1, 0});
    return std::vector<Node>{y};
  }, [] {
    CompileOptions o;
    o.simplify = false;
    return o;
  }());
  const ExecutableStats& s = exe->stats();
  EXPECT_GT(s.naive_bytes, 0u);
  EXPECT_LE(s.arena_bytes * 4, s.naive_bytes) << "arena " << s.arena_bytes << " naive " << s.naive_bytes;
  Tensor x = random_tensor(DType::F32, {128, 128}, 5);
  Tensor y = exe->run({x})[0];
  double f = std::pow(1.5, 10);
  EXPECT_NEAR(y.at<float>({3, 7}), x.at<float>({3, 7}) * f, 1e-3);
  // Repeated runs give the same answer (no state leaks between runs).
  EXPECT_EQ(max_abs_diff(exe->run({x})[0], y), 0);
}

TEST(Compiler, ConstantFoldingAndCse) {
  auto exe = compile([](Graph& g) {
    Node x = g.parameter("x", DType::F32, {4});
    Node c = Exp(g.constant(Tensor{0.f, 1.f, 2.f, 3.f}));  // folded
    Node a = Sin(x) + c;
    Node b = Sin(x) + c;  // same as a: merged
    return std::vector<Node>{a * b};
  });
  EXPECT_EQ(exe->stats().num_kernels, 1);  // everything left fuses into one kernel
  Tensor x{0.5f, 1.f, 1.5f, 2.f};
  Tensor y = exe->run({x})[0];
  for (int i = 0; i < 4; ++i) {
    double v = std::sin(double(x.data<float>()[i])) + std::exp(double(i));
    EXPECT_NEAR(y.data<float>()[i], v * v, 1e-4 * v * v);
  }
}

TEST(Compiler, OutputsThatAliasInputsOrEachOther) {
  auto exe = compile([](Graph& g) {
    Node x = g.parameter("x", DType::F32, {3});
    Node r = Reshape(x, {3, 1});
    Node y = x * 2.0;
    return std::vector<Node>{x, r, y, y, g.constant(Tensor{7.f})};
  });
  Tensor x{1.f, 2.f, 3.f};
  auto out = exe->run({x});
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[0].to_vector<float>(), x.to_vector<float>());
  EXPECT_NE(out[0].raw(), x.raw());  // outputs never alias the caller's inputs
  EXPECT_EQ(out[1].shape(), (Shape{3, 1}));
  EXPECT_EQ(out[2].to_vector<float>(), (std::vector<float>{2, 4, 6}));
  EXPECT_EQ(out[3].to_vector<float>(), (std::vector<float>{2, 4, 6}));
  EXPECT_NE(out[2].raw(), out[3].raw());
  EXPECT_EQ(out[4].to_vector<float>(), (std::vector<float>{7}));
  x.data<float>()[0] = 100;  // the results do not change with the input afterwards
  EXPECT_EQ(out[0].data<float>()[0], 1.f);
}

TEST(Compiler, InputValidation) {
  auto exe = compile([](Graph& g) {
    Node x = g.parameter("tokens", DType::I64, {2, 3});
    return std::vector<Node>{x + x};
  });
  try {
    exe->run({Tensor(DType::F32, {2, 3})});
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("tokens"), std::string::npos) << m;
    EXPECT_NE(m.find("int64[2, 3]"), std::string::npos) << m;
  }
  EXPECT_THROW(exe->run({}), Error);
  EXPECT_THROW(exe->run({Tensor(DType::I64, {3, 2})}), Error);
}

TEST(Compiler, CompilesAThousandNodeGraphQuickly) {
  Graph g;
  Node x = g.parameter("x", DType::F32, {16, 64});
  Node w = g.parameter("w", DType::F32, {64, 64});
  Node y = x;
  int ops = 0;
  while (g.num_ops() < 1000) {
    y = Tanh(MatMul(y, w) * 0.5 + y);
    y = Reshape(Transpose(Reshape(y, {16, 8, 8}), {0, 2, 1}), {16, 64});
    ++ops;
  }
  g.set_outputs({y});
  auto t0 = std::chrono::steady_clock::now();
  auto exe = cpu_backend()->compile(g);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("compile of a %d-op graph: %.1f ms (%d kernels)\n", g.num_ops(), ms, exe->stats().num_kernels);
  Tensor out = exe->run({random_tensor(DType::F32, {16, 64}, 1, -0.1, 0.1), random_tensor(DType::F32, {64, 64}, 2, -0.1, 0.1)})[0];
  EXPECT_EQ(out.shape(), (Shape{16, 64}));
  EXPECT_GT(ops, 50);
}

TEST(Exec, CachesPerSignatureWithBoundedLru) {
  auto f = Exec(cpu_backend(), [](Node x) { return ReduceSum(x * x); }, /*cache_capacity=*/2);
  EXPECT_FLOAT_EQ(f(Tensor{1.f, 2.f}).item<float>(), 5.f);
  EXPECT_FLOAT_EQ(f(Tensor{3.f, 4.f}).item<float>(), 25.f);
  EXPECT_EQ(f.num_compilations(), 1);
  EXPECT_FLOAT_EQ(f(Tensor{1.f, 2.f, 2.f}).item<float>(), 9.f);
  EXPECT_FLOAT_EQ(f(Tensor{1.0, 1.0}).item<double>(), 2.0);
  EXPECT_EQ(f.num_compilations(), 3);
  EXPECT_EQ(f.cache_size(), 2u);
  f(Tensor{1.f, 2.f});  // evicted earlier: compiled again
  EXPECT_EQ(f.num_compilations(), 4);
  auto g = Exec(cpu_backend(), [](Node a, Node b) { return std::vector<Node>{a + b, a - b}; });
  auto outs = g.call({Tensor{5.f}, Tensor{3.f}});
  EXPECT_EQ(outs[0].item<float>(), 8.f);
  EXPECT_EQ(outs[1].item<float>(), 2.f);
  EXPECT_THROW(g.call({Tensor{5.f}}), Error);  // wrong number of arguments
}

TEST(Compiler, MatMulAbsorbsBiasAndActivation) {
  Tensor x = random_tensor(DType::F32, {2, 5, 16}, 11), w = random_tensor(DType::F32, {16, 24}, 12);
  Tensor b = random_tensor(DType::F32, {24}, 13);
  for (int act = 0; act < 3; ++act) {
    Graph g;
    Node xn = g.parameter("x", DType::F32, x.shape()), wn = g.parameter("w", DType::F32, w.shape());
    Node bn = g.parameter("b", DType::F32, b.shape());
    Node y = MatMul(xn, wn) + bn;
    if (act == 1) y = Gelu(y, /*tanh_approximation=*/true);
    if (act == 2) y = Gelu(y);
    g.set_outputs({y});
    auto exe = cpu_backend()->compile(g);
    EXPECT_EQ(exe->stats().num_fused_epilogues, 1);
    Tensor out = exe->run({x, w, b})[0];
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t s = 0; s < 5; ++s)
        for (int64_t j = 0; j < 24; ++j) {
          double v = b.at<float>({j});
          for (int64_t k = 0; k < 16; ++k) v += double(x.at<float>({i, s, k})) * w.at<float>({k, j});
          if (act == 1) v = 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
          if (act == 2) v = 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
          ASSERT_NEAR(out.at<float>({i, s, j}), v, 1e-4) << "activation " << act;
        }
  }
}

TEST(Compiler, RunIntoPreallocatedOutputs) {
  auto exe = compile([](Graph& g) {
    Node w = g.parameter("w", DType::F32, {4});
    Node grad = g.parameter("g", DType::F32, {4});
    return std::vector<Node>{w - grad * 0.5, ReduceSum(w * w), w};
  });
  Tensor w{1.f, 2.f, 3.f, 4.f}, grad{2.f, 2.f, 2.f, 2.f};
  std::vector<Tensor> outs = {Tensor(DType::F32, {4}), Tensor(DType::F32, {}), Tensor(DType::F32, {4})};
  const void* where = outs[0].raw();
  std::vector<Tensor> ins = {w, grad};
  exe->run_into(ins, outs);
  EXPECT_EQ(outs[0].raw(), where);  // written in place
  EXPECT_EQ(outs[0].to_vector<float>(), (std::vector<float>{0.f, 1.f, 2.f, 3.f}));
  EXPECT_EQ(outs[1].item<float>(), 30.f);
  EXPECT_EQ(outs[2].to_vector<float>(), w.to_vector<float>());
  // Double buffering: the next step reads the result and writes into the old input.
  std::vector<Tensor> ins2 = {outs[0], grad};
  std::vector<Tensor> outs2 = {w, Tensor(DType::F32, {}), Tensor(DType::F32, {4})};
  exe->run_into(ins2, outs2);
  EXPECT_EQ(w.to_vector<float>(), (std::vector<float>{-1.f, 0.f, 1.f, 2.f}));
  // An output that is also an input is refused, as are wrong types.
  std::vector<Tensor> bad = {grad, Tensor(DType::F32, {}), Tensor(DType::F32, {4})};
  EXPECT_THROW(exe->run_into(ins, bad), Error);
  std::vector<Tensor> wrong = {Tensor(DType::F64, {4}), Tensor(DType::F32, {}), Tensor(DType::F32, {4})};
  EXPECT_THROW(exe->run_into(ins, wrong), Error);
}

// Add(dot_a, dot_b) where one product has a single row (so it looks like a bias of the other): only one
// product may absorb the Add, and the other must still be computed.
TEST(Compiler, SumOfTwoSingleRowProducts) {
  auto exe = compile([](Graph& g) {
    Node a = g.parameter("a", DType::F32, {1, 3}), b = g.parameter("b", DType::F32, {3, 4});
    Node c = g.parameter("c", DType::F32, {1, 2}), d = g.parameter("d", DType::F32, {2, 4});
    return std::vector<Node>{MatMul(a, b) + MatMul(c, d)};
  });
  Tensor a{{1.f, 2.f, 3.f}}, b = random_tensor(DType::F32, {3, 4}, 1), c{{-1.f, 0.5f}}, d = random_tensor(DType::F32, {2, 4}, 2);
  Tensor y = exe->run({a, b, c, d})[0];
  for (int64_t j = 0; j < 4; ++j) {
    double want = 0;
    for (int64_t k = 0; k < 3; ++k) want += double(a.at<float>({0, k})) * b.at<float>({k, j});
    for (int64_t k = 0; k < 2; ++k) want += double(c.at<float>({0, k})) * d.at<float>({k, j});
    EXPECT_NEAR(y.at<float>({0, j}), want, 1e-5);
  }
}
