// The ONNX-level pattern fusion (src/onnx/fusion.cpp): primitive LayerNorm and exact-GELU chains become
// graft composites while tracing; patterns with outside consumers or mismatched constants stay primitive.
#include <cmath>

#include "onnx_test_util.h"

namespace graft::onnx {
namespace {

using testing::ModelBuilder;

constexpr int64_t kRows = 3, kHidden = 8;

Tensor scalar(float v) { return Tensor::from_vector(std::vector<float>{v}, Shape{}); }

// Composite ops named `name` in the traced graph.
int count_composites(const Model& m, const std::string& name) {
  Graph g("fusion_test");
  Node x = g.parameter("x", DType::F32, Shape{kRows, kHidden});
  m.trace(g, {{"x", x}});
  int n = 0;
  for (const Op& op : g.ops())
    if (op.kind == OpKind::Composite && std::get<CompositeAttrs>(op.attrs).name() == name) ++n;
  return n;
}

std::vector<float> values(const Tensor& t) {
  std::vector<float> v(size_t(t.size()));
  for (int64_t i = 0; i < t.size(); ++i) v[size_t(i)] = float(t.value_as_double(i));
  return v;
}

void expect_near(const std::vector<float>& got, const std::vector<float>& want, float tol = 1e-5f) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "at " << i;
}

// ---- LayerNorm -----------------------------------------------------------------------------------------

struct LnOptions {
  int64_t opset = 14;
  bool square_with_mul = false;    // Mul(d, d) instead of Pow(d, 2)
  bool swap_operands = false;      // Add(eps, var), Mul(gamma, .), Add(beta, .)
  bool constant_nodes = false;     // eps as a Constant node
  bool extra_consumer = false;     // the centered value is also a graph output
  float eps = 1e-5f;
  float pow = 2.0f;
};

Tensor gamma_t() { return testing::random_tensor(Shape{kHidden}, 11, 0.5f, 1.5f); }
Tensor beta_t() { return testing::random_tensor(Shape{kHidden}, 12); }

ModelBuilder layer_norm_model(const LnOptions& o) {
  ModelBuilder b(o.opset);
  b.input("x", DType::F32, {kRows, kHidden});
  b.initializer("gamma", gamma_t());
  b.initializer("beta", beta_t());
  b.initializer("two", scalar(o.pow));
  if (o.constant_nodes)
    b.constant("eps", scalar(o.eps));
  else
    b.initializer("eps", scalar(o.eps));
  auto reduce = [&](const std::string& in, const std::string& out) {
    if (o.opset >= 18) {
      b.initializer("axes", Tensor::from_vector(std::vector<int64_t>{-1}, Shape{1}));
      b.node("ReduceMean", {in, "axes"}, {out});
    } else {
      auto& n = b.node("ReduceMean", {in}, {out});
      ModelBuilder::attr(n, "axes", std::vector<int64_t>{-1});
    }
  };
  reduce("x", "mean");
  b.node("Sub", {"x", "mean"}, {"d"});
  if (o.square_with_mul)
    b.node("Mul", {"d", "d"}, {"sq"});
  else
    b.node("Pow", {"d", "two"}, {"sq"});
  if (o.opset >= 18) {
    b.node("ReduceMean", {"sq", "axes"}, {"var"});
  } else {
    auto& n = b.node("ReduceMean", {"sq"}, {"var"});
    ModelBuilder::attr(n, "axes", std::vector<int64_t>{-1});
  }
  b.node("Add", o.swap_operands ? std::vector<std::string>{"eps", "var"} : std::vector<std::string>{"var", "eps"}, {"ve"});
  b.node("Sqrt", {"ve"}, {"sd"});
  b.node("Div", {"d", "sd"}, {"n"});
  b.node("Mul", o.swap_operands ? std::vector<std::string>{"gamma", "n"} : std::vector<std::string>{"n", "gamma"}, {"s"});
  b.node("Add", o.swap_operands ? std::vector<std::string>{"beta", "s"} : std::vector<std::string>{"s", "beta"}, {"y"});
  b.output("y", DType::F32, {kRows, kHidden});
  if (o.extra_consumer) b.output("d", DType::F32, {kRows, kHidden});
  return b;
}

std::vector<float> layer_norm_reference(const Tensor& x, float eps, float pow) {
  auto xv = values(x), g = values(gamma_t()), bt = values(beta_t());
  std::vector<float> out(xv.size());
  for (int64_t r = 0; r < kRows; ++r) {
    const float* row = &xv[size_t(r * kHidden)];
    double mean = 0, var = 0;
    for (int64_t i = 0; i < kHidden; ++i) mean += row[i];
    mean /= kHidden;
    for (int64_t i = 0; i < kHidden; ++i) var += std::pow(row[i] - mean, double(pow));
    var /= kHidden;
    for (int64_t i = 0; i < kHidden; ++i)
      out[size_t(r * kHidden + i)] = float((row[i] - mean) / std::sqrt(var + eps) * g[size_t(i)] + bt[size_t(i)]);
  }
  return out;
}

void check_layer_norm(const LnOptions& o, int want_composites) {
  Model m = layer_norm_model(o).model();
  EXPECT_EQ(count_composites(m, "layer_norm"), want_composites);
  Tensor x = testing::random_tensor(Shape{kRows, kHidden}, 7, -3, 3);
  auto out = testing::run_model(m, {{"x", x}});
  expect_near(values(out.at("y")), layer_norm_reference(x, o.eps, o.pow), 1e-4f);
  // The model itself still lists the original ops.
  for (const auto& u : m.unsupported_ops()) ADD_FAILURE() << "unsupported: " << u.str();
}

TEST(OnnxFusion, LayerNormFuses) { check_layer_norm({}, 1); }
TEST(OnnxFusion, LayerNormFusesMulSquareSwappedOperandsConstantNode) {
  LnOptions o;
  o.square_with_mul = true;
  o.swap_operands = true;
  o.constant_nodes = true;
  o.eps = 1e-12f;
  check_layer_norm(o, 1);
}
TEST(OnnxFusion, LayerNormFusesAxesAsInput) {
  LnOptions o;
  o.opset = 18;
  check_layer_norm(o, 1);
}
TEST(OnnxFusion, LayerNormIntermediateUsedTwiceDoesNotFuse) {
  LnOptions o;
  o.extra_consumer = true;
  check_layer_norm(o, 0);
  Tensor x = testing::random_tensor(Shape{kRows, kHidden}, 7, -3, 3);
  auto out = testing::run_model(layer_norm_model(o).model(), {{"x", x}});
  ASSERT_TRUE(out.count("d"));
}
TEST(OnnxFusion, LayerNormWrongExponentDoesNotFuse) {
  LnOptions o;
  o.pow = 4.0f;  // not a variance: must stay primitive
  check_layer_norm(o, 0);
}

// ---- GELU ----------------------------------------------------------------------------------------------

enum class GeluForm { HalfLast, HalfOnX, HalfOnErf, MulBySqrtHalf };

struct GeluOptions {
  GeluForm form = GeluForm::HalfLast;
  bool constant_nodes = false;
  bool swap_operands = false;
  float sqrt2 = float(M_SQRT2);
  bool extra_consumer = false;  // the Erf output is also a graph output
};

ModelBuilder gelu_model(const GeluOptions& o) {
  ModelBuilder b(14);
  b.input("x", DType::F32, {kRows, kHidden});
  auto k = [&](const std::string& name, float v) {
    if (o.constant_nodes)
      b.constant(name, scalar(v));
    else
      b.initializer(name, scalar(v));
  };
  k("one", 1.0f);
  k("half", 0.5f);
  auto bin = [&](const std::string& op, std::string a, std::string c, const std::string& out) {
    if (o.swap_operands && op != "Div") std::swap(a, c);
    b.node(op, {a, c}, {out});
  };
  if (o.form == GeluForm::MulBySqrtHalf) {
    k("rsqrt2", float(M_SQRT1_2));
    bin("Mul", "x", "rsqrt2", "t");
  } else {
    k("sqrt2", o.sqrt2);
    bin("Div", "x", "sqrt2", "t");
  }
  b.node("Erf", {"t"}, {"e"});
  bin("Add", "e", "one", "e1");
  switch (o.form) {
    case GeluForm::HalfLast:
    case GeluForm::MulBySqrtHalf:
      bin("Mul", "x", "e1", "p");
      bin("Mul", "p", "half", "y");
      break;
    case GeluForm::HalfOnX:
      bin("Mul", "x", "half", "h");
      bin("Mul", "h", "e1", "y");
      break;
    case GeluForm::HalfOnErf:
      bin("Mul", "e1", "half", "h");
      bin("Mul", "x", "h", "y");
      break;
  }
  b.output("y", DType::F32, {kRows, kHidden});
  if (o.extra_consumer) b.output("e", DType::F32, {kRows, kHidden});
  return b;
}

std::vector<float> gelu_reference(const Tensor& x, float sqrt2) {
  std::vector<float> out;
  for (float v : values(x)) out.push_back(float(0.5 * v * (1.0 + std::erf(v / double(sqrt2)))));
  return out;
}

void check_gelu(const GeluOptions& o, int want_composites) {
  Model m = gelu_model(o).model();
  EXPECT_EQ(count_composites(m, "gelu"), want_composites);
  Tensor x = testing::random_tensor(Shape{kRows, kHidden}, 5, -4, 4);
  auto out = testing::run_model(m, {{"x", x}});
  expect_near(values(out.at("y")), gelu_reference(x, o.sqrt2), 1e-5f);
}

TEST(OnnxFusion, GeluFuses) { check_gelu({}, 1); }
TEST(OnnxFusion, GeluFusesAllForms) {
  for (GeluForm f : {GeluForm::HalfOnX, GeluForm::HalfOnErf, GeluForm::MulBySqrtHalf})
    for (bool cn : {false, true})
      for (bool swap : {false, true}) {
        SCOPED_TRACE(::testing::Message() << "form " << int(f) << " constant nodes " << cn << " swapped " << swap);
        GeluOptions o;
        o.form = f;
        o.constant_nodes = cn;
        o.swap_operands = swap;
        check_gelu(o, 1);
      }
}
TEST(OnnxFusion, GeluIntermediateUsedTwiceDoesNotFuse) {
  GeluOptions o;
  o.extra_consumer = true;
  check_gelu(o, 0);
}
TEST(OnnxFusion, GeluWrongConstantDoesNotFuse) {
  GeluOptions o;
  o.sqrt2 = 1.5f;
  check_gelu(o, 0);
}

// Fusion is internal to tracing: the model's ops and its op list are unchanged.
TEST(OnnxFusion, ModelKeepsOriginalOps) {
  Model m = gelu_model({}).model();
  EXPECT_TRUE(m.unsupported_ops().empty());
  for (const auto& op : supported_ops())
    if (op.domain == "graft.fused") EXPECT_FALSE(op.note.empty());
}

}  // namespace
}  // namespace graft::onnx
