// MatMul / DotGeneral against a plain-loop dot_general reference in double precision.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "test_util.h"

using namespace graft;
using graft::testing::random_tensor;
using graft::testing::run1;

namespace {

using graft::testing::Idx;
using graft::testing::ravel;
using graft::testing::unravel;

bool has(const Idx& v, int64_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

// XLA dot_general in double: output axes are batch dims, lhs free dims, rhs free dims.
// `round` maps each operand element before use (e.g. to model f16 storage); defaults to identity.
std::pair<Idx, std::vector<double>> ref_dot(const Tensor& lhs, const Tensor& rhs, const DotGeneralAttrs& a) {
  Idx ld = lhs.shape().dims(), rd = rhs.shape().dims();
  auto norm = [](Idx v, size_t r) {
    for (int64_t& x : v)
      if (x < 0) x += int64_t(r);
    return v;
  };
  Idx lb = norm(a.lhs_batch, ld.size()), rb = norm(a.rhs_batch, rd.size());
  Idx lc = norm(a.lhs_contract, ld.size()), rc = norm(a.rhs_contract, rd.size());
  Idx lf, rf, od;
  for (int64_t b : lb) od.push_back(ld[size_t(b)]);
  for (size_t i = 0; i < ld.size(); ++i)
    if (!has(lb, int64_t(i)) && !has(lc, int64_t(i))) lf.push_back(int64_t(i)), od.push_back(ld[i]);
  for (size_t i = 0; i < rd.size(); ++i)
    if (!has(rb, int64_t(i)) && !has(rc, int64_t(i))) rf.push_back(int64_t(i)), od.push_back(rd[i]);
  Idx cd;
  for (int64_t c : lc) cd.push_back(ld[size_t(c)]);
  int64_t n_out = 1, n_k = 1;
  for (int64_t d : od) n_out *= d;
  for (int64_t d : cd) n_k *= d;
  std::vector<double> out(size_t(n_out), 0.0);
  for (int64_t f = 0; f < n_out; ++f) {
    Idx o = unravel(f, od);
    Idx li(ld.size()), ri(rd.size());
    size_t p = 0;
    for (size_t i = 0; i < lb.size(); ++i, ++p) li[size_t(lb[i])] = o[p], ri[size_t(rb[i])] = o[p];
    for (int64_t ax : lf) li[size_t(ax)] = o[p++];
    for (int64_t ax : rf) ri[size_t(ax)] = o[p++];
    double acc = 0;
    for (int64_t k = 0; k < n_k; ++k) {
      Idx ki = unravel(k, cd);
      for (size_t i = 0; i < lc.size(); ++i) li[size_t(lc[i])] = ki[i], ri[size_t(rc[i])] = ki[i];
      acc += lhs.value_as_double(ravel(li, ld)) * rhs.value_as_double(ravel(ri, rd));
    }
    out[size_t(f)] = acc;
  }
  return {od, out};
}

void expect_close(const Tensor& got, const Idx& dims, const std::vector<double>& want, double rtol, double atol,
                  const std::string& what) {
  ASSERT_EQ(got.shape(), Shape(dims)) << what;
  double worst = 0;
  int64_t worst_at = -1;
  for (size_t i = 0; i < want.size(); ++i) {
    double err = std::fabs(got.value_as_double(int64_t(i)) - want[i]) - rtol * std::fabs(want[i]);
    if (err > worst) worst = err, worst_at = int64_t(i);
  }
  EXPECT_LE(worst, atol) << what << ": worst at flat index " << worst_at << " got "
                         << got.value_as_double(std::max<int64_t>(worst_at, 0)) << " want "
                         << want[size_t(std::max<int64_t>(worst_at, 0))];
}

Tensor run_dot(const Tensor& l, const Tensor& r, const DotGeneralAttrs& a, std::optional<DType> out = std::nullopt) {
  return run1([&](std::vector<Node> in) { return DotGeneral(in[0], in[1], a, out); }, {l, r});
}

Tensor run_matmul(const Tensor& l, const Tensor& r) {
  return run1([](std::vector<Node> in) { return MatMul(in[0], in[1]); }, {l, r});
}

template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

// numpy.matmul reference via dot_general on explicitly broadcast operands.
std::pair<Idx, std::vector<double>> ref_matmul(const Tensor& a, const Tensor& b) {
  Tensor A = a.rank() == 1 ? a.reshape(Shape{1, a.shape()[0]}) : a;
  Tensor B = b.rank() == 1 ? b.reshape(Shape{b.shape()[0], 1}) : b;
  Idx ad = A.shape().dims(), bd = B.shape().dims();
  Idx ab(ad.begin(), ad.end() - 2), bb(bd.begin(), bd.end() - 2);
  size_t nb = std::max(ab.size(), bb.size());
  while (ab.size() < nb) ab.insert(ab.begin(), 1);
  while (bb.size() < nb) bb.insert(bb.begin(), 1);
  Idx batch;
  for (size_t i = 0; i < nb; ++i) batch.push_back(std::max(ab[i], bb[i]));
  int64_t M = ad[ad.size() - 2], K = ad.back(), N = bd.back();
  int64_t nbatch = 1;
  for (int64_t d : batch) nbatch *= d;
  std::vector<double> out;
  for (int64_t f = 0; f < nbatch; ++f) {
    Idx bi = unravel(f, batch);
    int64_t ao = 0, bo = 0;
    for (size_t i = 0; i < nb; ++i) {
      ao = ao * ab[i] + (ab[i] == 1 ? 0 : bi[i]);
      bo = bo * bb[i] + (bb[i] == 1 ? 0 : bi[i]);
    }
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double acc = 0;
        for (int64_t k = 0; k < K; ++k)
          acc += A.value_as_double((ao * M + m) * K + k) * B.value_as_double((bo * K + k) * N + n);
        out.push_back(acc);
      }
  }
  Idx od = batch;
  if (a.rank() > 1) od.push_back(M);
  if (b.rank() > 1) od.push_back(N);
  return {od, out};
}

}  // namespace

