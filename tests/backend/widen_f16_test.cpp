// The f16 widening pass (backend/cpu/widen_f16.h, CompileOptions::widen_f16): an f16 chain between a Cast of
// its f32 input and a Cast of its result (the shape of float16 model exports) is rewritten to compute in
// f32 — no per-op conversions left, only the rounding of outputs declared f16 — and gives exactly what the
// same graph written in f32 over the f16 weights' values gives.
#include <gtest/gtest.h>

#include "backend/cpu/widen_f16.h"
#include "graft/graph/ops.h"
#include "test_util.h"

namespace graft {
namespace {

struct Model {
  Tensor w, b, k;  // f16 weights
};

Model weights() {
  return {testing::random_tensor(DType::F16, Shape{12, 12}, 1, -0.5, 0.5),
          testing::random_tensor(DType::F16, Shape{12}, 2), testing::random_tensor(DType::F16, Shape{4, 3, 3, 3}, 3, -0.5, 0.5)};
}

ConvolutionAttrs conv3x3() {
  ConvolutionAttrs at;
  at.strides = {1, 1};
  at.pad_low = at.pad_high = {1, 1};
  at.dilations = {1, 1};
  at.output_padding = {0, 0};
  return at;
}

// x [1, 3, 12, 12] f32 -> (f16: conv, relu, matmul, add, sigmoid) -> [f32 result, f16 result]. With
// `dtype` f32 and no Casts, the same computation written in f32 over the weights' values.
Graph build(const Model& m, DType dtype) {
  Graph g("fp16_chain");
  Node x = g.parameter("x", DType::F32, {1, 3, 12, 12});
  Node h = dtype == DType::F16 ? Convert(x, DType::F16) : x;
  auto c = [&](const Tensor& t) { return g.constant(t.cast(dtype)); };
  h = Convolution(h, c(m.k), conv3x3());
  h = Max(h, ScalarLike(h, 0));
  h = Logistic(MatMul(h, c(m.w)) + c(m.b));
  Node y = dtype == DType::F16 ? Convert(h, DType::F32) : h;
  Node y16 = h * h;
  if (dtype != DType::F16) y16 = Convert(y16, DType::F16);
  g.set_outputs({y, y16});
  return g;
}

TEST(WidenF16, NoPerOpConversionsLeft) {
  Model m = weights();
  Graph g = build(m, DType::F16);
  int widened = 0;
  std::optional<Graph> w = cpu::widen_f16(g, &widened);
  ASSERT_TRUE(w);
  EXPECT_GE(widened, 6);  // conv, max, matmul (and its reshapes), add, logistic, mul
  int converts = 0, f16_values = 0, f16_constants = 0;
  for (const Op& op : w->ops()) {
    if (op.kind == OpKind::Convert) ++converts;
    if (op.kind == OpKind::Constant) f16_constants += op.outputs[0].dtype == DType::F16;
    else for (const ValueType& t : op.outputs) f16_values += t.dtype == DType::F16;
  }
  // Each f16 constant widened once (folded at compile time), the f16 output rounded: nothing else. The
  // input Cast to f16 and the result's Cast back are gone, as ONNX Runtime removes them.
  EXPECT_GE(f16_constants, 3);
  EXPECT_EQ(converts, f16_constants + 1);
  EXPECT_EQ(f16_values, 1);
  // Parameters and outputs keep their types.
  EXPECT_EQ(w->op(w->parameters()[0]).outputs[0].dtype, DType::F32);
  EXPECT_EQ(w->op(w->outputs()[0].op).outputs[0].dtype, DType::F32);
  EXPECT_EQ(w->op(w->outputs()[1].op).outputs[0].dtype, DType::F16);
  // A graph without f16 is left alone.
  Graph f32("f32");
  f32.set_outputs({Logistic(f32.parameter("x", DType::F32, {2, 2}))});
  EXPECT_FALSE(cpu::widen_f16(f32, &widened));
  EXPECT_EQ(widened, 0);
}

TEST(WidenF16, ComputesWhatTheF32GraphComputes) {
  Model m = weights();
  Tensor x = testing::random_tensor(DType::F32, Shape{1, 3, 12, 12}, 4);
  auto on = cpu_backend()->compile(build(m, DType::F16));
  CompileOptions no;
  no.widen_f16 = false;
  auto off = cpu_backend()->compile(build(m, DType::F16), no);
  auto f32 = cpu_backend()->compile(build(m, DType::F32));
  int widened = 0;
  cpu::widen_f16(build(m, DType::F16), &widened);
  EXPECT_EQ(on->stats().num_f16_values_widened, widened);
  EXPECT_EQ(off->stats().num_f16_values_widened, 0);
  EXPECT_LT(on->stats().num_kernels, off->stats().num_kernels);
  std::vector<Tensor> got = on->run({x}), as_written = off->run({x}), want = f32->run({x});
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].dtype(), DType::F16);
  double err = 0, err_written = 0, err16 = 0;
  for (int64_t i = 0; i < want[0].size(); ++i) {
    err = std::max(err, std::fabs(got[0].value_as_double(i) - want[0].value_as_double(i)));
    err_written = std::max(err_written, std::fabs(as_written[0].value_as_double(i) - want[0].value_as_double(i)));
    err16 = std::max(err16, std::fabs(got[1].value_as_double(i) - want[1].value_as_double(i)));
  }
  EXPECT_LT(err, 1e-6);
  EXPECT_EQ(err16, 0.0);  // the same f32 value rounded once
  EXPECT_GT(err_written, 1e-5);  // computed as written, each op rounds to f16: the test tells them apart
}

}  // namespace
}  // namespace graft
