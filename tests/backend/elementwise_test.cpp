// Element-wise ops against plain C++ (double precision) references, fused and unfused.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "test_util.h"

using namespace graft;
using graft::testing::random_tensor;
using graft::testing::run1;

namespace {

struct UnaryCase {
  Node (*op)(Node);
  double (*ref)(double);
  double lo, hi;
  const char* name;
};

double ref_sign(double x) { return x > 0 ? 1 : (x < 0 ? -1 : 0); }
double ref_logistic(double x) { return 1 / (1 + std::exp(-x)); }
double ref_rsqrt(double x) { return 1 / std::sqrt(x); }
double ref_recip(double x) { return 1 / x; }
double ref_round(double x) { return std::nearbyint(x); }
double ref_neg(double x) { return -x; }
double ref_abs(double x) { return std::fabs(x); }

const UnaryCase kUnary[] = {
    {Neg, ref_neg, -3, 3, "Neg"},       {Abs, ref_abs, -3, 3, "Abs"},
    {Sign, ref_sign, -3, 3, "Sign"},    {Exp, [](double x) { return std::exp(x); }, -80, 80, "Exp"},
    {Expm1, [](double x) { return std::expm1(x); }, -3, 3, "Expm1"},
    {Log, [](double x) { return std::log(x); }, 1e-3, 100, "Log"},
    {Log1p, [](double x) { return std::log1p(x); }, -0.9, 10, "Log1p"},
    {Sqrt, [](double x) { return std::sqrt(x); }, 0, 100, "Sqrt"},
    {Rsqrt, ref_rsqrt, 1e-2, 100, "Rsqrt"},   {Reciprocal, ref_recip, 0.1, 10, "Reciprocal"},
    {Sin, [](double x) { return std::sin(x); }, -6, 6, "Sin"},
    {Cos, [](double x) { return std::cos(x); }, -6, 6, "Cos"},
    {Tan, [](double x) { return std::tan(x); }, -1.4, 1.4, "Tan"},
    {Asin, [](double x) { return std::asin(x); }, -1, 1, "Asin"},
    {Acos, [](double x) { return std::acos(x); }, -1, 1, "Acos"},
    {Atan, [](double x) { return std::atan(x); }, -9, 9, "Atan"},
    {Sinh, [](double x) { return std::sinh(x); }, -5, 5, "Sinh"},
    {Cosh, [](double x) { return std::cosh(x); }, -5, 5, "Cosh"},
    {Tanh, [](double x) { return std::tanh(x); }, -5, 5, "Tanh"},
    {Asinh, [](double x) { return std::asinh(x); }, -5, 5, "Asinh"},
    {Acosh, [](double x) { return std::acosh(x); }, 1, 9, "Acosh"},
    {Atanh, [](double x) { return std::atanh(x); }, -0.99, 0.99, "Atanh"},
    {Erf, [](double x) { return std::erf(x); }, -4, 4, "Erf"},
    {Floor, [](double x) { return std::floor(x); }, -5, 5, "Floor"},
    {Ceil, [](double x) { return std::ceil(x); }, -5, 5, "Ceil"},
    {Round, ref_round, -5, 5, "Round"},   {Logistic, ref_logistic, -30, 30, "Logistic"},
};

// |got - want| <= atol + rtol * |want|, NaNs matching.
void expect_close(const Tensor& got, const std::vector<double>& want, double rtol, double atol, const std::string& what) {
  ASSERT_EQ(size_t(got.size()), want.size()) << what;
  for (size_t i = 0; i < want.size(); ++i) {
    double g = got.value_as_double(int64_t(i));
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(g)) << what << " at " << i;
      continue;
    }
    if (std::isinf(want[i])) {
      EXPECT_EQ(g, want[i]) << what << " at " << i;
      continue;
    }
    ASSERT_NEAR(g, want[i], atol + rtol * std::fabs(want[i])) << what << " at " << i;
  }
}

}  // namespace

