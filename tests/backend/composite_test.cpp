// Fused composite kernels (src/backend/cpu/kernels/composite.cpp): every case compiles the same graph
// twice, once through the decomposition and once with the fused kernel, and checks both against a plain
// double-precision loop written here.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>

#include "graft/graft.h"

using namespace graft;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

using Builder = std::function<Node(std::vector<Node>&)>;

struct Runs {
  std::vector<double> decomposed, fused;
  ExecutableStats fused_stats;
};

Runs run_both(const std::vector<Tensor>& inputs, const Builder& build) {
  Graph g("composite_test");
  std::vector<Node> params;
  for (size_t i = 0; i < inputs.size(); ++i)
    params.push_back(g.parameter("in" + std::to_string(i), inputs[i].dtype(), inputs[i].shape()));
  g.set_outputs({build(params)});
  Runs r;
  for (bool fused : {false, true}) {
    CompileOptions o;
    o.use_fused_composites = fused;
    auto exe = cpu_backend()->compile(g, o);
    Tensor out = exe->run(std::span<const Tensor>(inputs))[0];
    (fused ? r.fused : r.decomposed) = out.to_vector<double>();
    if (fused) r.fused_stats = exe->stats();
  }
  return r;
}

Tensor random_tensor(Shape shape, double scale, double offset, uint32_t seed, DType dtype = DType::F32) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> d(0.0, 1.0);
  std::vector<double> v(size_t(shape.size()));
  for (double& x : v) x = offset + scale * d(rng);
  return Tensor::from_vector(v, shape).cast(dtype);
}

void expect_close(const std::vector<double>& got, const std::vector<double>& want, double rtol, double atol,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    double g = got[i], w = want[i];
    bool ok = (std::isnan(w) && std::isnan(g)) || g == w || std::abs(g - w) <= atol + rtol * std::abs(w);
    if (!ok && ++bad <= 5) ADD_FAILURE() << what << ": element " << i << " is " << g << ", expected " << w;
  }
  EXPECT_EQ(bad, 0) << what;
}

// `decomposed_atol` (when given) loosens the check of the decomposition only, where its f32 reductions
// are known to be less accurate than the fused kernel's.
void check(const Runs& r, const std::vector<double>& ref, double rtol, double atol, const std::string& what,
           double decomposed_atol = 0) {
  expect_close(r.decomposed, ref, rtol, std::max(atol, decomposed_atol), what + " [decomposed]");
  expect_close(r.fused, ref, rtol, atol, what + " [fused]");
}

std::vector<int64_t> strides_of(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (int i = int(dims.size()) - 2; i >= 0; --i) s[size_t(i)] = s[size_t(i + 1)] * dims[size_t(i + 1)];
  return s;
}

// outer x n x inner split of a shape around `axis`.
void split(const Shape& s, int axis, int64_t& outer, int64_t& n, int64_t& inner) {
  outer = n = inner = 1;
  for (int i = 0; i < s.rank(); ++i) (i < axis ? outer : i == axis ? n : inner) *= s[i];
}

std::vector<double> ref_softmax(const Tensor& t, int axis, bool log) {
  std::vector<double> x = t.to_vector<double>(), y(x.size());
  int64_t outer, n, inner;
  split(t.shape(), axis, outer, n, inner);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < inner; ++j) {
      auto at = [&](int64_t i) { return size_t((o * n + i) * inner + j); };
      double m = -kInf;
      for (int64_t i = 0; i < n; ++i) m = std::max(m, x[at(i)]);
      double s = 0;
      for (int64_t i = 0; i < n; ++i) s += std::exp(x[at(i)] - m);
      for (int64_t i = 0; i < n; ++i)
        y[at(i)] = log ? (x[at(i)] - m) - std::log(s) : std::exp(x[at(i)] - m) / s;
    }
  return y;
}

// NumPy-broadcast read of `t` at the multi-index `idx` of a larger output shape.
double read_broadcast(const Tensor& t, const std::vector<double>& v, const std::vector<int64_t>& idx) {
  const auto& d = t.shape().dims();
  std::vector<int64_t> st = strides_of(d);
  size_t shift = idx.size() - d.size();
  int64_t off = 0;
  for (size_t i = 0; i < d.size(); ++i) off += (d[i] == 1 ? 0 : idx[i + shift]) * st[i];
  return v[size_t(off)];
}

