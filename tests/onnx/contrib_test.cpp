// com.microsoft attention-family converters (Attention, MultiHeadAttention, GroupQueryAttention,
// RotaryEmbedding, EmbedLayerNormalization, MatMulNBits), against plain-loop references in double.
#include <cmath>
#include <functional>

#include "onnx_test_util.h"

namespace graft::onnx {
namespace {

using testing::ModelBuilder;
using Attrs = std::function<void(::onnx::NodeProto&)>;

struct CIn {
  std::string name;
  Tensor value;
  bool constant = false;
};

std::vector<Tensor> run_ms(const std::string& op, const std::vector<CIn>& inputs, Attrs attrs, int num_outputs = 1,
                           std::vector<std::string> outs = {}) {
  ModelBuilder b(17);
  b.import("com.microsoft", 1);
  std::map<std::string, Tensor> feeds;
  std::vector<std::string> names;
  for (const auto& in : inputs) {
    names.push_back(in.name);
    if (in.name.empty()) continue;
    if (in.constant) {
      b.initializer(in.name, in.value);
    } else {
      std::vector<testing::DimSpec> dims(in.value.shape().dims().begin(), in.value.shape().dims().end());
      b.input(in.name, in.value.dtype(), dims);
      feeds[in.name] = in.value;
    }
  }
  if (outs.empty())
    for (int i = 0; i < num_outputs; ++i) outs.push_back("out" + std::to_string(i));
  for (const auto& o : outs)
    if (!o.empty()) b.output_untyped(o);
  auto& n = b.node(op, names, outs, "node_under_test", "com.microsoft");
  if (attrs) attrs(n);
  auto res = testing::run_model(b.model(), feeds);
  std::vector<Tensor> v;
  for (const auto& o : outs)
    if (!o.empty()) v.push_back(res.at(o));
  return v;
}

std::vector<double> vec(const Tensor& t) { return t.to_vector<double>(); }

void expect_near_vec(const Tensor& got, Shape shape, const std::vector<double>& want, double tol = 1e-4) {
  ASSERT_EQ(got.shape(), shape) << got.str();
  auto g = vec(got);
  ASSERT_EQ(g.size(), want.size());
  double worst = 0;
  for (size_t i = 0; i < g.size(); ++i) worst = std::max(worst, std::abs(g[i] - want[i]));
  EXPECT_LE(worst, tol) << got.str();
}

Tensor i32(std::vector<int32_t> v, Shape s) { return Tensor::from_vector(v, s); }

// softmax(q k^T * scale + bias(b, n, i, j)) v. q: [B, S, N, H] flat, k: [B, T, Nkv, H], v: [B, T, Nkv, Hv].
// Returns [B, S, N * Hv]. bias returning -inf-like values drops keys.
std::vector<double> ref_attention(const std::vector<double>& q, const std::vector<double>& k,
                                  const std::vector<double>& v, int64_t B, int64_t S, int64_t T, int64_t N,
                                  int64_t Nkv, int64_t H, int64_t Hv, double scale,
                                  const std::function<double(int64_t, int64_t, int64_t, int64_t)>& bias) {
  std::vector<double> out(size_t(B * S * N * Hv), 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t n = 0; n < N; ++n) {
      int64_t kn = n / (N / Nkv);
      for (int64_t i = 0; i < S; ++i) {
        std::vector<double> sc(static_cast<size_t>(T));
        double mx = -1e300;
        for (int64_t j = 0; j < T; ++j) {
          double d = 0;
          for (int64_t h = 0; h < H; ++h)
            d += q[size_t(((b * S + i) * N + n) * H + h)] * k[size_t(((b * T + j) * Nkv + kn) * H + h)];
          sc[size_t(j)] = d * scale + bias(b, n, i, j);
          mx = std::max(mx, sc[size_t(j)]);
        }
        double sum = 0;
        for (auto& e : sc) sum += (e = std::exp(e - mx));
        for (int64_t j = 0; j < T; ++j)
          for (int64_t h = 0; h < Hv; ++h)
            out[size_t(((b * S + i) * N + n) * Hv + h)] +=
                sc[size_t(j)] / sum * v[size_t(((b * T + j) * Nkv + kn) * Hv + h)];
      }
    }
  return out;
}

// x [M, K] @ w [K, Nn] + bias
std::vector<double> ref_linear(const std::vector<double>& x, const std::vector<double>& w,
                               const std::vector<double>& bias, int64_t M, int64_t K, int64_t Nn) {
  std::vector<double> y(size_t(M * Nn));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < Nn; ++n) {
      double s = bias.empty() ? 0 : bias[size_t(n)];
      for (int64_t k = 0; k < K; ++k) s += x[size_t(m * K + k)] * w[size_t(k * Nn + n)];
      y[size_t(m * Nn + n)] = s;
    }
  return y;
}

// columns [a, b) of a row-major [M, W] matrix
std::vector<double> cols(const std::vector<double>& x, int64_t M, int64_t W, int64_t a, int64_t b) {
  std::vector<double> r;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t j = a; j < b; ++j) r.push_back(x[size_t(m * W + j)]);
  return r;
}

