// Weights kept in Constant nodes (Paddle2ONNX, some TensorFlow exports) lifted into trainable variables
// (ImportOptions::lift_constants) and written back into the nodes in place. The same two-layer network
// stored once with its weights in Constant nodes and once as initializers must train identically (the
// initializer form is the independent reference), and the saved model must give, in ONNX Runtime, the
// outputs graft computes.
#include <gtest/gtest.h>

#include <cmath>

#include "graft/onnx/session.h"
#include "graft/train/losses.h"
#include "graft/train/onnx_bridge.h"
#include "graft/train/train_step.h"
#include "onnx/onnx_test_util.h"

using namespace graft;
using namespace graft::train;
namespace gonnx = graft::onnx;
using gonnx::testing::ModelBuilder;

namespace {

std::map<std::string, Tensor> weights() {
  return {{"W1", gonnx::testing::random_tensor(Shape{4, 8}, 21)},
          {"b1", gonnx::testing::random_tensor(Shape{8}, 22)},
          {"W2", gonnx::testing::random_tensor(Shape{8, 3}, 23)},
          {"b2", gonnx::testing::random_tensor(Shape{3}, 24)}};
}

// y = Reshape(Relu(x @ W1 + b1) @ W2 + b2, Cast(target)) * half, with the weights W1, b1, W2, b2 in Constant
// nodes (`in_constants`) or initializers. `target` (float [-1, 3], a Reshape target) and `half` (a float
// scalar) are Constant nodes in both forms.
gonnx::Model two_layers(bool in_constants) {
  ModelBuilder m(17);
  m.input("x", DType::F32, {std::string("batch"), int64_t(4)});
  for (const auto& [name, t] : weights()) {
    if (in_constants) m.constant(name, t);
    else m.initializer(name, t);
  }
  m.constant("target", Tensor::from_vector(std::vector<float>{-1, 3}));
  m.constant("half", Tensor::scalar<float>(0.5f));
  m.node("MatMul", {"x", "W1"}, {"h0"});
  m.node("Add", {"h0", "b1"}, {"h1"});
  m.node("Relu", {"h1"}, {"h"});
  m.node("MatMul", {"h", "W2"}, {"o0"});
  m.node("Add", {"o0", "b2"}, {"o"});
  auto& cast = m.node("Cast", {"target"}, {"target_i"});
  ModelBuilder::attr(cast, "to", int64_t(::onnx::TensorProto::INT64));
  m.node("Reshape", {"o", "target_i"}, {"r"});
  m.node("Mul", {"r", "half"}, {"y"});
  m.output("y", DType::F32, {std::string("batch"), int64_t(3)});
  return m.model();
}

// Trains `model`'s variables in `ctx` for a few SGD steps on a fixed batch; the losses.
std::vector<float> train(const gonnx::Model& model, Context& ctx) {
  LossFn loss = [&](GraphVariables& vars, const std::vector<Node>& batch) {
    Node y = call_with_variables(model, vars, {{"x", batch[0]}}, {"y"}).at("y");
    return std::vector<Node>{MseLoss(y, batch[1])};
  };
  TrainStep step(ctx, loss, SGD(), ConstantLR(0.2));
  Tensor x = gonnx::testing::random_tensor(Shape{6, 4}, 31), t = gonnx::testing::random_tensor(Shape{6, 3}, 32);
  std::vector<float> losses;
  for (int i = 0; i < 8; ++i) losses.push_back(step.step({x, t}));
  return losses;
}

TEST(LiftConstants, ChoosesFloatConstantNodesReadAsDataBySize) {
  gonnx::Model model = two_layers(true);
  Context off;
  EXPECT_EQ(variables_to_context(model, off), 0);  // default: Constant nodes stay constants
  Context all;
  // From one element up: the four weights; not the scalar, nor the Reshape target (read only as a shape).
  EXPECT_EQ(variables_to_context(model, all, {.lift_constants = 1}), 4);
  for (const char* w : {"/W1", "/b1", "/W2", "/b2"}) {
    EXPECT_TRUE(all.at(w).trainable) << w;
    EXPECT_EQ(all.at(w).origin, std::string(w).substr(1));
  }
  EXPECT_FALSE(all.has("/target"));
  EXPECT_FALSE(all.has("/half"));
  Context large;
  EXPECT_EQ(variables_to_context(model, large, {.lift_constants = 9}), 2);  // W1 (32), W2 (24)
  EXPECT_TRUE(large.has("/W1") && large.has("/W2"));
  EXPECT_THROW(variables_to_context(model, large, {.lift_constants = -1}), Error);
}

TEST(LiftConstants, TrainsAsTheInitializerFormAndWritesBackInPlace) {
  gonnx::Model constants = two_layers(true), initializers = two_layers(false);
  Context cc, ci;
  ASSERT_EQ(variables_to_context(constants, cc, {.lift_constants = kDefaultLiftConstantsMinElements}), 2);
  ASSERT_EQ(variables_to_context(constants, cc, {.lift_constants = 1}), 2);  // b1 and b2 join W1 and W2
  ASSERT_EQ(variables_to_context(initializers, ci), 4);
  EXPECT_EQ(cc.num_elements(true), ci.num_elements(true));
  std::vector<float> lc = train(constants, cc), li = train(initializers, ci);
  EXPECT_LT(lc.back(), 0.5f * lc.front());
  ASSERT_EQ(lc.size(), li.size());
  for (size_t i = 0; i < lc.size(); ++i) EXPECT_NEAR(lc[i], li[i], 1e-6 * std::abs(li[i])) << "step " << i;

  gonnx::testing::TempDir dir;
  context_to_onnx(constants, cc).save(dir.path / "constants.onnx");
  context_to_onnx(initializers, ci).save(dir.path / "initializers.onnx");
  gonnx::Model saved = gonnx::Model::load(dir.path / "constants.onnx");
  EXPECT_TRUE(saved.initializer_names().empty());  // written in place: still Constant nodes
  EXPECT_EQ(saved.constant_node_outputs(), constants.constant_node_outputs());
  for (const char* w : {"W1", "b1", "W2", "b2"}) {
    EXPECT_EQ(saved.constant_node_value(w).to_vector<float>(), cc.value(std::string("/") + w).to_vector<float>()) << w;
    EXPECT_NE(saved.constant_node_value(w).to_vector<float>(), weights().at(w).to_vector<float>()) << w;
  }
  EXPECT_EQ(saved.constant_node_value("target").to_vector<float>(), (std::vector<float>{-1, 3}));

  // The saved model computes what the trained initializer form computes, in graft and in ONNX Runtime.
  Tensor x = gonnx::testing::random_tensor(Shape{5, 4}, 41);
  Tensor want = gonnx::InferenceSession(gonnx::Model::load(dir.path / "initializers.onnx")).run({{"x", x}}).at("y");
  Tensor got = gonnx::InferenceSession(saved).run({{"x", x}}).at("y");
  std::vector<float> g = got.to_vector<float>(), w = want.to_vector<float>();
  ASSERT_EQ(g.size(), w.size());
  for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], w[i], 1e-6) << i;
  if (!gonnx::testing::ort_available()) return;
  std::filesystem::create_directories(dir.path / "ort");
  Tensor ort = gonnx::testing::run_ort(dir.path / "constants.onnx", {{"x", x}}, dir.path / "ort").at("y");
  std::vector<float> o = ort.to_vector<float>();
  ASSERT_EQ(o.size(), g.size());
  for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(o[i], g[i], 1e-5) << i;
}

TEST(LiftConstants, WriterChecksTheConstantItReplaces) {
  gonnx::Model model = two_layers(true);
  gonnx::ModelWriter w(model);
  EXPECT_THROW_WITH(w.set_constant("W1", Tensor::zeros(DType::F32, {3, 3})), "Constant node output \"W1\"");
  EXPECT_THROW_WITH(w.set_constant("h0", Tensor::zeros(DType::F32, {4, 8})), "no Constant node");
}

}  // namespace
