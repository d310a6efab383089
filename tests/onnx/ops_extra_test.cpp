// Converters for losses, recurrent layers, quantization, signal processing, vision and the
// data-dependent ops, against values computed independently here from the ONNX specification.
#include <algorithm>
#include <cmath>
#include <functional>
#include <numbers>

#include "onnx_test_util.h"

namespace graft::onnx {
namespace {

using testing::ModelBuilder;
using namespace testing::ops;

Tensor i64(std::vector<int64_t> v, Shape s) { return Tensor::from_vector(v, s); }
Tensor f32(std::vector<float> v, Shape s) { return Tensor::from_vector(v, s); }

void expect_close(const Tensor& got, const Tensor& want, double tol = 1e-5) {
  ASSERT_EQ(got.shape(), want.shape()) << got.str() << " vs " << want.str();
  ASSERT_EQ(got.dtype(), want.dtype()) << got.str() << " vs " << want.str();
  for (int64_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got.value_as_double(i), want.value_as_double(i), tol) << "element " << i << "\n" << got.str() << "\nvs\n" << want.str();
}

// ---- losses ----

TEST(OnnxOpsExtra, NllLossWeightsIgnoreIndexAndReductions) {
  // input [N=2, C=3, d=2], target [2, 2] with one ignored entry (ignore_index 1).
  std::vector<float> in = {-1, -2, -3, -4, -5, -6, -0.5, -1.5, -2.5, -3.5, -4.5, -5.5};
  std::vector<int64_t> tgt = {0, 2, 1, 2};
  std::vector<float> w = {0.5f, 2.0f, 4.0f};
  auto at = [&](int n, int c, int d) { return in[size_t((n * 3 + c) * 2 + d)]; };
  std::vector<float> loss(4);
  double num = 0, den = 0;
  for (int n = 0; n < 2; ++n)
    for (int d = 0; d < 2; ++d) {
      int64_t t = tgt[size_t(n * 2 + d)];
      float l = t == 1 ? 0.f : -at(n, int(t), d) * w[size_t(t)];
      loss[size_t(n * 2 + d)] = l;
      num += l;
      if (t != 1) den += w[size_t(t)];
    }
  std::vector<In> ins = {{"x", f32(in, {2, 3, 2})}, {"t", i64(tgt, {2, 2})}, {"w", f32(w, {3})}};
  auto attrs = [](const char* red) {
    return [red](::onnx::NodeProto& n) {
      ModelBuilder::attr(n, "reduction", red);
      ModelBuilder::attr(n, "ignore_index", int64_t(1));
    };
  };
  expect_close(run1("NegativeLogLikelihoodLoss", ins, attrs("none"), 13), f32(loss, {2, 2}));
  expect_close(run1("NegativeLogLikelihoodLoss", ins, attrs("sum"), 13), f32({float(num)}, {}));
  expect_close(run1("NegativeLogLikelihoodLoss", ins, attrs("mean"), 13), f32({float(num / den)}, {}));
}

TEST(OnnxOpsExtra, SoftmaxCrossEntropyMatchesLogSoftmax) {
  std::vector<float> s = {1, 2, 3, 0, -1, 0.5};  // [N=2, C=3]
  std::vector<int64_t> t = {2, 0};
  std::vector<float> logp(6);
  for (int n = 0; n < 2; ++n) {
    double m = 0;
    for (int c = 0; c < 3; ++c) m += std::exp(double(s[size_t(n * 3 + c)]));
    for (int c = 0; c < 3; ++c) logp[size_t(n * 3 + c)] = float(s[size_t(n * 3 + c)] - std::log(m));
  }
  auto outs = run_op("SoftmaxCrossEntropyLoss", {{"s", f32(s, {2, 3})}, {"t", i64(t, {2})}}, {}, 13, 2);
  expect_close(outs[0], f32({-(logp[2] + logp[3]) / 2}, {}));
  expect_close(outs[1], f32(logp, {2, 3}));
}

// ---- recurrent ----

// Bidirectional RNN with tanh and per-batch lengths, against a direct loop.
TEST(OnnxOpsExtra, RnnBidirectionalWithSequenceLens) {
  const int64_t S = 3, B = 2, I = 2, H = 2;
  Tensor x = testing::random_tensor({S, B, I}, 1), w = testing::random_tensor({2, H, I}, 2);
  Tensor r = testing::random_tensor({2, H, H}, 3), bias = testing::random_tensor({2, 2 * H}, 4);
  Tensor lens = Tensor::from_vector(std::vector<int32_t>{3, 2}, Shape{B});
  auto X = x.to_vector<float>(), W = w.to_vector<float>(), R = r.to_vector<float>(), Bv = bias.to_vector<float>();
  std::vector<float> Y(size_t(S * 2 * B * H), 0.f), Yh(size_t(2 * B * H), 0.f);
  int len[2] = {3, 2};
  for (int d = 0; d < 2; ++d)
    for (int b = 0; b < B; ++b) {
      std::vector<double> h(size_t(H), 0.0);
      for (int k = 0; k < len[b]; ++k) {
        int t = d == 0 ? k : len[b] - 1 - k;
        std::vector<double> nh(static_cast<size_t>(H));
        for (int j = 0; j < H; ++j) {
          double a = Bv[size_t(d * 2 * H + j)] + Bv[size_t(d * 2 * H + H + j)];
          for (int i = 0; i < I; ++i) a += X[size_t((t * B + b) * I + i)] * W[size_t((d * H + j) * I + i)];
          for (int i = 0; i < H; ++i) a += h[size_t(i)] * R[size_t((d * H + j) * H + i)];
          nh[size_t(j)] = std::tanh(a);
        }
        h = nh;
        for (int j = 0; j < H; ++j) Y[size_t(((t * 2 + d) * B + b) * H + j)] = float(h[size_t(j)]);
      }
      for (int j = 0; j < H; ++j) Yh[size_t((d * B + b) * H + j)] = float(h[size_t(j)]);
    }
  auto outs = run_op("RNN", {{"x", x}, {"w", w}, {"r", r}, {"b", bias}, {"lens", lens}},
                     [](auto& n) {
                       ModelBuilder::attr(n, "hidden_size", int64_t(2));
                       ModelBuilder::attr(n, "direction", "bidirectional");
                     },
                     14, 2);
  expect_close(outs[0], f32(Y, {S, 2, B, H}));
  expect_close(outs[1], f32(Yh, {2, B, H}));
}

// One LSTM step with peepholes and an initial state, written out from the spec's equations.
TEST(OnnxOpsExtra, LstmStepWithPeepholes) {
  const int64_t B = 1, I = 2, H = 1;
  Tensor x = f32({0.5f, -1.f}, {1, B, I});
  Tensor w = f32({0.1f, 0.2f, 0.3f, 0.4f, -0.1f, 0.5f, 0.2f, -0.3f}, {1, 4 * H, I});  // i, o, f, c
  Tensor r = f32({0.3f, -0.2f, 0.1f, 0.4f}, {1, 4 * H, H});
  Tensor p = f32({0.2f, -0.5f, 0.3f}, {1, 3 * H});  // i, o, f
  Tensor h0 = f32({0.25f}, {1, B, H}), c0 = f32({-0.75f}, {1, B, H});
  auto sig = [](double v) { return 1 / (1 + std::exp(-v)); };
  auto pre = [&](int g) { return 0.5 * w.to_vector<float>()[size_t(2 * g)] - 1.0 * w.to_vector<float>()[size_t(2 * g + 1)] + 0.25 * r.to_vector<float>()[size_t(g)]; };
  double i = sig(pre(0) + 0.2 * -0.75), f = sig(pre(2) + 0.3 * -0.75), cc = std::tanh(pre(3));
  double c = f * -0.75 + i * cc;
  double o = sig(pre(1) + -0.5 * c);
  double h = o * std::tanh(c);
  auto outs = run_op("LSTM", {{"x", x}, {"w", w}, {"r", r}, {"", {}}, {"", {}}, {"h0", h0}, {"c0", c0}, {"p", p}},
                     [](auto& n) { ModelBuilder::attr(n, "hidden_size", int64_t(1)); }, 14, 3);
  expect_close(outs[0], f32({float(h)}, {1, 1, 1, 1}));
  expect_close(outs[1], f32({float(h)}, {1, 1, 1}));
  expect_close(outs[2], f32({float(c)}, {1, 1, 1}));
}

// GRU with linear_before_reset, batch-first layout, one step from a zero state.
TEST(OnnxOpsExtra, GruLinearBeforeResetLayout1) {
  Tensor x = f32({1.f, 2.f}, {1, 1, 2});                       // [batch, seq, input]
  Tensor w = f32({0.1f, 0.2f, -0.3f, 0.1f, 0.5f, -0.5f}, {1, 3, 2});  // z, r, h
  Tensor r = f32({0.7f, -0.2f, 0.9f}, {1, 3, 1});
  Tensor b = f32({0.1f, 0.2f, 0.3f, 0.05f, -0.1f, 0.4f}, {1, 6});
  Tensor h0 = f32({0.5f}, {1, 1, 1});  // [batch, dirs, hidden]
  auto sig = [](double v) { return 1 / (1 + std::exp(-v)); };
  double z = sig(1 * 0.1 + 2 * 0.2 + 0.5 * 0.7 + 0.1 + 0.05);
  double rr = sig(1 * -0.3 + 2 * 0.1 + 0.5 * -0.2 + 0.2 - 0.1);
  double hh = std::tanh(1 * 0.5 + 2 * -0.5 + 0.3 + rr * (0.5 * 0.9 + 0.4));
  double h = (1 - z) * hh + z * 0.5;
  auto outs = run_op("GRU", {{"x", x}, {"w", w}, {"r", r}, {"b", b}, {"", {}}, {"h0", h0}},
                     [](auto& n) {
                       ModelBuilder::attr(n, "hidden_size", int64_t(1));
                       ModelBuilder::attr(n, "linear_before_reset", int64_t(1));
                       ModelBuilder::attr(n, "layout", int64_t(1));
                     },
                     14, 2);
  expect_close(outs[0], f32({float(h)}, {1, 1, 1, 1}));
  expect_close(outs[1], f32({float(h)}, {1, 1, 1}));
}

// ---- quantization ----

TEST(OnnxOpsExtra, QuantizeRoundsHalfToEvenAndSaturates) {
  Tensor x = f32({0.5f, 1.5f, 2.5f, -2.5f, 1000.f, -1000.f}, {6});
  Tensor q = run1("QuantizeLinear", {{"x", x}, {"s", f32({1.f}, {}), true}, {"z", Tensor::scalar(uint8_t(10)), true}}, {}, 13);
  expect_close(q, Tensor::from_vector(std::vector<uint8_t>{10, 12, 12, 8, 255, 0}, Shape{6}));
  Tensor qi = run1("QuantizeLinear", {{"x", x}, {"s", f32({0.5f}, {}), true}, {"z", Tensor::scalar(int8_t(0)), true}}, {}, 13);
  expect_close(qi, Tensor::from_vector(std::vector<int8_t>{1, 3, 5, -5, 127, -128}, Shape{6}));
}

TEST(OnnxOpsExtra, DequantizePerAxisAndBlocked) {
  Tensor x = Tensor::from_vector(std::vector<uint8_t>{10, 20, 30, 40, 50, 60}, Shape{2, 3});
  Tensor y = run1("DequantizeLinear",
                  {{"x", x}, {"s", f32({0.5f, 2.f}, {2}), true},
                   {"z", Tensor::from_vector(std::vector<uint8_t>{10, 20}, Shape{2}), true}},
                  [](auto& n) { ModelBuilder::attr(n, "axis", int64_t(0)); }, 13);
  expect_close(y, f32({0, 5, 10, 40, 60, 80}, {2, 3}));
  // Blocks of 2 along axis 1: scales [2, 2] cover columns {0, 1} and {2}.
  Tensor yb = run1("DequantizeLinear", {{"x", x}, {"s", f32({1.f, 10.f, 2.f, 20.f}, {2, 2}), true}},
                   [](auto& n) {
                     ModelBuilder::attr(n, "axis", int64_t(1));
                     ModelBuilder::attr(n, "block_size", int64_t(2));
                   },
                   21);
  expect_close(yb, f32({10, 20, 300, 80, 100, 1200}, {2, 3}));
}

TEST(OnnxOpsExtra, DynamicQuantizeAndMatMulInteger) {
  Tensor x = f32({-1.f, 0.f, 2.f, 3.f}, {2, 2});
  auto outs = run_op("DynamicQuantizeLinear", {{"x", x}}, {}, 11, 3);
  double scale = 4.0 / 255;
  double zp = std::nearbyint(1.0 / scale);
  expect_close(outs[1], f32({float(scale)}, {}), 1e-7);
  expect_close(outs[2], Tensor::scalar(uint8_t(zp)));
  std::vector<uint8_t> q;
  for (float v : x.to_vector<float>()) q.push_back(uint8_t(std::clamp(std::nearbyint(v / float(scale)) + zp, 0.0, 255.0)));
  expect_close(outs[0], Tensor::from_vector(q, Shape{2, 2}));

  Tensor a = Tensor::from_vector(std::vector<uint8_t>{11, 7, 3, 10, 6, 2}, Shape{2, 3});
  Tensor b = Tensor::from_vector(std::vector<uint8_t>{1, 4, 2, 5, 3, 6}, Shape{3, 2});
  Tensor got = run1("MatMulInteger", {{"a", a}, {"b", b}, {"az", Tensor::scalar(uint8_t(3)), true},
                                      {"bz", Tensor::from_vector(std::vector<uint8_t>{1, 2}, Shape{2})}}, {}, 10);
  std::vector<int32_t> want(4);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j)
      for (int k = 0; k < 3; ++k)
        want[size_t(i * 2 + j)] += (int(a.to_vector<uint8_t>()[size_t(i * 3 + k)]) - 3) * (int(b.to_vector<uint8_t>()[size_t(k * 2 + j)]) - 1 - j);
  expect_close(got, Tensor::from_vector(want, Shape{2, 2}));
}

// ---- signal ----

TEST(OnnxOpsExtra, Windows) {
  Tensor hann = run1("HannWindow", {{"n", Tensor::scalar(int64_t(4)), true}}, {}, 17);
  expect_close(hann, f32({0.f, 0.5f, 1.f, 0.5f}, {4}), 1e-6);
  Tensor hamm = run1("HammingWindow", {{"n", Tensor::scalar(int64_t(3)), true}},
                     [](auto& n) { ModelBuilder::attr(n, "periodic", int64_t(0)); }, 17);
  expect_close(hamm, f32({float(25.0 / 46 - 21.0 / 46), 1.f, float(25.0 / 46 - 21.0 / 46)}, {3}), 1e-6);
}

TEST(OnnxOpsExtra, DftOnesidedAndInverse) {

  // A length-5 real signal, onesided: naive sum.
  std::vector<float> s = {1, -2, 0.5, 3, 4};
  std::vector<float> want;
  for (int k = 0; k < 3; ++k) {
    double re = 0, im = 0;
    for (int j = 0; j < 5; ++j) {
      double a = -2 * std::numbers::pi * j * k / 5;
      re += s[size_t(j)] * std::cos(a);
      im += s[size_t(j)] * std::sin(a);
    }
    want.push_back(float(re));
    want.push_back(float(im));
  }
  Tensor X = run1("DFT", {{"x", f32(s, {1, 5, 1})}}, [](auto& n) { ModelBuilder::attr(n, "onesided", int64_t(1)); }, 17);
  expect_close(X, f32(want, {1, 3, 2}), 1e-4);
  // The inverse of the full transform gives the signal back.
  Tensor full = run1("DFT", {{"x", f32(s, {1, 5, 1})}}, {}, 17);
  Tensor back = run1("DFT", {{"x", full}}, [](auto& n) { ModelBuilder::attr(n, "inverse", int64_t(1)); }, 17);
  std::vector<float> complex_s;
  for (float v : s) complex_s.insert(complex_s.end(), {v, 0.f});
  expect_close(back, f32(complex_s, {1, 5, 2}), 1e-4);
}

// ---- data-dependent and vision ----

TEST(OnnxOpsExtra, NonMaxSuppressionAndUnique) {
  // Boxes 0 and 1 overlap heavily (IoU 0.81); box 2 is apart.
  Tensor boxes = f32({0, 0, 1, 1, 0, 0.1f, 1, 1, 0, 2, 1, 3}, {1, 3, 4});
  Tensor scores = f32({0.7f, 0.9f, 0.8f}, {1, 1, 3});
  Tensor sel = run1("NonMaxSuppression", {{"b", boxes}, {"s", scores}, {"m", Tensor::scalar(int64_t(3))},
                                          {"iou", Tensor::scalar(0.5f)}}, {}, 11);
  expect_close(sel, i64({0, 0, 1, 0, 0, 2}, {2, 3}));

  auto u = run_op("Unique", {{"x", f32({2, 1, 1, 3, 4, 3}, {6})}}, [](auto& n) { ModelBuilder::attr(n, "sorted", int64_t(0)); }, 11, 4);
  expect_close(u[0], f32({2, 1, 3, 4}, {4}));
  expect_close(u[1], i64({0, 1, 3, 4}, {4}));
  expect_close(u[2], i64({0, 1, 1, 2, 3, 2}, {6}));
  expect_close(u[3], i64({1, 2, 2, 1}, {4}));
}

TEST(OnnxOpsExtra, ReverseSequenceDetAndMaxUnpool) {
  Tensor x = f32({0, 1, 2, 3, 4, 5, 6, 7}, {4, 2});  // [time, batch]
  Tensor y = run1("ReverseSequence", {{"x", x}, {"l", i64({3, 1}, {2})}}, [](auto& n) {
    ModelBuilder::attr(n, "time_axis", int64_t(0));
    ModelBuilder::attr(n, "batch_axis", int64_t(1));
  }, 10);
  expect_close(y, f32({4, 1, 2, 3, 0, 5, 6, 7}, {4, 2}));

  // det needs a row swap (zero leading pivot): [[0, 2, 1], [1, 1, 1], [3, 0, 2]] -> 0*(2-0) - 2*(2-3) + 1*(0-3) = -1
  Tensor d = run1("Det", {{"a", f32({0, 2, 1, 1, 1, 1, 3, 0, 2, 2, 0, 0, 0, 3, 0, 0, 0, 4}, {2, 3, 3})}}, {}, 11);
  expect_close(d, f32({-1.f, 24.f}, {2}), 1e-5);

  Tensor up = run1("MaxUnpool", {{"x", f32({5, 6, 7, 8}, {1, 1, 2, 2})}, {"i", i64({5, 7, 13, 15}, {1, 1, 2, 2})}},
                   [](auto& n) {
                     ModelBuilder::attr(n, "kernel_shape", std::vector<int64_t>{2, 2});
                     ModelBuilder::attr(n, "strides", std::vector<int64_t>{2, 2});
                   },
                   11);
  std::vector<float> want(16, 0.f);
  want[5] = 5, want[7] = 6, want[13] = 7, want[15] = 8;
  expect_close(up, f32(want, {1, 1, 4, 4}));
}

TEST(OnnxOpsExtra, GridSampleIdentityAndZerosPadding) {
  Tensor x = f32({1, 2, 3, 4, 5, 6}, {1, 1, 2, 3});
  // align_corners: grid corners -1/+1 hit pixel centres, so an identity grid reproduces the input.
  std::vector<float> g;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) g.insert(g.end(), {float(-1 + j), float(-1 + 2 * i)});
  auto align = [](auto& n) { ModelBuilder::attr(n, "align_corners", int64_t(1)); };
  expect_close(run1("GridSample", {{"x", x}, {"g", f32(g, {1, 2, 3, 2})}}, align, 16), x);
  // Half way between pixel (0,0) and (0,1), and far outside (zeros padding).
  Tensor y = run1("GridSample", {{"x", x}, {"g", f32({-0.5f, -1.f, 5.f, 5.f}, {1, 1, 2, 2})}}, align, 16);
  expect_close(y, f32({1.5f, 0.f}, {1, 1, 1, 2}));
}

