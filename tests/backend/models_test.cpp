// Small end-to-end models written with the builder, against plain-loop double-precision references:
// an MLP classifier and a transformer encoder block (also through Exec with two batch sizes).
#include <gtest/gtest.h>

#include <cmath>

#include "test_util.h"

using namespace graft;
using graft::testing::random_tensor;
using graft::testing::run_graph;

namespace {

using Vec = std::vector<double>;

Vec values(const Tensor& t) {
  Vec v;
  for (int64_t i = 0; i < t.size(); ++i) v.push_back(t.value_as_double(i));
  return v;
}

// y[m, n] = sum_k x[m, k] w[k, n] + b[n]
Vec linear(const Vec& x, int64_t M, int64_t K, const Tensor& w, const Tensor& b) {
  int64_t N = w.shape()[1];
  Vec wv = values(w), bv = values(b), y(size_t(M * N));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double acc = bv[size_t(n)];
      for (int64_t k = 0; k < K; ++k) acc += x[size_t(m * K + k)] * wv[size_t(k * N + n)];
      y[size_t(m * N + n)] = acc;
    }
  return y;
}

void softmax_rows(Vec& x, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    double* p = x.data() + r * cols;
    double mx = -INFINITY, s = 0;
    for (int64_t c = 0; c < cols; ++c) mx = std::max(mx, p[c]);
    for (int64_t c = 0; c < cols; ++c) s += (p[c] = std::exp(p[c] - mx));
    for (int64_t c = 0; c < cols; ++c) p[c] /= s;
  }
}

void layer_norm_rows(Vec& x, int64_t rows, int64_t cols, const Tensor& g, const Tensor& b, double eps) {
  Vec gv = values(g), bv = values(b);
  for (int64_t r = 0; r < rows; ++r) {
    double* p = x.data() + r * cols;
    double mean = 0, var = 0;
    for (int64_t c = 0; c < cols; ++c) mean += p[c];
    mean /= double(cols);
    for (int64_t c = 0; c < cols; ++c) var += (p[c] - mean) * (p[c] - mean);
    var /= double(cols);
    double inv = 1 / std::sqrt(var + eps);
    for (int64_t c = 0; c < cols; ++c) p[c] = (p[c] - mean) * inv * gv[size_t(c)] + bv[size_t(c)];
  }
}

double max_abs_error(const Tensor& got, const Vec& want) {
  EXPECT_EQ(size_t(got.size()), want.size());
  double m = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    double d = std::fabs(got.value_as_double(int64_t(i)) - want[i]);
    if (std::isnan(d)) return INFINITY;
    m = std::max(m, d);
  }
  return m;
}

}  // namespace

TEST(Models, MlpWithSoftmax) {
  const int64_t B = 8, I = 32, H = 64, O = 10;
  Tensor x = random_tensor(DType::F32, Shape{B, I}, 1, -2, 2);
  Tensor w1 = random_tensor(DType::F32, Shape{I, H}, 2, -0.3, 0.3), b1 = random_tensor(DType::F32, Shape{H}, 3, -0.5, 0.5);
  Tensor w2 = random_tensor(DType::F32, Shape{H, O}, 4, -0.4, 0.4), b2 = random_tensor(DType::F32, Shape{O}, 5, -0.5, 0.5);
  for (bool fuse : {true, false}) {
    CompileOptions opt;
    opt.fuse_elementwise = fuse;
    opt.use_fused_composites = fuse;
    auto outs = run_graph(
        [](std::vector<Node> in) {
          Node h = Max(MatMul(in[0], in[1]) + in[2], ScalarLike(in[0], 0.0));
          Node logits = MatMul(h, in[3]) + in[4];
          return std::vector<Node>{Softmax(logits, -1), logits};
        },
        {x, w1, b1, w2, b2}, opt);
    Vec h = linear(values(x), B, I, w1, b1);
    for (double& v : h) v = std::max(v, 0.0);
    Vec logits = linear(h, B, H, w2, b2);
    Vec probs = logits;
    softmax_rows(probs, B, O);
    ASSERT_EQ(outs[0].shape(), (Shape{B, O}));
    EXPECT_LE(max_abs_error(outs[1], logits), 1e-5) << "logits, fuse=" << fuse;
    EXPECT_LE(max_abs_error(outs[0], probs), 1e-5) << "probabilities, fuse=" << fuse;
    for (int64_t b = 0; b < B; ++b) {
      double s = 0;
      for (int64_t o = 0; o < O; ++o) s += outs[0].value_as_double(b * O + o);
      EXPECT_NEAR(s, 1.0, 1e-6);
    }
  }
}