TEST(MatMul, ShapesBroadcastAndVectorPromotion) {
  struct Case { Idx a, b; };
  std::vector<Case> cases = {
      {{37, 53}, {53, 29}},         {{3, 17, 23}, {3, 23, 11}}, {{2, 1, 5, 7}, {3, 7, 4}}, {{5, 7}, {2, 3, 7, 4}},
      {{7}, {7, 3}},                {{3, 7}, {7}},              {{7}, {7}},                {{2, 5, 7}, {7}},
      {{7}, {2, 7, 3}},             {{4, 1, 3, 6}, {1, 5, 6, 2}}, {{1, 1}, {1, 1}},        {{6, 4, 9}, {9, 1}},
  };
  uint32_t seed = 100;
  for (const Case& c : cases) {
    for (DType dt : {DType::F32, DType::F64}) {
      Tensor a = random_tensor(dt, Shape(c.a), seed++), b = random_tensor(dt, Shape(c.b), seed++);
      Tensor y = run_matmul(a, b);
      auto [dims, want] = ref_matmul(a, b);
      EXPECT_EQ(y.dtype(), dt);
      expect_close(y, dims, want, dt == DType::F32 ? 1e-5 : 1e-12, dt == DType::F32 ? 1e-5 : 1e-12,
                   "MatMul " + Shape(c.a).str() + " x " + Shape(c.b).str() + " " + std::string(dtype_name(dt)));
    }
  }
}

TEST(MatMul, LargeOneDnnSizes) {
  struct Case { Idx a, b; };
  std::vector<Case> cases = {{{256, 300}, {300, 200}}, {{4, 129, 257}, {4, 257, 65}}, {{301}, {301, 170}},
                             {{2, 64, 384}, {384, 384}}};
  uint32_t seed = 7;
  for (const Case& c : cases) {
    Tensor a = random_tensor(DType::F32, Shape(c.a), seed++), b = random_tensor(DType::F32, Shape(c.b), seed++);
    Tensor y = run_matmul(a, b);
    auto [dims, want] = ref_matmul(a, b);
    expect_close(y, dims, want, 1e-4, 1e-4, "large MatMul " + Shape(c.a).str() + " x " + Shape(c.b).str());
  }
}