TEST(OnnxOpsExtra, TfIdfCountsSkipGrams) {
  // Pool: unigrams {2, 3}, bigram {(2, 3)}; with max_skip 1, (2, x, 3) also counts.
  Tensor x = Tensor::from_vector(std::vector<int32_t>{2, 3, 2, 5, 3}, Shape{5});
  Tensor y = run1("TfIdfVectorizer", {{"x", x}}, [](auto& n) {
    ModelBuilder::attr(n, "mode", "TF");
    ModelBuilder::attr(n, "min_gram_length", int64_t(1));
    ModelBuilder::attr(n, "max_gram_length", int64_t(2));
    ModelBuilder::attr(n, "max_skip_count", int64_t(1));
    ModelBuilder::attr(n, "ngram_counts", std::vector<int64_t>{0, 2});
    ModelBuilder::attr(n, "ngram_indexes", std::vector<int64_t>{0, 1, 2});
    ModelBuilder::attr(n, "pool_int64s", std::vector<int64_t>{2, 3, 2, 3});
  }, 9);
  // unigrams: 2 x2, 3 x2; bigrams skip 0: (2,3) once; skip 1: (2,2),(3,5),(2,3) -> one more.
  expect_close(y, f32({2, 2, 2}, {3}));
}

// ai.onnx.preview.training optimizers after the first step (T = 3: ONNX's conformance cases all have
// T = 0), against the formulas of the ONNX operator spec evaluated in double. The attribute values are
// exact in float32, as the node stores them.
TEST(OnnxOpsExtra, TrainingOptimizersAfterTheFirstStep) {
  const std::string domain = "ai.onnx.preview.training";
  const double r = double(0.1f);
  const int64_t t = 3;
  std::vector<float> x = {1.0f, -2.0f, 0.5f}, g = {-1.0f, 3.0f, 0.25f}, v = {2.0f, 1.0f, -0.5f}, h = {0.5f, 10.0f, 2.0f};
  std::vector<In> common = {{"R", f32({0.1f}, {})}, {"T", i64({t}, {})}, {"X", f32(x, {3})}, {"G", f32(g, {3})}};
  const double alpha = 0.5, beta = 0.75, eps = 0.125, norm = 0.25, norm_post = 0.0625, decay = 0.5;
  auto reg = [&](size_t i) { return norm * x[i] + g[i]; };

  {  // Adagrad: X, G, H
    std::vector<In> ins = common;
    ins.push_back({"H", f32(h, {3})});
    auto outs = run_op("Adagrad", ins, [&](::onnx::NodeProto& n) {
      ModelBuilder::attr(n, "decay_factor", decay);
      ModelBuilder::attr(n, "epsilon", eps);
      ModelBuilder::attr(n, "norm_coefficient", norm);
    }, 17, 2, domain);
    std::vector<float> want_x(3), want_h(3);
    for (size_t i = 0; i < 3; ++i) {
      double h_new = h[i] + reg(i) * reg(i);
      want_h[i] = float(h_new);
      want_x[i] = float(x[i] - r / (1 + double(t) * decay) * reg(i) / (std::sqrt(h_new) + eps));
    }
    expect_close(outs[0], f32(want_x, {3}));
    expect_close(outs[1], f32(want_h, {3}));
  }
  {  // Adam: X, G, V, H, with bias correction and both regularizations
    std::vector<In> ins = common;
    ins.push_back({"V", f32(v, {3})});
    ins.push_back({"H", f32(h, {3})});
    auto outs = run_op("Adam", ins, [&](::onnx::NodeProto& n) {
      ModelBuilder::attr(n, "alpha", alpha);
      ModelBuilder::attr(n, "beta", beta);
      ModelBuilder::attr(n, "epsilon", eps);
      ModelBuilder::attr(n, "norm_coefficient", norm);
      ModelBuilder::attr(n, "norm_coefficient_post", norm_post);
    }, 17, 3, domain);
    std::vector<float> want_x(3), want_v(3), want_h(3);
    double rate = r * std::sqrt(1 - std::pow(beta, double(t))) / (1 - std::pow(alpha, double(t)));
    for (size_t i = 0; i < 3; ++i) {
      double v_new = alpha * v[i] + (1 - alpha) * reg(i);
      double h_new = beta * h[i] + (1 - beta) * reg(i) * reg(i);
      want_v[i] = float(v_new);
      want_h[i] = float(h_new);
      want_x[i] = float((1 - norm_post) * (x[i] - rate * v_new / (std::sqrt(h_new) + eps)));
    }
    expect_close(outs[0], f32(want_x, {3}));
    expect_close(outs[1], f32(want_v, {3}));
    expect_close(outs[2], f32(want_h, {3}));
  }
  for (const char* mode : {"standard", "nesterov"}) {  // Momentum: X, G, V; beta scales G once T > 0
    std::vector<In> ins = common;
    ins.push_back({"V", f32(v, {3})});
    auto outs = run_op("Momentum", ins, [&](::onnx::NodeProto& n) {
      ModelBuilder::attr(n, "alpha", alpha);
      ModelBuilder::attr(n, "beta", beta);
      ModelBuilder::attr(n, "mode", mode);
      ModelBuilder::attr(n, "norm_coefficient", norm);
    }, 17, 2, domain);
    std::vector<float> want_x(3), want_v(3);
    for (size_t i = 0; i < 3; ++i) {
      double v_new = alpha * v[i] + beta * reg(i);
      want_v[i] = float(v_new);
      want_x[i] = float(x[i] - r * (std::string(mode) == "standard" ? v_new : reg(i) + alpha * v_new));
    }
    expect_close(outs[0], f32(want_x, {3}));
    expect_close(outs[1], f32(want_v, {3}));
  }
}

