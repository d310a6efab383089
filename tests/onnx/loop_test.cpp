// Loop lowered to a graft While: run-time trip counts, conditions computed in the body, outer-scope values,
// and long loops with scan outputs (preallocated buffers).
#include "onnx_test_util.h"

namespace graft::onnx {
namespace {

using testing::ModelBuilder;

Tensor f32(std::vector<float> v, Shape s) { return Tensor::from_vector(v, s); }

void expect_close(const Tensor& got, const Tensor& want, double tol = 1e-4) {
  ASSERT_EQ(got.shape(), want.shape()) << got.str() << " vs " << want.str();
  EXPECT_LE(max_abs_diff(got, want), tol) << got.str() << "\nvs\n" << want.str();
}

// body(i, c, acc) = (c, acc + float(i) [* w when `scale` names an outer value]) plus optional scan output.
::onnx::GraphProto sum_body(const std::vector<testing::DimSpec>& acc_dims, const std::string& scale = "", bool scan = false) {
  ::onnx::GraphProto body;
  body.set_name("sum_body");
  ModelBuilder::fill_value_info(body.add_input(), "i", DType::I64, {});
  ModelBuilder::fill_value_info(body.add_input(), "c_in", DType::Bool, {});
  ModelBuilder::fill_value_info(body.add_input(), "acc_in", DType::F32, acc_dims);
  auto& cast = ModelBuilder::add_node(&body, "Cast", {"i"}, {"i_f"});
  ModelBuilder::attr(cast, "to", int64_t(::onnx::TensorProto::FLOAT));
  std::string term = "i_f";
  if (!scale.empty()) {
    ModelBuilder::add_node(&body, "Mul", {"i_f", scale}, {"term"});
    term = "term";
  }
  ModelBuilder::add_node(&body, "Add", {"acc_in", term}, {"acc_out"});
  ModelBuilder::add_node(&body, "Identity", {"c_in"}, {"c_out"});
  body.add_output()->set_name("c_out");
  body.add_output()->set_name("acc_out");
  if (scan) {
    ModelBuilder::add_node(&body, "Identity", {"acc_out"}, {"scan_out"});
    body.add_output()->set_name("scan_out");
  }
  return body;
}

TEST(OnnxLoop, RunTimeTripCountBecomesWhile) {
  // acc = sum_{i < M} i with M a graph input: M (M - 1) / 2.
  ModelBuilder b(17);
  b.input("M", DType::I64, {});
  b.output("acc", DType::F32);
  b.constant("acc0", Tensor::scalar(0.f));
  auto& n = b.node("Loop", {"M", "", "acc0"}, {"acc"}, "sum_loop");
  ModelBuilder::attr(n, "body", sum_body({}));
  InferenceSession s(b.model());
  for (int64_t m : {0, 1, 10, 1000, 10000}) {
    auto out = s.run({{"M", Tensor::scalar(m)}});
    double want = double(m) * double(m - 1) / 2;
    expect_close(out.at("acc"), Tensor::scalar(float(want)), 1e-4 * want + 1e-4);
  }
  // One trace serves every trip count: the trip count is an operand of the While, not a specialization.
  EXPECT_EQ(s.stats().traces, 1);
}

TEST(OnnxLoop, ConditionComputedInTheBodyAndOuterScopeCapture) {
  // while x < limit: x = x * 2, with `limit` an outer-scope graph input read by the body.
  ModelBuilder b(17);
  b.input("x0", DType::F32, {});
  b.input("limit", DType::F32, {});
  b.output("x", DType::F32);
  b.constant("go", Tensor::scalar(true));
  ::onnx::GraphProto body;
  body.set_name("double_body");
  ModelBuilder::fill_value_info(body.add_input(), "i", DType::I64, {});
  ModelBuilder::fill_value_info(body.add_input(), "c_in", DType::Bool, {});
  ModelBuilder::fill_value_info(body.add_input(), "x_in", DType::F32, {});
  ModelBuilder::add_node(&body, "Add", {"x_in", "x_in"}, {"x_out"});
  ModelBuilder::add_node(&body, "Less", {"x_out", "limit"}, {"c_out"});
  body.add_output()->set_name("c_out");
  body.add_output()->set_name("x_out");
  auto& n = b.node("Loop", {"", "go", "x0"}, {"x"}, "while_loop");
  ModelBuilder::attr(n, "body", body);
  InferenceSession s(b.model());
  expect_close(s.run({{"x0", Tensor::scalar(1.f)}, {"limit", Tensor::scalar(100.f)}}).at("x"), Tensor::scalar(128.f));
  expect_close(s.run({{"x0", Tensor::scalar(3.f)}, {"limit", Tensor::scalar(10.f)}}).at("x"), Tensor::scalar(12.f));
  // The body runs at least once (do-while with a true initial condition).
  expect_close(s.run({{"x0", Tensor::scalar(50.f)}, {"limit", Tensor::scalar(1.f)}}).at("x"), Tensor::scalar(100.f));
}

TEST(OnnxLoop, OuterScopeTensorWithRunTimeTripCountAndCondition) {
  // acc[3] += i * w for i < M, stopping early when the run-time condition input is false.
  ModelBuilder b(17);
  b.input("M", DType::I64, {});
  b.input("go", DType::Bool, {});
  b.input("w", DType::F32, {int64_t(3)});
  b.output("acc", DType::F32);
  b.initializer("acc0", f32({1, 1, 1}, {3}));
  auto& n = b.node("Loop", {"M", "go", "acc0"}, {"acc"}, "capture_loop");
  ModelBuilder::attr(n, "body", sum_body({int64_t(3)}, "w"));
  InferenceSession s(b.model());
  Tensor w = f32({1, -2, 0.5f}, {3});
  auto out = s.run({{"M", Tensor::scalar(int64_t(7))}, {"go", Tensor::scalar(true)}, {"w", w}});
  expect_close(out.at("acc"), f32({1 + 21.f, 1 - 42.f, 1 + 10.5f}, {3}));
  out = s.run({{"M", Tensor::scalar(int64_t(7))}, {"go", Tensor::scalar(false)}, {"w", w}});
  expect_close(out.at("acc"), f32({1, 1, 1}, {3}));
}

TEST(OnnxLoop, LongKnownTripCountWithScanOutput) {
  // 5000 iterations (past the unrolling limit) with a scan output written into a preallocated buffer.
  ModelBuilder b(17);
  b.input("acc0", DType::F32, {});
  b.output("acc", DType::F32);
  b.output("all", DType::F32);
  b.constant("M", Tensor::scalar(int64_t(5000)));
  b.constant("c", Tensor::scalar(true));
  auto& n = b.node("Loop", {"M", "c", "acc0"}, {"acc", "all"}, "long_loop");
  ModelBuilder::attr(n, "body", sum_body({}, "", true));
  auto out = testing::run_model(b.model(), {{"acc0", Tensor::scalar(0.f)}});
  expect_close(out.at("acc"), Tensor::scalar(float(5000.0 * 4999 / 2)), 1.0);
  const Tensor& all = out.at("all");
  ASSERT_EQ(all.shape(), Shape({5000}));
  auto v = all.span<float>();
  double want = 0;
  for (int64_t i = 0; i < 5000; ++i) {
    want += double(i);
    ASSERT_NEAR(v[size_t(i)], want, 1.0) << "at " << i;
  }
}

TEST(OnnxLoop, ScanOutputOfRunTimeLoopSpecializesOrFailsClearly) {
  ModelBuilder b(17);
  b.input("M", DType::I64, {});
  b.output("acc", DType::F32);
  b.output("all", DType::F32);
  b.constant("acc0", Tensor::scalar(0.f));
  auto& n = b.node("Loop", {"M", "", "acc0"}, {"acc", "all"}, "scan_loop");
  ModelBuilder::attr(n, "body", sum_body({}, "", true));
  // Traced with M unknown: the error names the node and the reason.
  Graph g;
  Node m = g.parameter("M", DType::I64, {});
  EXPECT_THROW_WITH(b.model().call(g, {{"M", m}}), "Loop \"scan_loop\"", "scan outputs", "run-time trip count");
  // A session specializes on the trip count's value instead and unrolls.
  auto out = testing::run_model(b.model(), {{"M", Tensor::scalar(int64_t(3))}});
  expect_close(out.at("acc"), Tensor::scalar(3.f));
  expect_close(out.at("all"), f32({0, 1, 3}, {3}));
}

TEST(OnnxLoop, SmallKnownLoopsStayUnrolled) {
  ModelBuilder b(17);
  b.output("acc", DType::F32);
  b.constant("M", Tensor::scalar(int64_t(4)));
  b.constant("acc0", Tensor::scalar(0.f));
  auto& n = b.node("Loop", {"M", "", "acc0"}, {"acc"});
  ModelBuilder::attr(n, "body", sum_body({}));
  Graph g;
  auto outs = b.model().call(g, {});
  // Everything is known while tracing: no While op is recorded.
  for (size_t k = 0; k < g.ops().size(); ++k) EXPECT_NE(g.ops()[k].kind, OpKind::While);
  auto r = testing::run_model(b.model(), {});
  expect_close(r.at("acc"), Tensor::scalar(6.f));
}

// Nodes of opsets newer than the installed ONNX schemas know are not arity-checked by the tracer, so Loop and
// Scan check their own input counts and per-input attributes (a fuzzed Loop with one input once read output
// -1; a Scan whose axis list does not have one entry per scan input would index past it).
TEST(OnnxLoop, LoopAndScanCheckTheirArityAtEveryOpset) {
  {
    ModelBuilder b(19);
    b.output("acc", DType::F32);
    b.constant("acc0", Tensor::scalar(0.f));
    auto& n = b.node("Loop", {"acc0"}, {"acc"}, "short_loop");
    ModelBuilder::attr(n, "body", sum_body({}));
    EXPECT_THROW_WITH(testing::run_model(b.model(), {}), "Loop \"short_loop\"", "M and cond", "got 1 input");
  }
  {
    ModelBuilder b(19);
    b.input("s0", DType::F32, {int64_t(2)});
    b.input("x", DType::F32, {int64_t(3), int64_t(2)});
    b.output("s", DType::F32);
    ::onnx::GraphProto body;
    body.set_name("scan_body");
    ModelBuilder::fill_value_info(body.add_input(), "s_in", DType::F32, {int64_t(2)});
    ModelBuilder::fill_value_info(body.add_input(), "x_t", DType::F32, {int64_t(2)});
    ModelBuilder::add_node(&body, "Add", {"s_in", "x_t"}, {"s_out"});
    body.add_output()->set_name("s_out");
    auto& n = b.node("Scan", {"s0", "x"}, {"s"}, "bad_axes");
    ModelBuilder::attr(n, "body", body);
    ModelBuilder::attr(n, "num_scan_inputs", int64_t(1));
    ModelBuilder::attr(n, "scan_input_axes", std::vector<int64_t>{0, 0});
    EXPECT_THROW_WITH(testing::run_model(b.model(), {{"s0", f32({0, 0}, {2})}, {"x", f32({1, 2, 3, 4, 5, 6}, {3, 2})}}),
                      "Scan \"bad_axes\"", "scan_input_axes has 2 entries for 1 scan inputs");
    n.mutable_attribute()->RemoveLast();
    ModelBuilder::attr(n, "scan_input_axes", std::vector<int64_t>{0});
    auto r = testing::run_model(b.model(), {{"s0", f32({0, 0}, {2})}, {"x", f32({1, 2, 3, 4, 5, 6}, {3, 2})}});
    expect_close(r.at("s"), f32({9, 12}, {2}));  // 1+3+5, 2+4+6
  }
}

}  // namespace
}  // namespace graft::onnx