// ---- Attention ----

TEST(ContribAttention, PackedWeightsBiasAndRawMask) {
  const int64_t B = 2, S = 4, Din = 6, N = 2, D = 8, H = D / N;
  Tensor x = testing::random_tensor({B, S, Din}, 1);
  Tensor w = testing::random_tensor({Din, 3 * D}, 2);
  Tensor bias = testing::random_tensor({3 * D}, 3);
  Tensor mask = i32({1, 1, 1, 1, 1, 1, 0, 0}, {B, S});
  auto y = run_ms("Attention", {{"x", x}, {"w", w, true}, {"bias", bias, true}, {"mask", mask}},
                  [](auto& n) { ModelBuilder::attr(n, "num_heads", int64_t(N)); })[0];
  auto qkv = ref_linear(vec(x), vec(w), vec(bias), B * S, Din, 3 * D);
  auto m = vec(mask);
  auto want = ref_attention(cols(qkv, B * S, 3 * D, 0, D), cols(qkv, B * S, 3 * D, D, 2 * D),
                            cols(qkv, B * S, 3 * D, 2 * D, 3 * D), B, S, S, N, N, H, H, 1 / std::sqrt(double(H)),
                            [&](int64_t b, int64_t, int64_t, int64_t j) { return m[size_t(b * S + j)] ? 0.0 : -10000.0; });
  expect_near_vec(y, {B, S, D}, want);
}

TEST(ContribAttention, UnidirectionalLengthsScaleAndPresent) {
  const int64_t B = 2, S = 5, Din = 4, N = 2, D = 6, Dv = 4, H = D / N, Hv = Dv / N;
  Tensor x = testing::random_tensor({B, S, Din}, 4);
  Tensor w = testing::random_tensor({Din, 2 * D + Dv}, 5);
  Tensor lens = i32({5, 3}, {B});
  auto outs = run_ms("Attention", {{"x", x}, {"w", w, true}, {"", {}}, {"lens", lens}}, [](auto& n) {
    ModelBuilder::attr(n, "num_heads", int64_t(N));
    ModelBuilder::attr(n, "unidirectional", int64_t(1));
    ModelBuilder::attr(n, "scale", 0.3);
    ModelBuilder::attr(n, "qkv_hidden_sizes", std::vector<int64_t>{D, D, Dv});
  });
  auto qkv = ref_linear(vec(x), vec(w), {}, B * S, Din, 2 * D + Dv);
  auto l = vec(lens);
  auto want = ref_attention(cols(qkv, B * S, 2 * D + Dv, 0, D), cols(qkv, B * S, 2 * D + Dv, D, 2 * D),
                            cols(qkv, B * S, 2 * D + Dv, 2 * D, 2 * D + Dv), B, S, S, N, N, H, Hv, 0.30000001192092896,
                            [&](int64_t b, int64_t, int64_t i, int64_t j) {
                              return (j <= i && j < l[size_t(b)]) ? 0.0 : -10000.0;
                            });
  expect_near_vec(outs[0], {B, S, Dv}, want);
}

