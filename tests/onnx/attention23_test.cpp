// The default domain's Attention and RotaryEmbedding (opset 23), against plain-loop implementations of
// the ONNX specification written here.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "onnx_test_util.h"

namespace graft::onnx {
namespace {

using testing::ModelBuilder;

double max_diff(const Tensor& a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), int64_t(b.size()));
  double m = 0;
  for (int64_t i = 0; i < a.size() && i < int64_t(b.size()); ++i)
    m = std::max(m, std::fabs(a.value_as_double(i) - b[size_t(i)]));
  return m;
}

// Reference attention over 4-d [B, H, S, D] data in row-major vectors. mask: additive [S, T] (or empty);
// returns Y [B, Hq, S, Dv] and the chosen qk stage (mode 0 raw scaled, 1 softcapped, 2 masked, 3 softmax).
struct RefOut {
  std::vector<double> y, qk;
};
RefOut reference_attention(const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
                           int64_t b, int64_t hq, int64_t hkv, int64_t s, int64_t t, int64_t d, int64_t dv,
                           const std::vector<double>& mask, bool causal, int64_t past, double softcap, int qk_mode) {
  RefOut out;
  out.y.assign(size_t(b * hq * s * dv), 0);
  out.qk.assign(size_t(b * hq * s * t), 0);
  double scale = 1 / std::sqrt(double(d));
  for (int64_t bi = 0; bi < b; ++bi)
    for (int64_t h = 0; h < hq; ++h) {
      int64_t kh = h / (hq / hkv);
      for (int64_t i = 0; i < s; ++i) {
        std::vector<double> sc(static_cast<size_t>(t));
        for (int64_t j = 0; j < t; ++j) {
          double dot = 0;
          for (int64_t e = 0; e < d; ++e)
            dot += double(q[size_t(((bi * hq + h) * s + i) * d + e)]) * double(k[size_t(((bi * hkv + kh) * t + j) * d + e)]);
          double raw = dot * scale, x = raw;
          if (softcap > 0) x = softcap * std::tanh(x / softcap);
          double capped = x;
          if (!mask.empty()) x += mask[size_t(i * t + j)];
          if (causal && j > i + past) x = -std::numeric_limits<double>::infinity();
          sc[size_t(j)] = x;
          double stage = qk_mode == 0 ? raw : qk_mode == 1 ? capped : x;
          out.qk[size_t(((bi * hq + h) * s + i) * t + j)] = stage;
        }
        double mx = -1e300, sum = 0;
        for (double x : sc) mx = std::max(mx, x);
        for (double& x : sc) sum += (x = std::exp(x - mx));
        for (int64_t j = 0; j < t; ++j) {
          double p = sc[size_t(j)] / sum;
          if (qk_mode == 3) out.qk[size_t(((bi * hq + h) * s + i) * t + j)] = p;
          for (int64_t e = 0; e < dv; ++e)
            out.y[size_t(((bi * hq + h) * s + i) * dv + e)] += p * double(v[size_t(((bi * hkv + kh) * t + j) * dv + e)]);
        }
      }
    }
  return out;
}

std::vector<float> values(const Tensor& t) { return t.to_vector<float>(); }

