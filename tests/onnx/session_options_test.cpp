// SessionOptions: per-session threads (as ONNX Runtime's intra-op threads) and the injected host evaluator
// used while tracing. A recording backend around the CPU backend observes what a session's runs see.
#include <gtest/gtest.h>

#include "graft/onnx/session.h"
#include "onnx_test_util.h"

namespace graft::onnx {
namespace {

using testing::ModelBuilder;

// The CPU backend, recording the thread count in effect when it compiles and when its executables run.
class RecordingBackend : public Backend {
 public:
  std::string name() const override { return "recording-cpu"; }
  std::unique_ptr<Executable> compile(const Graph& g, const CompileOptions& o) override {
    compile_threads.push_back(num_threads());
    return std::make_unique<Recording>(cpu_backend()->compile(g, o), run_threads);
  }
  std::vector<int> compile_threads, run_threads;

 private:
  class Recording : public Executable {
   public:
    Recording(std::unique_ptr<Executable> inner, std::vector<int>& log) : inner_(std::move(inner)), log_(log) {
      input_types_ = inner_->input_types();
      output_types_ = inner_->output_types();
    }
    std::vector<Tensor> run(std::span<const Tensor> in) override {
      log_.push_back(num_threads());
      return inner_->run(in);
    }
    void run_into(std::span<const Tensor> in, std::span<Tensor> out) override {
      log_.push_back(num_threads());
      inner_->run_into(in, out);
    }

   private:
    std::unique_ptr<Executable> inner_;
    std::vector<int>& log_;
  };
};

Model add_model() {
  ModelBuilder b(17);
  b.input("x", DType::F32, {int64_t(4)});
  b.output("y", DType::F32, {int64_t(4)});
  b.initializer("w", Tensor({1.f, 2.f, 3.f, 4.f}));
  b.node("Add", {"x", "w"}, {"y"});
  return Model::from_bytes(b.bytes());
}

TEST(SessionOptions, ThreadsApplyToThisSessionsRunsOnly) {
  const int before = num_threads();
  auto backend = std::make_shared<RecordingBackend>();
  InferenceSession s(add_model(), {.backend = backend, .threads = 1});
  Tensor y = s.run({{"x", Tensor({1.f, 1.f, 1.f, 1.f})}}).at("y");
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{2.f, 3.f, 4.f, 5.f}));
  s.run({{"x", Tensor({1.f, 1.f, 1.f, 1.f})}});
  EXPECT_EQ(backend->compile_threads, std::vector<int>{1});
  EXPECT_EQ(backend->run_threads, (std::vector<int>{1, 1}));
  EXPECT_EQ(num_threads(), before) << "the process-wide setting comes back after each run";
  // 0: the process-wide setting.
  auto shared = std::make_shared<RecordingBackend>();
  InferenceSession t(add_model(), {.backend = shared});
  t.run({{"x", Tensor({1.f, 1.f, 1.f, 1.f})}});
  EXPECT_EQ(shared->run_threads, std::vector<int>{before});
  EXPECT_THROW_WITH(InferenceSession(add_model(), {.threads = -2}), "threads", "-2");
}

TEST(SessionOptions, TracingEvaluatesWithTheInjectedEvaluator) {
  // Shape -> Add -> Reshape target: a known value the tracer computes with SessionOptions::evaluate.
  ModelBuilder b(17);
  b.input("x", DType::F32, {int64_t(2), int64_t(3)});
  b.output("y", DType::F32);
  b.node("Shape", {"x"}, {"s"});
  b.initializer("delta", Tensor::from_vector(std::vector<int64_t>{1, -1}, Shape{2}));
  b.node("Add", {"s", "delta"}, {"t"});
  b.node("Reshape", {"x", "t"}, {"y"});
  Model m = Model::from_bytes(b.bytes());
  int calls = 0;
  OpEvaluator host = host_evaluator();
  SessionOptions o;
  o.evaluate = [&](const Op& op, const std::vector<ValueType>& types, const std::vector<Tensor>& in) {
    ++calls;
    return host(op, types, in);
  };
  InferenceSession s(m, o);
  Tensor y = s.run({{"x", Tensor({{1.f, 2.f, 3.f}, {4.f, 5.f, 6.f}})}}).at("y");
  EXPECT_EQ(y.shape(), (Shape{3, 2}));
  EXPECT_GT(calls, 0);
  // Without an evaluator the Reshape target cannot be known: an error naming the op, not a crash.
  SessionOptions none;
  none.evaluate = nullptr;
  InferenceSession n(m, none);
  EXPECT_THROW_WITH(n.run({{"x", Tensor({{1.f, 2.f, 3.f}, {4.f, 5.f, 6.f}})}}), "Reshape");
}

}  // namespace
}  // namespace graft::onnx