// Layer norm (center) or RMS norm over axes [axis, rank) of x, then * scale + bias broadcast NumPy-style.
std::vector<double> ref_norm(const Tensor& x, const Tensor* scale, const Tensor* bias, int axis, double eps,
                             bool center, const Shape& out_shape) {
  std::vector<double> xv = x.to_vector<double>();
  int64_t rows = 1, n = 1;
  for (int i = 0; i < x.rank(); ++i) (i < axis ? rows : n) *= x.shape()[i];
  std::vector<double> xhat(xv.size());
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    if (center) {
      for (int64_t i = 0; i < n; ++i) mean += xv[size_t(r * n + i)];
      mean /= double(n);
    }
    for (int64_t i = 0; i < n; ++i) var += (xv[size_t(r * n + i)] - mean) * (xv[size_t(r * n + i)] - mean);
    var /= double(n);
    for (int64_t i = 0; i < n; ++i) xhat[size_t(r * n + i)] = (xv[size_t(r * n + i)] - mean) / std::sqrt(var + eps);
  }
  Tensor xh = Tensor::from_vector(xhat, x.shape());
  std::vector<double> sv = scale ? scale->to_vector<double>() : std::vector<double>{};
  std::vector<double> bv = bias ? bias->to_vector<double>() : std::vector<double>{};
  std::vector<double> out(size_t(out_shape.size()));
  std::vector<int64_t> idx(size_t(out_shape.rank()), 0);
  for (size_t k = 0; k < out.size(); ++k) {
    int64_t rem = int64_t(k);
    for (int a = out_shape.rank() - 1; a >= 0; --a) {
      idx[size_t(a)] = rem % out_shape[a];
      rem /= out_shape[a];
    }
    double v = read_broadcast(xh, xhat, idx);
    if (scale) v *= read_broadcast(*scale, sv, idx);
    if (bias) v += read_broadcast(*bias, bv, idx);
    out[k] = v;
  }
  return out;
}

double ref_gelu(double x, bool tanh_form) {
  if (tanh_form) return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
  return 0.5 * x * std::erfc(-x / std::sqrt(2.0));
}
double ref_silu(double x) { return x / (1 + std::exp(-x)); }

struct AxisCase {
  Shape shape;
  int axis;
};

const std::vector<AxisCase> kSoftmaxCases = {
    {{17}, 0},          {{4, 7}, -1},         {{3, 1000}, -1},   {{6, 4}, 0},        {{2, 5, 3}, 1},
    {{2, 5, 300}, 1},   {{3, 33, 2, 5}, 1},   {{64, 512}, -1},   {{8, 64, 80}, 1},   {{1, 1}, -1},
    {{5, 3000}, -1},
};

}  // namespace

TEST(CompositeKernels, SoftmaxMatchesReference) {
  uint32_t seed = 1;
  for (const AxisCase& c : kSoftmaxCases)
    for (double scale : {1.0, 30.0}) {
      Tensor x = random_tensor(c.shape, scale, 0.0, seed++);
      int axis = c.shape.normalize_axis(c.axis);
      Runs r = run_both({x}, [&](std::vector<Node>& in) { return Softmax(in[0], c.axis); });
      check(r, ref_softmax(x, axis, false), 1e-5, 1e-7, "softmax " + c.shape.str() + " axis " + std::to_string(c.axis));
      EXPECT_EQ(r.fused_stats.num_kernels, 1);
    }
}

TEST(CompositeKernels, LogSoftmaxMatchesReference) {
  uint32_t seed = 100;
  for (const AxisCase& c : kSoftmaxCases)
    for (double scale : {1.0, 30.0}) {
      Tensor x = random_tensor(c.shape, scale, 0.0, seed++);
      int axis = c.shape.normalize_axis(c.axis);
      Runs r = run_both({x}, [&](std::vector<Node>& in) { return LogSoftmax(in[0], c.axis); });
      check(r, ref_softmax(x, axis, true), 1e-5, 1e-6,
            "log_softmax " + c.shape.str() + " axis " + std::to_string(c.axis));
      EXPECT_EQ(r.fused_stats.num_kernels, 1);
    }
}