TEST(ContribAttention, PresentStacksKeysAndValues) {
  const int64_t B = 1, S = 3, Din = 4, N = 2, D = 4;
  Tensor x = testing::random_tensor({B, S, Din}, 6);
  Tensor w = testing::random_tensor({Din, 3 * D}, 7);
  auto outs = run_ms("Attention", {{"x", x}, {"w", w, true}},
                     [](auto& n) { ModelBuilder::attr(n, "num_heads", int64_t(N)); }, 2);
  ASSERT_EQ(outs[1].shape(), Shape({2, B, N, S, D / N}));
  auto qkv = ref_linear(vec(x), vec(w), {}, B * S, Din, 3 * D);
  auto p = vec(outs[1]);
  // present[0, 0, n, s, h] = K[s, n*H + h]; present[1, ...] = V.
  for (int64_t t = 0; t < 2; ++t)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s)
        for (int64_t h = 0; h < D / N; ++h)
          EXPECT_NEAR(p[size_t(((t * N + n) * S + s) * (D / N) + h)], qkv[size_t(s * 3 * D + (t + 1) * D + n * (D / N) + h)],
                      1e-5);
}

TEST(ContribAttention, UnsupportedAttentionAttributesAreNamed) {
  Tensor x = testing::random_tensor({1, 2, 4}, 8);
  Tensor w = testing::random_tensor({4, 12}, 9);
  EXPECT_THROW_WITH(run_ms("Attention", {{"x", x}, {"w", w, true}},
                           [](auto& n) {
                             ModelBuilder::attr(n, "num_heads", int64_t(2));
                             ModelBuilder::attr(n, "do_rotary", int64_t(1));
                           }),
                    "node_under_test", "do_rotary");
}

// ---- MultiHeadAttention ----

TEST(ContribAttention, MultiHeadCrossAttentionBiasPaddingMaskAndAttentionBias) {
  const int64_t B = 2, S = 3, L = 5, N = 2, D = 8, Dv = 6, H = D / N, Hv = Dv / N;
  Tensor q = testing::random_tensor({B, S, D}, 11), k = testing::random_tensor({B, L, D}, 12);
  Tensor v = testing::random_tensor({B, L, Dv}, 13), bias = testing::random_tensor({2 * D + Dv}, 14);
  Tensor kpm = i32({1, 1, 1, 1, 1, 1, 1, 0, 0, 0}, {B, L});
  Tensor ab = testing::random_tensor({1, N, S, L}, 15);
  auto y = run_ms("MultiHeadAttention",
                  {{"q", q}, {"k", k}, {"v", v}, {"bias", bias, true}, {"kpm", kpm}, {"ab", ab}},
                  [](auto& n) { ModelBuilder::attr(n, "num_heads", int64_t(N)); })[0];
  auto bv = vec(bias);
  auto add = [](std::vector<double> x, const std::vector<double>& b, int64_t off, int64_t w) {
    for (size_t i = 0; i < x.size(); ++i) x[i] += b[size_t(off) + i % size_t(w)];
    return x;
  };
  auto m = vec(kpm), abv = vec(ab);
  auto want = ref_attention(add(vec(q), bv, 0, D), add(vec(k), bv, D, D), add(vec(v), bv, 2 * D, Dv), B, S, L, N, N, H,
                            Hv, 1 / std::sqrt(double(H)), [&](int64_t b, int64_t n, int64_t i, int64_t j) {
                              return abv[size_t((n * S + i) * L + j)] + (m[size_t(b * L + j)] ? 0.0 : -10000.0);
                            });
  expect_near_vec(y, {B, S, Dv}, want);
}

TEST(ContribAttention, MultiHeadPackedKvAndCausal) {
  const int64_t B = 1, S = 4, N = 2, H = 3;
  Tensor q = testing::random_tensor({B, S, N * H}, 16), kv = testing::random_tensor({B, S, N, 2, H}, 17);
  auto outs = run_ms("MultiHeadAttention", {{"q", q}, {"kv", kv}}, [](auto& n) {
    ModelBuilder::attr(n, "num_heads", int64_t(N));
    ModelBuilder::attr(n, "unidirectional", int64_t(1));
  }, 3);
  auto kvv = vec(kv);
  std::vector<double> kk, vv;
  for (int64_t s = 0; s < S; ++s)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t t = 0; t < 2; ++t)
        for (int64_t h = 0; h < H; ++h) (t ? vv : kk).push_back(kvv[size_t(((s * N + n) * 2 + t) * H + h)]);
  auto want = ref_attention(vec(q), kk, vv, B, S, S, N, N, H, H, 1 / std::sqrt(double(H)),
                            [](int64_t, int64_t, int64_t i, int64_t j) { return j <= i ? 0.0 : -1e30; });
  expect_near_vec(outs[0], {B, S, N * H}, want);
  EXPECT_EQ(outs[1].shape(), Shape({B, N, S, H}));
  EXPECT_EQ(outs[2].shape(), Shape({B, N, S, H}));
}

