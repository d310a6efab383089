// Export of a graph built with context variables: the variables' current values become initializers.
#include <gtest/gtest.h>

#include "graft/graph/ops.h"
#include "graft/onnx/export.h"
#include "graft/onnx/session.h"
#include "graft/context/context.h"
#include "onnx/model_impl.h"  // proto_of: the exported protobuf, to inspect

namespace graft {
namespace {

TEST(ExportContext, VariablesBecomeInitializersWithCurrentValues) {
  Context ctx;
  Context head = ctx.in("head");
  head.variable("weight", Tensor::zeros(DType::F32, {3, 2}));
  head.variable("bias", Tensor::zeros(DType::F32, {2}));
  Graph g("context_head");
  GraphVariables vars(ctx, g);
  Node x = g.parameter("x", DType::F32, {1, 3});
  g.set_outputs({MatMul(x, vars("/head/weight")) + vars("/head/bias")});
  // trained values, set after the graph was built: the export takes the current ones
  ctx.set_value("/head/weight", Tensor({{1.f, 0.f}, {0.f, 1.f}, {1.f, 1.f}}));
  ctx.set_value("/head/bias", Tensor::from_vector<float>({10.f, 20.f}));
  ::onnx::ModelProto m = onnx::proto_of(onnx::export_graph(g, vars, {.output_names = {"y"}}));
  ASSERT_EQ(m.graph().input_size(), 1);
  EXPECT_EQ(m.graph().input(0).name(), "x");
  std::set<std::string> inits;
  for (const auto& t : m.graph().initializer()) inits.insert(t.name());
  EXPECT_TRUE(inits.count("/head/weight") && inits.count("/head/bias"));
  std::string bytes;
  ASSERT_TRUE(m.SerializeToString(&bytes));
  onnx::InferenceSession s(onnx::Model::from_bytes(bytes));
  auto y = s.run({{"x", Tensor({{1.f, 2.f, 3.f}})}}).at("y");
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{14.f, 25.f}));
}

}  // namespace
}  // namespace graft