TEST(MatMul, InnerDimErrors) {
  Graph g;
  Node a = g.parameter("a", DType::F32, {2, 3});
  Node b = g.parameter("b", DType::F32, {4, 5});
  Node c = g.parameter("c", DType::F32, {2, 3, 4});
  Node d = g.parameter("d", DType::F32, {3, 4, 5});
  Node s = g.parameter("s", DType::F32, {});
  std::string m = error_of([&] { MatMul(a, b); });
  EXPECT_NE(m.find("inner dims 3 vs 4"), std::string::npos) << m;
  EXPECT_NE(m.find("MatMul"), std::string::npos) << m;
  EXPECT_NE(m.find("[2, 3]"), std::string::npos) << m;
  EXPECT_NE(m.find("[4, 5]"), std::string::npos) << m;
  m = error_of([&] { MatMul(c, d); });  // batch 2 vs 3 do not broadcast
  EXPECT_NE(m.find("MatMul batch"), std::string::npos) << m;
  EXPECT_THROW(MatMul(a, s), Error);
  m = error_of([&] { DotGeneral(a, b, {{}, {}, {1}, {0}}); });
  EXPECT_NE(m.find("DotGeneral"), std::string::npos) << m;
  EXPECT_NE(m.find("inner dims 3 vs 4"), std::string::npos) << m;
  m = error_of([&] { DotGeneral(c, d, {{0}, {0}, {2}, {1}}); });
  EXPECT_NE(m.find("batch dims 2 vs 3"), std::string::npos) << m;
  EXPECT_THROW(DotGeneral(a, b, {{}, {}, {1}, {}}), Error);
  EXPECT_THROW(DotGeneral(a, b, {{}, {}, {2}, {0}}), Error);
  Node i = g.parameter("i", DType::I32, {3, 5});
  m = error_of([&] { DotGeneral(a, i, {{}, {}, {1}, {0}}); });
  EXPECT_NE(m.find("differ"), std::string::npos) << m;
  Node bl = g.parameter("bl", DType::Bool, {3, 3});
  EXPECT_THROW(DotGeneral(bl, bl, {{}, {}, {1}, {0}}), Error);
  Node i8 = g.parameter("i8", DType::I8, {2, 3});
  EXPECT_THROW(DotGeneral(i8, i8, {{}, {}, {1}, {1}}, DType::F32), Error);
  EXPECT_EQ(DotGeneral(i8, i8, {{}, {}, {1}, {1}}, DType::I32).dtype(), DType::I32);
}

// Contracting/batch axes in every position: oneDNN must read transposed / strided views correctly.
TEST(DotGeneral, UnusualAxisPositions) {
  struct Case { Idx l, r; DotGeneralAttrs a; };
  std::vector<Case> cases = {
      {{5, 3}, {5, 4}, {{}, {}, {0}, {0}}},                      // lhs^T rhs
      {{3, 5}, {4, 5}, {{}, {}, {1}, {1}}},                      // lhs rhs^T
      {{5, 3}, {4, 5}, {{}, {}, {0}, {1}}},                      // lhs^T rhs^T
      {{6, 2, 5}, {5, 2, 4}, {{1}, {1}, {2}, {0}}},              // batch in the middle
      {{2, 5, 6}, {4, 5, 2}, {{0}, {2}, {1}, {1}}},              // batch first vs last
      {{3, 4, 5}, {5, 7, 3}, {{}, {}, {0, 2}, {2, 0}}},          // two contracting dims, reversed order
      {{3, 4, 5}, {3, 5, 7}, {{}, {}, {0, 2}, {0, 1}}},          // two contracting dims
      {{2, 3, 4, 5}, {3, 2, 5, 6}, {{0, 1}, {1, 0}, {3}, {2}}},  // two batch dims, swapped
      {{2, 3, 4, 5}, {5, 3, 2}, {{1, 0}, {1, 2}, {3}, {0}}},     // batch order differs from operand order
      {{4, 6}, {7, 8}, {{}, {}, {}, {}}},                        // outer product
      {{2, 4}, {2, 4}, {{0}, {0}, {1}, {1}}},                    // batched dot: [2]
      {{6, 1, 5}, {5, 1}, {{}, {}, {2}, {0}}},                   // unit extents
      {{1, 5}, {5, 1}, {{}, {}, {1}, {0}}},
      {{7, 3, 1}, {3, 7}, {{0}, {1}, {1}, {0}}},
      {{5, 9, 3}, {3, 8, 5}, {{}, {}, {-1, 0}, {0, -1}}},        // negative axes
  };
  uint32_t seed = 300;
  for (size_t k = 0; k < cases.size(); ++k) {
    const Case& c = cases[k];
    for (DType dt : {DType::F32, DType::F64, DType::I64, DType::I32}) {
      Tensor l = random_tensor(dt, Shape(c.l), seed++, -5, 5), r = random_tensor(dt, Shape(c.r), seed++, -5, 5);
      Tensor y = run_dot(l, r, c.a);
      auto [dims, want] = ref_dot(l, r, c.a);
      EXPECT_EQ(y.dtype(), dt);
      double tol = dt == DType::F32 ? 1e-5 : dt == DType::F64 ? 1e-12 : 0;
      expect_close(y, dims, want, tol, tol, "DotGeneral case " + std::to_string(k) + " " + std::string(dtype_name(dt)));
    }
  }
}

