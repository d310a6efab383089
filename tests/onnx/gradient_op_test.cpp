// ai.onnx.preview.training Gradient: derivatives computed by graft's autodiff against central finite
// differences of the same function written out in double precision here (an independent reference).
#include <gtest/gtest.h>

#include <cmath>

#include "onnx/onnx_test_util.h"

using namespace graft;
using namespace graft::onnx;
namespace gtesting = graft::onnx::testing;
using gtesting::ModelBuilder;

namespace {

void strings_attr(::onnx::NodeProto& n, const std::string& name, const std::vector<std::string>& values) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::STRINGS);
  for (const auto& v : values) a->add_strings(v);
}

constexpr int64_t kRows = 2, kIn = 3, kOut = 2;

// y = sum(tanh(x @ W) * z), t = tanh(x @ W); Gradient of `y_name` by x (an input) and W (an initializer),
// with z read by y but not differentiated (zs).
Model gradient_model(const Tensor& w, const std::string& y_name) {
  ModelBuilder m(13);
  m.import("ai.onnx.preview.training", 1);
  m.input("x", DType::F32, {kRows, kIn});
  m.input("z", DType::F32, {kRows, kOut});
  m.initializer("W", w);
  m.node("MatMul", {"x", "W"}, {"h"});
  m.node("Tanh", {"h"}, {"t"});
  m.node("Mul", {"t", "z"}, {"p"});
  auto& sum = m.node("ReduceSum", {"p"}, {"y"});
  ModelBuilder::attr(sum, "keepdims", int64_t(0));
  auto& g = m.node("Gradient", {"x", "W", "z"}, {"dx", "dW"}, "grad", "ai.onnx.preview.training");
  strings_attr(g, "xs", {"x", "W"});
  strings_attr(g, "zs", {"z"});
  ModelBuilder::attr(g, "y", y_name);
  m.output("y", DType::F32);
  m.output("dx", DType::F32);
  m.output("dW", DType::F32);
  return m.model();
}

// The reference: sum over the elements of y (y itself, or t = tanh(x @ W) for a non-scalar y).
double reference(const std::vector<double>& x, const std::vector<double>& w, const std::vector<double>& z,
                 bool scalar_y) {
  double s = 0;
  for (int64_t i = 0; i < kRows; ++i)
    for (int64_t j = 0; j < kOut; ++j) {
      double h = 0;
      for (int64_t k = 0; k < kIn; ++k) h += x[size_t(i * kIn + k)] * w[size_t(k * kOut + j)];
      s += std::tanh(h) * (scalar_y ? z[size_t(i * kOut + j)] : 1.0);
    }
  return s;
}

std::vector<double> as_double(const Tensor& t) {
  std::vector<double> v;
  for (float f : t.to_vector<float>()) v.push_back(f);
  return v;
}

// Central differences of `reference` by each element of x (wrt_w false) or W.
std::vector<double> finite_differences(std::vector<double> x, std::vector<double> w, const std::vector<double>& z,
                                       bool scalar_y, bool wrt_w) {
  std::vector<double>& v = wrt_w ? w : x;
  std::vector<double> d;
  const double h = 1e-6;
  for (double& e : v) {
    double keep = e;
    e = keep + h;
    double up = reference(x, w, z, scalar_y);
    e = keep - h;
    double down = reference(x, w, z, scalar_y);
    e = keep;
    d.push_back((up - down) / (2 * h));
  }
  return d;
}

void expect_near_all(const Tensor& got, const std::vector<double>& want, const char* what) {
  std::vector<float> g = got.to_vector<float>();
  ASSERT_EQ(g.size(), want.size()) << what;
  for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], want[i], 1e-5 + 1e-4 * std::abs(want[i])) << what << "[" << i << "]";
}

class GradientOp : public ::testing::TestWithParam<bool> {};

TEST_P(GradientOp, MatchesFiniteDifferences) {
  bool scalar_y = GetParam();
  Tensor w = gtesting::random_tensor(Shape{kIn, kOut}, 11), x = gtesting::random_tensor(Shape{kRows, kIn}, 12),
         z = gtesting::random_tensor(Shape{kRows, kOut}, 13);
  auto out = gtesting::run_model(gradient_model(w, scalar_y ? "y" : "t"), {{"x", x}, {"z", z}});
  EXPECT_EQ(out.at("dx").shape(), x.shape());
  EXPECT_EQ(out.at("dW").shape(), w.shape());
  auto xd = as_double(x), wd = as_double(w), zd = as_double(z);
  EXPECT_NEAR(out.at("y").item<float>(), reference(xd, wd, zd, true), 1e-5);
  expect_near_all(out.at("dx"), finite_differences(xd, wd, zd, scalar_y, false), "dx");
  expect_near_all(out.at("dW"), finite_differences(xd, wd, zd, scalar_y, true), "dW");
}
INSTANTIATE_TEST_SUITE_P(ScalarAndTensorY, GradientOp, ::testing::Bool());

TEST(GradientOpErrors, NameTheNodeAndTheValue) {
  auto expect_error = [](const std::function<void(::onnx::NodeProto&)>& edit, const std::string& want) {
    ModelBuilder m(13);
    m.import("ai.onnx.preview.training", 1);
    m.input("a", DType::F32, {int64_t(2)});
    m.input("k", DType::I64, {int64_t(2)});
    m.node("Neg", {"a"}, {"b"});
    auto& g = m.node("Gradient", {"a"}, {"da"}, "grad", "ai.onnx.preview.training");
    edit(g);
    m.output("da", DType::F32);
    try {
      gtesting::run_model(m.model(), {{"a", Tensor::from_vector(std::vector<float>{1, 2})},
                                     {"k", Tensor::from_vector(std::vector<int64_t>{1, 2})}});
      FAIL() << "expected an error containing: " << want;
    } catch (const Error& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find("Gradient \"grad\""), std::string::npos) << msg;
      EXPECT_NE(msg.find(want), std::string::npos) << msg;
    }
  };
  expect_error([](auto& g) { strings_attr(g, "xs", {"a"}); ModelBuilder::attr(g, "y", "nope"); },
               "y 'nope' is not a value of the graph");
  expect_error([](auto& g) { ModelBuilder::attr(g, "y", "b"); }, "attribute 'xs'");
  expect_error([](auto& g) { strings_attr(g, "xs", {"a", "b"}); ModelBuilder::attr(g, "y", "b"); },
               "takes the 2 tensors of xs");
  expect_error([](auto& g) { strings_attr(g, "xs", {"a"}); ModelBuilder::attr(g, "y", "k"); },
               "must be floating point");
}

}  // namespace
