// The fused attention kernel (backend/cpu/attention_fusion.h, kernels/attention.cpp): the chains
// imported transformers build — with and without head-split transposes, scale, mask and head-merge
// transpose — must be fused (the executable's stats say so) and must give what plain loops over the
// math give, for several batch/head/thread layouts.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <limits>

#include "graft/graph/ops.h"
#include "test_util.h"

namespace graft {
namespace {

struct Case {
  int64_t b, h, s, t, d, dv;
  bool split_transposes;  // Q/K/V come from [B, L, H, D] tensors through transposes, as in BERT exports
  bool k_transposed;      // the product reads K^T (MatMul(q, Transpose(k))) rather than contracting K's last axis
  int mask_rank;          // 0: none, 1: [S, 1] (one value per row), 2: [S, T], 4: [B, 1, 1, T]
  bool divide;            // scale as x / c instead of x * c
  bool merge_transpose;   // the result goes through Transpose(0, 2, 1, 3)
};

// Reference: loops over logical [B, H, S, D] values.
std::vector<double> reference(const Case& c, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask,
                              double scale) {
  auto at = [&](const Tensor& x, int64_t b, int64_t h, int64_t i, int64_t e) {
    return c.split_transposes ? x.at<float>({b, i, h, e}) : x.at<float>({b, h, i, e});
  };
  std::vector<double> out;
  std::vector<double> y(size_t(c.b * c.h * c.s * c.dv));
  for (int64_t b = 0; b < c.b; ++b)
    for (int64_t h = 0; h < c.h; ++h)
      for (int64_t i = 0; i < c.s; ++i) {
        std::vector<double> sc(static_cast<size_t>(c.t));
        double mx = -1e300;
        for (int64_t j = 0; j < c.t; ++j) {
          double dot = 0;
          for (int64_t e = 0; e < c.d; ++e) dot += double(at(q, b, h, i, e)) * double(at(k, b, h, j, e));
          double x = dot * scale;
          if (c.mask_rank == 1) x += mask->at<float>({i, int64_t(0)});
          if (c.mask_rank == 2) x += mask->at<float>({i, j});
          if (c.mask_rank == 4) x += mask->at<float>({b, 0, 0, j});
          sc[size_t(j)] = x;
          mx = std::max(mx, x);
        }
        double sum = 0;
        for (double& x : sc) sum += (x = std::exp(x - mx));
        for (int64_t e = 0; e < c.dv; ++e) {
          double acc = 0;
          for (int64_t j = 0; j < c.t; ++j) acc += sc[size_t(j)] / sum * double(at(v, b, h, j, e));
          // Stored as [B, S, H, Dv] after the merge transpose, else [B, H, S, Dv].
          int64_t idx = c.merge_transpose ? ((b * c.s + i) * c.h + h) * c.dv + e : ((b * c.h + h) * c.s + i) * c.dv + e;
          y[size_t(idx)] = acc;
        }
      }
  return y;
}

void check(const Case& c) {
  SCOPED_TRACE(::testing::Message() << "b" << c.b << " h" << c.h << " s" << c.s << " t" << c.t << " d" << c.d
                                    << " split " << c.split_transposes << " kT " << c.k_transposed << " mask "
                                    << c.mask_rank << " div " << c.divide << " merge " << c.merge_transpose);
  auto shape = [&](int64_t len, int64_t dim) {
    return c.split_transposes ? Shape{c.b, len, c.h, dim} : Shape{c.b, c.h, len, dim};
  };
  Tensor q = testing::random_tensor(DType::F32, shape(c.s, c.d), 1, -1, 1);
  Tensor k = testing::random_tensor(DType::F32, shape(c.t, c.d), 2, -1, 1);
  Tensor v = testing::random_tensor(DType::F32, shape(c.t, c.dv), 3, -1, 1);
  Tensor mask;
  if (c.mask_rank == 1) mask = testing::random_tensor(DType::F32, Shape{c.s, 1}, 4, -3, 0);
  if (c.mask_rank == 2) mask = testing::random_tensor(DType::F32, Shape{c.s, c.t}, 4, -3, 0);
  if (c.mask_rank == 4) {
    // BERT's padding mask: 0 for kept keys, a very negative number for the last key of batch 0.
    std::vector<float> m(size_t(c.b * c.t), 0.f);
    m[size_t(c.t - 1)] = -3.4e38f;
    mask = Tensor::from_vector(m, Shape{c.b, 1, 1, c.t});
  }
  const double c_value = std::sqrt(double(c.d));
  const double scale = 1.0 / c_value;
  Graph g;
  Node qn = g.parameter("q", DType::F32, q.shape()), kn = g.parameter("k", DType::F32, k.shape()),
       vn = g.parameter("v", DType::F32, v.shape());
  std::optional<Node> mn;
  if (c.mask_rank) mn = g.parameter("mask", DType::F32, mask.shape());
  if (c.split_transposes) {
    qn = Transpose(qn, {0, 2, 1, 3});
    vn = Transpose(vn, {0, 2, 1, 3});
    kn = c.k_transposed ? Transpose(kn, {0, 2, 3, 1}) : Transpose(kn, {0, 2, 1, 3});
  } else if (c.k_transposed) {
    kn = Transpose(kn, {0, 1, 3, 2});
  }
  Node s = c.k_transposed ? MatMul(qn, kn) : DotGeneral(qn, kn, DotGeneralAttrs{{0, 1}, {0, 1}, {3}, {3}});
  s = c.divide ? s / g.scalar(float(c_value)) : s * g.scalar(float(scale));
  if (mn) s = s + *mn;
  Node o = MatMul(Softmax(s, -1), vn);
  if (c.merge_transpose) o = Transpose(o, {0, 2, 1, 3});
  g.set_outputs({o});
  std::vector<Tensor> args{q, k, v};
  if (c.mask_rank) args.push_back(mask);
  CompileOptions off;
  off.fuse_attention = false;
  auto fused_exe = cpu_backend()->compile(g);
  auto plain_exe = cpu_backend()->compile(g, off);
  EXPECT_EQ(fused_exe->stats().num_fused_attention, 1);
  EXPECT_EQ(plain_exe->stats().num_fused_attention, 0);
  Tensor got = fused_exe->run(std::span<const Tensor>(args)).at(0);
  Tensor plain = plain_exe->run(std::span<const Tensor>(args)).at(0);
  std::vector<double> want = reference(c, q, k, v, c.mask_rank ? &mask : nullptr, scale);
  ASSERT_EQ(got.size(), int64_t(want.size()));
  double err = 0, err_plain = 0;
  for (int64_t i = 0; i < got.size(); ++i) {
    err = std::max(err, std::fabs(got.value_as_double(i) - want[size_t(i)]));
    err_plain = std::max(err_plain, std::fabs(plain.value_as_double(i) - want[size_t(i)]));
  }
  EXPECT_LT(err, 1e-5);
  EXPECT_LT(err_plain, 1e-5);
}

TEST(AttentionFusion, BertStyleChainsMatchTheMath) {
  for (bool split : {true, false})
    for (bool kt : {true, false})
      for (int mask : {0, 2, 4})
        for (bool merge : {true, false}) check({2, 3, 5, 5, 8, 8, split, kt, mask, false, merge});
}

TEST(AttentionFusion, ScaleByDivisionCrossLengthsAndValueWidth) {
  check({2, 4, 3, 7, 16, 4, true, true, 2, true, true});
  check({1, 2, 9, 4, 4, 12, false, false, 0, true, false});
}

TEST(AttentionFusion, EveryThreadLayout) {
  // One batch item (heads split across threads), many items, long rows (scores larger than one block).
  int saved = omp_get_max_threads();
  for (int threads : {1, 2, 3}) {
    omp_set_num_threads(threads);
    check({1, 12, 16, 16, 32, 32, true, true, 4, false, true});
    check({5, 2, 8, 8, 16, 16, true, true, 4, false, true});
    check({1, 2, 300, 300, 8, 8, false, true, 2, false, false});
    // Head sizes and lengths around small_gemm's blocks (16 and 32 columns, 6 rows), one head per item.
    check({4, 3, 13, 45, 32, 32, true, true, 4, false, true});
    check({3, 2, 7, 33, 64, 20, true, false, 2, false, true});
    check({2, 2, 130, 17, 16, 48, false, true, 0, true, false});
    check({3, 2, 9, 250, 16, 16, true, true, 1, false, true});  // the longest row held in registers
    check({3, 2, 9, 257, 16, 16, true, true, 2, false, true});  // the shortest that is not
  }
  omp_set_num_threads(saved);
}

TEST(AttentionFusion, ChainsWithOtherUsesAreLeftAlone) {
  // The scores are an output too: nothing may be fused away.
  Graph g;
  Node q = g.parameter("q", DType::F32, {1, 2, 3, 4}), k = g.parameter("k", DType::F32, {1, 2, 3, 4}),
       v = g.parameter("v", DType::F32, {1, 2, 3, 4});
  Node s = MatMul(q, Transpose(k, {0, 1, 3, 2}));
  Node o = MatMul(Softmax(s, -1), v);
  g.set_outputs({o, s});
  auto exe = cpu_backend()->compile(g);
  EXPECT_EQ(exe->stats().num_fused_attention, 0);
}

}  // namespace
}  // namespace graft
