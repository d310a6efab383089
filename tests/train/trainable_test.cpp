// Which imported weights train: float initializers of rank >= 1 (not scalars, integers, BatchNormalization
// statistics), and select_trainable's --trainable / --freeze regexes over initializer names.
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

}  // namespace
