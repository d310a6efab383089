// Converters, one small model per op, against values computed independently here.
#include <cmath>
#include <functional>

#include "onnx_test_util.h"

namespace graft::onnx {
namespace {

using testing::ModelBuilder;
using namespace testing::ops;

Tensor i64(std::vector<int64_t> v) { return Tensor::from_vector(v); }
Tensor i64(std::vector<int64_t> v, Shape s) { return Tensor::from_vector(v, s); }
Tensor f32(std::vector<float> v, Shape s) { return Tensor::from_vector(v, s); }

void expect_close(const Tensor& got, const Tensor& want, double tol = 1e-5) {
  ASSERT_EQ(got.shape(), want.shape()) << got.str() << " vs " << want.str();
  ASSERT_EQ(got.dtype(), want.dtype()) << got.str() << " vs " << want.str();
  EXPECT_LE(max_abs_diff(got, want), tol) << got.str() << "\nvs\n" << want.str();
}

// ---- element-wise ----

TEST(OnnxOps, ElementwiseBroadcastAndActivations) {
  Tensor x = f32({-2, -0.5, 0, 0.5, 1, 3}, {2, 3});
  Tensor y = f32({1, 2, 3}, {3});
  auto map = [&](const Tensor& t, auto f) {
    std::vector<float> v = t.to_vector<float>();
    for (auto& e : v) e = float(f(double(e)));
    return Tensor::from_vector(v, t.shape());
  };
  expect_close(run1("Add", {{"x", x}, {"y", y}}), f32({-1, 1.5, 3, 1.5, 3, 6}, {2, 3}));
  expect_close(run1("Sub", {{"x", x}, {"y", y}}), f32({-3, -2.5, -3, -0.5, -1, 0}, {2, 3}));
  expect_close(run1("Relu", {{"x", x}}), map(x, [](double v) { return v > 0 ? v : 0; }));
  expect_close(run1("Sigmoid", {{"x", x}}), map(x, [](double v) { return 1 / (1 + std::exp(-v)); }));
  expect_close(run1("Erf", {{"x", x}}), map(x, [](double v) { return std::erf(v); }));
  expect_close(run1("Tanh", {{"x", x}}), map(x, [](double v) { return std::tanh(v); }));
  expect_close(run1("LeakyRelu", {{"x", x}}, [](auto& n) { ModelBuilder::attr(n, "alpha", 0.1); }),
               map(x, [](double v) { return v < 0 ? 0.1 * v : v; }));
  expect_close(run1("Elu", {{"x", x}}), map(x, [](double v) { return v < 0 ? std::exp(v) - 1 : v; }));
  expect_close(run1("Softplus", {{"x", x}}), map(x, [](double v) { return std::log(1 + std::exp(v)); }));
  expect_close(run1("HardSwish", {{"x", x}}),
               map(x, [](double v) { return v * std::clamp(v / 6 + 0.5, 0.0, 1.0); }));
  expect_close(run1("Gelu", {{"x", x}}, {}, 20),
               map(x, [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }));
  expect_close(run1("Pow", {{"x", x}, {"e", Tensor::scalar(2.0f), true}}), map(x, [](double v) { return v * v; }));
  expect_close(run1("Pow", {{"x", f32({4, 9}, {2})}, {"e", f32({0.5, 2}, {2})}}), f32({2, 81}, {2}));
  expect_close(run1("Clip", {{"x", x}, {"lo", Tensor::scalar(-1.0f), true}, {"hi", Tensor::scalar(0.75f), true}}),
               map(x, [](double v) { return std::clamp(v, -1.0, 0.75); }));
  expect_close(run1("Clip", {{"x", x}}, [](auto& n) { ModelBuilder::attr(n, "min", 0.0); }, 6),
               map(x, [](double v) { return std::max(v, 0.0); }));
  expect_close(run1("Where", {{"c", Tensor({true, false, true})}, {"x", y}, {"y", x}}),
               f32({1, -0.5, 3, 1, 1, 3}, {2, 3}));
  expect_close(run1("Equal", {{"a", i64({1, 2, 3})}, {"b", i64({1, 5, 3})}}), Tensor({true, false, true}));
  expect_close(run1("Mod", {{"a", i64({7, -7, 7, -7})}, {"b", i64({3, 3, -3, -3})}}), i64({1, 2, -2, -1}));
  expect_close(run1("Mod", {{"a", i64({7, -7})}, {"b", i64({3, 3})}}, [](auto& n) { ModelBuilder::attr(n, "fmod", 1); }),
               i64({1, -1}));
  expect_close(run1("Mean", {{"a", y}, {"b", f32({3, 2, 1}, {3})}}), f32({2, 2, 2}, {3}));
  expect_close(run1("Max", {{"a", x}, {"b", y}, {"c", Tensor::scalar(2.5f)}}),
               f32({2.5, 2.5, 3, 2.5, 2.5, 3}, {2, 3}));
}

TEST(OnnxOps, CastFollowsOnnxRules) {
  Tensor x = f32({-1.7f, 2.5f, 0.f, 300.f}, {4});
  expect_close(run1("Cast", {{"x", x}}, [](auto& n) { ModelBuilder::attr(n, "to", int64_t(::onnx::TensorProto::INT64)); }),
               i64({-1, 2, 0, 300}));
  expect_close(run1("Cast", {{"x", x}}, [](auto& n) { ModelBuilder::attr(n, "to", int64_t(::onnx::TensorProto::BOOL)); }),
               Tensor({true, true, false, true}));
  expect_close(run1("CastLike", {{"x", i64({1, 2})}, {"like", f32({0}, {1})}}), f32({1, 2}, {2}));
}

// ---- products and normalization ----

TEST(OnnxOps, MatMulGemmAndEinsum) {
  Tensor a = f32({1, 2, 3, 4, 5, 6}, {2, 3}), b = f32({1, 0, 2, 1, 0, 3}, {3, 2});
  Tensor ab = f32({1 + 4, 2 + 3 * 3, 4 + 10, 8 + 18}, {2, 2});  // rows of a times columns of b
  ab = f32({1 * 1 + 2 * 2 + 3 * 0, 1 * 0 + 2 * 1 + 3 * 3, 4 * 1 + 5 * 2 + 6 * 0, 4 * 0 + 5 * 1 + 6 * 3}, {2, 2});
  expect_close(run1("MatMul", {{"a", a}, {"b", b}}), ab);
  // Gemm with transB, alpha, beta and a broadcast bias.
  Tensor bt = f32({1, 2, 0, 0, 1, 3}, {2, 3});  // b transposed
  Tensor c = f32({10, 20}, {2});
  auto gemm = run1("Gemm", {{"a", a}, {"b", bt}, {"c", c}}, [](auto& n) {
    ModelBuilder::attr(n, "transB", 1);
    ModelBuilder::attr(n, "alpha", 2.0);
    ModelBuilder::attr(n, "beta", 0.5);
  });
  expect_close(gemm, f32({2 * 5 + 5, 2 * 11 + 10, 2 * 14 + 5, 2 * 23 + 10}, {2, 2}));
  expect_close(run1("Einsum", {{"a", a}, {"b", b}}, [](auto& n) { ModelBuilder::attr(n, "equation", "ij,jk->ik"); }), ab);
  expect_close(run1("Einsum", {{"a", a}}, [](auto& n) { ModelBuilder::attr(n, "equation", "ij->ji"); }),
               f32({1, 4, 2, 5, 3, 6}, {3, 2}));
  expect_close(run1("Einsum", {{"a", a}}, [](auto& n) { ModelBuilder::attr(n, "equation", "ij->i"); }),
               f32({6, 15}, {2}));
  // Batched, with an ellipsis.
  Tensor q = testing::random_tensor(Shape{2, 3, 4}, 1), k = testing::random_tensor(Shape{2, 5, 4}, 2);
  Tensor got = run1("Einsum", {{"q", q}, {"k", k}}, [](auto& n) { ModelBuilder::attr(n, "equation", "...qd,...kd->...qk"); });
  ASSERT_EQ(got.shape(), (Shape{2, 3, 5}));
  for (int bb = 0; bb < 2; ++bb)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 5; ++j) {
        double s = 0;
        for (int d = 0; d < 4; ++d) s += q.at<float>({bb, i, d}) * k.at<float>({bb, j, d});
        EXPECT_NEAR(got.at<float>({bb, i, j}), s, 1e-5);
      }
  // A letter repeated within one operand takes the diagonal: "ii->i", the trace "ii", "iji->j".
  Tensor sq = f32({1, 2, 3, 4, 5, 6, 7, 8, 9}, {3, 3});
  expect_close(run1("Einsum", {{"a", sq}}, [](auto& n) { ModelBuilder::attr(n, "equation", "ii->i"); }),
               f32({1, 5, 9}, {3}));
  expect_close(run1("Einsum", {{"a", sq}}, [](auto& n) { ModelBuilder::attr(n, "equation", "ii"); }), Tensor::scalar(15.0f));
  Tensor cube = f32({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {2, 3, 2});  // a[i][j][k] = 6i + 2j + k
  expect_close(run1("Einsum", {{"a", cube}}, [](auto& n) { ModelBuilder::attr(n, "equation", "iji->j"); }),
               f32({0 + 7, 2 + 9, 4 + 11}, {3}));
}

TEST(OnnxOps, SoftmaxAndLayerNorm) {
  Tensor x = f32({1, 2, 3, -1, 0, 5}, {2, 3});
  std::vector<float> want(6);
  for (int r = 0; r < 2; ++r) {
    double s = 0;
    for (int j = 0; j < 3; ++j) s += std::exp(x.at<float>({r, j}));
    for (int j = 0; j < 3; ++j) want[size_t(r * 3 + j)] = float(std::exp(x.at<float>({r, j})) / s);
  }
  expect_close(run1("Softmax", {{"x", x}}), f32(want, {2, 3}));
  expect_close(run1("Softmax", {{"x", x}}, {}, 11), f32(want, {2, 3}));
  std::vector<float> logw(want);
  for (auto& v : logw) v = std::log(v);
  expect_close(run1("LogSoftmax", {{"x", x}}), f32(logw, {2, 3}));

  Tensor scale = f32({1, 2, 0.5}, {3}), bias = f32({0, 1, -1}, {3});
  std::vector<float> ln(6);
  for (int r = 0; r < 2; ++r) {
    double mean = 0, var = 0;
    for (int j = 0; j < 3; ++j) mean += x.at<float>({r, j}) / 3.0;
    for (int j = 0; j < 3; ++j) var += std::pow(x.at<float>({r, j}) - mean, 2) / 3.0;
    for (int j = 0; j < 3; ++j)
      ln[size_t(r * 3 + j)] =
          float((x.at<float>({r, j}) - mean) / std::sqrt(var + 1e-5) * scale.at<float>({j}) + bias.at<float>({j}));
  }
  expect_close(run1("LayerNormalization", {{"x", x}, {"s", scale}, {"b", bias}}), f32(ln, {2, 3}), 1e-4);
}

// ---- shapes: the known-value path ----

TEST(OnnxOps, ShapeSubgraphsAreEvaluatedWhileTracing) {
  // x: [batch, 6] -> Reshape(x, concat(shape(x)[0], [2], [-1])) -> [batch, 2, 3]
  ModelBuilder b(14);
  b.input("x", DType::F32, {std::string("batch"), int64_t(6)});
  b.output("y", DType::F32);
  b.node("Shape", {"x"}, {"s"});
  b.constant("zero", Tensor::scalar(int64_t(0)));
  auto& g = b.node("Gather", {"s", "zero"}, {"batch"});
  ModelBuilder::attr(g, "axis", 0);
  b.constant("axes0", i64({0}));
  b.node("Unsqueeze", {"batch", "axes0"}, {"batch1"});
  b.constant("two", i64({2}));
  b.constant("minus1", i64({-1}));
  auto& cat = b.node("Concat", {"batch1", "two", "minus1"}, {"target"});
  ModelBuilder::attr(cat, "axis", 0);
  b.node("Reshape", {"x", "target"}, {"y"});
  Model m = b.model();
  InferenceSession s(m);
  Tensor x = testing::random_tensor(Shape{4, 6}, 3);
  Tensor y = s.run({{"x", x}}).at("y");
  EXPECT_EQ(y.shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(max_abs_diff(y.reshape(Shape{4, 6}), x), 0.0);
}

TEST(OnnxOps, ReshapeTargetFedAsInputSpecializesOnItsValue) {
  ModelBuilder b(14);
  b.input("x", DType::F32, {int64_t(6)});
  b.input("shape", DType::I64, {int64_t(2)});
  b.output("y", DType::F32);
  b.node("Reshape", {"x", "shape"}, {"y"});
  InferenceSession s(b.model());
  Tensor x = f32({1, 2, 3, 4, 5, 6}, {6});
  EXPECT_EQ(s.run({{"x", x}, {"shape", i64({2, 3})}}).at("y").shape(), (Shape{2, 3}));
  EXPECT_EQ(s.run({{"x", x}, {"shape", i64({3, 2})}}).at("y").shape(), (Shape{3, 2}));
  EXPECT_EQ(s.run({{"x", x}, {"shape", i64({3, 2})}}).at("y").shape(), (Shape{3, 2}));
  EXPECT_EQ(s.stats().compiles, 2);
}

TEST(OnnxOps, ReshapeSqueezeUnsqueezeFlattenTranspose) {
  Tensor x = testing::random_tensor(Shape{2, 1, 3}, 4);
  EXPECT_EQ(run1("Reshape", {{"x", x}, {"s", i64({0, -1}), true}}).shape(), (Shape{2, 3}));
  EXPECT_EQ(run1("Squeeze", {{"x", x}, {"a", i64({1}), true}}).shape(), (Shape{2, 3}));
  EXPECT_EQ(run1("Squeeze", {{"x", x}}).shape(), (Shape{2, 3}));
  EXPECT_EQ(run1("Squeeze", {{"x", x}}, [](auto& n) { ModelBuilder::attr(n, "axes", std::vector<int64_t>{1}); }, 11).shape(),
            (Shape{2, 3}));
  EXPECT_EQ(run1("Unsqueeze", {{"x", x}, {"a", i64({0, -1}), true}}).shape(), (Shape{1, 2, 1, 3, 1}));
  EXPECT_EQ(run1("Flatten", {{"x", x}}, [](auto& n) { ModelBuilder::attr(n, "axis", 2); }).shape(), (Shape{2, 3}));
  Tensor t = run1("Transpose", {{"x", x}}, [](auto& n) { ModelBuilder::attr(n, "perm", std::vector<int64_t>{2, 0, 1}); });
  ASSERT_EQ(t.shape(), (Shape{3, 2, 1}));
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_EQ(t.at<float>({j, i, 0}), x.at<float>({i, 0, j}));
}

TEST(OnnxOps, SliceFollowsOnnxClamping) {
  Tensor x = f32({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {10});
  auto slice = [&](std::vector<int64_t> st, std::vector<int64_t> en, std::vector<int64_t> steps) {
    return run1("Slice", {{"x", x}, {"s", i64(st), true}, {"e", i64(en), true}, {"a", i64({0}), true},
                          {"p", i64(steps), true}});
  };
  expect_close(slice({2}, {5}, {1}), f32({2, 3, 4}, {3}));
  expect_close(slice({-3}, {INT64_MAX}, {1}), f32({7, 8, 9}, {3}));
  expect_close(slice({1}, {100}, {3}), f32({1, 4, 7}, {3}));
  expect_close(slice({-1}, {INT64_MIN}, {-1}), f32({9, 8, 7, 6, 5, 4, 3, 2, 1, 0}, {10}));
  expect_close(slice({8}, {1}, {-3}), f32({8, 5, 2}, {3}));
  expect_close(slice({20}, {-20}, {-4}), f32({9, 5, 1}, {3}));
  expect_close(slice({5}, {2}, {1}), f32({}, {0}));
  // 2-D, axes implicit, opset 9 attributes.
  Tensor m = f32({0, 1, 2, 3, 4, 5}, {2, 3});
  expect_close(run1("Slice", {{"m", m}}, [](auto& n) {
                 ModelBuilder::attr(n, "starts", std::vector<int64_t>{1, 1});
                 ModelBuilder::attr(n, "ends", std::vector<int64_t>{2, 3});
               }, 9),
               f32({4, 5}, {1, 2}));
}

TEST(OnnxOps, ConcatSplitExpandTilePad) {
  Tensor a = f32({1, 2, 3, 4}, {2, 2}), b = f32({5, 6}, {2, 1});
  expect_close(run1("Concat", {{"a", a}, {"b", b}}, [](auto& n) { ModelBuilder::attr(n, "axis", -1); }),
               f32({1, 2, 5, 3, 4, 6}, {2, 3}));
  auto parts = run_op("Split", {{"x", f32({0, 1, 2, 3, 4}, {5})}, {"s", i64({2, 3}), true}}, {}, 17, 2);
  expect_close(parts[0], f32({0, 1}, {2}));
  expect_close(parts[1], f32({2, 3, 4}, {3}));
  auto thirds = run_op("Split", {{"x", f32({0, 1, 2, 3, 4}, {5})}},
                       [](auto& n) { ModelBuilder::attr(n, "num_outputs", 3); }, 18, 3);
  expect_close(thirds[2], f32({4}, {1}));
  expect_close(run1("Expand", {{"x", f32({1, 2}, {2, 1})}, {"s", i64({2, 3}), true}}), f32({1, 1, 1, 2, 2, 2}, {2, 3}));
  expect_close(run1("Expand", {{"x", f32({1, 2, 3}, {3})}, {"s", i64({2, 1}), true}}), f32({1, 2, 3, 1, 2, 3}, {2, 3}));
  expect_close(run1("Tile", {{"x", a}, {"r", i64({1, 2}), true}}), f32({1, 2, 1, 2, 3, 4, 3, 4}, {2, 4}));
  expect_close(run1("Pad", {{"x", f32({1, 2}, {1, 2})}, {"p", i64({0, 1, 1, 0}), true}, {"v", Tensor::scalar(9.f), true}}),
               f32({9, 1, 2, 9, 9, 9}, {2, 3}));
  expect_close(run1("Pad", {{"x", f32({1, 2, 3}, {3})}, {"p", i64({2, 1}), true}},
                    [](auto& n) { ModelBuilder::attr(n, "mode", "reflect"); }),
               f32({3, 2, 1, 2, 3, 2}, {6}));
}

TEST(OnnxOps, ConstantOfShapeRangeAndWhere) {
  Tensor v = Tensor::from_vector(std::vector<int64_t>{7}, Shape{1});
  expect_close(run1("ConstantOfShape", {{"s", i64({2, 2}), true}}, [&](auto& n) { ModelBuilder::attr(n, "value", v); }),
               i64({7, 7, 7, 7}, {2, 2}));
  expect_close(run1("Range", {{"a", Tensor::scalar(int64_t(1)), true}, {"b", Tensor::scalar(int64_t(10)), true},
                              {"c", Tensor::scalar(int64_t(3)), true}}),
               i64({1, 4, 7}));
  expect_close(run1("Range", {{"a", Tensor::scalar(1.f), true}, {"b", Tensor::scalar(0.f), true},
                              {"c", Tensor::scalar(-0.25f), true}}),
               f32({1, 0.75, 0.5, 0.25}, {4}));
}

// ---- indexing ----

TEST(OnnxOps, GatherFamily) {
  Tensor table = f32({0, 1, 10, 11, 20, 21}, {3, 2});
  expect_close(run1("Gather", {{"t", table}, {"i", i64({2, 0, -1, 1}, {2, 2})}}),
               f32({20, 21, 0, 1, 20, 21, 10, 11}, {2, 2, 2}));
  expect_close(run1("Gather", {{"t", table}, {"i", i64({1})}}, [](auto& n) { ModelBuilder::attr(n, "axis", 1); }),
               f32({1, 11, 21}, {3, 1}));
  expect_close(run1("GatherElements", {{"t", table}, {"i", i64({1, 0, 0, 0, 1, 1}, {3, 2})}}),
               f32({10, 1, 0, 1, 10, 11}, {3, 2}));  // out[i][j] = t[idx[i][j]][j]
  expect_close(run1("GatherND", {{"t", table}, {"i", i64({2, 1, 0, 0}, {2, 2})}}), f32({21, 0}, {2}));
  expect_close(run1("ScatterElements", {{"t", table}, {"i", i64({1}, {1, 1})}, {"u", f32({-5}, {1, 1})}},
                    [](auto& n) { ModelBuilder::attr(n, "axis", 1); }),
               f32({0, -5, 10, 11, 20, 21}, {3, 2}));
  expect_close(run1("ScatterND", {{"t", table}, {"i", i64({1}, {1, 1})}, {"u", f32({7, 8}, {1, 2})}}),
               f32({0, 1, 7, 8, 20, 21}, {3, 2}));
  expect_close(run1("OneHot", {{"i", i64({0, 2, -1})}, {"d", Tensor::scalar(int64_t(3)), true}, {"v", f32({0, 5}, {2})}}),
               f32({5, 0, 0, 0, 0, 5, 0, 0, 5}, {3, 3}));
  auto tk = run_op("TopK", {{"x", f32({3, 1, 4, 1, 5, 9}, {6})}, {"k", i64({2}), true}}, {}, 17, 2);
  expect_close(tk[0], f32({9, 5}, {2}));
  expect_close(tk[1], i64({5, 4}));
  expect_close(run1("Trilu", {{"x", f32({1, 2, 3, 4, 5, 6, 7, 8, 9}, {3, 3})}}),
               f32({1, 2, 3, 0, 5, 6, 0, 0, 9}, {3, 3}));
}

// ---- reductions ----

TEST(OnnxOps, Reductions) {
  Tensor x = f32({1, 2, 3, 4, 5, 6}, {2, 3});
  expect_close(run1("ReduceSum", {{"x", x}, {"a", i64({1}), true}}), f32({6, 15}, {2, 1}));
  expect_close(run1("ReduceMean", {{"x", x}}, [](auto& n) {
                 ModelBuilder::attr(n, "axes", std::vector<int64_t>{-1});
                 ModelBuilder::attr(n, "keepdims", 0);
               }, 14),
               f32({2, 5}, {2}));
  expect_close(run1("ReduceMean", {{"x", x}, {"a", i64({0}), true}}, {}, 18), f32({2.5, 3.5, 4.5}, {1, 3}));
  expect_close(run1("ReduceMax", {{"x", x}}, [](auto& n) { ModelBuilder::attr(n, "keepdims", 0); }),
               Tensor::scalar(6.f));
  expect_close(run1("ReduceL2", {{"x", x}, {"a", i64({1}), true}}, {}, 18),
               f32({float(std::sqrt(14.0)), float(std::sqrt(77.0))}, {2, 1}));
  expect_close(run1("ReduceLogSumExp", {{"x", x}, {"a", i64({1}), true}}, {}, 18),
               f32({float(std::log(std::exp(1) + std::exp(2) + std::exp(3))),
                    float(std::log(std::exp(4) + std::exp(5) + std::exp(6)))},
                   {2, 1}));
  expect_close(run1("ArgMax", {{"x", x}}, [](auto& n) { ModelBuilder::attr(n, "axis", 1); }), i64({2, 2}, {2, 1}));
}

}  // namespace
}  // namespace graft::onnx
