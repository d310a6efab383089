// Losses against plain-loop references (PyTorch definitions) and central finite differences (float64).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "graft/autodiff/gradient.h"
#include "graft/backend/exec.h"
#include "graft/train/losses.h"

using namespace graft;
using namespace graft::train;

namespace {
Tensor rand_t(Shape s, uint64_t seed, double lo = -2, double hi = 2) {
  std::mt19937_64 r(seed);
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<double> v(size_t(s.size()));
  for (auto& x : v) x = d(r);
  return Tensor::from_vector(v, s);
}
using Builder = std::function<Node(const std::vector<Node>&)>;
double run_scalar(const Builder& f, const std::vector<Tensor>& in) {
  Exec e(cpu_backend(), [&](const std::vector<Node>& n) { return f(n); });
  return e.call(in)[0].value_as_double(0);
}
// d f / d in[0] by the graph's gradient and by central differences.
void check_grad(const Builder& f, std::vector<Tensor> in, double tol = 1e-6) {
  Exec ge(cpu_backend(), [&](const std::vector<Node>& n) { return Gradient(f(n), n[0]); });
  Tensor g = ge.call(in)[0];
  Tensor x = in[0].clone();
  const double h = 1e-6;
  for (int64_t i = 0; i < x.size(); ++i) {
    std::vector<Tensor> a = in, b = in;
    a[0] = x.clone(), b[0] = x.clone();
    a[0].data<double>()[i] += h;
    b[0].data<double>()[i] -= h;
    double fd = (run_scalar(f, a) - run_scalar(f, b)) / (2 * h);
    EXPECT_NEAR(g.data<double>()[i], fd, tol * std::max(1.0, std::abs(fd))) << "element " << i;
  }
}
double logsumexp(const double* x, int n) {
  double m = x[0];
  for (int i = 1; i < n; ++i) m = std::max(m, x[i]);
  double s = 0;
  for (int i = 0; i < n; ++i) s += std::exp(x[i] - m);
  return m + std::log(s);
}
}  // namespace

TEST(Losses, Regression) {
  Tensor p = rand_t({3, 4}, 1), t = rand_t({3, 4}, 2);
  double mse = 0, l1 = 0, hub = 0;
  for (int i = 0; i < 12; ++i) {
    double d = p.data<double>()[i] - t.data<double>()[i];
    mse += d * d / 12;
    l1 += std::abs(d) / 12;
    hub += (std::abs(d) < 0.7 ? 0.5 * d * d : 0.7 * (std::abs(d) - 0.35)) / 12;
  }
  EXPECT_NEAR(run_scalar([](auto& n) { return MseLoss(n[0], n[1]); }, {p, t}), mse, 1e-12);
  EXPECT_NEAR(run_scalar([](auto& n) { return L1Loss(n[0], n[1], Reduction::Sum); }, {p, t}), l1 * 12, 1e-12);
  EXPECT_NEAR(run_scalar([](auto& n) { return HuberLoss(n[0], n[1], 0.7); }, {p, t}), hub, 1e-12);
  check_grad([](auto& n) { return MseLoss(n[0], n[1]); }, {p, t});
  check_grad([](auto& n) { return HuberLoss(n[0], n[1], 0.7); }, {p, t});
  check_grad([](auto& n) { return L1Loss(n[0], n[1]); }, {p, t});
}

TEST(Losses, CrossEntropyIntegerLabels) {
  const int N = 5, C = 4;
  Tensor logits = rand_t({N, C}, 3);
  Tensor labels = Tensor::from_vector<int64_t>({0, 3, 1, -100, 2});
  Tensor w = Tensor::from_vector<double>({0.5, 1.0, 2.0, 1.5});
  const double eps = 0.1;
  // reference: PyTorch F.cross_entropy(logits, labels, weight=w, ignore_index=-100, label_smoothing=eps)
  double num = 0, den = 0;
  const double* x = logits.data<double>();
  for (int i = 0; i < N; ++i) {
    int64_t y = labels.data<int64_t>()[i];
    if (y == -100) continue;
    double lse = logsumexp(x + i * C, C);
    double nll = -w.data<double>()[y] * (x[i * C + y] - lse), smooth = 0;
    for (int c = 0; c < C; ++c) smooth -= w.data<double>()[c] * (x[i * C + c] - lse);
    num += (1 - eps) * nll + eps / C * smooth;
    den += w.data<double>()[y];
  }
  auto f = [&](auto& n) {
    CrossEntropyOptions o;
    o.label_smoothing = eps;
    o.ignore_index = -100;
    o.class_weights = n[2];
    return CrossEntropy(n[0], n[1], o);
  };
  EXPECT_NEAR(run_scalar(f, {logits, labels, w}), num / den, 1e-12);
  check_grad(f, {logits, labels, w});
  // plain: mean of -logp[y]
  Tensor lab2 = Tensor::from_vector<int64_t>({0, 3, 1, 1, 2});
  double plain = 0;
  for (int i = 0; i < N; ++i) plain -= (x[i * C + lab2.data<int64_t>()[i]] - logsumexp(x + i * C, C)) / N;
  EXPECT_NEAR(run_scalar([](auto& n) { return CrossEntropy(n[0], n[1]); }, {logits, lab2}), plain, 1e-12);
}