TEST(DotGeneral, LargeTransposedOperands) {
  // [K, M] x [N, K] with K, M, N in the hundreds.
  Tensor l = random_tensor(DType::F32, Shape{300, 130}, 1), r = random_tensor(DType::F32, Shape{170, 300}, 2);
  DotGeneralAttrs a{{}, {}, {0}, {1}};
  auto [dims, want] = ref_dot(l, r, a);
  expect_close(run_dot(l, r, a), dims, want, 1e-4, 1e-4, "large transposed");
  // Batched with the batch axis last on both sides.
  Tensor bl = random_tensor(DType::F32, Shape{64, 96, 3}, 3), br = random_tensor(DType::F32, Shape{96, 80, 3}, 4);
  DotGeneralAttrs ba{{2}, {2}, {1}, {0}};
  auto [bd, bw] = ref_dot(bl, br, ba);
  expect_close(run_dot(bl, br, ba), bd, bw, 1e-4, 1e-4, "large batch-last");
}

TEST(DotGeneral, HalfPrecisionAccumulatesInF32) {
  for (DType dt : {DType::F16, DType::BF16}) {
    struct Case { Idx l, r; DotGeneralAttrs a; };
    std::vector<Case> cases = {{{33, 200}, {200, 17}, {{}, {}, {1}, {0}}},
                               {{200, 9}, {11, 200}, {{}, {}, {0}, {1}}},
                               {{3, 40, 64}, {3, 64, 24}, {{0}, {0}, {2}, {1}}},
                               {{40, 64, 3}, {64, 24, 3}, {{2}, {2}, {1}, {0}}}};  // strided: copied first
    uint32_t seed = 50;
    for (const Case& c : cases) {
      Tensor l = random_tensor(dt, Shape(c.l), seed++, -1, 1), r = random_tensor(dt, Shape(c.r), seed++, -1, 1);
      auto [dims, want] = ref_dot(l, r, c.a);  // exact products of the stored 16-bit values
      for (std::optional<DType> out : {std::optional<DType>{}, std::optional<DType>{DType::F32}}) {
        Tensor y = run_dot(l, r, c.a, out);
        EXPECT_EQ(y.dtype(), out.value_or(dt));
        std::vector<double> rounded;
        for (double w : want) {
          if (!out) rounded.push_back(dt == DType::F16 ? double(float(float16(float(w)))) : double(float(bfloat16(float(w)))));
          else rounded.push_back(w);
        }
        // f32 accumulation of <= 200 terms of size <= 1, then one rounding to the 16-bit output.
        double ulp = !out ? (dt == DType::F16 ? 1.0 / 1024 : 1.0 / 128) : 0;
        expect_close(y, dims, rounded, ulp, 2e-5, std::string("half dot ") + std::string(dtype_name(dt)) +
                                                    (out ? " -> f32" : ""));
      }
    }
  }
}