namespace {

constexpr int64_t kD = 64, kHeads = 4, kDh = 16, kL = 16, kFF = 128;

struct BlockWeights {
  Tensor wq, bq, wk, bk, wv, bv, wo, bo, g1, be1, w1, b1, w2, b2, g2, be2;
  std::vector<Tensor> list() const { return {wq, bq, wk, bk, wv, bv, wo, bo, g1, be1, w1, b1, w2, b2, g2, be2}; }
};

BlockWeights make_weights() {
  uint32_t s = 1000;
  double a = 1 / std::sqrt(double(kD)), f = 1 / std::sqrt(double(kFF));
  BlockWeights w;
  w.wq = random_tensor(DType::F32, Shape{kD, kD}, s++, -a, a);
  w.bq = random_tensor(DType::F32, Shape{kD}, s++, -0.1, 0.1);
  w.wk = random_tensor(DType::F32, Shape{kD, kD}, s++, -a, a);
  w.bk = random_tensor(DType::F32, Shape{kD}, s++, -0.1, 0.1);
  w.wv = random_tensor(DType::F32, Shape{kD, kD}, s++, -a, a);
  w.bv = random_tensor(DType::F32, Shape{kD}, s++, -0.1, 0.1);
  w.wo = random_tensor(DType::F32, Shape{kD, kD}, s++, -a, a);
  w.bo = random_tensor(DType::F32, Shape{kD}, s++, -0.1, 0.1);
  w.g1 = random_tensor(DType::F32, Shape{kD}, s++, 0.5, 1.5);
  w.be1 = random_tensor(DType::F32, Shape{kD}, s++, -0.2, 0.2);
  w.w1 = random_tensor(DType::F32, Shape{kD, kFF}, s++, -a, a);
  w.b1 = random_tensor(DType::F32, Shape{kFF}, s++, -0.1, 0.1);
  w.w2 = random_tensor(DType::F32, Shape{kFF, kD}, s++, -f, f);
  w.b2 = random_tensor(DType::F32, Shape{kD}, s++, -0.1, 0.1);
  w.g2 = random_tensor(DType::F32, Shape{kD}, s++, 0.5, 1.5);
  w.be2 = random_tensor(DType::F32, Shape{kD}, s++, -0.2, 0.2);
  return w;
}

// Key padding mask [B, 1, 1, L]: sequence b has length kL - 5 * b (true = attend).
Tensor padding_mask(int64_t B) {
  std::vector<bool> m;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < kL; ++j) m.push_back(j < kL - 5 * b);
  return Tensor::from_vector(m, Shape{B, 1, 1, kL});
}

// in: x [B, L, D], mask [B, 1, 1, L], then the 16 weights in BlockWeights::list() order.
Node encoder_block(const std::vector<Node>& in) {
  Node x = in[0], mask = in[1];
  int64_t B = x.dim(0);
  auto w = [&](int i) { return in[size_t(2 + i)]; };
  auto heads = [&](Node t) { return Transpose(Reshape(t, {B, kL, kHeads, kDh}), {0, 2, 1, 3}); };
  Node q = heads(MatMul(x, w(0)) + w(1));
  Node k = heads(MatMul(x, w(2)) + w(3));
  Node v = heads(MatMul(x, w(4)) + w(5));
  Node att = ScaledDotProductAttention(q, k, v, mask);                 // [B, H, L, Dh]
  Node merged = Reshape(Transpose(att, {0, 2, 1, 3}), {B, kL, kD});
  Node h1 = LayerNorm(x + (MatMul(merged, w(6)) + w(7)), w(8), w(9), -1, 1e-5);
  Node ff = MatMul(Gelu(MatMul(h1, w(10)) + w(11)), w(12)) + w(13);
  return LayerNorm(h1 + ff, w(14), w(15), -1, 1e-5);
}