TEST(OnnxAttention23, FourDWithShortBoolMaskMatchesTheSpec) {
  const int64_t b = 2, h = 2, s = 3, t = 4, d = 4;
  ModelBuilder m(23);
  m.input("Q", DType::F32, {b, h, s, d});
  m.input("K", DType::F32, {b, h, t, d});
  m.input("V", DType::F32, {b, h, t, d});
  m.input("M", DType::Bool, {s, int64_t(3)});
  m.output("Y", DType::F32);
  m.node("Attention", {"Q", "K", "V", "M"}, {"Y"});
  Tensor q = testing::random_tensor(Shape{b, h, s, d}, 1), k = testing::random_tensor(Shape{b, h, t, d}, 2),
         v = testing::random_tensor(Shape{b, h, t, d}, 3);
  std::vector<bool> mb{true, false, true, true, true, false, false, true, true};
  std::vector<uint8_t> mbytes(mb.begin(), mb.end());
  Tensor mask = Tensor::from_bytes(DType::Bool, Shape{s, 3}, mbytes.data(), mbytes.size());
  auto y = testing::run_model(m.model(), {{"Q", q}, {"K", k}, {"V", v}, {"M", mask}}).at("Y");
  // The mask covers 3 of the 4 keys: the fourth is masked for every query.
  std::vector<double> add(size_t(s * t));
  for (int64_t i = 0; i < s; ++i)
    for (int64_t j = 0; j < t; ++j)
      add[size_t(i * t + j)] = (j < 3 && mb[size_t(i * 3 + j)]) ? 0.0 : -std::numeric_limits<double>::infinity();
  auto ref = reference_attention(values(q), values(k), values(v), b, h, h, s, t, d, d, add, false, 0, 0, 0);
  ASSERT_EQ(y.shape(), (Shape{b, h, s, d}));
  EXPECT_LT(max_diff(y, ref.y), 1e-5);
}

TEST(OnnxAttention23, ThreeDGroupedQueryWithPastAndCausal) {
  const int64_t b = 1, hq = 4, hkv = 2, s = 2, past = 3, d = 4;
  ModelBuilder m(23);
  m.input("Q", DType::F32, {b, s, hq * d});
  m.input("K", DType::F32, {b, s, hkv * d});
  m.input("V", DType::F32, {b, s, hkv * d});
  m.input("PK", DType::F32, {b, hkv, past, d});
  m.input("PV", DType::F32, {b, hkv, past, d});
  m.output("Y", DType::F32);
  m.output("present_key", DType::F32);
  auto& n = m.node("Attention", {"Q", "K", "V", "", "PK", "PV"}, {"Y", "present_key"});
  ModelBuilder::attr(n, "q_num_heads", hq);
  ModelBuilder::attr(n, "kv_num_heads", hkv);
  ModelBuilder::attr(n, "is_causal", 1);
  Tensor q = testing::random_tensor(Shape{b, s, hq * d}, 4), k = testing::random_tensor(Shape{b, s, hkv * d}, 5),
         v = testing::random_tensor(Shape{b, s, hkv * d}, 6), pk = testing::random_tensor(Shape{b, hkv, past, d}, 7),
         pv = testing::random_tensor(Shape{b, hkv, past, d}, 8);
  auto out = testing::run_model(m.model(), {{"Q", q}, {"K", k}, {"V", v}, {"PK", pk}, {"PV", pv}});
  // Reference inputs in [B, H, L, D]: split heads, prepend the past.
  auto bhsd = [](const Tensor& x, int64_t heads, int64_t len, int64_t dd) {
    std::vector<float> r(size_t(heads * len * dd));
    for (int64_t l = 0; l < len; ++l)
      for (int64_t hh = 0; hh < heads; ++hh)
        for (int64_t e = 0; e < dd; ++e) r[size_t((hh * len + l) * dd + e)] = x.at<float>({0, l, hh * dd + e});
    return r;
  };
  auto with_past = [&](const Tensor& p, const std::vector<float>& cur) {
    std::vector<float> r;
    for (int64_t hh = 0; hh < hkv; ++hh) {
      for (int64_t l = 0; l < past; ++l)
        for (int64_t e = 0; e < d; ++e) r.push_back(p.at<float>({0, hh, l, e}));
      for (int64_t l = 0; l < s; ++l)
        for (int64_t e = 0; e < d; ++e) r.push_back(cur[size_t((hh * s + l) * d + e)]);
    }
    return r;
  };
  std::vector<float> kk = with_past(pk, bhsd(k, hkv, s, d)), vv = with_past(pv, bhsd(v, hkv, s, d));
  auto ref = reference_attention(bhsd(q, hq, s, d), kk, vv, b, hq, hkv, s, past + s, d, d, {}, true, past, 0, 0);
  // Y back to [B, S, Hq*D].
  std::vector<double> want(size_t(s * hq * d));
  for (int64_t hh = 0; hh < hq; ++hh)
    for (int64_t i = 0; i < s; ++i)
      for (int64_t e = 0; e < d; ++e) want[size_t(i * hq * d + hh * d + e)] = ref.y[size_t((hh * s + i) * d + e)];
  ASSERT_EQ(out.at("Y").shape(), (Shape{b, s, hq * d}));
  EXPECT_LT(max_diff(out.at("Y"), want), 1e-5);
  ASSERT_EQ(out.at("present_key").shape(), (Shape{b, hkv, past + s, d}));
  std::vector<double> kd(kk.begin(), kk.end());
  EXPECT_EQ(max_diff(out.at("present_key"), kd), 0.0);
}

