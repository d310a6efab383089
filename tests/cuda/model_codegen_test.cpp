// The generated kernels of a whole model compile with NVRTC (no GPU needed): the shared MiniLM traced at
// two shapes, and its backward pass (gradients of every weight), through the CUDA backend's own passes.
// Also reports how long NVRTC takes on it, cold (the budget for compiling MiniLM is 1 s).
#include <gtest/gtest.h>

#include <chrono>

#include "backend/cuda/executable.h"
#include "backend/cuda/nvrtc.h"
#include "graft/autodiff/gradient.h"
#include "graft/graph/ops.h"
#include "graft/onnx/model.h"
#include "onnx/onnx_test_util.h"

using namespace graft;

class MiniLMCodegen : public graft::onnx::testing::SharedMiniLM {};

TEST_F(MiniLMCodegen, InferenceAndBackwardKernelsCompile) {
  ::setenv("GRAFT_CUDA_CACHE", "off", 1);  // really compile
  graft::onnx::Model m = graft::onnx::Model::load(model_dir_ / "minilm_l6_opset14.onnx");
  for (auto [b, s, backward] : {std::tuple<int64_t, int64_t, bool>{2, 7, false}, {32, 128, false}, {4, 16, true}}) {
    Graph g("minilm");
    std::map<std::string, Node> in;
    for (const char* name : {"input_ids", "attention_mask", "token_type_ids"}) in[name] = g.parameter(name, DType::I64, {b, s});
    Node h = m.call(g, in, {"last_hidden_state"}).at("last_hidden_state");
    std::vector<Node> outs{h};
    if (backward) {
      // Gradients with respect to the weight matrices (constants here: autodiff takes any node), as a
      // train step computes them.
      Node loss = ReduceSum(h * h);
      std::vector<Node> wrt;
      for (int i = 0; i < g.num_ops(); ++i) {
        const Op& op = g.op(i);
        if (op.kind == OpKind::Constant && op.outputs[0].dtype == DType::F32 && op.outputs[0].shape.rank() == 2 &&
            op.outputs[0].shape.size() > 1000)
          wrt.push_back(g.node(ValueRef{i, 0}));
      }
      ASSERT_GT(wrt.size(), 30u);
      for (Node d : Gradient(loss, wrt)) outs.push_back(d);
    }
    g.set_outputs(outs);
    int kernels = 0;
    const std::string src = cuda::generated_source(g, CompileOptions{}, &kernels);
    auto t0 = std::chrono::steady_clock::now();
    try {
      cuda::compile_to_cubin(src, 90);
    } catch (const Error& e) {
      FAIL() << e.what();
    }
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("[nvrtc] MiniLM b%lld x s%lld%s: %d distinct generated kernels, %.0f ms cold (sm_90)\n", (long long)b,
                (long long)s, backward ? " + backward" : "", kernels, ms);
    EXPECT_GT(kernels, 5);
  }
  ::unsetenv("GRAFT_CUDA_CACHE");
}