TEST(CompositeKernels, SoftmaxExtremeValues) {
  // Huge logits (exp would overflow without the max shift), -inf entries (masked positions), a row that
  // is all -inf (NaN, as the decomposition gives: 0/0), and a constant row.
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> v = {
      1e4f, 1e4f - 1, -1e4f, 3e38f,                     // large
      -inf, 2.0f, -inf, 1.0f,                           // masked entries
      -inf, -inf, -inf, -inf,                           // fully masked
      5.0f, 5.0f, 5.0f, 5.0f,                           // constant
      -3e38f, -3e38f, 0.0f, 88.0f,                      // large negative
  };
  Tensor x = Tensor::from_vector(v, Shape{5, 4});
  for (bool log : {false, true}) {
    Runs r = run_both({x}, [&](std::vector<Node>& in) { return log ? LogSoftmax(in[0], -1) : Softmax(in[0], -1); });
    check(r, ref_softmax(x, 1, log), 1e-5, 1e-7, log ? "log_softmax extremes" : "softmax extremes");
    for (size_t i = 0; i < r.fused.size(); ++i)
      if (i / 4 != 2) EXPECT_FALSE(std::isnan(r.fused[i])) << "element " << i;
  }
  // The same along a non-last axis (the column path).
  Tensor xt = Tensor::from_vector(v, Shape{5, 4});
  for (bool log : {false, true}) {
    Runs r = run_both({xt}, [&](std::vector<Node>& in) { return log ? LogSoftmax(in[0], 0) : Softmax(in[0], 0); });
    check(r, ref_softmax(xt, 0, log), 1e-5, 1e-7, log ? "log_softmax extremes axis 0" : "softmax extremes axis 0");
  }
}

TEST(CompositeKernels, LayerNormMatchesReference) {
  struct Case {
    Shape x;
    int axis;
    std::optional<Shape> scale, bias;
  };
  const std::vector<Case> cases = {
      {{4, 16}, -1, Shape{16}, Shape{16}},
      {{4, 16}, -1, std::nullopt, std::nullopt},
      {{4, 16}, -1, Shape{16}, std::nullopt},
      {{4, 16}, -1, std::nullopt, Shape{16}},
      {{2, 3, 8}, 1, Shape{8}, Shape{3, 8}},          // scale repeats across the normalized rows
      {{2, 3, 8}, 1, Shape{3, 1}, Shape{1, 8}},       // broadcast inside the normalized axes
      {{2, 3, 4}, -1, Shape{3, 1}, Shape{4}},         // scale varies across rows: general path
      {{2, 3, 4}, -1, Shape{2, 3, 4}, Shape{2, 3, 4}},  // full-shape scale
      {{3, 4}, -1, Shape{2, 1, 4}, std::nullopt},     // output larger than x
      {{256, 384}, -1, Shape{384}, Shape{384}},       // BERT hidden size, threaded
      {{2, 7, 1000}, 1, Shape{7, 1000}, Shape{1000}},
      {{5}, 0, Shape{5}, Shape{5}},
  };
  uint32_t seed = 200;
  for (const Case& c : cases)
    for (double offset : {0.0, 10.0}) {
      Tensor x = random_tensor(c.x, 2.0, offset, seed++);
      std::vector<Tensor> inputs{x};
      std::optional<Tensor> scale, bias;
      if (c.scale) inputs.push_back(*(scale = random_tensor(*c.scale, 1.0, 1.0, seed++)));
      if (c.bias) inputs.push_back(*(bias = random_tensor(*c.bias, 1.0, 0.0, seed++)));
      const double eps = 1e-5;
      int axis = c.x.normalize_axis(c.axis);
      Runs r = run_both(inputs, [&](std::vector<Node>& in) {
        std::optional<Node> s, b;
        size_t k = 1;
        if (c.scale) s = in[k++];
        if (c.bias) b = in[k++];
        return LayerNorm(in[0], s, b, c.axis, eps);
      });
      Shape out_shape = c.x;
      if (c.scale) out_shape = broadcast_shapes(out_shape, *c.scale);
      if (c.bias) out_shape = broadcast_shapes(out_shape, *c.bias);
      // With an offset the decomposition's f32 ReduceMean of x (sum ~ 10 n) loses a few 1e-5.
      check(r, ref_norm(x, scale ? &*scale : nullptr, bias ? &*bias : nullptr, axis, eps, true, out_shape), 1e-5, 1e-5,
            "layer_norm " + c.x.str() + " axis " + std::to_string(c.axis) + " offset " + std::to_string(offset),
            offset != 0 ? 1e-4 : 0);
      EXPECT_EQ(r.fused_stats.num_kernels, 1);
    }
}