TEST(OnnxAttention23, SoftcapAndEachQkOutputStage) {
  const int64_t b = 1, h = 2, s = 3, t = 3, d = 8;
  Tensor q = testing::random_tensor(Shape{b, h, s, d}, 9, -3, 3), k = testing::random_tensor(Shape{b, h, t, d}, 10, -3, 3),
         v = testing::random_tensor(Shape{b, h, t, d}, 11);
  Tensor bias = testing::random_tensor(Shape{s, t}, 12);
  std::vector<double> add;
  for (int64_t i = 0; i < s * t; ++i) add.push_back(bias.value_as_double(i));
  for (int mode = 0; mode <= 3; ++mode) {
    ModelBuilder m(23);
    m.input("Q", DType::F32, {b, h, s, d});
    m.input("K", DType::F32, {b, h, t, d});
    m.input("V", DType::F32, {b, h, t, d});
    m.input("B", DType::F32, {s, t});
    m.output("Y", DType::F32);
    m.output("QK", DType::F32);
    auto& n = m.node("Attention", {"Q", "K", "V", "B"}, {"Y", "", "", "QK"});
    ModelBuilder::attr(n, "softcap", 2.0);
    ModelBuilder::attr(n, "qk_matmul_output_mode", mode);
    auto out = testing::run_model(m.model(), {{"Q", q}, {"K", k}, {"V", v}, {"B", bias}});
    auto ref = reference_attention(values(q), values(k), values(v), b, h, h, s, t, d, d, add, false, 0, 2.0, mode);
    EXPECT_LT(max_diff(out.at("Y"), ref.y), 1e-5) << "mode " << mode;
    EXPECT_LT(max_diff(out.at("QK"), ref.qk), 1e-5) << "mode " << mode;
  }
}

// Reference rotary embedding on x [B, S, N, H] with cos/sin [B, S, rd/2].
std::vector<double> reference_rotary(const std::vector<float>& x, const std::vector<double>& cs,
                                     const std::vector<double>& sn, int64_t b, int64_t s, int64_t n, int64_t h,
                                     int64_t rd, bool interleaved) {
  std::vector<double> y(x.begin(), x.end());
  for (int64_t bi = 0; bi < b; ++bi)
    for (int64_t i = 0; i < s; ++i)
      for (int64_t hh = 0; hh < n; ++hh) {
        size_t base = size_t(((bi * s + i) * n + hh) * h);
        for (int64_t p = 0; p < rd / 2; ++p) {
          size_t a = base + size_t(interleaved ? 2 * p : p), c2 = base + size_t(interleaved ? 2 * p + 1 : p + rd / 2);
          double c = cs[size_t((bi * s + i) * (rd / 2) + p)], si = sn[size_t((bi * s + i) * (rd / 2) + p)];
          y[a] = c * x[a] - si * x[c2];
          y[c2] = si * x[a] + c * x[c2];
        }
      }
  return y;
}