TEST(DotGeneral, Int8ProductsToInt32) {
  Tensor l8 = random_tensor(DType::I8, Shape{19, 300}, 61, -128, 128);
  Tensor r8 = random_tensor(DType::I8, Shape{300, 23}, 62, -128, 128);
  Tensor ru8 = random_tensor(DType::U8, Shape{300, 23}, 63, 0, 256);
  Tensor lu8 = random_tensor(DType::U8, Shape{19, 300}, 64, 0, 256);
  DotGeneralAttrs a{{}, {}, {1}, {0}};
  for (auto [l, r] : std::vector<std::pair<Tensor, Tensor>>{{l8, r8}, {l8, ru8}, {lu8, r8}, {lu8, ru8}}) {
    Tensor y = run_dot(l, r, a, DType::I32);
    ASSERT_EQ(y.dtype(), DType::I32);
    auto [dims, want] = ref_dot(l, r, a);
    std::string what = std::string("int8 dot ") + std::string(dtype_name(l.dtype())) + " x " +
                       std::string(dtype_name(r.dtype()));
    expect_close(y, dims, want, 0, 0, what);
    // The sums exceed the int8/uint8 range: the int32 result must not have been narrowed.
    double mx = 0;
    for (double w : want) mx = std::max(mx, std::fabs(w));
    EXPECT_GT(mx, 1000) << what;
  }
  // Same dtype without out_dtype stays int8 (wrapping, like any int8 arithmetic).
  Tensor y = run_dot(l8, r8, a);
  EXPECT_EQ(y.dtype(), DType::I8);
  auto [dims, want] = ref_dot(l8, r8, a);
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_EQ(y.value_as_double(int64_t(i)), double(int8_t(uint8_t(int64_t(want[i]) & 0xff)))) << i;
}

TEST(DotGeneral, Int64AndF64Exact) {
  Tensor l = random_tensor(DType::I64, Shape{3, 17, 13}, 71, -1000, 1000);
  Tensor r = random_tensor(DType::I64, Shape{3, 13, 11}, 72, -1000, 1000);
  Tensor y = run_matmul(l, r);
  auto [dims, want] = ref_matmul(l, r);
  EXPECT_EQ(y.dtype(), DType::I64);
  expect_close(y, dims, want, 0, 0, "int64 matmul");
  // Values beyond 2^31: int64 accumulation, not int32.
  Tensor big_l = Tensor::from_vector(std::vector<int64_t>{int64_t(3) << 40, 5, -(int64_t(1) << 41), 7}, Shape{2, 2});
  Tensor big_r = Tensor::from_vector(std::vector<int64_t>{2, 1, 3, int64_t(1) << 33}, Shape{2, 2});
  Tensor by = run_matmul(big_l, big_r);
  EXPECT_EQ(by.to_vector<int64_t>(),
            (std::vector<int64_t>{(int64_t(3) << 41) + 15, (int64_t(3) << 40) + (int64_t(5) << 33),
                                  -(int64_t(1) << 42) + 21, -(int64_t(1) << 41) + (int64_t(7) << 33)}));
  Tensor fl = random_tensor(DType::F64, Shape{150, 211}, 73), fr = random_tensor(DType::F64, Shape{211, 90}, 74);
  auto [fd, fw] = ref_matmul(fl, fr);
  expect_close(run_matmul(fl, fr), fd, fw, 1e-12, 1e-12, "f64 matmul");
}