Vec ref_encoder_block(const Tensor& x, const Tensor& mask, const BlockWeights& w) {
  int64_t B = x.shape()[0], rows = B * kL;
  Vec xv = values(x);
  Vec q = linear(xv, rows, kD, w.wq, w.bq), k = linear(xv, rows, kD, w.wk, w.bk), v = linear(xv, rows, kD, w.wv, w.bv);
  Vec merged(size_t(rows * kD), 0.0);
  double scale = 1 / std::sqrt(double(kDh));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < kHeads; ++h)
      for (int64_t i = 0; i < kL; ++i) {
        Vec s(static_cast<size_t>(kL), 0.0);
        for (int64_t j = 0; j < kL; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < kDh; ++d)
            dot += q[size_t((b * kL + i) * kD + h * kDh + d)] * k[size_t((b * kL + j) * kD + h * kDh + d)];
          bool attend = mask.value_as_double(b * kL + j) != 0;
          s[size_t(j)] = attend ? dot * scale : -INFINITY;
        }
        softmax_rows(s, 1, kL);
        for (int64_t d = 0; d < kDh; ++d) {
          double acc = 0;
          for (int64_t j = 0; j < kL; ++j) acc += s[size_t(j)] * v[size_t((b * kL + j) * kD + h * kDh + d)];
          merged[size_t((b * kL + i) * kD + h * kDh + d)] = acc;
        }
      }
  Vec o = linear(merged, rows, kD, w.wo, w.bo);
  Vec h1(size_t(rows * kD));
  for (size_t i = 0; i < h1.size(); ++i) h1[i] = xv[i] + o[i];
  layer_norm_rows(h1, rows, kD, w.g1, w.be1, 1e-5);
  Vec a = linear(h1, rows, kD, w.w1, w.b1);
  for (double& e : a) e = 0.5 * e * (1 + std::erf(e / std::sqrt(2.0)));
  Vec ff = linear(a, rows, kFF, w.w2, w.b2);
  Vec out(size_t(rows * kD));
  for (size_t i = 0; i < out.size(); ++i) out[i] = h1[i] + ff[i];
  layer_norm_rows(out, rows, kD, w.g2, w.be2, 1e-5);
  return out;
}

}  // namespace

TEST(Models, TransformerEncoderBlock) {
  BlockWeights w = make_weights();
  Tensor x = random_tensor(DType::F32, Shape{2, kL, kD}, 7, -2, 2);
  Tensor mask = padding_mask(2);
  Vec want = ref_encoder_block(x, mask, w);
  std::vector<Tensor> inputs{x, mask};
  for (const Tensor& t : w.list()) inputs.push_back(t);
  for (bool fused : {true, false}) {
    CompileOptions opt;
    opt.use_fused_composites = fused;
    opt.fuse_elementwise = fused;
    auto outs = run_graph([](std::vector<Node> in) { return std::vector<Node>{encoder_block(in)}; }, inputs, opt);
    ASSERT_EQ(outs[0].shape(), (Shape{2, kL, kD}));
    EXPECT_LE(max_abs_error(outs[0], want), 1e-5) << "fused=" << fused;
  }
  // The mask matters: without it the padded sequence's outputs change.
  std::vector<Tensor> unmasked = inputs;
  unmasked[1] = Tensor::from_vector(std::vector<bool>(size_t(2 * kL), true), Shape{2, 1, 1, kL});
  auto outs = run_graph([](std::vector<Node> in) { return std::vector<Node>{encoder_block(in)}; }, unmasked);
  EXPECT_GT(max_abs_error(outs[0], want), 1e-3);
}

TEST(Models, TransformerEncoderBlockThroughExecTwoBatchSizes) {
  BlockWeights w = make_weights();
  Exec f(cpu_backend(), [](const std::vector<Node>& in) { return encoder_block(in); });
  for (int64_t B : {2, 3, 2, 3}) {
    Tensor x = random_tensor(DType::F32, Shape{B, kL, kD}, uint32_t(20 + B), -2, 2);
    Tensor mask = padding_mask(B);
    std::vector<Tensor> inputs{x, mask};
    for (const Tensor& t : w.list()) inputs.push_back(t);
    std::vector<Tensor> outs = f.call(inputs);
    ASSERT_EQ(outs.size(), 1u);
    ASSERT_EQ(outs[0].shape(), (Shape{B, kL, kD}));
    EXPECT_LE(max_abs_error(outs[0], ref_encoder_block(x, mask, w)), 1e-5) << "batch " << B;
  }
  EXPECT_EQ(f.num_compilations(), 2);
  EXPECT_EQ(f.cache_size(), 2u);
}