// An optimizer node whose tensors do not split into whole groups, or a Momentum with an unknown mode,
// is an error naming the node and what is wrong.
TEST(OnnxOpsExtra, TrainingOptimizerBadNodesAreClearErrors) {
  const std::string domain = "ai.onnx.preview.training";
  std::vector<In> ins = {{"R", f32({0.1f}, {})}, {"T", i64({0}, {})}, {"X", f32({1}, {1})},
                         {"G", f32({1}, {1})}, {"V", f32({1}, {1})}};
  auto error_of = [&](const std::string& op, Attrs attrs) -> std::string {
    try {
      run_op(op, ins, attrs, 17, 1, domain);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  std::string adam = error_of("Adam", {});  // X, G, V but no H
  EXPECT_NE(adam.find("node_under_test"), std::string::npos) << adam;
  EXPECT_NE(adam.find("X, G, V, H"), std::string::npos) << adam;
  std::string momentum = error_of("Momentum", [](::onnx::NodeProto& n) {
    ModelBuilder::attr(n, "alpha", 0.5);
    ModelBuilder::attr(n, "beta", 0.5);
    ModelBuilder::attr(n, "mode", "sgd");
    ModelBuilder::attr(n, "norm_coefficient", 0.0);
  });
  EXPECT_NE(momentum.find("mode must be 'standard' or 'nesterov', got 'sgd'"), std::string::npos) << momentum;
}

}  // namespace
}  // namespace graft::onnx

