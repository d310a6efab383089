// InferenceSession::run_values: sequence and optional graph inputs and outputs.
#include <gtest/gtest.h>

#include "onnx_test_util.h"

namespace graft::onnx {
namespace {

using testing::ModelBuilder;

void seq_value_info(::onnx::ValueInfoProto* v, const std::string& name, bool optional) {
  v->set_name(name);
  ::onnx::TypeProto* t = v->mutable_type();
  if (optional) t = t->mutable_optional_type()->mutable_elem_type();
  t->mutable_sequence_type()->mutable_elem_type()->mutable_tensor_type()->set_elem_type(::onnx::TensorProto::FLOAT);
}

// out = SequenceInsert(seq, x * 2); n = SequenceLength(out); has = OptionalHasElement(opt)
Model sequence_model() {
  ModelBuilder b(17);
  seq_value_info(b.proto().mutable_graph()->add_input(), "seq", false);
  b.input("x", DType::F32, {int64_t(2)});
  seq_value_info(b.proto().mutable_graph()->add_input(), "opt", true);
  seq_value_info(b.proto().mutable_graph()->add_output(), "out", false);
  b.output("n", DType::I64, {});
  b.output("has", DType::Bool, {});
  b.constant("two", Tensor::scalar(2.f));
  b.node("Mul", {"x", "two"}, {"x2"});
  b.node("SequenceInsert", {"seq", "x2"}, {"out"});
  b.node("SequenceLength", {"out"}, {"n"});
  b.node("OptionalHasElement", {"opt"}, {"has"});
  return b.model();
}

TEST(OnnxSessionValues, SequenceInputsAndOutputsAndOptionals) {
  InferenceSession s(sequence_model());
  Tensor a = Tensor::from_vector(std::vector<float>{1, 2, 3}, Shape{3});
  Tensor x = Tensor::from_vector(std::vector<float>{5, 6}, Shape{2});
  auto out = s.run_values({{"seq", IoValue::of_sequence({a})}, {"x", IoValue::of(x)}, {"opt", IoValue::none()}});
  ASSERT_EQ(out.at("out").kind, IoValue::Kind::Sequence);
  ASSERT_EQ(out.at("out").sequence.size(), 2u);
  EXPECT_EQ(out.at("out").sequence[0].at<float>({2}), 3.f);
  EXPECT_EQ(out.at("out").sequence[1].at<float>({1}), 12.f);
  EXPECT_EQ(out.at("n").tensor.value_as_double(0), 2.0);
  EXPECT_EQ(out.at("has").tensor.value_as_double(0), 0.0);
  // A present optional, and an optional left out (absent).
  auto out2 = s.run_values({{"seq", IoValue::of_sequence({a, a})}, {"x", IoValue::of(x)},
                            {"opt", IoValue::of_sequence({x})}});
  EXPECT_EQ(out2.at("n").tensor.value_as_double(0), 3.0);
  EXPECT_EQ(out2.at("has").tensor.value_as_double(0), 1.0);
  auto out3 = s.run_values({{"seq", IoValue::of_sequence({})}, {"x", IoValue::of(x)}});
  EXPECT_EQ(out3.at("n").tensor.value_as_double(0), 1.0);
  EXPECT_EQ(out3.at("has").tensor.value_as_double(0), 0.0);
}

TEST(OnnxSessionValues, WrongKindsAreClearErrors) {
  InferenceSession s(sequence_model());
  Tensor x = Tensor::from_vector(std::vector<float>{5, 6}, Shape{2});
  EXPECT_THROW_WITH(s.run({{"x", x}}, {"n"}), "missing 1 input", "'seq'");
  // run() returns tensors only: a sequence output is named, with the call that returns it.
  ModelBuilder b(17);
  b.input("x", DType::F32, {int64_t(2)});
  seq_value_info(b.proto().mutable_graph()->add_output(), "parts", false);
  b.node("SplitToSequence", {"x"}, {"parts"});
  InferenceSession split(b.model());
  EXPECT_THROW_WITH(split.run({{"x", x}}), "output 'parts' is a sequence", "run_values");
  EXPECT_EQ(split.run_values({{"x", IoValue::of(x)}}).at("parts").sequence.size(), 2u);
  // A sequence of the wrong element type, and a tensor where the model declares a sequence.
  Tensor i = Tensor::from_vector(std::vector<int64_t>{1}, Shape{1});
  EXPECT_THROW_WITH(s.run_values({{"seq", IoValue::of_sequence({i})}, {"x", IoValue::of(x)}}), "'seq'", "int64");
  EXPECT_THROW_WITH(s.run_values({{"seq", IoValue::none()}, {"x", IoValue::of(x)}}), "'seq'", "cannot be absent");
}

}  // namespace
}  // namespace graft::onnx