TEST(ContribAttention, MultiHeadPackedQkvWithBias) {
  const int64_t B = 1, S = 3, N = 2, H = 2;
  Tensor qkv = testing::random_tensor({B, S, N, 3, H}, 42), bias = testing::random_tensor({3 * N * H}, 43);
  auto y = run_ms("MultiHeadAttention", {{"qkv", qkv}, {"", {}}, {"", {}}, {"bias", bias, true}},
                  [](auto& n) { ModelBuilder::attr(n, "num_heads", int64_t(N)); })[0];
  auto pv = vec(qkv), bv = vec(bias);
  std::vector<double> q, k, v;
  for (int64_t s = 0; s < S; ++s)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t h = 0; h < H; ++h) {
        q.push_back(pv[size_t(((s * N + n) * 3 + 0) * H + h)] + bv[size_t(0 * N * H + n * H + h)]);
        k.push_back(pv[size_t(((s * N + n) * 3 + 1) * H + h)] + bv[size_t(1 * N * H + n * H + h)]);
        v.push_back(pv[size_t(((s * N + n) * 3 + 2) * H + h)] + bv[size_t(2 * N * H + n * H + h)]);
      }
  auto want = ref_attention(q, k, v, B, S, S, N, N, H, H, 1 / std::sqrt(double(H)),
                            [](int64_t, int64_t, int64_t, int64_t) { return 0.0; });
  expect_near_vec(y, {B, S, N * H}, want);
}

// ---- GroupQueryAttention ----

TEST(ContribAttention, GroupQueryPrefillWithPaddingAndPresent) {
  const int64_t B = 2, S = 5, N = 4, Nkv = 2, H = 3;
  Tensor q = testing::random_tensor({B, S, N * H}, 18), k = testing::random_tensor({B, S, Nkv * H}, 19);
  Tensor v = testing::random_tensor({B, S, Nkv * H}, 20);
  Tensor seqlens = i32({4, 2}, {B});  // total length - 1: row 1 has 3 real tokens
  Tensor total = Tensor::from_vector(std::vector<int32_t>{int32_t(S)}, Shape{});
  auto outs = run_ms("GroupQueryAttention",
                     {{"q", q}, {"k", k}, {"v", v}, {"", {}}, {"", {}}, {"sk", seqlens}, {"tot", total, true}},
                     [](auto& n) {
                       ModelBuilder::attr(n, "num_heads", int64_t(N));
                       ModelBuilder::attr(n, "kv_num_heads", int64_t(Nkv));
                     },
                     3);
  auto sk = vec(seqlens);
  auto want = ref_attention(vec(q), vec(k), vec(v), B, S, S, N, Nkv, H, H, 1 / std::sqrt(double(H)),
                            [&](int64_t b, int64_t, int64_t i, int64_t j) {
                              return (j <= i && j <= sk[size_t(b)]) ? 0.0 : -1e30;
                            });
  // Rows past a sequence's end are padding: compare only the real tokens.
  auto got = vec(outs[0]);
  ASSERT_EQ(outs[0].shape(), Shape({B, S, N * H}));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i <= sk[size_t(b)]; ++i)
      for (int64_t c = 0; c < N * H; ++c)
        EXPECT_NEAR(got[size_t((b * S + i) * N * H + c)], want[size_t((b * S + i) * N * H + c)], 1e-4);
  ASSERT_EQ(outs[1].shape(), Shape({B, Nkv, S, H}));
  auto pk = vec(outs[1]), kv = vec(k);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t n = 0; n < Nkv; ++n)
      for (int64_t s = 0; s < S; ++s)
        for (int64_t h = 0; h < H; ++h)
          EXPECT_EQ(pk[size_t(((b * Nkv + n) * S + s) * H + h)], kv[size_t(((b * S + s) * Nkv + n) * H + h)]);
}

// Rotates [.., rd] channels of one head vector at position p (ORT layout: halves, or interleaved pairs).
void ref_rotate(double* x, int64_t rd, const std::vector<double>& cosc, const std::vector<double>& sinc, int64_t half,
                int64_t p, bool interleaved) {
  std::vector<double> y(x, x + rd);
  for (int64_t i = 0; i < rd / 2; ++i) {
    double c = cosc[size_t(p * half + i)], s = sinc[size_t(p * half + i)];
    int64_t a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + rd / 2;
    y[size_t(a)] = x[a] * c - x[b] * s;
    y[size_t(b)] = x[b] * c + x[a] * s;
  }
  std::copy(y.begin(), y.end(), x);
}