TEST(CompositeKernels, RmsNormMatchesReference) {
  struct Case {
    Shape x;
    int axis;
    std::optional<Shape> scale;
  };
  const std::vector<Case> cases = {
      {{4, 16}, -1, Shape{16}},      {{4, 16}, -1, std::nullopt},  {{2, 3, 8}, 1, Shape{8}},
      {{2, 3, 4}, -1, Shape{3, 1}},  {{128, 4096}, -1, Shape{4096}}, {{3, 5}, 0, Shape{3, 5}},
  };
  uint32_t seed = 300;
  for (const Case& c : cases) {
    Tensor x = random_tensor(c.x, 3.0, 0.5, seed++);
    std::vector<Tensor> inputs{x};
    std::optional<Tensor> scale;
    if (c.scale) inputs.push_back(*(scale = random_tensor(*c.scale, 1.0, 1.0, seed++)));
    const double eps = 1e-6;
    Runs r = run_both(inputs, [&](std::vector<Node>& in) {
      return RmsNorm(in[0], c.scale ? std::optional<Node>(in[1]) : std::nullopt, c.axis, eps);
    });
    Shape out_shape = c.scale ? broadcast_shapes(c.x, *c.scale) : c.x;
    check(r, ref_norm(x, scale ? &*scale : nullptr, nullptr, c.x.normalize_axis(c.axis), eps, false, out_shape), 1e-5,
          1e-5, "rms_norm " + c.x.str());
    EXPECT_EQ(r.fused_stats.num_kernels, 1);
  }
}

namespace {
// A sweep of [-12, 12] plus a few far values, then random ones; big enough to run threaded.
Tensor activation_inputs(DType dtype = DType::F32) {
  std::vector<double> v;
  for (int i = -12000; i <= 12000; ++i) v.push_back(i * 1e-3);
  for (double e : {0.0, -0.0, 20.0, -20.0, 50.0, -50.0, 100.0, -100.0, 1e4, -1e4, 3e38, -3e38}) v.push_back(e);
  std::mt19937 rng(7);
  std::normal_distribution<double> d(0.0, 3.0);
  while (v.size() < 70000) v.push_back(d(rng));
  return Tensor::from_vector(v, Shape{int64_t(v.size())}).cast(dtype);
}
}  // namespace

TEST(CompositeKernels, GeluMatchesReference) {
  Tensor x = activation_inputs();
  std::vector<double> xv = x.to_vector<double>();
  for (bool tanh_form : {false, true}) {
    Runs r = run_both({x}, [&](std::vector<Node>& in) { return Gelu(in[0], tanh_form); });
    std::vector<double> ref;
    for (double v : xv) ref.push_back(ref_gelu(v, tanh_form));
    // The decomposition's 1 + erf(x) loses the negative tail to cancellation (about 1e-7 |x| absolute).
    check(r, ref, 1e-5, 2e-6, tanh_form ? "gelu tanh" : "gelu erf");
    expect_close(r.fused, ref, 1e-5, 1e-7, tanh_form ? "gelu tanh fused, tight" : "gelu erf fused, tight");
    EXPECT_EQ(r.fused_stats.num_kernels, 1);
  }
}

TEST(CompositeKernels, SiluMatchesReference) {
  Tensor x = activation_inputs();
  std::vector<double> ref;
  for (double v : x.to_vector<double>()) ref.push_back(ref_silu(v));
  Runs r = run_both({x}, [&](std::vector<Node>& in) { return Silu(in[0]); });
  check(r, ref, 1e-5, 1e-7, "silu");
  EXPECT_EQ(r.fused_stats.num_kernels, 1);
}