TEST(Elementwise, UnaryFloatOpsMatchLibm) {
  for (const UnaryCase& c : kUnary) {
    for (DType dt : {DType::F32, DType::F64}) {
      Tensor x = random_tensor(dt, Shape{3, 1000}, 7, c.lo, c.hi);
      std::vector<double> want;
      for (int64_t i = 0; i < x.size(); ++i) want.push_back(c.ref(x.value_as_double(i)));
      Tensor y = run1([&](std::vector<Node> in) { return c.op(in[0]); }, {x});
      EXPECT_EQ(y.dtype(), dt);
      double rtol = dt == DType::F32 ? 2e-6 : 1e-12;
      expect_close(y, want, rtol, dt == DType::F32 ? 1e-6 : 1e-13, std::string(c.name) + " " + std::string(dtype_name(dt)));
    }
  }
}

TEST(Elementwise, SpecialValues) {
  float inf = std::numeric_limits<float>::infinity(), nan = std::nanf("");
  Tensor x{-inf, -100.f, -0.f, 0.f, 100.f, inf, nan};
  Tensor e = run1([](std::vector<Node> in) { return Exp(in[0]); }, {x});
  std::vector<float> ev = e.to_vector<float>();
  EXPECT_EQ(ev[0], 0.f);
  EXPECT_EQ(ev[1], std::exp(-100.f));  // a subnormal result, not flushed to zero
  EXPECT_EQ(ev[2], 1.f);
  EXPECT_EQ(ev[4], inf);
  EXPECT_EQ(ev[5], inf);
  EXPECT_TRUE(std::isnan(ev[6]));
  Tensor isnan = run1([](std::vector<Node> in) { return IsNan(in[0]); }, {x});
  EXPECT_EQ(isnan.to_vector<bool>(), (std::vector<bool>{false, false, false, false, false, false, true}));
  Tensor isinf = run1([](std::vector<Node> in) { return IsInf(in[0]); }, {x});
  EXPECT_EQ(isinf.to_vector<bool>(), (std::vector<bool>{true, false, false, false, false, true, false}));
  // Round is half to even.
  Tensor r = run1([](std::vector<Node> in) { return Round(in[0]); }, {Tensor{0.5f, 1.5f, 2.5f, -0.5f, -1.5f}});
  EXPECT_EQ(r.to_vector<float>(), (std::vector<float>{0.f, 2.f, 2.f, -0.f, -2.f}));
  // Min/Max propagate NaN.
  Tensor m = run1([](std::vector<Node> in) { return Max(in[0], in[1]); }, {Tensor{1.f, nan}, Tensor{nan, 2.f}});
  EXPECT_TRUE(std::isnan(m.to_vector<float>()[0]) && std::isnan(m.to_vector<float>()[1]));
}

TEST(Elementwise, BinaryBroadcasting) {
  Tensor a = random_tensor(DType::F32, Shape{4, 1, 5}, 1);
  Tensor b = random_tensor(DType::F32, Shape{3, 1}, 2, 0.5, 2);
  struct Bin {
    Node (*op)(Node, Node);
    double (*ref)(double, double);
  };
  Bin bins[] = {{Add, [](double x, double y) { return x + y; }},
                {Sub, [](double x, double y) { return x - y; }},
                {Mul, [](double x, double y) { return x * y; }},
                {Div, [](double x, double y) { return x / y; }},
                {Pow, [](double x, double y) { return std::pow(x, y); }},
                {Min, [](double x, double y) { return std::min(x, y); }},
                {Max, [](double x, double y) { return std::max(x, y); }},
                {Atan2, [](double x, double y) { return std::atan2(x, y); }},
                {Fmod, [](double x, double y) { return std::fmod(x, y); }}};
  for (const Bin& bin : bins) {
    for (bool fuse : {true, false}) {
      CompileOptions o;
      o.fuse_elementwise = fuse;
      Tensor y = run1([&](std::vector<Node> in) { return bin.op(in[0], in[1]); }, {a, b}, o);
      ASSERT_EQ(y.shape(), (Shape{4, 3, 5}));
      std::vector<double> want;
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 3; ++j)
          for (int k = 0; k < 5; ++k) want.push_back(bin.ref(a.at<float>({i, 0, k}), b.at<float>({j, 0})));
      expect_close(y, want, 1e-5, 1e-6, "binary broadcast");
    }
  }
  // Scalars through the operators.
  Tensor s = run1([](std::vector<Node> in) { return 2.0 * in[0] - 1.0; }, {Tensor{1.f, 2.f}});
  EXPECT_EQ(s.to_vector<float>(), (std::vector<float>{1.f, 3.f}));
}

