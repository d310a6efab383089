// Training-mode semantics of imported models: Dropout with a seeded mask, BatchNormalization with batch
// statistics and running-statistics outputs.
#include <cmath>

#include "onnx_test_util.h"

namespace graft::onnx {
namespace {

using testing::ModelBuilder;

// Traces `m` with `opts` (inputs in declaration order, all F32) and runs it on the CPU backend.
std::map<std::string, Tensor> run_traced(const Model& m, const std::vector<std::pair<std::string, Tensor>>& inputs,
                                         const TraceOptions& opts) {
  Graph g;
  std::map<std::string, Node> in;
  std::vector<Tensor> vals;
  for (const auto& [name, t] : inputs) {
    in[name] = g.parameter(name, t.dtype(), t.shape());
    vals.push_back(t);
  }
  auto res = m.trace(g, in, {}, opts);
  std::vector<std::string> names;
  std::vector<Node> outs;
  for (const auto& [name, n] : res.outputs) {
    names.push_back(name);
    outs.push_back(n);
  }
  g.set_outputs(outs);
  auto exe = cpu_backend()->compile(g);
  auto r = exe->run(std::span<const Tensor>(vals));
  std::map<std::string, Tensor> out;
  for (size_t i = 0; i < names.size(); ++i) out.emplace(names[i], r[i]);
  return out;
}

ModelBuilder dropout_model(int64_t opset, double ratio, bool with_training_input, bool training_value = true) {
  ModelBuilder b(opset);
  b.input("x", DType::F32, {int64_t(200), int64_t(100)});
  b.output("y", DType::F32);
  b.output("mask", DType::Bool);
  std::vector<std::string> ins{"x"};
  if (opset >= 12) {
    b.initializer("ratio", Tensor::scalar(float(ratio)));
    ins.push_back("ratio");
    if (with_training_input) {
      b.initializer("training", Tensor::scalar(training_value));
      ins.push_back("training");
    }
  }
  auto& n = b.node("Dropout", ins, {"y", "mask"}, "drop");
  if (opset < 12) ModelBuilder::attr(n, "ratio", ratio);
  return b;
}

Tensor ones_plus(Shape s) {
  Tensor t = testing::random_tensor(s, 7, 1.0f, 2.0f);
  return t;
}

TEST(OnnxTrainingMode, DropoutStatisticsAndScaling) {
  for (double ratio : {0.1, 0.5, 0.8}) {
    Model m = dropout_model(17, ratio, false).model();
    TraceOptions o;
    o.training = true;
    o.seed = 1234;
    Tensor x = ones_plus({200, 100});
    auto out = run_traced(m, {{"x", x}}, o);
    auto y = out.at("y").span<float>();
    auto mask = out.at("mask").span<bool>();
    auto xv = x.span<float>();
    int64_t kept = 0;
    for (size_t i = 0; i < y.size(); ++i) {
      if (mask[i]) {
        ++kept;
        ASSERT_NEAR(y[i], xv[i] / (1.0 - ratio), 1e-5 * std::abs(y[i]) + 1e-6) << "element " << i;
      } else {
        ASSERT_EQ(y[i], 0.f) << "element " << i;
      }
    }
    double n = double(y.size());
    double frac = double(kept) / n;
    double sd = std::sqrt(ratio * (1 - ratio) / n);
    EXPECT_NEAR(frac, 1 - ratio, 5 * sd) << "ratio " << ratio;
    // Neighbouring elements are not correlated: P(both kept) is close to (1 - ratio)^2.
    int64_t both = 0;
    for (size_t i = 0; i + 1 < y.size(); ++i) both += mask[i] && mask[i + 1];
    EXPECT_NEAR(double(both) / (n - 1), (1 - ratio) * (1 - ratio), 0.02);
  }
}

TEST(OnnxTrainingMode, DropoutIsDeterministicForASeed) {
  Model m = dropout_model(17, 0.5, false).model();
  Tensor x = ones_plus({200, 100});
  TraceOptions o;
  o.training = true;
  o.seed = 42;
  auto a = run_traced(m, {{"x", x}}, o);
  auto b = run_traced(m, {{"x", x}}, o);
  EXPECT_EQ(max_abs_diff(a.at("y"), b.at("y")), 0.0);
  o.seed = 43;
  auto c = run_traced(m, {{"x", x}}, o);
  int64_t differ = 0;
  auto ma = a.at("mask").span<bool>(), mc = c.at("mask").span<bool>();
  for (size_t i = 0; i < ma.size(); ++i) differ += ma[i] != mc[i];
  EXPECT_GT(differ, int64_t(ma.size() / 4));  // about half differ for an independent mask

  // A seed node (the step number fed at run time) gives a fresh mask per step from one trace.
  Graph g;
  Node xn = g.parameter("x", DType::F32, {200, 100});
  Node step = g.parameter("step", DType::U64, {});
  TraceOptions os;
  os.training = true;
  os.seed = 42;
  os.seed_node = step;
  auto res = m.trace(g, {{"x", xn}}, {"mask"}, os);
  g.set_outputs({res.outputs.at("mask")});
  auto exe = cpu_backend()->compile(g);
  Tensor m0 = exe->run({x, Tensor::scalar(uint64_t(0))})[0].clone();
  Tensor m0b = exe->run({x, Tensor::scalar(uint64_t(0))})[0].clone();
  Tensor m1 = exe->run({x, Tensor::scalar(uint64_t(1))})[0].clone();
  EXPECT_EQ(max_abs_diff(Tensor(m0), m0b), 0.0);
  differ = 0;
  for (size_t i = 0; i < size_t(m0.size()); ++i) differ += m0.span<bool>()[i] != m1.span<bool>()[i];
  EXPECT_GT(differ, m0.size() / 4);
}

TEST(OnnxTrainingMode, DropoutEvalModeIsIdentity) {
  Tensor x = ones_plus({200, 100});
  // Default options: inference.
  for (int64_t opset : {10, 13}) {
    auto out = run_traced(dropout_model(opset, 0.5, false).model(), {{"x", x}}, {});
    EXPECT_EQ(max_abs_diff(out.at("y"), x), 0.0);
    for (bool k : out.at("mask").span<bool>()) ASSERT_TRUE(k);
  }
  // An explicit training_mode=false wins over TraceOptions::training.
  TraceOptions o;
  o.training = true;
  auto out = run_traced(dropout_model(13, 0.5, true, false).model(), {{"x", x}}, o);
  EXPECT_EQ(max_abs_diff(out.at("y"), x), 0.0);
  // training_mode=true in the model drops without TraceOptions::training.
  out = run_traced(dropout_model(13, 0.5, true, true).model(), {{"x", x}}, {});
  EXPECT_GT(max_abs_diff(out.at("y"), x), 0.5);
  // Opset 10 honours TraceOptions::training too (the ratio attribute).
  out = run_traced(dropout_model(10, 0.5, false).model(), {{"x", x}}, o);
  EXPECT_GT(max_abs_diff(out.at("y"), x), 0.5);
}

TEST(OnnxTrainingMode, BatchNormTrainingMatchesReference) {
  const int64_t N = 3, C = 4, H = 2, W = 5;
  const double eps = 1e-3, momentum = 0.8;
  Tensor x = testing::random_tensor({N, C, H, W}, 11, -2, 3);
  Tensor scale = testing::random_tensor({C}, 12, 0.5, 1.5), bias = testing::random_tensor({C}, 13);
  Tensor mean = testing::random_tensor({C}, 14), var = testing::random_tensor({C}, 15, 0.5, 2);
  auto build = [&](int64_t opset, bool attr_training) {
    ModelBuilder b(opset);
    b.input("x", DType::F32, {N, C, H, W});
    b.initializer("scale", scale);
    b.initializer("bias", bias);
    b.initializer("mean", mean);
    b.initializer("var", var);
    b.output("y", DType::F32);
    b.output("running_mean", DType::F32);
    b.output("running_var", DType::F32);
    auto& n = b.node("BatchNormalization", {"x", "scale", "bias", "mean", "var"}, {"y", "running_mean", "running_var"}, "bn");
    ModelBuilder::attr(n, "epsilon", eps);
    ModelBuilder::attr(n, "momentum", momentum);
    if (attr_training) ModelBuilder::attr(n, "training_mode", int64_t(1));
    return b.model();
  };
  // Plain-loop reference.
  std::vector<double> bm(size_t(C), 0), bv(size_t(C), 0);
  const int64_t per = N * H * W;
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t n = 0; n < N; ++n)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w) bm[size_t(c)] += x.at<float>({n, c, h, w});
    bm[size_t(c)] /= double(per);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w) {
          double d = x.at<float>({n, c, h, w}) - bm[size_t(c)];
          bv[size_t(c)] += d * d;
        }
    bv[size_t(c)] /= double(per);
  }
  auto check = [&](const std::map<std::string, Tensor>& out) {
    const Tensor& y = out.at("y");
    ASSERT_EQ(y.shape(), x.shape());
    for (int64_t c = 0; c < C; ++c) {
      double s = scale.span<float>()[size_t(c)], b = bias.span<float>()[size_t(c)];
      for (int64_t n = 0; n < N; ++n)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t w = 0; w < W; ++w) {
            double want = (x.at<float>({n, c, h, w}) - bm[size_t(c)]) / std::sqrt(bv[size_t(c)] + eps) * s + b;
            ASSERT_NEAR(y.at<float>({n, c, h, w}), want, 1e-4);
          }
      EXPECT_NEAR(out.at("running_mean").span<float>()[size_t(c)],
                  mean.span<float>()[size_t(c)] * momentum + bm[size_t(c)] * (1 - momentum), 1e-5);
      EXPECT_NEAR(out.at("running_var").span<float>()[size_t(c)],
                  var.span<float>()[size_t(c)] * momentum + bv[size_t(c)] * (1 - momentum), 1e-5);
    }
  };
  check(run_traced(build(15, true), {{"x", x}}, {}));
  TraceOptions o;
  o.training = true;
  check(run_traced(build(15, false), {{"x", x}}, o));
  // Inference (opset 15, no training_mode) uses the running statistics.
  ModelBuilder inf(15);
  inf.input("x", DType::F32, {N, C, H, W});
  inf.initializer("scale", scale);
  inf.initializer("bias", bias);
  inf.initializer("mean", mean);
  inf.initializer("var", var);
  inf.output("y", DType::F32);
  inf.node("BatchNormalization", {"x", "scale", "bias", "mean", "var"}, {"y"});
  auto y = run_traced(inf.model(), {{"x", x}}, {}).at("y");
  double want = (x.at<float>({0, 0, 0, 0}) - mean.span<float>()[0]) / std::sqrt(var.span<float>()[0] + 1e-5) *
                    scale.span<float>()[0] + bias.span<float>()[0];
  EXPECT_NEAR(y.at<float>({0, 0, 0, 0}), want, 1e-4);
}

}  // namespace
}  // namespace graft::onnx