TEST(DotGeneral, EmptyContractionGivesZeros) {
  for (DType dt : {DType::F32, DType::F16, DType::F64, DType::I32, DType::I64}) {
    Tensor l = Tensor::full(dt, Shape{3, 0}, 0), r = Tensor::full(dt, Shape{0, 4}, 0);
    Tensor y = run_matmul(l, r);
    ASSERT_EQ(y.shape(), (Shape{3, 4})) << dtype_name(dt);
    for (int64_t i = 0; i < y.size(); ++i) EXPECT_EQ(y.value_as_double(i), 0.0) << dtype_name(dt);
    Tensor bl = Tensor::full(dt, Shape{2, 3, 0}, 0), br = Tensor::full(dt, Shape{2, 0, 5}, 0);
    Tensor by = run_matmul(bl, br);
    ASSERT_EQ(by.shape(), (Shape{2, 3, 5}));
    for (int64_t i = 0; i < by.size(); ++i) EXPECT_EQ(by.value_as_double(i), 0.0) << dtype_name(dt);
  }
  Tensor i8l(DType::I8, Shape{2, 0}), i8r(DType::I8, Shape{0, 2});
  Tensor iy = run_dot(i8l, i8r, {{}, {}, {1}, {0}}, DType::I32);
  EXPECT_EQ(iy.to_vector<int32_t>(), (std::vector<int32_t>{0, 0, 0, 0}));
  // Empty free axes: an empty result.
  Tensor e = run_matmul(Tensor(DType::F32, Shape{0, 3}), random_tensor(DType::F32, Shape{3, 4}, 1));
  EXPECT_EQ(e.shape(), (Shape{0, 4}));
}

// Regression: the builder accepts a floating out_dtype that differs from f32 operands; the kernel used to take
// the oneDNN f32 path and write f32 results straight into the f64 / f16 output buffer (garbage for f64, heap
// corruption for f16).
TEST(DotGeneral, F32OperandsWithF64OutDType) {
  Tensor l = random_tensor(DType::F32, Shape{4, 6}, 81), r = random_tensor(DType::F32, Shape{6, 5}, 82);
  DotGeneralAttrs a{{}, {}, {1}, {0}};
  auto [dims, want] = ref_dot(l, r, a);
  Tensor y64 = run_dot(l, r, a, DType::F64);
  EXPECT_EQ(y64.dtype(), DType::F64);
  expect_close(y64, dims, want, 1e-5, 1e-5, "f32 x f32 -> f64");
}

TEST(DotGeneral, F32OperandsWithF16OutDType) {
  Tensor l = random_tensor(DType::F32, Shape{4, 6}, 81), r = random_tensor(DType::F32, Shape{6, 5}, 82);
  DotGeneralAttrs a{{}, {}, {1}, {0}};
  auto [dims, want] = ref_dot(l, r, a);
  Tensor y16 = run_dot(l, r, a, DType::F16);
  EXPECT_EQ(y16.dtype(), DType::F16);
  expect_close(y16, dims, want, 2e-3, 2e-3, "f32 x f32 -> f16");
}

// ---- products followed by a bias and an activation (the CPU backend may fuse these into one kernel) ----

namespace {
enum class Act { None, Relu, GeluErf, GeluTanh };

double ref_act(double v, Act a) {
  switch (a) {
    case Act::Relu: return std::isnan(v) ? v : std::max(v, 0.0);
    case Act::GeluErf: return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
    case Act::GeluTanh: return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
    default: return v;
  }
}

Node apply_act(Node v, Act a) {
  switch (a) {
    case Act::Relu: return Max(v, ScalarLike(v, 0.0));
    case Act::GeluErf: return Gelu(v, false);
    case Act::GeluTanh: return Gelu(v, true);
    default: return v;
  }
}
}  // namespace

TEST(MatMul, BiasAndActivationEpilogues) {
  struct Case { Idx a, w, bias; bool bias_first; };
  std::vector<Case> cases = {{{5, 7}, {7, 6}, {6}, false},         {{2, 3, 7}, {7, 6}, {1, 6}, true},
                             {{64, 200}, {200, 96}, {96}, false},  {{7, 5}, {5, 1}, {1}, false},
                             {{3, 0}, {0, 4}, {4}, false}};
  uint32_t seed = 900;
  for (const Case& c : cases) {
    Tensor a = random_tensor(DType::F32, Shape(c.a), seed++), w = random_tensor(DType::F32, Shape(c.w), seed++);
    Tensor b = random_tensor(DType::F32, Shape(c.bias), seed++);
    auto [dims, prod] = ref_matmul(a, w);
    int64_t N = c.w.back();
    for (Act act : {Act::None, Act::Relu, Act::GeluErf, Act::GeluTanh}) {
      std::vector<double> want;
      for (size_t i = 0; i < prod.size(); ++i) want.push_back(ref_act(prod[i] + b.value_as_double(int64_t(i) % N), act));
      for (bool fused : {true, false}) {
        CompileOptions o;
        o.use_fused_composites = fused;
        o.fuse_elementwise = fused;
        Tensor y = run1(
            [&](std::vector<Node> in) {
              Node p = MatMul(in[0], in[1]);
              return apply_act(c.bias_first ? in[2] + p : p + in[2], act);
            },
            {a, w, b}, o);
        expect_close(y, dims, want, 1e-4, 1e-5,
                     "MatMul+bias " + Shape(c.a).str() + " x " + Shape(c.w).str() + " act " +
                         std::to_string(int(act)) + (fused ? " fused" : " unfused"));
      }
    }
  }
}