TEST(ContribAttention, GroupQueryPackedWithRotary) {
  const int64_t B = 1, S = 4, N = 2, Nkv = 1, H = 4, M = 8;
  Tensor qkv = testing::random_tensor({B, S, (N + 2 * Nkv) * H}, 21);
  Tensor cosc = testing::random_tensor({M, H / 2}, 22), sinc = testing::random_tensor({M, H / 2}, 23);
  Tensor seqlens = i32({3}, {B});
  Tensor total = Tensor::from_vector(std::vector<int32_t>{int32_t(S)}, Shape{});
  for (int inter = 0; inter < 2; ++inter) {
    auto y = run_ms("GroupQueryAttention",
                    {{"qkv", qkv}, {"", {}}, {"", {}}, {"", {}}, {"", {}}, {"sk", seqlens}, {"tot", total, true},
                     {"cos", cosc, true}, {"sin", sinc, true}},
                    [&](auto& n) {
                      ModelBuilder::attr(n, "num_heads", int64_t(N));
                      ModelBuilder::attr(n, "kv_num_heads", int64_t(Nkv));
                      ModelBuilder::attr(n, "do_rotary", int64_t(1));
                      ModelBuilder::attr(n, "rotary_interleaved", int64_t(inter));
                    })[0];
    auto all = vec(qkv), cv = vec(cosc), sv = vec(sinc);
    int64_t W = (N + 2 * Nkv) * H;
    for (int64_t s = 0; s < S; ++s)
      for (int64_t hd = 0; hd < N + Nkv; ++hd) ref_rotate(&all[size_t(s * W + hd * H)], H, cv, sv, H / 2, s, inter);
    auto want = ref_attention(cols(all, S, W, 0, N * H), cols(all, S, W, N * H, (N + Nkv) * H),
                              cols(all, S, W, (N + Nkv) * H, W), B, S, S, N, Nkv, H, H, 0.5,
                              [](int64_t, int64_t, int64_t i, int64_t j) { return j <= i ? 0.0 : -1e30; });
    expect_near_vec(y, {B, S, N * H}, want);
  }
}

TEST(ContribAttention, GroupQueryUnsupportedAttributesAreNamed) {
  Tensor q = testing::random_tensor({1, 2, 4}, 24), k = testing::random_tensor({1, 2, 2}, 25);
  EXPECT_THROW_WITH(run_ms("GroupQueryAttention", {{"q", q}, {"k", k}, {"v", k}},
                           [](auto& n) {
                             ModelBuilder::attr(n, "num_heads", int64_t(2));
                             ModelBuilder::attr(n, "kv_num_heads", int64_t(1));
                             ModelBuilder::attr(n, "qk_output", int64_t(1));
                           }),
                    "node_under_test", "qk_output");
  Tensor past = testing::random_tensor({1, 1, 3, 2}, 26);
  EXPECT_THROW_WITH(run_ms("GroupQueryAttention", {{"q", q}, {"k", k}, {"v", k}, {"pk", past}, {"pv", past}},
                           [](auto& n) {
                             ModelBuilder::attr(n, "num_heads", int64_t(2));
                             ModelBuilder::attr(n, "kv_num_heads", int64_t(1));
                           }),
                    "node_under_test", "past_key");
}

// ---- RotaryEmbedding ----

