// Which imported weights train: float initializers of rank >= 1 read as data (not scalars, integers,
// BatchNormalization statistics, values only shape computations read), and select_trainable's
// --trainable / --freeze regexes over initializer names.
#include <gtest/gtest.h>

#include "graft/train/losses.h"
#include "graft/train/onnx_bridge.h"
#include "graft/train/train_step.h"
#include "onnx/onnx_test_util.h"

using namespace graft;
using namespace graft::train;
namespace gonnx = graft::onnx;

namespace {

// y = Reshape((x @ W + b) * scale, shape): W [4, 3], b [3], scale a float scalar, shape int64 [2].
gonnx::Model scaled_linear() {
  gonnx::testing::ModelBuilder m(17);
  m.input("x", DType::F32, {std::string("batch"), int64_t(4)});
  m.initializer("W", gonnx::testing::random_tensor(Shape{4, 3}, 7));
  m.initializer("b", Tensor::from_vector(std::vector<float>{0.1f, -0.2f, 0.3f}));
  m.initializer("scale", Tensor::scalar<float>(0.5f));
  m.initializer("shape", Tensor::from_vector(std::vector<int64_t>{-1, 3}));
  m.node("MatMul", {"x", "W"}, {"xw"});
  m.node("Add", {"xw", "b"}, {"z"});
  m.node("Mul", {"z", "scale"}, {"s"});
  m.node("Reshape", {"s", "shape"}, {"y"});
  m.output("y", DType::F32, {std::string("batch"), int64_t(3)});
  return m.model();
}

TEST(Trainable, WeightsOfRankOneOrMoreTrainScalarsAndIntegersDoNot) {
  gonnx::Model model = scaled_linear();
  Context ctx;
  EXPECT_EQ(variables_to_context(model, ctx), 4);
  EXPECT_TRUE(ctx.at("/W").trainable);
  EXPECT_TRUE(ctx.at("/b").trainable);
  EXPECT_FALSE(ctx.at("/scale").trainable);  // an exporter's constant, not a weight
  EXPECT_FALSE(ctx.at("/shape").trainable);
  EXPECT_EQ(ctx.num_elements(true), 12 + 3);

  // Training moves W and b and leaves the scalar as it was.
  LossFn loss = [&](GraphVariables& vars, const std::vector<Node>& batch) {
    Node y = call_with_variables(model, vars, {{"x", batch[0]}}, {"y"}).at("y");
    return std::vector<Node>{MseLoss(y, batch[1])};
  };
  TrainStep step(ctx, loss, SGD(), ConstantLR(0.1));
  Tensor x = gonnx::testing::random_tensor(Shape{5, 4}, 3), t = gonnx::testing::random_tensor(Shape{5, 3}, 4);
  Tensor w0 = ctx.value("/W").clone();
  float first = step.step({x, t}), later = first;
  for (int i = 0; i < 5; ++i) later = step.step({x, t});
  EXPECT_LT(later, first);
  EXPECT_EQ(ctx.value("/scale").item<float>(), 0.5f);
  EXPECT_NE(ctx.value("/W").to_vector<float>(), w0.to_vector<float>());
}

TEST(Trainable, RegexesChooseByInitializerName) {
  gonnx::Model model = scaled_linear();
  Context ctx;
  Context scoped = ctx.in("model");
  variables_to_context(model, scoped);
  ctx.variable("/head/w", Tensor::zeros(DType::F32, {3, 2}));  // no origin: left alone
  EXPECT_EQ(select_trainable(ctx, {"W|scale"}), 1);  // a scalar never trains
  EXPECT_TRUE(ctx.at("/model/W").trainable);
  EXPECT_FALSE(ctx.at("/model/b").trainable);
  EXPECT_FALSE(ctx.at("/model/scale").trainable);
  EXPECT_TRUE(ctx.at("/head/w").trainable);
  EXPECT_EQ(select_trainable(ctx, {".*"}, {"b"}), 1);  // full match: "b" freezes b, not "W"
  EXPECT_TRUE(ctx.at("/model/W").trainable);
  EXPECT_FALSE(ctx.at("/model/b").trainable);
  EXPECT_EQ(select_trainable(ctx, {}, {".*"}), 0);
  try {
    select_trainable(ctx, {"(unclosed"});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'(unclosed' is not a valid regular expression"), std::string::npos) << e.what();
  }
}

// y = Reshape(x @ W, Cast(T)) + ConstantOfShape(Shape(S)): T is a float [-1, 3] only the Reshape target
// depends on, S a float [3] whose shape alone is read; both float initializers of rank 1, neither a weight.
gonnx::Model shape_readers() {
  gonnx::testing::ModelBuilder m(17);
  m.input("x", DType::F32, {std::string("batch"), int64_t(4)});
  m.initializer("W", gonnx::testing::random_tensor(Shape{4, 3}, 5));
  m.initializer("T", Tensor::from_vector(std::vector<float>{-1, 3}));
  m.initializer("S", Tensor::from_vector(std::vector<float>{7, 8, 9}));
  m.node("MatMul", {"x", "W"}, {"xw"});
  auto& cast = m.node("Cast", {"T"}, {"target"});
  gonnx::testing::ModelBuilder::attr(cast, "to", int64_t(::onnx::TensorProto::INT64));
  m.node("Reshape", {"xw", "target"}, {"r"});
  m.node("Shape", {"S"}, {"s_shape"});
  m.node("ConstantOfShape", {"s_shape"}, {"zeros"});
  m.node("Add", {"r", "zeros"}, {"y"});
  m.output("y", DType::F32, {std::string("batch"), int64_t(3)});
  return m.model();
}

TEST(Trainable, InitializersOnlyShapeComputationsReadStayConstants) {
  gonnx::Model model = shape_readers();
  EXPECT_TRUE(model.shape_only_values().count("T"));
  EXPECT_TRUE(model.shape_only_values().count("S"));
  EXPECT_FALSE(model.shape_only_values().count("W"));
  Context ctx;
  EXPECT_EQ(variables_to_context(model, ctx), 3);
  EXPECT_TRUE(ctx.at("/W").trainable);
  EXPECT_FALSE(ctx.at("/T").trainable);
  EXPECT_FALSE(ctx.at("/S").trainable);
  // A --trainable regex naming them does not make them weights (they have no gradient, and the trace
  // needs T's value); it still chooses among the real weights, and --freeze still freezes.
  EXPECT_EQ(select_trainable(model, ctx, {".*"}), 1);
  EXPECT_FALSE(ctx.at("/T").trainable);
  EXPECT_FALSE(ctx.at("/S").trainable);
  EXPECT_EQ(select_trainable(model, ctx, {".*"}, {"W"}), 0);
  EXPECT_EQ(select_trainable(model, ctx, {"W"}), 1);

  // It trains: the Reshape target is read as a constant while tracing (a variable T would be a graph
  // parameter whose value the trace cannot know).
  LossFn loss = [&](GraphVariables& vars, const std::vector<Node>& batch) {
    Node y = call_with_variables(model, vars, {{"x", batch[0]}}, {"y"}).at("y");
    return std::vector<Node>{MseLoss(y, batch[1])};
  };
  TrainStep step(ctx, loss, SGD(), ConstantLR(0.1));
  Tensor x = gonnx::testing::random_tensor(Shape{5, 4}, 3), t = gonnx::testing::random_tensor(Shape{5, 3}, 4);
  float first = step.step({x, t}), later = first;
  for (int i = 0; i < 5; ++i) later = step.step({x, t});
  EXPECT_LT(later, first);
  EXPECT_EQ(ctx.value("/T").to_vector<float>(), (std::vector<float>{-1, 3}));
}

// y = BatchNormalization(x, scale, bias, mean, var) over [N, 3, 2].
gonnx::Model batch_norm() {
  gonnx::testing::ModelBuilder m(15);
  m.input("x", DType::F32, {std::string("batch"), int64_t(3), int64_t(2)});
  m.initializer("scale", Tensor::from_vector(std::vector<float>{1.0f, 0.5f, 2.0f}));
  m.initializer("bias", Tensor::from_vector(std::vector<float>{0.0f, 0.1f, -0.1f}));
  m.initializer("mean", Tensor::from_vector(std::vector<float>{0.1f, 0.2f, 0.3f}));
  m.initializer("var", Tensor::from_vector(std::vector<float>{1.0f, 2.0f, 0.5f}));
  m.node("BatchNormalization", {"x", "scale", "bias", "mean", "var"}, {"y"});
  m.output("y", DType::F32);
  return m.model();
}

TEST(Trainable, BatchNormStatisticsStayConstantScaleAndBiasTrain) {
  gonnx::Model model = batch_norm();
  Context ctx;
  EXPECT_EQ(variables_to_context(model, ctx), 4);
  EXPECT_TRUE(ctx.at("/scale").trainable);
  EXPECT_TRUE(ctx.at("/bias").trainable);
  EXPECT_FALSE(ctx.at("/mean").trainable);
  EXPECT_FALSE(ctx.at("/var").trainable);
  EXPECT_EQ(fixed_values(model), (std::set<std::string>{"mean", "var"}));
  EXPECT_EQ(select_trainable(model, ctx, {".*"}), 2);  // statistics are state, whatever the regex
  EXPECT_FALSE(ctx.at("/mean").trainable);
  EXPECT_EQ(select_trainable(model, ctx, {}, {"bias"}), 1);
  EXPECT_TRUE(ctx.at("/scale").trainable);
  EXPECT_FALSE(ctx.at("/bias").trainable);
  // Without the model, a regex decides alone (contexts that hold no imported model's state).
  EXPECT_EQ(select_trainable(ctx, {".*"}), 4);
}

}  // namespace