// A transformer's skip connection, x + (h · w + b) [-> gelu], runs inside the product (a oneDNN binary post-op)
// when its Add is the single reader of the bias add or activation: one kernel instead of a product and an
// element-wise group. Against a double reference, with constant and run-time weights, the residual on either
// side of the Add, and Add(p1 + b1, p2 + b2), where only one product can take the Add.
TEST(MatMul, ResidualEpilogue) {
  struct Case { Idx a, w; Act act; bool constant_w, residual_first; };
  std::vector<Case> cases = {{{5, 7}, {7, 6}, Act::None, false, false},  {{2, 3, 7}, {7, 6}, Act::GeluErf, true, true},
                             {{64, 200}, {200, 96}, Act::None, true, false}, {{3, 0}, {0, 4}, Act::GeluTanh, false, false},
                             {{2, 16, 48}, {48, 48}, Act::None, true, true}};
  uint32_t seed = 1900;
  for (const Case& c : cases) {
    Tensor a = random_tensor(DType::F32, Shape(c.a), seed++), w = random_tensor(DType::F32, Shape(c.w), seed++);
    const int64_t N = c.w.back();
    Tensor b = random_tensor(DType::F32, Shape{N}, seed++);
    auto [dims, prod] = ref_matmul(a, w);
    Tensor r = random_tensor(DType::F32, Shape(dims), seed++);
    std::vector<double> want;
    for (size_t i = 0; i < prod.size(); ++i)
      want.push_back(ref_act(prod[i] + b.value_as_double(int64_t(i) % N), c.act) + r.value_as_double(int64_t(i)));
    for (bool fuse : {true, false}) {
      SCOPED_TRACE(Shape(c.a).str() + " x " + Shape(c.w).str() + (fuse ? " fused" : " unfused"));
      Graph g("residual");
      Node x = g.parameter("a", DType::F32, Shape(c.a));
      Node wn = c.constant_w ? g.constant(w) : g.parameter("w", DType::F32, Shape(c.w));
      Node bn = g.parameter("b", DType::F32, Shape{N});
      Node rn = g.parameter("r", DType::F32, Shape(dims));
      Node h = apply_act(MatMul(x, wn) + bn, c.act);
      g.set_outputs({c.residual_first ? rn + h : h + rn});
      CompileOptions o;
      o.fuse_matmul_epilogues = fuse;
      auto exe = cpu_backend()->compile(g, o);
      EXPECT_EQ(exe->stats().num_fused_epilogues, fuse ? 1 : 0);
      if (fuse) EXPECT_EQ(exe->stats().num_kernels, 1);  // the product is the whole graph
      std::vector<Tensor> args{a};
      if (!c.constant_w) args.push_back(w);
      args.push_back(b);
      args.push_back(r);
      for (int rep = 0; rep < 2; ++rep) expect_close(exe->run(args)[0], dims, want, 1e-4, 1e-5, "residual");
    }
  }
  // Add(p1 + b1, p2 + b2): the first product takes the Add as its residual, the second ends at its bias.
  Tensor a1 = random_tensor(DType::F32, Shape{6, 10}, 1), w1 = random_tensor(DType::F32, Shape{10, 8}, 2);
  Tensor a2 = random_tensor(DType::F32, Shape{6, 12}, 3), w2 = random_tensor(DType::F32, Shape{12, 8}, 4);
  Tensor b1 = random_tensor(DType::F32, Shape{8}, 5), b2 = random_tensor(DType::F32, Shape{8}, 6);
  auto [d1, p1] = ref_matmul(a1, w1);
  auto [d2, p2] = ref_matmul(a2, w2);
  std::vector<double> want;
  for (size_t i = 0; i < p1.size(); ++i)
    want.push_back(p1[i] + b1.value_as_double(int64_t(i) % 8) + p2[i] + b2.value_as_double(int64_t(i) % 8));
  Graph g("two_products");
  std::vector<Node> in;
  for (const Tensor* t : {&a1, &w1, &b1, &a2, &w2, &b2})
    in.push_back(g.parameter("in" + std::to_string(in.size()), t->dtype(), t->shape()));
  g.set_outputs({(MatMul(in[0], in[1]) + in[2]) + (MatMul(in[3], in[4]) + in[5])});
  auto exe = cpu_backend()->compile(g, CompileOptions{});
  EXPECT_EQ(exe->stats().num_fused_epilogues, 2);
  EXPECT_EQ(exe->stats().num_kernels, 2);
  expect_close(exe->run({a1, w1, b1, a2, w2, b2})[0], d1, want, 1e-4, 1e-5, "Add of two products");
}