TEST(ContribAttention, RotaryEmbedding3dAnd4d) {
  const int64_t B = 2, S = 3, N = 2, H = 8, M = 10;
  for (int inter = 0; inter < 2; ++inter)
    for (int64_t rd : {int64_t(0), int64_t(4)}) {
      int64_t r = rd ? rd : H;
      Tensor x = testing::random_tensor({B, S, N * H}, 27);
      Tensor pos = Tensor::from_vector(std::vector<int64_t>{0, 1, 2, 5, 6, 9}, Shape{B, S});
      Tensor cosc = testing::random_tensor({M, r / 2}, 28), sinc = testing::random_tensor({M, r / 2}, 29);
      auto y = run_ms("RotaryEmbedding", {{"x", x}, {"pos", pos}, {"cos", cosc, true}, {"sin", sinc, true}},
                      [&](auto& n) {
                        ModelBuilder::attr(n, "num_heads", int64_t(N));
                        ModelBuilder::attr(n, "interleaved", int64_t(inter));
                        if (rd) ModelBuilder::attr(n, "rotary_embedding_dim", rd);
                      })[0];
      auto want = vec(x), pv = vec(pos), cv = vec(cosc), sv = vec(sinc);
      for (int64_t b = 0; b < B; ++b)
        for (int64_t s = 0; s < S; ++s)
          for (int64_t n = 0; n < N; ++n)
            ref_rotate(&want[size_t(((b * S + s) * N + n) * H)], r, cv, sv, r / 2, int64_t(pv[size_t(b * S + s)]), inter);
      expect_near_vec(y, {B, S, N * H}, want, 1e-5);
    }
  // 4-d [B, N, S, H] input with a scalar position offset.
  Tensor x = testing::random_tensor({1, 2, 3, 4}, 30);
  Tensor cosc = testing::random_tensor({8, 2}, 31), sinc = testing::random_tensor({8, 2}, 32);
  auto y = run_ms("RotaryEmbedding",
                  {{"x", x}, {"pos", Tensor::from_vector(std::vector<int64_t>{2}, Shape{1})}, {"cos", cosc, true},
                   {"sin", sinc, true}},
                  {})[0];
  auto want = vec(x), cv = vec(cosc), sv = vec(sinc);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t s = 0; s < 3; ++s) ref_rotate(&want[size_t((n * 3 + s) * 4)], 4, cv, sv, 2, s + 2, false);
  expect_near_vec(y, {1, 2, 3, 4}, want, 1e-5);
}

// ---- EmbedLayerNormalization ----

TEST(ContribAttention, EmbedLayerNormalizationWithSegmentsAndMask) {
  const int64_t B = 2, S = 3, V = 7, P = 5, D = 4;
  Tensor ids = i32({1, 6, 3, 0, 2, 2}, {B, S}), seg = i32({0, 1, 1, 0, 0, 1}, {B, S});
  Tensor word = testing::random_tensor({V, D}, 33), pos = testing::random_tensor({P, D}, 34);
  Tensor segt = testing::random_tensor({2, D}, 35), gamma = testing::random_tensor({D}, 36, 0.5, 1.5);
  Tensor beta = testing::random_tensor({D}, 37);
  Tensor mask = i32({1, 1, 1, 1, 1, 0}, {B, S});
  auto outs = run_ms("EmbedLayerNormalization",
                     {{"ids", ids}, {"seg", seg}, {"word", word, true}, {"pos", pos, true}, {"segt", segt, true},
                      {"gamma", gamma, true}, {"beta", beta, true}, {"mask", mask}},
                     [](auto& n) { ModelBuilder::attr(n, "epsilon", 1e-5); }, 3);
  auto iv = vec(ids), sg = vec(seg), wv = vec(word), pv = vec(pos), st = vec(segt), g = vec(gamma), be = vec(beta);
  std::vector<double> want, sum;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t s = 0; s < S; ++s) {
      std::vector<double> e(D);
      double mean = 0, var = 0;
      for (int64_t d = 0; d < D; ++d) {
        e[size_t(d)] = wv[size_t(iv[size_t(b * S + s)] * D + d)] + pv[size_t(s * D + d)] +
                       st[size_t(sg[size_t(b * S + s)] * D + d)];
        mean += e[size_t(d)] / D;
        sum.push_back(e[size_t(d)]);
      }
      for (double x : e) var += (x - mean) * (x - mean) / D;
      for (int64_t d = 0; d < D; ++d)
        want.push_back((e[size_t(d)] - mean) / std::sqrt(var + 1e-5) * g[size_t(d)] + be[size_t(d)]);
    }
  expect_near_vec(outs[0], {B, S, D}, want);
  EXPECT_EQ(outs[1].dtype(), DType::I32);
  EXPECT_EQ(outs[1].to_vector<int32_t>(), (std::vector<int32_t>{3, 2}));
  expect_near_vec(outs[2], {B, S, D}, sum, 1e-5);
}

// ---- MatMulNBits ----

