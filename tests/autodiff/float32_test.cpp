// Gradients of float32 graphs: every rule must produce cotangents of its operand's dtype, and the
// results must agree with the float64 ones to float32 accuracy.
#include "grad_check.h"

namespace graft {
namespace {

using testing::indices;
using testing::random_tensor;

// A graph touching most rule families: convolution, pooling, gather, sort, scans, norms, attention.
Node everything(const std::vector<Node>& p) {
  Node x = p[0], w = p[1];
  ConvolutionAttrs ca;
  ca.strides = {1, 2};
  ca.pad_low = {1, 1};
  ca.pad_high = {1, 0};
  Node c = Convolution(x, w, ca);                                   // [2, 4, 6, 3]
  Node pooled = MaxPool(c, {2, 2}, {2, 1}) + AvgPool(c, {2, 2}, {2, 1});  // [2, 4, 3, 2]
  Node flat = Reshape(pooled, {2, 24});
  Node taken = Take(flat, p[2], 1);                                 // [2, 5]
  Node sorted = Sort({taken}, -1, true)[0] + TopK(flat, 5).first;
  Node scan = CumSum(sorted, 1) * CumProd(Logistic(sorted), 1, true);
  Node normed = LayerNorm(scan, std::nullopt, std::nullopt) + RmsNorm(scan, std::nullopt);
  Node a = Reshape(normed, {1, 2, 5});
  Node attn = ScaledDotProductAttention(Reshape(Concatenate({a, a}, 0), {1, 2, 2, 5}),
                                        Reshape(Pad(a, {1, 0, 0}, {0, 0, 0}, PadMode::Edge), {1, 2, 2, 5}),
                                        Reshape(Concatenate({a, Reverse(a, {2})}, 0), {1, 2, 2, 5}));
  return Gelu(attn, true) + Silu(LogSoftmax(attn, -1));
}

TEST(Float32Grad, AgreesWithFloat64) {
  std::vector<Tensor> in64{random_tensor({2, 3, 6, 5}, 1), random_tensor({4, 3, 3, 2}, 2),
                           indices({0, 7, 23, 7, 12}, Shape{5})};
  auto grads = [&](DType dt) {
    Graph g;
    std::vector<Node> p;
    std::vector<Tensor> in;
    for (size_t i = 0; i < in64.size(); ++i) {
      DType t = is_floating(in64[i].dtype()) ? dt : in64[i].dtype();
      p.push_back(g.parameter("p" + std::to_string(i), t, in64[i].shape()));
      in.push_back(in64[i].cast(t));
    }
    Node y = everything(p);
    auto gr = Gradient(ReduceSum(y * y), {p[0], p[1]});
    EXPECT_EQ(gr[0].dtype(), dt);
    g.set_outputs(gr);
    return cpu_backend()->compile(g)->run(std::span<const Tensor>(in));
  };
  auto g64 = grads(DType::F64), g32 = grads(DType::F32);
  for (size_t k = 0; k < g64.size(); ++k)
    EXPECT_TRUE(allclose(g32[k].cast(DType::F64), g64[k], 1e-3, 1e-4))
        << "gradient " << k << " off by " << max_abs_diff(g32[k].cast(DType::F64), g64[k]);
}

}  // namespace
}  // namespace graft