namespace graft::onnx {
namespace {

// Sequences live only while tracing: split, insert, erase, read back and concatenate.
TEST(OnnxOpsExtra, SequenceOpsRoundTrip) {
  ModelBuilder b(13);
  b.input("x", DType::F32, {int64_t(3), int64_t(2)});
  b.output_untyped("y");
  b.output_untyped("n");
  b.output_untyped("first");
  auto& split = b.node("SplitToSequence", {"x"}, {"s"});
  ModelBuilder::attr(split, "keepdims", int64_t(0));  // three rows of [2]
  b.constant("pos", Tensor::scalar(int64_t(0)));
  b.node("SequenceInsert", {"s", "x_row", "pos"}, {"s2"});
  b.constant("x_row", f32({9, 9}, {2}));
  b.node("SequenceErase", {"s2"}, {"s3"});  // drops the last row
  b.node("SequenceLength", {"s3"}, {"n"});
  b.node("SequenceAt", {"s3", "pos"}, {"first"});
  auto& cat = b.node("ConcatFromSequence", {"s3"}, {"y"});
  ModelBuilder::attr(cat, "axis", int64_t(0));
  ModelBuilder::attr(cat, "new_axis", int64_t(1));
  // Constants must precede their use: move the x_row Constant to the front.
  auto* nodes = b.proto().mutable_graph()->mutable_node();
  std::rotate(nodes->begin(), nodes->begin() + 3, nodes->begin() + 4);
  std::rotate(nodes->begin() + 1, nodes->begin() + 2, nodes->begin() + 3);
  auto res = testing::run_model(b.model(), {{"x", f32({1, 2, 3, 4, 5, 6}, {3, 2})}});
  expect_close(res.at("y"), f32({9, 9, 1, 2, 3, 4}, {3, 2}));
  expect_close(res.at("n"), Tensor::scalar(int64_t(3)));
  expect_close(res.at("first"), f32({9, 9}, {2}));
}

}  // namespace
}  // namespace graft::onnx