TEST(ContribAttention, MatMulNBitsFourBitWithZeroPointsAndBias) {
  const int64_t M = 3, K = 40, N = 3, BS = 16, KB = (K + BS - 1) / BS, blob = BS / 2;
  std::mt19937 rng(38);
  std::vector<uint8_t> q(size_t(N * KB * blob)), zp(size_t(N * ((KB + 1) / 2)));
  for (auto& e : q) e = uint8_t(rng() & 0xff);
  for (auto& e : zp) e = uint8_t(rng() & 0xff);
  Tensor scales = testing::random_tensor({N * KB}, 39, 0.01, 0.2);
  Tensor a = testing::random_tensor({M, K}, 40);
  Tensor bias = testing::random_tensor({N}, 41);
  auto attrs_bits = [&](::onnx::NodeProto& n, int64_t bits) {
    ModelBuilder::attr(n, "K", K);
    ModelBuilder::attr(n, "N", N);
    ModelBuilder::attr(n, "bits", bits);
    ModelBuilder::attr(n, "block_size", BS);
  };
  auto attrs = [&](::onnx::NodeProto& n) { attrs_bits(n, 4); };
  Tensor bq = Tensor::from_vector(q, Shape{N, KB, blob});
  Tensor zt = Tensor::from_vector(zp, Shape{int64_t(zp.size())});
  auto sc = vec(scales);
  for (bool with_zp : {true, false}) {
    std::vector<CIn> ins = {{"a", a}, {"b", bq, true}, {"s", scales, true}};
    ins.push_back(with_zp ? CIn{"zp", zt, true} : CIn{"", {}});
    ins.push_back({"", {}});
    ins.push_back({"bias", bias, true});
    auto y = run_ms("MatMulNBits", ins, attrs)[0];
    std::vector<double> w(size_t(K * N));
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k = 0; k < K; ++k) {
        int64_t kb = k / BS, i = k % BS;
        uint8_t byte = q[size_t((n * KB + kb) * blob + i / 2)];
        int v = i % 2 ? byte >> 4 : byte & 15;
        uint8_t zb = zp[size_t(n * ((KB + 1) / 2) + kb / 2)];
        int z = with_zp ? (kb % 2 ? zb >> 4 : zb & 15) : 8;
        w[size_t(k * N + n)] = (v - z) * sc[size_t(n * KB + kb)];
      }
    expect_near_vec(y, {M, N}, ref_linear(vec(a), w, vec(bias), M, K, N), 1e-4);
  }
  EXPECT_THROW_WITH(run_ms("MatMulNBits", {{"a", a}, {"b", bq, true}, {"s", scales, true}},
                           [&](auto& n) { attrs_bits(n, 3); }),
                    "node_under_test", "bits");
}

// Weights larger than what tracing folds eagerly (kFoldLimit elements) are still read while tracing (staged
// as known values): a regression where the session's stages then looked for that constant among run-time
// values ("map::at").
TEST(ContribAttention, MatMulNBitsWeightsLargerThanTheFoldLimit) {
  const int64_t M = 2, K = 256, N = 1024, BS = 32, KB = K / BS, blob = BS / 2;
  std::mt19937 rng(52);
  std::vector<uint8_t> q(size_t(N * KB * blob));
  for (auto& e : q) e = uint8_t(rng() & 0xff);
  ASSERT_GT(int64_t(q.size()), int64_t(1) << 16);
  Tensor scales = testing::random_tensor({N * KB}, 53, 0.01, 0.2);
  Tensor a = testing::random_tensor({M, K}, 54);
  auto attrs = [&](::onnx::NodeProto& n) {
    ModelBuilder::attr(n, "K", K);
    ModelBuilder::attr(n, "N", N);
    ModelBuilder::attr(n, "bits", int64_t(4));
    ModelBuilder::attr(n, "block_size", BS);
  };
  auto y = run_ms("MatMulNBits", {{"a", a}, {"b", Tensor::from_vector(q, Shape{N, KB, blob}), true},
                                  {"s", scales, true}}, attrs)[0];
  auto sc = vec(scales);
  std::vector<double> w(size_t(K * N));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) {
      const uint8_t byte = q[size_t((n * KB + k / BS) * blob + (k % BS) / 2)];
      const int v = (k % BS) % 2 ? byte >> 4 : byte & 15;
      w[size_t(k * N + n)] = (v - 8) * sc[size_t(n * KB + k / BS)];
    }
  expect_near_vec(y, {M, N}, ref_linear(vec(a), w, std::vector<double>(size_t(N), 0.0), M, K, N), 1e-3);
}

}  // namespace
}  // namespace graft::onnx