TEST(Elementwise, ComparisonsLogicAndSelect) {
  Tensor a{1.f, 2.f, 3.f, NAN};
  Tensor b{2.f, 2.f, 2.f, 2.f};
  auto cmp = [&](Node (*op)(Node, Node)) {
    return run1([&](std::vector<Node> in) { return op(in[0], in[1]); }, {a, b}).to_vector<bool>();
  };
  EXPECT_EQ(cmp(Less), (std::vector<bool>{true, false, false, false}));
  EXPECT_EQ(cmp(LessEqual), (std::vector<bool>{true, true, false, false}));
  EXPECT_EQ(cmp(Greater), (std::vector<bool>{false, false, true, false}));
  EXPECT_EQ(cmp(Equal), (std::vector<bool>{false, true, false, false}));
  EXPECT_EQ(cmp(NotEqual), (std::vector<bool>{true, false, true, true}));
  Tensor p{true, false, true, false}, q{true, true, false, false};
  auto logic = [&](Node (*op)(Node, Node)) {
    return run1([&](std::vector<Node> in) { return op(in[0], in[1]); }, {p, q}).to_vector<bool>();
  };
  EXPECT_EQ(logic(And), (std::vector<bool>{true, false, false, false}));
  EXPECT_EQ(logic(Or), (std::vector<bool>{true, true, true, false}));
  EXPECT_EQ(logic(Xor), (std::vector<bool>{false, true, true, false}));
  EXPECT_EQ(run1([](std::vector<Node> in) { return Not(in[0]); }, {p}).to_vector<bool>(),
            (std::vector<bool>{false, true, false, true}));
  // Select broadcasting a scalar branch, on floats and on ints.
  Tensor sel = run1([](std::vector<Node> in) { return Select(in[0], in[1], ScalarLike(in[1], -1)); },
                    {p, Tensor{1.f, 2.f, 3.f, 4.f}});
  EXPECT_EQ(sel.to_vector<float>(), (std::vector<float>{1.f, -1.f, 3.f, -1.f}));
  Tensor seli = run1([](std::vector<Node> in) { return Select(in[0], in[1], ScalarLike(in[1], -1)); },
                     {p, Tensor::from_vector(std::vector<int64_t>{1, 2, 3, 4})});
  EXPECT_EQ(seli.to_vector<int64_t>(), (std::vector<int64_t>{1, -1, 3, -1}));
}