TEST(OnnxRotaryEmbedding23, FourDWithPositionIdsInterleaved) {
  const int64_t b = 2, n = 2, s = 3, h = 6, maxpos = 8;
  ModelBuilder m(23);
  m.input("X", DType::F32, {b, n, s, h});
  m.input("C", DType::F32, {maxpos, h / 2});
  m.input("S", DType::F32, {maxpos, h / 2});
  m.input("P", DType::I64, {b, s});
  m.output("Y", DType::F32);
  auto& node = m.node("RotaryEmbedding", {"X", "C", "S", "P"}, {"Y"});
  ModelBuilder::attr(node, "interleaved", 1);
  Tensor x = testing::random_tensor(Shape{b, n, s, h}, 13);
  Tensor cache_c = testing::random_tensor(Shape{maxpos, h / 2}, 14), cache_s = testing::random_tensor(Shape{maxpos, h / 2}, 15);
  std::vector<int64_t> pos{0, 1, 2, 5, 6, 7};
  Tensor p = Tensor::from_vector(pos, Shape{b, s});
  Tensor y = testing::run_model(m.model(), {{"X", x}, {"C", cache_c}, {"S", cache_s}, {"P", p}}).at("Y");
  std::vector<float> xs;  // [B, S, N, H]
  for (int64_t bi = 0; bi < b; ++bi)
    for (int64_t i = 0; i < s; ++i)
      for (int64_t hh = 0; hh < n; ++hh)
        for (int64_t e = 0; e < h; ++e) xs.push_back(x.at<float>({bi, hh, i, e}));
  std::vector<double> cs, sn;
  for (int64_t q : pos)
    for (int64_t e = 0; e < h / 2; ++e) {
      cs.push_back(cache_c.at<float>({q, e}));
      sn.push_back(cache_s.at<float>({q, e}));
    }
  auto ref = reference_rotary(xs, cs, sn, b, s, n, h, h, true);
  std::vector<double> want;  // back to [B, N, S, H]
  for (int64_t bi = 0; bi < b; ++bi)
    for (int64_t hh = 0; hh < n; ++hh)
      for (int64_t i = 0; i < s; ++i)
        for (int64_t e = 0; e < h; ++e) want.push_back(ref[size_t(((bi * s + i) * n + hh) * h + e)]);
  EXPECT_LT(max_diff(y, want), 1e-6);
}

TEST(OnnxRotaryEmbedding23, ThreeDPartialRotationWithoutPositionIds) {
  const int64_t b = 1, s = 2, n = 2, h = 8, rd = 4;
  ModelBuilder m(23);
  m.input("X", DType::F32, {b, s, n * h});
  m.input("C", DType::F32, {b, s, rd / 2});
  m.input("S", DType::F32, {b, s, rd / 2});
  m.output("Y", DType::F32);
  auto& node = m.node("RotaryEmbedding", {"X", "C", "S"}, {"Y"});
  ModelBuilder::attr(node, "num_heads", n);
  ModelBuilder::attr(node, "rotary_embedding_dim", rd);
  Tensor x = testing::random_tensor(Shape{b, s, n * h}, 16);
  Tensor c = testing::random_tensor(Shape{b, s, rd / 2}, 17), sn = testing::random_tensor(Shape{b, s, rd / 2}, 18);
  Tensor y = testing::run_model(m.model(), {{"X", x}, {"C", c}, {"S", sn}}).at("Y");
  std::vector<double> cs(size_t(c.size())), ss(size_t(sn.size()));
  for (int64_t i = 0; i < c.size(); ++i) cs[size_t(i)] = c.value_as_double(i), ss[size_t(i)] = sn.value_as_double(i);
  EXPECT_LT(max_diff(y, reference_rotary(values(x), cs, ss, b, s, n, h, rd, false)), 1e-6);
}

}  // namespace
}  // namespace graft::onnx
