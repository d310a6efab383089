// Whole-model checks: a small MLP against hand-derived gradients, and a transformer-style block
// (layer_norm, attention with softmax, gelu MLP, residuals) finite-difference checked end to end.
#include <cmath>

#include "grad_check.h"

namespace graft {
namespace {

using testing::random_tensor;
using N = const std::vector<Node>&;

// Row-major helpers on std::vector<double>.
using Mat = std::vector<double>;
Mat matmul(const Mat& a, const Mat& b, int m, int k, int n, bool ta = false, bool tb = false) {
  Mat c(size_t(m * n), 0.0);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j)
      for (int l = 0; l < k; ++l)
        c[size_t(i * n + j)] += (ta ? a[size_t(l * m + i)] : a[size_t(i * k + l)]) *
                                (tb ? b[size_t(j * k + l)] : b[size_t(l * n + j)]);
  return c;
}

TEST(ModelGrad, MlpMatchesHandDerivedGradients) {
  const int B = 4, D = 3, H = 5, O = 2;
  Tensor x = random_tensor({B, D}, 1), t = random_tensor({B, O}, 2);
  Tensor w1 = random_tensor({D, H}, 3), b1 = random_tensor({H}, 4), w2 = random_tensor({H, O}, 5),
         b2 = random_tensor({O}, 6);
  Graph g;
  Node X = g.parameter("x", DType::F64, {B, D}), T = g.parameter("t", DType::F64, {B, O});
  Node W1 = g.parameter("w1", DType::F64, {D, H}), B1 = g.parameter("b1", DType::F64, {H});
  Node W2 = g.parameter("w2", DType::F64, {H, O}), B2 = g.parameter("b2", DType::F64, {O});
  Node h = Tanh(MatMul(X, W1) + B1);
  Node y = MatMul(h, W2) + B2;
  Node d = y - T;
  Node loss = ReduceMean(d * d);
  auto grads = Gradient(loss, {W1, B1, W2, B2, X});
  std::vector<Node> outs{loss};
  outs.insert(outs.end(), grads.begin(), grads.end());
  g.set_outputs(outs);
  auto got = cpu_backend()->compile(g)->run({x, t, w1, b1, w2, b2});

  // By hand: z = x W1 + b1, h = tanh z, y = h W2 + b2, L = mean((y - t)^2)
  Mat X_ = x.to_vector<double>(), T_ = t.to_vector<double>(), W1_ = w1.to_vector<double>(),
      B1_ = b1.to_vector<double>(), W2_ = w2.to_vector<double>(), B2_ = b2.to_vector<double>();
  Mat z = matmul(X_, W1_, B, D, H);
  Mat hh(z.size());
  for (int i = 0; i < B; ++i)
    for (int j = 0; j < H; ++j) hh[size_t(i * H + j)] = std::tanh(z[size_t(i * H + j)] + B1_[size_t(j)]);
  Mat yy = matmul(hh, W2_, B, H, O);
  Mat dy(yy.size());
  for (int i = 0; i < B; ++i)
    for (int j = 0; j < O; ++j) {
      size_t e = size_t(i * O + j);
      dy[e] = 2.0 * (yy[e] + B2_[size_t(j)] - T_[e]) / (B * O);
    }
  Mat dW2 = matmul(hh, dy, H, B, O, /*ta=*/true);
  Mat dB2(size_t(O), 0.0);
  for (int i = 0; i < B; ++i)
    for (int j = 0; j < O; ++j) dB2[size_t(j)] += dy[size_t(i * O + j)];
  Mat dh = matmul(dy, W2_, B, O, H, false, /*tb=*/true);
  Mat dz(dh.size());
  for (size_t e = 0; e < dz.size(); ++e) dz[e] = dh[e] * (1 - hh[e] * hh[e]);
  Mat dW1 = matmul(X_, dz, D, B, H, /*ta=*/true);
  Mat dB1(size_t(H), 0.0);
  for (int i = 0; i < B; ++i)
    for (int j = 0; j < H; ++j) dB1[size_t(j)] += dz[size_t(i * H + j)];
  Mat dX = matmul(dz, W1_, B, H, D, false, /*tb=*/true);

  std::vector<Mat> want{dW1, dB1, dW2, dB2, dX};
  for (size_t k = 0; k < want.size(); ++k) {
    Mat have = got[k + 1].to_vector<double>();
    ASSERT_EQ(have.size(), want[k].size());
    for (size_t e = 0; e < have.size(); ++e) EXPECT_NEAR(have[e], want[k][e], 1e-12) << "gradient " << k << " [" << e << "]";
  }
}

// [L, D] -> attention with `heads` heads (causal), pre-norm, gelu MLP, two residuals.
Node transformer_block(N p, int heads) {
  Node x = p[0];
  int64_t L = x.dim(0), D = x.dim(1), Dh = D / heads;
  Node h = LayerNorm(x, p[1], p[2], -1, 1e-5);
  auto split = [&](Node t) { return Transpose(Reshape(t, {L, heads, Dh}), {1, 0, 2}); };  // [H, L, Dh]
  Node q = split(MatMul(h, p[3])), k = split(MatMul(h, p[4])), v = split(MatMul(h, p[5]));
  Node scores = MatMul(q, Transpose(k, {0, 2, 1})) * (1.0 / std::sqrt(double(Dh)));
  Graph& g = *x.graph();
  Node causal = LessEqual(Iota(g, DType::I32, Shape{L, L}, 1), Iota(g, DType::I32, Shape{L, L}, 0));
  scores = Select(causal, scores, ScalarLike(scores, -1e9));
  Node attn = MatMul(Softmax(scores, -1), v);                    // [H, L, Dh]
  Node merged = Reshape(Transpose(attn, {1, 0, 2}), {L, D});
  Node x1 = x + MatMul(merged, p[6]);
  Node h2 = LayerNorm(x1, p[7], p[8], -1, 1e-5);
  Node ff = MatMul(Gelu(MatMul(h2, p[9]) + p[10]), p[11]);
  return x1 + ff;
}

std::vector<Tensor> block_inputs(int64_t L, int64_t D, int64_t F) {
  double s = 1.0 / std::sqrt(double(D));
  return {random_tensor({L, D}, 1, -2, 2),
          random_tensor({D}, 2, 0.5, 1.5), random_tensor({D}, 3, -0.2, 0.2),
          random_tensor({D, D}, 4, -s, s), random_tensor({D, D}, 5, -s, s), random_tensor({D, D}, 6, -s, s),
          random_tensor({D, D}, 7, -s, s),
          random_tensor({D}, 8, 0.5, 1.5), random_tensor({D}, 9, -0.2, 0.2),
          random_tensor({D, F}, 10, -s, s), random_tensor({F}, 11, -0.1, 0.1), random_tensor({F, D}, 12, -s, s)};
}

TEST(ModelGrad, TransformerBlockMatchesFiniteDifferences) {
  EXPECT_GRADIENTS(block_inputs(4, 6, 8), [](N p) { return transformer_block(p, 2); });
}

TEST(ModelGrad, TransformerBlockFloat32AgreesWithFloat64) {
  std::vector<Tensor> in64 = block_inputs(5, 8, 16);
  auto grads_of = [&](DType dt) {
    Graph g;
    std::vector<Node> p;
    for (size_t i = 0; i < in64.size(); ++i) p.push_back(g.parameter("p" + std::to_string(i), dt, in64[i].shape()));
    Node y = transformer_block(p, 2);
    Node loss = ReduceSum(y * y);
    g.set_outputs(Gradient(loss, p));
    std::vector<Tensor> in;
    for (const Tensor& t : in64) in.push_back(t.cast(dt));
    return cpu_backend()->compile(g)->run(std::span<const Tensor>(in));
  };
  auto g64 = grads_of(DType::F64), g32 = grads_of(DType::F32);
  for (size_t k = 0; k < g64.size(); ++k) {
    ASSERT_EQ(g32[k].dtype(), DType::F32);
    EXPECT_TRUE(allclose(g32[k].cast(DType::F64), g64[k], 1e-4, 1e-4)) << "gradient " << k << " off by "
                                                                     << max_abs_diff(g32[k].cast(DType::F64), g64[k]);
  }
}

}  // namespace
}  // namespace graft