TEST(CompositeKernels, OtherFloatTypes) {
  // f64 computes in f64 (tight), f16/bf16 in f32 and round once at the end.
  struct T {
    DType dtype;
    double rtol, atol;
  };
  for (T t : {T{DType::F64, 1e-12, 1e-13}, T{DType::F16, 4e-3, 1e-3}, T{DType::BF16, 2e-2, 1e-2}}) {
    std::string dn(dtype_name(t.dtype));
    Tensor x = random_tensor({6, 40}, 2.0, 0.0, 11, t.dtype);
    Tensor s = random_tensor({40}, 1.0, 1.0, 12, t.dtype), b = random_tensor({40}, 1.0, 0.0, 13, t.dtype);
    Runs r = run_both({x}, [](std::vector<Node>& in) { return Softmax(in[0], 0); });
    expect_close(r.fused, ref_softmax(x, 0, false), t.rtol, t.atol, "softmax " + dn);
    r = run_both({x}, [](std::vector<Node>& in) { return LogSoftmax(in[0], -1); });
    expect_close(r.fused, ref_softmax(x, 1, true), t.rtol, t.atol * 4, "log_softmax " + dn);
    r = run_both({x, s, b}, [](std::vector<Node>& in) { return LayerNorm(in[0], in[1], in[2], -1, 1e-5); });
    expect_close(r.fused, ref_norm(x, &s, &b, 1, 1e-5, true, x.shape()), t.rtol, t.atol * 4, "layer_norm " + dn);
    r = run_both({x, s}, [](std::vector<Node>& in) { return RmsNorm(in[0], in[1], -1, 1e-6); });
    expect_close(r.fused, ref_norm(x, &s, nullptr, 1, 1e-6, false, x.shape()), t.rtol, t.atol * 4, "rms_norm " + dn);
    std::vector<double> xv = x.to_vector<double>(), g, gt, si;
    for (double v : xv) g.push_back(ref_gelu(v, false)), gt.push_back(ref_gelu(v, true)), si.push_back(ref_silu(v));
    expect_close(run_both({x}, [](std::vector<Node>& in) { return Gelu(in[0], false); }).fused, g, t.rtol, t.atol,
                 "gelu " + dn);
    expect_close(run_both({x}, [](std::vector<Node>& in) { return Gelu(in[0], true); }).fused, gt, t.rtol, t.atol,
                 "gelu tanh " + dn);
    expect_close(run_both({x}, [](std::vector<Node>& in) { return Silu(in[0]); }).fused, si, t.rtol, t.atol,
                 "silu " + dn);
  }
}

TEST(CompositeKernels, InsideLargerGraphsAndInPlace) {
  // Composites fed by and feeding other ops: the fused kernels may write into a dying operand's buffer.
  Tensor x = random_tensor({32, 384}, 1.0, 0.0, 21);
  Tensor s = random_tensor({384}, 0.2, 1.0, 22), b = random_tensor({384}, 0.2, 0.0, 23);
  Runs r = run_both({x, s, b}, [](std::vector<Node>& in) {
    Node h = LayerNorm(in[0] * 2.0 + 1.0, in[1], in[2], -1, 1e-12);
    Node a = Gelu(h * 3.0);
    return Softmax(Silu(a) - 1.0, -1) + LogSoftmax(a, 0);
  });
  // Reference: the same steps in double.
  std::vector<double> xv = x.to_vector<double>();
  for (double& v : xv) v = v * 2.0 + 1.0;
  Tensor x1 = Tensor::from_vector(xv, x.shape());
  std::vector<double> h = ref_norm(x1, &s, &b, 1, 1e-12, true, x.shape());
  std::vector<double> a(h.size()), t(h.size());
  for (size_t i = 0; i < h.size(); ++i) a[i] = ref_gelu(h[i] * 3.0, false), t[i] = ref_silu(a[i]) - 1.0;
  std::vector<double> p = ref_softmax(Tensor::from_vector(t, x.shape()), 1, false);
  std::vector<double> q = ref_softmax(Tensor::from_vector(a, x.shape()), 0, true);
  for (size_t i = 0; i < p.size(); ++i) p[i] += q[i];
  check(r, p, 2e-5, 2e-5, "chain");
}