TEST(Losses, CrossEntropyProbabilities) {
  const int N = 3, C = 4;
  Tensor logits = rand_t({N, C}, 4);
  Tensor probs = rand_t({N, C}, 5, 0, 1);
  const double eps = 0.2;
  double ref = 0;
  const double* x = logits.data<double>();
  for (int i = 0; i < N; ++i) {
    double lse = logsumexp(x + i * C, C);
    for (int c = 0; c < C; ++c) ref -= ((1 - eps) * probs.data<double>()[i * C + c] + eps / C) * (x[i * C + c] - lse) / N;
  }
  auto f = [&](auto& n) { return CrossEntropy(n[0], n[1], {.label_smoothing = eps}); };
  EXPECT_NEAR(run_scalar(f, {logits, probs}), ref, 1e-12);
  check_grad(f, {logits, probs});
}

TEST(Losses, BinaryCrossEntropyWithLogits) {
  Tensor x = rand_t({2, 3}, 6, -30, 30), t = rand_t({2, 3}, 7, 0, 1), pw = Tensor::from_vector<double>({1.0, 2.0, 0.5});
  double ref = 0, refw = 0;
  for (int i = 0; i < 6; ++i) {
    double xi = x.data<double>()[i], ti = t.data<double>()[i], p = pw.data<double>()[i % 3];
    double ls = -std::log1p(std::exp(-std::abs(xi))) - std::max(-xi, 0.0);  // log sigmoid(x)
    double ls_neg = ls - xi;                                                // log sigmoid(-x) = log(1 - sigmoid)
    ref += -(ti * ls + (1 - ti) * ls_neg) / 6;
    refw += -(p * ti * ls + (1 - ti) * ls_neg) / 6;
  }
  EXPECT_NEAR(run_scalar([](auto& n) { return BinaryCrossEntropyWithLogits(n[0], n[1]); }, {x, t}), ref, 1e-10);
  EXPECT_NEAR(run_scalar([](auto& n) { return BinaryCrossEntropyWithLogits(n[0], n[1], n[2]); }, {x, t, pw}), refw, 1e-10);
  check_grad([](auto& n) { return BinaryCrossEntropyWithLogits(n[0], n[1], n[2]); }, {rand_t({2, 3}, 8), t, pw});
}

TEST(Losses, CosineAndMultipleNegativesRanking) {
  const int N = 3, D = 4;
  Tensor a = rand_t({N, D}, 9), b = rand_t({N + 1, D}, 10);
  Tensor bN = rand_t({N, D}, 11);
  Tensor lab = rand_t({N}, 12, -1, 1);
  auto cos = [&](const double* u, const double* v) {
    double d = 0, nu = 0, nv = 0;
    for (int k = 0; k < D; ++k) d += u[k] * v[k], nu += u[k] * u[k], nv += v[k] * v[k];
    return d / (std::sqrt(nu) * std::sqrt(nv));
  };
  double cl = 0;
  for (int i = 0; i < N; ++i) {
    double c = cos(a.data<double>() + i * D, bN.data<double>() + i * D) - lab.data<double>()[i];
    cl += c * c / N;
  }
  EXPECT_NEAR(run_scalar([](auto& n) { return CosineSimilarityLoss(n[0], n[1], n[2]); }, {a, bN, lab}), cl, 1e-12);
  // MNRL: CE over scale * cos(a_i, b_j), target i
  double mn = 0;
  for (int i = 0; i < N; ++i) {
    std::vector<double> s(N + 1);
    for (int j = 0; j <= N; ++j) s[j] = 20 * cos(a.data<double>() + i * D, b.data<double>() + j * D);
    mn += (logsumexp(s.data(), N + 1) - s[i]) / N;
  }
  EXPECT_NEAR(run_scalar([](auto& n) { return MultipleNegativesRankingLoss(n[0], n[1]); }, {a, b}), mn, 1e-10);
  check_grad([](auto& n) { return MultipleNegativesRankingLoss(n[0], n[1]); }, {a, b}, 1e-5);
  check_grad([](auto& n) { return CosineSimilarityLoss(n[0], n[1], n[2]); }, {a, bN, lab});
}

TEST(Losses, ShapeErrorsNameTheLoss) {
  Graph g;
  Node a = g.parameter("a", DType::F32, {2, 3}), b = g.parameter("b", DType::F32, {3, 2});
  try {
    MseLoss(a, b);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("MseLoss"), std::string::npos);
  }
  EXPECT_THROW(CrossEntropy(a, g.parameter("l", DType::I64, {3})), Error);
}