TEST(Elementwise, IntegerRules) {
  auto bin = [](Node (*op)(Node, Node), Tensor a, Tensor b) {
    return run1([&](std::vector<Node> in) { return op(in[0], in[1]); }, {a, b});
  };
  using V = std::vector<int32_t>;
  Tensor a = Tensor::from_vector(V{7, -7, 7, -7, std::numeric_limits<int32_t>::max()});
  Tensor b = Tensor::from_vector(V{2, 2, -2, -2, 1});
  EXPECT_EQ(bin(Div, a, b).to_vector<int32_t>(), (V{3, -3, -3, 3, std::numeric_limits<int32_t>::max()}));
  EXPECT_EQ(bin(Rem, a, b).to_vector<int32_t>(), (V{1, -1, 1, -1, 0}));
  EXPECT_EQ(bin(Add, a, b).to_vector<int32_t>()[4], std::numeric_limits<int32_t>::min());  // wraps
  EXPECT_EQ(bin(Pow, Tensor::from_vector(V{3, -2, 2, 1}), Tensor::from_vector(V{4, 3, -1, -5})).to_vector<int32_t>(),
            (V{81, -8, 0, 1}));
  // INT_MIN / -1 must not trap.
  Tensor m = Tensor::from_vector(V{std::numeric_limits<int32_t>::min()});
  EXPECT_EQ(bin(Div, m, Tensor::from_vector(V{-1})).to_vector<int32_t>()[0], std::numeric_limits<int32_t>::min());
  try {
    bin(Div, a, Tensor::from_vector(V{1, 0, 1, 1, 1}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("division by zero"), std::string::npos) << e.what();
  }
  using U = std::vector<uint8_t>;
  EXPECT_EQ(bin(ShiftLeft, Tensor::from_vector(U{1, 1, 255}), Tensor::from_vector(U{3, 8, 1})).to_vector<uint8_t>(),
            (U{8, 0, 254}));
  EXPECT_EQ(bin(ShiftRight, Tensor::from_vector(U{16, 255}), Tensor::from_vector(U{2, 9})).to_vector<uint8_t>(),
            (U{4, 0}));
  EXPECT_EQ(bin(BitwiseAnd, Tensor::from_vector(U{12}), Tensor::from_vector(U{10})).to_vector<uint8_t>(), (U{8}));
  EXPECT_EQ(bin(BitwiseXor, Tensor::from_vector(U{12}), Tensor::from_vector(U{10})).to_vector<uint8_t>(), (U{6}));
  EXPECT_EQ(run1([](std::vector<Node> in) { return BitwiseNot(in[0]); }, {Tensor::from_vector(U{0, 15})})
                .to_vector<uint8_t>(),
            (U{255, 240}));
  EXPECT_EQ(run1([](std::vector<Node> in) { return Abs(in[0]); }, {Tensor::from_vector(V{-3, 4})}).to_vector<int32_t>(),
            (V{3, 4}));
  EXPECT_EQ(bin(Less, Tensor::from_vector(V{1, 5}), Tensor::from_vector(V{2, 2})).to_vector<bool>(),
            (std::vector<bool>{true, false}));
}

TEST(Elementwise, ConvertFollowsOnnxCast) {
  float nan = std::nanf(""), inf = std::numeric_limits<float>::infinity();
  Tensor f{2.9f, -2.9f, 300.f, -300.f, nan, inf, 0.f};
  auto conv = [](Tensor x, DType t) { return run1([&](std::vector<Node> in) { return Convert(in[0], t); }, {x}); };
  EXPECT_EQ(conv(f, DType::I8).to_vector<int8_t>(), (std::vector<int8_t>{2, -2, 127, -128, 0, 127, 0}));
  EXPECT_EQ(conv(f, DType::U8).to_vector<uint8_t>(), (std::vector<uint8_t>{2, 0, 255, 0, 0, 255, 0}));
  EXPECT_EQ(conv(f, DType::Bool).to_vector<bool>(), (std::vector<bool>{true, true, true, true, true, true, false}));
  Tensor h = conv(Tensor{65520.f, 1.0f + 1.0f / 2048, 3.f}, DType::F16);
  EXPECT_EQ(h.data<float16>()[0].bits, 0x7C00);  // rounds to infinity
  EXPECT_EQ(h.data<float16>()[1].bits, 0x3C00);  // tie to even
  Tensor w = conv(Tensor::from_vector(std::vector<int32_t>{300, -1}), DType::U8);
  EXPECT_EQ(w.to_vector<uint8_t>(), (std::vector<uint8_t>{44, 255}));  // int -> int wraps
  Tensor b = conv(Tensor{true, false}, DType::F32);
  EXPECT_EQ(b.to_vector<float>(), (std::vector<float>{1.f, 0.f}));
  Tensor big = conv(Tensor::from_vector(std::vector<int64_t>{(int64_t(1) << 53) + 1}), DType::F64);
  EXPECT_EQ(big.to_vector<double>()[0], double(int64_t(1) << 53));
}

// Integer operands converted to float inside a fused chain (how int32 products and convolutions reach their
// scales): loaded with the conversion, rounding exactly as a standalone Convert (round to nearest) does —
// values above 2^24, both extremes of int32, broadcast operands, u8 and i16 alike.
TEST(Elementwise, IntegerToFloatConvertInsideFusedChains) {
  std::vector<int32_t> xi{0, 1, -1, (1 << 24) + 1, (1 << 24) + 3, -((1 << 24) + 1), 2147483647, -2147483647 - 1,
                          123456789, -98765431};
  const int64_t n = int64_t(xi.size());
  std::vector<uint8_t> ui{0, 1, 127, 128, 200, 255, 7, 9, 11, 13};
  std::vector<int16_t> si{-32768, 32767, 5};
  Tensor x = Tensor::from_vector(xi, Shape{2, n / 2}), u = Tensor::from_vector(ui, Shape{2, n / 2});
  Tensor s = Tensor::from_vector(std::vector<int16_t>{si[0], si[1], si[2], 1, 2}, Shape{1, n / 2});
  Tensor y = run1(
      [](std::vector<Node> in) {
        return Convert(in[0], DType::F32) * 0.5f + Convert(in[1], DType::F32) - Convert(in[2], DType::F32);
      },
      {x, u, s});
  ASSERT_EQ(y.dtype(), DType::F32);
  const std::vector<int16_t> sv = s.to_vector<int16_t>();
  for (int64_t i = 0; i < n; ++i) {
    const float want = static_cast<float>(xi[size_t(i)]) * 0.5f + static_cast<float>(ui[size_t(i)]) -
                       static_cast<float>(sv[size_t(i % (n / 2))]);
    EXPECT_EQ(y.data<float>()[i], want) << "element " << i << " (int32 " << xi[size_t(i)] << ")";
  }
  Tensor z = run1([](std::vector<Node> in) { return Convert(in[0], DType::F64) + 0.25; }, {x});
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(z.data<double>()[i], double(xi[size_t(i)]) + 0.25) << i;
}

TEST(Elementwise, HalfPrecisionComputesInFloat) {
  Tensor x = random_tensor(DType::F16, Shape{257}, 3);
  Tensor y = run1([](std::vector<Node> in) { return Exp(in[0]) * in[0] + 1.0; }, {x});
  EXPECT_EQ(y.dtype(), DType::F16);
  for (int64_t i = 0; i < x.size(); ++i) {
    double v = x.value_as_double(i);
    double want = double(float(float16(float(std::exp(v) * v + 1))));
    EXPECT_NEAR(y.value_as_double(i), want, 2e-3 * std::fabs(want) + 1e-3);
  }
}

TEST(Elementwise, BuilderErrorsNameOpAndTypes) {
  Graph g;
  Node a = g.parameter("a", DType::F32, {2, 3});
  Node b = g.parameter("b", DType::I32, {2, 3});
  Node c = g.parameter("c", DType::F32, {4});
  try {
    Add(a, b);
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("Add"), std::string::npos) << m;
    EXPECT_NE(m.find("float32[2, 3]"), std::string::npos) << m;
    EXPECT_NE(m.find("int32[2, 3]"), std::string::npos) << m;
  }
  try {
    Mul(a, c);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[2, 3] and [4]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Exp(b), Error);
  EXPECT_THROW(And(a, a), Error);
  EXPECT_THROW(BitwiseAnd(a, a), Error);
  Graph other;
  Node o = other.parameter("o", DType::F32, {2, 3});
  EXPECT_THROW(Add(a, o), Error);
}

TEST(Elementwise, EmptyTensors) {
  Tensor x(DType::F32, Shape{0, 3});
  Tensor y = run1([](std::vector<Node> in) { return Exp(in[0]) + 1.0; }, {x});
  EXPECT_EQ(y.shape(), (Shape{0, 3}));
}
