// Staged tracing: shapes that depend on values computed from the inputs (NonZero, Compress, Unique, a
// Reshape target derived from an input, a Loop trip count) are traced with the values of the run at
// hand. NonZero and Compress run between compiled stages (their results are inputs of the next stage, keyed
// by shape); for the others the session keeps a guard per assumption and reuses a stage only when its
// guards hold (more in staged_shapes_test.cpp).
// Expected results are computed here by plain loops over the inputs, independently of graft.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "onnx_test_util.h"

namespace graft::onnx {
namespace {

using testing::ModelBuilder;

Tensor f32(std::vector<float> v, Shape s) { return Tensor::from_vector(v, s); }
Tensor i64(std::vector<int64_t> v) {
  Shape s{int64_t(v.size())};
  return Tensor::from_vector(v, s);
}

// y = Compress(x * 2, x > 0): the condition is an intermediate value, not a graph input.
Model compress_of_intermediate() {
  ModelBuilder b(17);
  b.input("x", DType::F32, {std::string("n")});
  b.output("y", DType::F32);
  b.constant("zero", Tensor::scalar(0.f));
  b.constant("two", Tensor::scalar(2.f));
  b.node("Greater", {"x", "zero"}, {"positive"});
  b.node("Mul", {"x", "two"}, {"doubled"});
  auto& n = b.node("Compress", {"doubled", "positive"}, {"y"}, "compress");
  ModelBuilder::attr(n, "axis", 0);
  return b.model();
}

std::vector<float> doubled_positives(const std::vector<float>& x) {
  std::vector<float> out;
  for (float v : x)
    if (v > 0) out.push_back(2 * v);
  return out;
}

TEST(OnnxStaged, CompressOfAnIntermediateConditionRunsInStages) {
  InferenceSession s(compress_of_intermediate());
  for (const std::vector<float>& x : std::vector<std::vector<float>>{
           {1, -2, 3, -4, 5}, {-1, -2, -3, -4, -5}, {6, 7, 8, 9, 10}, {1, -2, 3, -4, 5}}) {
    Tensor y = s.run({{"x", f32(x, {int64_t(x.size())})}}).at("y");
    std::vector<float> want = doubled_positives(x);
    ASSERT_EQ(y.shape(), (Shape{int64_t(want.size())}));
    for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(y.at<float>({int64_t(i)}), want[i]);
  }
  // Three distinct numbers of true conditions were traced (the kept indices are an input of the stage
  // after Compress, keyed by their shape); the fourth run repeats the first and reuses its stages.
  EXPECT_EQ(s.stats().traces, 3);
  EXPECT_EQ(s.stats().cache_hits, 1);
  EXPECT_EQ(s.stats().stage_crossings, 4);
  EXPECT_EQ(s.stats().guard_runs, 0);
}

TEST(OnnxStaged, ADifferentConditionWithTheSameCountReusesTheStages) {
  InferenceSession s(compress_of_intermediate());
  for (const std::vector<float>& x : std::vector<std::vector<float>>{
           {1, -2, 3, -4, 5}, {-1, 2, 3, -4, 5}, {7, 8, -1, -1, 9}}) {
    Tensor y = s.run({{"x", f32(x, {5})}}).at("y");
    std::vector<float> want = doubled_positives(x);
    ASSERT_EQ(y.shape(), (Shape{3}));
    for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(y.at<float>({int64_t(i)}), want[i]);
  }
  EXPECT_EQ(s.stats().traces, 1);
  EXPECT_EQ(s.stats().cache_hits, 2);
}

TEST(OnnxStaged, GuardsCheckTheAssumedValueNotTheInputs) {
  // Different inputs with the same condition share one executable, and its outputs follow the new values.
  InferenceSession s(compress_of_intermediate());
  Tensor a = s.run({{"x", f32({1, -2, 3}, {3})}}).at("y");
  Tensor b = s.run({{"x", f32({4, -5, 6}, {3})}}).at("y");
  EXPECT_EQ(s.stats().traces, 1);
  ASSERT_EQ(b.shape(), (Shape{2}));
  EXPECT_EQ(a.at<float>({1}), 6.f);
  EXPECT_EQ(b.at<float>({0}), 8.f);
  EXPECT_EQ(b.at<float>({1}), 12.f);
}

TEST(OnnxStaged, NonZeroThenGatherNdSelectsByAMaskComputedInTheModel) {
  // x[x > t] as PyTorch exports boolean indexing: NonZero -> Transpose -> GatherND.
  ModelBuilder b(17);
  b.input("x", DType::F32, {int64_t(2), int64_t(3)});
  b.input("t", DType::F32, {});
  b.output("y", DType::F32);
  b.node("Greater", {"x", "t"}, {"mask"});
  b.node("NonZero", {"mask"}, {"nz"});
  auto& tr = b.node("Transpose", {"nz"}, {"idx"});
  ModelBuilder::attr(tr, "perm", std::vector<int64_t>{1, 0});
  b.node("GatherND", {"x", "idx"}, {"y"});
  InferenceSession s(b.model());
  Tensor x = f32({0.5f, 2, -1, 3, 0, 4}, {2, 3});
  for (float t : {1.f, -5.f, 10.f, 1.f}) {
    Tensor y = s.run({{"x", x}, {"t", Tensor::scalar(t)}}).at("y");
    std::vector<float> want;
    for (int64_t i = 0; i < 6; ++i)
      if (x.value_as_double(i) > t) want.push_back(float(x.value_as_double(i)));
    ASSERT_EQ(y.shape(), (Shape{int64_t(want.size())})) << "t = " << t;
    for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(y.value_as_double(int64_t(i)), want[i]);
  }
  EXPECT_EQ(s.stats().traces, 3);
}

TEST(OnnxStaged, UniqueOfAnIntermediate) {
  ModelBuilder b(17);
  b.input("x", DType::I64, {std::string("n")});
  b.output("u", DType::I64);
  b.constant("three", Tensor::scalar(int64_t(3)));
  b.node("Mod", {"x", "three"}, {"r"});
  auto& n = b.node("Unique", {"r"}, {"u"});
  ModelBuilder::attr(n, "sorted", 1);
  InferenceSession s(b.model());
  std::vector<int64_t> x{7, 4, 10, 5, 8, 1};
  Tensor u = s.run({{"x", i64(x)}}).at("u");
  std::set<int64_t> want;
  for (int64_t v : x) want.insert(v % 3);
  ASSERT_EQ(u.shape(), (Shape{int64_t(want.size())}));
  int64_t i = 0;
  for (int64_t v : want) EXPECT_EQ(u.value_as_double(i++), double(v));
}

TEST(OnnxStaged, ReshapeTargetComputedFromAnInput) {
  // target = [rows, -1] with rows = ReduceMax(lengths): a speech-style "pad to the longest" shape.
  ModelBuilder b(17);
  b.input("x", DType::F32, {int64_t(12)});
  b.input("lengths", DType::I64, {int64_t(3)});
  b.output("y", DType::F32);
  auto& rm = b.node("ReduceMax", {"lengths"}, {"rows"});
  ModelBuilder::attr(rm, "keepdims", 1);
  b.constant("minus1", i64({-1}));
  auto& cat = b.node("Concat", {"rows", "minus1"}, {"target"});
  ModelBuilder::attr(cat, "axis", 0);
  b.node("Reshape", {"x", "target"}, {"y"});
  InferenceSession s(b.model());
  std::vector<float> xv(12);
  for (int i = 0; i < 12; ++i) xv[size_t(i)] = float(i);
  Tensor x = f32(xv, {12});
  EXPECT_EQ(s.run({{"x", x}, {"lengths", i64({2, 4, 1})}}).at("y").shape(), (Shape{4, 3}));
  EXPECT_EQ(s.run({{"x", x}, {"lengths", i64({3, 1, 2})}}).at("y").shape(), (Shape{3, 4}));
  // Different lengths with the same maximum reuse the first executable.
  Tensor y = s.run({{"x", x}, {"lengths", i64({4, 4, 4})}}).at("y");
  EXPECT_EQ(y.shape(), (Shape{4, 3}));
  EXPECT_EQ(y.at<float>({3, 2}), 11.f);
  EXPECT_EQ(s.stats().traces, 2);
}

TEST(OnnxStaged, ValuesThatDependOnNothingKnownStillFailClearlyOutsideASession) {
  // Model::call has no run-time values: the error names the op, the operand and the input it needs.
  Model m = compress_of_intermediate();
  Graph g;
  Node x = g.parameter("x", DType::F32, {4});
  EXPECT_THROW_WITH(m.call(g, {{"x", x}}), "Compress \"compress\"", "condition", "'x'");
}

}  // namespace
}  // namespace graft::onnx