// Regression: Max(MatMul(x, w) + b, 0) must keep Max's NaN propagation (Elementwise.SpecialValues) when the
// backend fuses the bias/activation into the product (oneDNN's relu post-op maps NaN to 0).
TEST(MatMul, ReluAfterBiasPropagatesNaN) {
  Tensor a = random_tensor(DType::F32, Shape{4, 8}, 1);
  a.data<float>()[8 + 3] = std::nanf("");  // row 1 of the product becomes NaN everywhere
  Tensor w = random_tensor(DType::F32, Shape{8, 16}, 2), b = random_tensor(DType::F32, Shape{16}, 3);
  for (bool fuse : {false, true}) {
    CompileOptions o;
    o.fuse_matmul_epilogues = fuse;
    Tensor y = run1([](std::vector<Node> in) { return Max(MatMul(in[0], in[1]) + in[2], ScalarLike(in[0], 0.0)); },
                    {a, w, b}, o);
    ASSERT_EQ(y.shape(), (Shape{4, 16}));
    int nan_row1 = 0, nan_row0 = 0;
    for (int64_t j = 0; j < 16; ++j) {
      nan_row1 += std::isnan(y.value_as_double(16 + j));
      nan_row0 += std::isnan(y.value_as_double(j));
    }
    EXPECT_EQ(nan_row1, 16) << "NaN row lost its NaNs, fuse_matmul_epilogues=" << fuse;
    EXPECT_EQ(nan_row0, 0) << "fuse_matmul_epilogues=" << fuse;
  }
}

// Widening outputs from 16-bit operands (f16 -> f64, bf16 -> f32) take the f32 path and convert at the end.
TEST(DotGeneral, HalfOperandsToWiderOutputs) {
  DotGeneralAttrs a{{}, {}, {1}, {0}};
  Tensor l = random_tensor(DType::F16, Shape{6, 40}, 91, -1, 1), r = random_tensor(DType::F16, Shape{40, 7}, 92, -1, 1);
  auto [dims, want] = ref_dot(l, r, a);
  Tensor y = run_dot(l, r, a, DType::F64);
  EXPECT_EQ(y.dtype(), DType::F64);
  expect_close(y, dims, want, 1e-6, 1e-6, "f16 x f16 -> f64");
  Tensor lb = l.cast(DType::F32).cast(DType::BF16), rb = r.cast(DType::F32).cast(DType::BF16);
  auto [bd, bw] = ref_dot(lb, rb, a);
  Tensor yb = run_dot(lb, rb, a, DType::F32);
  EXPECT_EQ(yb.dtype(), DType::F32);
  expect_close(yb, bd, bw, 1e-6, 1e-6, "bf16 x bf16 -> f32");
}
