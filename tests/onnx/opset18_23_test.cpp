// Ops whose ONNX definition changed in opsets 18-23 (the versions PyTorch's dynamo exporter emits), one small
// model per behaviour at the opset that introduced it. Expected values are derived by hand from the spec,
// with plain loops here, or from NumPy (the expression is named next to the pasted values).
#include <cmath>
#include <functional>

#include "onnx_test_util.h"

namespace graft::onnx {
namespace {

using testing::ModelBuilder;
using namespace testing::ops;

Tensor i64(std::vector<int64_t> v) { return Tensor::from_vector(v); }
Tensor f32(std::vector<float> v, Shape s) { return Tensor::from_vector(v, s); }
In konst(const std::string& name, Tensor t) { return In{name, std::move(t), true}; }

void expect_close(const Tensor& got, const Tensor& want, double tol = 1e-5) {
  ASSERT_EQ(got.shape(), want.shape()) << got.str() << " vs " << want.str();
  ASSERT_EQ(got.dtype(), want.dtype()) << got.str() << " vs " << want.str();
  EXPECT_LE(max_abs_diff(got, want), tol) << got.str() << "\nvs\n" << want.str();
}

std::vector<int64_t> ints(const Tensor& t) { return t.cast(DType::I64).to_vector<int64_t>(); }

template <typename T>
Tensor typed(std::vector<T> v, Shape s) {
  return Tensor::from_vector(v, s);
}

// ---- Reduce* (18): axes as an input, noop_with_empty_axes; ReduceMax/Min on bool (20) ----

TEST(Opset18Reduce, AxesInputAndNoop) {
  Tensor x = f32({1, 2, 3, 4, 5, 6}, {2, 3});
  auto keep0 = [](auto& n) { ModelBuilder::attr(n, "keepdims", 0); };
  expect_close(run1("ReduceMean", {{"x", x}, konst("axes", i64({1}))}, keep0, 18), f32({2, 5}, {2}));
  expect_close(run1("ReduceMean", {{"x", x}, konst("axes", i64({-2}))}, {}, 18), f32({2.5, 3.5, 4.5}, {1, 3}));
  // No axes: every axis.
  expect_close(run1("ReduceMax", {{"x", x}}, {}, 18), f32({6}, {1, 1}));
  expect_close(run1("ReduceProd", {{"x", x}}, keep0, 18), f32({720}, {}));
  // noop_with_empty_axes: no axes (absent or empty) is the identity.
  auto noop = [](auto& n) { ModelBuilder::attr(n, "noop_with_empty_axes", 1); };
  expect_close(run1("ReduceSumSquare", {{"x", x}}, noop, 18), x);
  expect_close(run1("ReduceL1", {{"x", x}, konst("axes", Tensor::from_vector(std::vector<int64_t>{}))}, noop, 18), x);
  expect_close(run1("ReduceL2", {{"x", x}, konst("axes", i64({-1}))}, keep0, 18),
               f32({float(std::sqrt(14.0)), float(std::sqrt(77.0))}, {2}));
  // np.log(np.exp(x).sum(0)) for x = [[1,2,3],[4,5,6]]
  expect_close(run1("ReduceLogSumExp", {{"x", x}, konst("axes", i64({0}))}, keep0, 18),
               f32({4.0485873f, 5.0485873f, 6.0485873f}, {3}));
  expect_close(run1("ReduceLogSum", {{"x", x}, konst("axes", i64({1}))}, keep0, 18),
               f32({float(std::log(6.0)), float(std::log(15.0))}, {2}));
  expect_close(run1("ReduceSum", {{"x", x}, konst("axes", i64({1}))}, {}, 18), f32({6, 15}, {2, 1}));
  // Opset 17 still reads the axes attribute.
  expect_close(run1("ReduceMean", {{"x", x}}, [](auto& n) { ModelBuilder::attr(n, "axes", std::vector<int64_t>{1}); }, 17),
               f32({2, 5}, {2, 1}));
}

TEST(Opset18Reduce, MaxMinOnBool) {
  Tensor b = typed<bool>({true, false, false, false}, {2, 2});
  auto keep0 = [](auto& n) { ModelBuilder::attr(n, "keepdims", 0); };
  Tensor mx = run1("ReduceMax", {{"b", b}, konst("axes", i64({1}))}, keep0, 20);
  EXPECT_EQ(mx.dtype(), DType::Bool);
  EXPECT_EQ(ints(mx), (std::vector<int64_t>{1, 0}));
  Tensor mn = run1("ReduceMin", {{"b", b}, konst("axes", i64({0}))}, keep0, 20);
  EXPECT_EQ(mn.dtype(), DType::Bool);
  EXPECT_EQ(ints(mn), (std::vector<int64_t>{0, 0}));
  EXPECT_EQ(ints(run1("ReduceMax", {{"b", b}}, {}, 20)), (std::vector<int64_t>{1}));
}

// ---- Split (18): num_outputs, the last chunk smaller ----

TEST(Opset18Split, NumOutputsUneven) {
  Tensor x = f32({0, 1, 2, 3, 4, 5, 6}, {7});
  auto outs = run_op("Split", {{"x", x}}, [](auto& n) { ModelBuilder::attr(n, "num_outputs", 3); }, 18, 3);
  expect_close(outs[0], f32({0, 1, 2}, {3}));
  expect_close(outs[1], f32({3, 4, 5}, {3}));
  expect_close(outs[2], f32({6}, {1}));
  // Along axis 1 of [2, 5]: chunks of ceil(5/2) = 3 and 2.
  Tensor y = f32({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {2, 5});
  auto o2 = run_op("Split", {{"y", y}}, [](auto& n) {
    ModelBuilder::attr(n, "num_outputs", 2);
    ModelBuilder::attr(n, "axis", 1);
  }, 18, 2);
  expect_close(o2[0], f32({0, 1, 2, 5, 6, 7}, {2, 3}));
  expect_close(o2[1], f32({3, 4, 8, 9}, {2, 2}));
  // Explicit sizes still work at 18.
  auto o3 = run_op("Split", {{"x", x}, konst("split", i64({2, 5}))}, {}, 18, 2);
  expect_close(o3[1], f32({2, 3, 4, 5, 6}, {5}));
}

// ---- Pad (18): axes input; (19): wrap ----

TEST(Opset18Pad, AxesInputAndWrap) {
  Tensor x = f32({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor y = run1("Pad", {{"x", x}, konst("pads", i64({1, 2})), konst("v", Tensor::scalar(9.0f)), konst("axes", i64({-1}))},
                  {}, 18);
  expect_close(y, f32({9, 1, 2, 3, 9, 9, 9, 4, 5, 6, 9, 9}, {2, 6}));
  // Negative pads crop.
  expect_close(run1("Pad", {{"x", x}, konst("pads", i64({0, -1})), {"", Tensor()}, konst("axes", i64({1}))}, {}, 18),
               f32({1, 2, 4, 5}, {2, 2}));
  auto wrap = [](auto& n) { ModelBuilder::attr(n, "mode", "wrap"); };
  // np.pad([1,2,3], (2,3), 'wrap') = [2 3 1 2 3 1 2 3]
  expect_close(run1("Pad", {{"x", f32({1, 2, 3}, {3})}, konst("pads", i64({2, 3}))}, wrap, 19),
               f32({2, 3, 1, 2, 3, 1, 2, 3}, {8}));
  // np.pad([[1,2],[3,4]], ((1,0),(0,2)), 'wrap') = [[3 4 3 4] [1 2 1 2] [3 4 3 4]]
  expect_close(run1("Pad", {{"x", f32({1, 2, 3, 4}, {2, 2})}, konst("pads", i64({1, 0, 0, 2}))}, wrap, 19),
               f32({3, 4, 3, 4, 1, 2, 1, 2, 3, 4, 3, 4}, {3, 4}));
  // reflect and edge with axes.
  expect_close(run1("Pad", {{"x", x}, konst("pads", i64({2, 1})), {"", Tensor()}, konst("axes", i64({1}))},
                    [](auto& n) { ModelBuilder::attr(n, "mode", "reflect"); }, 18),
               f32({3, 2, 1, 2, 3, 2, 6, 5, 4, 5, 6, 5}, {2, 6}));
  expect_close(run1("Pad", {{"x", x}, konst("pads", i64({1, 0})), {"", Tensor()}, konst("axes", i64({0}))},
                    [](auto& n) { ModelBuilder::attr(n, "mode", "edge"); }, 18),
               f32({1, 2, 3, 1, 2, 3, 4, 5, 6}, {3, 3}));
}

// ---- ScatterElements / ScatterND (18): reduction max / min ----

TEST(Opset18Scatter, MaxMinReductions) {
  Tensor data = f32({1, 2, 3, 4, 5}, {1, 5});
  Tensor idx = Tensor::from_vector(std::vector<int64_t>{1, 1, 3}, Shape{1, 3});
  Tensor upd = f32({1.1f, 2.1f, 0}, {1, 3});
  auto red = [](const char* r) {
    return [r](auto& n) {
      ModelBuilder::attr(n, "axis", 1);
      ModelBuilder::attr(n, "reduction", r);
    };
  };
  expect_close(run1("ScatterElements", {{"d", data}, {"i", idx}, {"u", upd}}, red("max"), 18), f32({1, 2.1f, 3, 4, 5}, {1, 5}));
  expect_close(run1("ScatterElements", {{"d", data}, {"i", idx}, {"u", upd}}, red("min"), 18), f32({1, 1.1f, 3, 0, 5}, {1, 5}));
  // ScatterND with a repeated index: every update combines with the running value.
  Tensor d = f32({1, 5, 3, 8}, {4});
  Tensor ni = Tensor::from_vector(std::vector<int64_t>{1, 3, 1}, Shape{3, 1});
  Tensor nu = f32({7, 2, 4}, {3});
  auto r2 = [](const char* r) { return [r](auto& n) { ModelBuilder::attr(n, "reduction", r); }; };
  expect_close(run1("ScatterND", {{"d", d}, {"i", ni}, {"u", nu}}, r2("max"), 18), f32({1, 7, 3, 8}, {4}));
  expect_close(run1("ScatterND", {{"d", d}, {"i", ni}, {"u", nu}}, r2("min"), 18), f32({1, 4, 3, 2}, {4}));
  // Integer data.
  Tensor di = Tensor::from_vector(std::vector<int32_t>{1, 5, 3, 8});
  Tensor ui = Tensor::from_vector(std::vector<int32_t>{7, 2, 4});
  EXPECT_EQ(ints(run1("ScatterND", {{"d", di}, {"i", ni}, {"u", ui}}, r2("max"), 18)), (std::vector<int64_t>{1, 7, 3, 8}));
}

// ---- Resize (18/19) ----

TEST(Opset18Resize, HalfPixelSymmetricAxesAspectRatioAntialias) {
  auto attrs = [](std::string mode, std::string coord) {
    return [mode, coord](auto& n) {
      ModelBuilder::attr(n, "mode", mode);
      ModelBuilder::attr(n, "coordinate_transformation_mode", coord);
    };
  };
  // half_pixel_symmetric, 4 -> floor(4 * 0.6) = 2: adjustment 2 / 2.4, offset 2 * (1 - 2/2.4) = 1/3, so
  // x(o) = 1/3 + (o + 0.5) / 0.6 - 0.5 = 2/3, 7/3; linear over [1 2 3 4]: 5/3, 10/3.
  Tensor x = f32({1, 2, 3, 4}, {1, 1, 1, 4});
  expect_close(run1("Resize", {{"x", x}, {"", Tensor()}, konst("s", f32({1, 1, 1, 0.6f}, {4}))},
                    attrs("linear", "half_pixel_symmetric"), 19),
               f32({5.0f / 3, 10.0f / 3}, {1, 1, 1, 2}), 1e-5);
  // axes (18): scales only for the listed axes.
  Tensor x2 = f32({1, 2, 3, 4}, {1, 1, 2, 2});
  Tensor up = run1("Resize", {{"x", x2}, {"", Tensor()}, konst("s", f32({2, 2}, {2}))},
                   [](auto& n) {
                     ModelBuilder::attr(n, "mode", "nearest");
                     ModelBuilder::attr(n, "axes", std::vector<int64_t>{2, 3});
                   },
                   18);
  expect_close(up, f32({1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}, {1, 1, 4, 4}));
  // keep_aspect_ratio_policy not_larger: sizes [3, 7] on 2x2 -> scale min(1.5, 3.5) = 1.5, 3x3; half_pixel
  // nearest (round_prefer_floor) picks rows/cols 0, 0, 1.
  auto policy = [](const char* p) {
    return [p](auto& n) {
      ModelBuilder::attr(n, "mode", "nearest");
      ModelBuilder::attr(n, "axes", std::vector<int64_t>{2, 3});
      ModelBuilder::attr(n, "keep_aspect_ratio_policy", p);
    };
  };
  expect_close(run1("Resize", {{"x", x2}, {"", Tensor()}, {"", Tensor()}, konst("sz", i64({3, 7}))}, policy("not_larger"), 18),
               f32({1, 1, 2, 1, 1, 2, 3, 3, 4}, {1, 1, 3, 3}));
  EXPECT_EQ(run1("Resize", {{"x", x2}, {"", Tensor()}, {"", Tensor()}, konst("sz", i64({3, 7}))}, policy("not_smaller"), 18)
                .shape(),
            (Shape{1, 1, 7, 7}));
  // antialias (18), linear downsample by 2 of [0..7]: the triangle filter is stretched to radius 2 around
  // x(o) = 2o + 0.5, weights max(0, 1 - |i - x| / 2) normalized (sum 2); outside taps read the edge value.
  //   o=0: (.25*x[0] + .75*0 + .75*1 + .25*2) / 2 = 0.625, o=1: 2.5, o=2: 4.5,
  //   o=3: (.25*5 + .75*6 + .75*7 + .25*x[7]) / 2 = 6.375
  Tensor r = f32({0, 1, 2, 3, 4, 5, 6, 7}, {1, 1, 1, 8});
  expect_close(run1("Resize", {{"x", r}, {"", Tensor()}, konst("s", f32({1, 1, 1, 0.5f}, {4}))},
                    [](auto& n) {
                      ModelBuilder::attr(n, "mode", "linear");
                      ModelBuilder::attr(n, "antialias", 1);
                    },
                    18),
               f32({0.625f, 2.5f, 4.5f, 6.375f}, {1, 1, 1, 4}));
}

// ---- pooling: AveragePool dilations (19), LpPool ceil_mode (18), ceil_mode edge rules ----

TEST(Opset19Pool, AveragePoolDilations) {
  Tensor x = f32({0, 1, 2, 3, 4, 5, 6}, {1, 1, 7});
  auto base = [](int64_t include_pad, std::vector<int64_t> pads) {
    return [include_pad, pads](auto& n) {
      ModelBuilder::attr(n, "kernel_shape", std::vector<int64_t>{2});
      ModelBuilder::attr(n, "dilations", std::vector<int64_t>{2});
      ModelBuilder::attr(n, "pads", pads);
      ModelBuilder::attr(n, "count_include_pad", include_pad);
    };
  };
  // y[o] = (x[o] + x[o + 2]) / 2
  expect_close(run1("AveragePool", {{"x", x}}, base(0, {0, 0}), 19), f32({1, 2, 3, 4, 5}, {1, 1, 5}));
  // pads [1, 1]: taps o-1 and o+1; the first and last windows have one tap in the padding.
  expect_close(run1("AveragePool", {{"x", x}}, base(0, {1, 1}), 19), f32({1, 1, 2, 3, 4, 5, 5}, {1, 1, 7}));
  expect_close(run1("AveragePool", {{"x", x}}, base(1, {1, 1}), 19), f32({0.5f, 1, 2, 3, 4, 5, 2.5f}, {1, 1, 7}));
  // 2-D: kernel 2x2, dilation 2 on a 3x3 input -> one window of the four corners.
  Tensor x2 = f32({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
  expect_close(run1("AveragePool", {{"x", x2}},
                    [](auto& n) {
                      ModelBuilder::attr(n, "kernel_shape", std::vector<int64_t>{2, 2});
                      ModelBuilder::attr(n, "dilations", std::vector<int64_t>{2, 2});
                    },
                    19),
               f32({5}, {1, 1, 1, 1}));
}

TEST(Opset19Pool, CeilModeEdges) {
  Tensor x = f32({1, 2, 3, 4, 5}, {1, 1, 5});
  auto k2s2 = [](int64_t include_pad, std::vector<int64_t> pads) {
    return [include_pad, pads](auto& n) {
      ModelBuilder::attr(n, "kernel_shape", std::vector<int64_t>{2});
      ModelBuilder::attr(n, "strides", std::vector<int64_t>{2});
      ModelBuilder::attr(n, "ceil_mode", 1);
      ModelBuilder::attr(n, "pads", pads);
      ModelBuilder::attr(n, "count_include_pad", include_pad);
    };
  };
  // ceil_mode adds a third window [5]: its divisor is 1 even with count_include_pad (the overhang past the
  // model's pads is not padding), as the ONNX reference and ONNX Runtime compute it.
  expect_close(run1("AveragePool", {{"x", x}}, k2s2(0, {0, 0}), 19), f32({1.5f, 3.5f, 5}, {1, 1, 3}));
  expect_close(run1("AveragePool", {{"x", x}}, k2s2(1, {0, 0}), 19), f32({1.5f, 3.5f, 5}, {1, 1, 3}));
  expect_close(run1("AveragePool", {{"x", x}}, k2s2(1, {0, 0}), 11), f32({1.5f, 3.5f, 5}, {1, 1, 3}));
  // MaxPool: [2, 4, 5].
  expect_close(run1("MaxPool", {{"x", x}},
                    [](auto& n) {
                      ModelBuilder::attr(n, "kernel_shape", std::vector<int64_t>{2});
                      ModelBuilder::attr(n, "strides", std::vector<int64_t>{2});
                      ModelBuilder::attr(n, "ceil_mode", 1);
                    },
                    18),
               f32({2, 4, 5}, {1, 1, 3}));
  // A window that would start in the right padding is dropped: [1 2 3 4] with pads [0, 1], ceil gives
  // ceil(3/2)+1 = 3 windows, but the third starts at 4 = the padding -> 2 windows.
  Tensor x4 = f32({1, 2, 3, 4}, {1, 1, 4});
  expect_close(run1("MaxPool", {{"x", x4}},
                    [](auto& n) {
                      ModelBuilder::attr(n, "kernel_shape", std::vector<int64_t>{2});
                      ModelBuilder::attr(n, "strides", std::vector<int64_t>{2});
                      ModelBuilder::attr(n, "pads", std::vector<int64_t>{0, 1});
                      ModelBuilder::attr(n, "ceil_mode", 1);
                    },
                    18),
               f32({2, 4}, {1, 1, 2}));
  expect_close(run1("AveragePool", {{"x", x4}}, k2s2(1, {0, 1}), 19), f32({1.5f, 3.5f}, {1, 1, 2}));
  // With pads [1, 1] the count includes the model's pad: windows [p,1] [2,3] [4,p] -> 0.5, 2.5, 2.
  expect_close(run1("AveragePool", {{"x", x4}}, k2s2(1, {1, 1}), 19), f32({0.5f, 2.5f, 2}, {1, 1, 3}));
}

TEST(Opset18Pool, LpPoolCeilMode) {
  Tensor x = f32({1, 2, 3, 4, 5}, {1, 1, 5});
  Tensor y = run1("LpPool", {{"x", x}},
                  [](auto& n) {
                    ModelBuilder::attr(n, "kernel_shape", std::vector<int64_t>{2});
                    ModelBuilder::attr(n, "strides", std::vector<int64_t>{2});
                    ModelBuilder::attr(n, "ceil_mode", 1);
                    ModelBuilder::attr(n, "p", 2);
                  },
                  18);
  expect_close(y, f32({float(std::sqrt(5.0)), 5, 5}, {1, 1, 3}));
  Tensor d = run1("LpPool", {{"x", x}},
                  [](auto& n) {
                    ModelBuilder::attr(n, "kernel_shape", std::vector<int64_t>{2});
                    ModelBuilder::attr(n, "dilations", std::vector<int64_t>{2});
                    ModelBuilder::attr(n, "p", 1);
                  },
                  18);
  expect_close(d, f32({4, 6, 8}, {1, 1, 3}));
}

// ---- Cast / CastLike (19: saturate; 21/23: 4-bit and float8 targets) ----

TEST(Opset19Cast, SaturateAcceptedAndNewTypesNamed) {
  Tensor x = f32({1.5f, -2.25f, 70000}, {3});
  Tensor h = run1("Cast", {{"x", x}}, [](auto& n) {
    ModelBuilder::attr(n, "to", 10);  // FLOAT16
    ModelBuilder::attr(n, "saturate", 0);
  }, 19);
  EXPECT_EQ(h.dtype(), DType::F16);
  EXPECT_EQ(h.cast(DType::F32).to_vector<float>()[1], -2.25f);
  Tensor cl = run1("CastLike", {{"x", x}, konst("like", Tensor::scalar(int32_t(0)))},
                   [](auto& n) { ModelBuilder::attr(n, "saturate", 1); }, 19);
  EXPECT_EQ(ints(cl), (std::vector<int64_t>{1, -2, 70000}));
  for (const auto& type : std::vector<std::pair<int, const char*>>{
           {17, "float8e4m3fn"}, {19, "float8e5m2"}, {21, "uint4"}, {22, "int4"}, {23, "float4e2m1"}}) {
    const int code = type.first;  // (a plain variable: clang 14 cannot capture a structured binding)
    const char* name = type.second;
    EXPECT_THROW_WITH(run1("Cast", {{"x", x}}, [code](auto& n) { ModelBuilder::attr(n, "to", code); }, 23), name,
                      "not supported");
  }
}

// ---- ConstantOfShape (20), Gelu (20), IsInf / IsNaN (20) ----

TEST(Opset20Elementwise, ConstantOfShapeGeluIsInfIsNan) {
  Tensor c = run1("ConstantOfShape", {konst("s", i64({2, 3}))},
                  [](auto& n) { ModelBuilder::attr(n, "value", Tensor::from_vector(std::vector<int32_t>{7})); }, 20);
  EXPECT_EQ(c.dtype(), DType::I32);
  EXPECT_EQ(c.shape(), (Shape{2, 3}));
  EXPECT_EQ(ints(c), (std::vector<int64_t>(6, 7)));
  Tensor z = run1("ConstantOfShape", {konst("s", i64({2}))}, {}, 20);
  expect_close(z, f32({0, 0}, {2}));

  Tensor x = f32({-3, -1, -0.25f, 0, 0.5f, 2}, {6});
  std::vector<float> exact, tanh_v;
  for (float v : x.to_vector<float>()) {
    double d = v;
    exact.push_back(float(0.5 * d * (1 + std::erf(d / std::sqrt(2.0)))));
    tanh_v.push_back(float(0.5 * d * (1 + std::tanh(std::sqrt(2 / M_PI) * (d + 0.044715 * d * d * d)))));
  }
  expect_close(run1("Gelu", {{"x", x}}, {}, 20), f32(exact, {6}), 1e-5);
  expect_close(run1("Gelu", {{"x", x}}, [](auto& n) { ModelBuilder::attr(n, "approximate", "tanh"); }, 20), f32(tanh_v, {6}),
               1e-5);
  EXPECT_THROW_WITH(run1("Gelu", {{"x", x}}, [](auto& n) { ModelBuilder::attr(n, "approximate", "fast"); }, 20), "approximate");

  Tensor s = f32({INFINITY, -INFINITY, 1, NAN}, {4});
  EXPECT_EQ(ints(run1("IsInf", {{"s", s}}, {}, 20)), (std::vector<int64_t>{1, 1, 0, 0}));
  EXPECT_EQ(ints(run1("IsInf", {{"s", s}}, [](auto& n) { ModelBuilder::attr(n, "detect_negative", 0); }, 20)),
            (std::vector<int64_t>{1, 0, 0, 0}));
  EXPECT_EQ(ints(run1("IsInf", {{"s", s}}, [](auto& n) { ModelBuilder::attr(n, "detect_positive", 0); }, 20)),
            (std::vector<int64_t>{0, 1, 0, 0}));
  EXPECT_EQ(ints(run1("IsNaN", {{"s", s}}, {}, 20)), (std::vector<int64_t>{0, 0, 0, 1}));
}

// ---- DFT (20): dft_length and axis as inputs, inverse, onesided ----

TEST(Opset20Dft, AxisInputLengthInverseOnesided) {
  Tensor x = f32({1, 2, 3, 4}, {1, 4, 1});
  // np.fft.fft([1,2,3,4]) = [10, -2+2j, -2, -2-2j]; the axis input defaults to -2.
  expect_close(run1("DFT", {{"x", x}}, {}, 20), f32({10, 0, -2, 2, -2, 0, -2, -2}, {1, 4, 2}), 1e-5);
  expect_close(run1("DFT", {{"x", x}, {"", Tensor()}, konst("axis", Tensor::scalar(int64_t(1)))}, {}, 20),
               f32({10, 0, -2, 2, -2, 0, -2, -2}, {1, 4, 2}), 1e-5);
  // np.fft.rfft([1,2,3,4]) = [10, -2+2j, -2]
  expect_close(run1("DFT", {{"x", x}}, [](auto& n) { ModelBuilder::attr(n, "onesided", 1); }, 20),
               f32({10, 0, -2, 2, -2, 0}, {1, 3, 2}), 1e-5);
  // np.fft.fft([1,2,3,4], 6) = [10, -3.5-4.330127j, 2.5+0.866025j, -2, 2.5-0.866025j, -3.5+4.330127j]
  expect_close(run1("DFT", {{"x", x}, konst("len", Tensor::scalar(int64_t(6)))}, {}, 20),
               f32({10, 0, -3.5f, -4.3301270f, 2.5f, 0.8660254f, -2, 0, 2.5f, -0.8660254f, -3.5f, 4.3301270f}, {1, 6, 2}),
               1e-5);
  // dft_length shorter than the axis: the first 2 values, [3, -1].
  expect_close(run1("DFT", {{"x", x}, konst("len", Tensor::scalar(int64_t(2)))}, {}, 20), f32({3, 0, -1, 0}, {1, 2, 2}),
               1e-5);
  // np.fft.ifft([1+1j, 2-1j, 0.5j, -1]) = [0.5+0.125j, 0.5+0.875j, 0.625j, -0.625j]
  Tensor cx = f32({1, 1, 2, -1, 0, 0.5f, -1, 0}, {1, 4, 2});
  expect_close(run1("DFT", {{"x", cx}}, [](auto& n) { ModelBuilder::attr(n, "inverse", 1); }, 20),
               f32({0.5f, 0.125f, 0.5f, 0.875f, 0, 0.625f, 0, -0.625f}, {1, 4, 2}), 1e-5);
  // Another axis: [2, 2, 1] transformed along axis 0 (pairwise sums and differences).
  Tensor m = f32({1, 2, 3, 5}, {2, 2, 1});
  expect_close(run1("DFT", {{"m", m}, {"", Tensor()}, konst("axis", Tensor::scalar(int64_t(0)))}, {}, 20),
               f32({4, 0, 7, 0, -2, 0, -3, 0}, {2, 2, 2}), 1e-5);
  // Opset 17: axis attribute (default 1).
  expect_close(run1("DFT", {{"x", x}}, {}, 17), f32({10, 0, -2, 2, -2, 0, -2, -2}, {1, 4, 2}), 1e-5);
}

// ---- Bitwise (18), BitShift, Mish (18) ----

TEST(Opset18Bitwise, BitwiseShiftMish) {
  Tensor a = Tensor::from_vector(std::vector<int32_t>{12, -1}), b = Tensor::from_vector(std::vector<int32_t>{10, 5});
  EXPECT_EQ(ints(run1("BitwiseAnd", {{"a", a}, {"b", b}}, {}, 18)), (std::vector<int64_t>{8, 5}));
  EXPECT_EQ(ints(run1("BitwiseOr", {{"a", a}, {"b", b}}, {}, 18)), (std::vector<int64_t>{14, -1}));
  EXPECT_EQ(ints(run1("BitwiseXor", {{"a", a}, {"b", b}}, {}, 18)), (std::vector<int64_t>{6, -6}));
  EXPECT_EQ(ints(run1("BitwiseNot", {{"a", a}}, {}, 18)), (std::vector<int64_t>{-13, 0}));
  Tensor u = Tensor::from_vector(std::vector<uint8_t>{16, 3}), s = Tensor::from_vector(std::vector<uint8_t>{2, 1});
  EXPECT_EQ(ints(run1("BitShift", {{"u", u}, {"s", s}}, [](auto& n) { ModelBuilder::attr(n, "direction", "RIGHT"); }, 18)),
            (std::vector<int64_t>{4, 1}));
  EXPECT_EQ(ints(run1("BitShift", {{"u", u}, {"s", s}}, [](auto& n) { ModelBuilder::attr(n, "direction", "LEFT"); }, 18)),
            (std::vector<int64_t>{64, 6}));
  Tensor x = f32({-2, -0.5f, 0, 1, 3}, {5});
  std::vector<float> want;
  for (float v : x.to_vector<float>()) want.push_back(float(v * std::tanh(std::log1p(std::exp(double(v))))));
  expect_close(run1("Mish", {{"x", x}}, {}, 18), f32(want, {5}), 1e-6);
}

// ---- QuantizeLinear / DequantizeLinear (19: float8; 21: blocks, output_dtype), QLinearMatMul (21) ----

TEST(Opset21Quantization, BlockedOutputDtypeAndFloat8) {
  Tensor x = f32({1, 2, 3, 4, 5, 6, 7, 8}, {2, 4});
  Tensor scale = f32({1, 2, 0.5f, 4}, {2, 2});
  auto blocked = [](auto& n) {
    ModelBuilder::attr(n, "axis", 1);
    ModelBuilder::attr(n, "block_size", 2);
  };
  // round-half-even(x / scale): row 0 / [1 1 2 2] = [1 2 1.5 2] -> [1 2 2 2]; row 1 / [.5 .5 4 4] -> [10 12 2 2]
  Tensor q = run1("QuantizeLinear", {{"x", x}, konst("s", scale)}, [&](auto& n) {
    blocked(n);
    ModelBuilder::attr(n, "output_dtype", 3);  // INT8, no zero point
  }, 21);
  EXPECT_EQ(q.dtype(), DType::I8);
  EXPECT_EQ(ints(q), (std::vector<int64_t>{1, 2, 2, 2, 10, 12, 2, 2}));
  // A zero point decides the type; blocked zero points.
  Tensor zp = Tensor::from_vector(std::vector<uint8_t>{0, 1, 0, 1}, Shape{2, 2});
  Tensor q2 = run1("QuantizeLinear", {{"x", x}, konst("s", scale), konst("z", zp)}, blocked, 21);
  EXPECT_EQ(q2.dtype(), DType::U8);
  EXPECT_EQ(ints(q2), (std::vector<int64_t>{1, 2, 3, 3, 10, 12, 3, 3}));
  // Blocks that do not divide the axis: 3 columns in blocks of 2 (scale [2, 2], the last block short).
  Tensor x3 = f32({2, 4, 6, 2, 4, 6}, {2, 3});
  Tensor q3 = run1("QuantizeLinear", {{"x", x3}, konst("s", f32({2, 1, 1, 2}, {2, 2}))}, blocked, 21);
  EXPECT_EQ(ints(q3), (std::vector<int64_t>{1, 2, 6, 2, 4, 3}));
  // Dequantize with blocks: (q - zp) * scale.
  Tensor qi = Tensor::from_vector(std::vector<int8_t>{1, 2, 2, 2, 10, 12, 2, 2}, Shape{2, 4});
  expect_close(run1("DequantizeLinear", {{"q", qi}, konst("s", scale)}, blocked, 21), f32({1, 2, 4, 4, 5, 6, 8, 8}, {2, 4}));
  Tensor zpi = Tensor::from_vector(std::vector<int8_t>{0, 1, 0, 1}, Shape{2, 2});
  expect_close(run1("DequantizeLinear", {{"q", qi}, konst("s", scale), konst("z", zpi)}, blocked, 21),
               f32({1, 2, 2, 2, 5, 6, 4, 4}, {2, 4}));
  // output_dtype on DequantizeLinear; precision on QuantizeLinear (accepted).
  Tensor dq16 = run1("DequantizeLinear", {{"q", qi}, konst("s", scale)}, [&](auto& n) {
    blocked(n);
    ModelBuilder::attr(n, "output_dtype", 10);  // FLOAT16
  }, 23);
  EXPECT_EQ(dq16.dtype(), DType::F16);
  expect_close(dq16.cast(DType::F32), f32({1, 2, 4, 4, 5, 6, 8, 8}, {2, 4}));
  Tensor qp = run1("QuantizeLinear", {{"x", x}, konst("s", scale)}, [&](auto& n) {
    blocked(n);
    ModelBuilder::attr(n, "precision", 1);  // FLOAT
  }, 23);
  EXPECT_EQ(ints(qp), (std::vector<int64_t>{1, 2, 2, 2, 10, 12, 2, 2}));
  // Saturation at the type's range, per-axis scales.
  Tensor sat = run1("QuantizeLinear", {{"x", f32({-500, 500}, {2})}, konst("s", Tensor::scalar(1.0f)),
                                       konst("z", Tensor::scalar(int8_t(0)))},
                    {}, 21);
  EXPECT_EQ(ints(sat), (std::vector<int64_t>{-128, 127}));
  // float8 / 4-bit outputs: a clear error naming the type.
  EXPECT_THROW_WITH(run1("QuantizeLinear", {{"x", x}, konst("s", Tensor::scalar(1.0f))},
                         [](auto& n) { ModelBuilder::attr(n, "output_dtype", 17); }, 21),
                    "float8e4m3fn", "not supported");
  EXPECT_THROW_WITH(run1("QuantizeLinear", {{"x", x}, konst("s", Tensor::scalar(1.0f))},
                         [](auto& n) { ModelBuilder::attr(n, "output_dtype", 22); }, 21),
                    "int4", "not supported");
  // A float8 zero point initializer (opset 19).
  ModelBuilder b(19);
  b.input("x", DType::F32, {2});
  b.initializer("s", Tensor::scalar(1.0f));
  ::onnx::TensorProto z;
  z.set_name("z");
  z.set_data_type(17);  // FLOAT8E4M3FN
  z.set_raw_data(std::string(1, '\0'));
  *b.proto().mutable_graph()->add_initializer() = z;
  b.output_untyped("y");
  b.node("QuantizeLinear", {"x", "s", "z"}, {"y"});
  EXPECT_THROW_WITH(testing::run_model(b.model(), {{"x", f32({1, 2}, {2})}}), "float8e4m3fn");
}

TEST(Opset21Quantization, QLinearMatMul) {
  // a = [[2, 4]] (scale .5, zp 0) -> [1, 2]; b = [[1], [3]] (scale 1, zp 1) -> [0, 2]; a.b = 4;
  // y = round(4 / 0.5) + 10 = 18.
  Tensor a = Tensor::from_vector(std::vector<uint8_t>{2, 4}, Shape{1, 2});
  Tensor b = Tensor::from_vector(std::vector<uint8_t>{1, 3}, Shape{2, 1});
  Tensor y = run1("QLinearMatMul",
                  {{"a", a}, konst("as", Tensor::scalar(0.5f)), konst("az", Tensor::scalar(uint8_t(0))), {"b", b},
                   konst("bs", Tensor::scalar(1.0f)), konst("bz", Tensor::scalar(uint8_t(1))), konst("ys", Tensor::scalar(0.5f)),
                   konst("yz", Tensor::scalar(uint8_t(10)))},
                  {}, 21);
  EXPECT_EQ(y.dtype(), DType::U8);
  EXPECT_EQ(ints(y), (std::vector<int64_t>{18}));
  // int8 with per-column b scales: b = [[1, 2], [3, 4]] scales [1, 0.5] -> [[1, 1], [3, 2]];
  // a = [[1, -1]] (scale 1) -> a.b = [-2, -1]; y scale 0.25, zp 0 -> [-8, -4].
  Tensor a2 = Tensor::from_vector(std::vector<int8_t>{1, -1}, Shape{1, 2});
  Tensor b2 = Tensor::from_vector(std::vector<int8_t>{1, 2, 3, 4}, Shape{2, 2});
  Tensor y2 = run1("QLinearMatMul",
                   {{"a", a2}, konst("as", Tensor::scalar(1.0f)), konst("az", Tensor::scalar(int8_t(0))), {"b", b2},
                    konst("bs", f32({1, 0.5f}, {2})), konst("bz", Tensor::from_vector(std::vector<int8_t>{0, 0})),
                    konst("ys", Tensor::scalar(0.25f)), konst("yz", Tensor::scalar(int8_t(0)))},
                   {}, 21);
  EXPECT_EQ(ints(y2), (std::vector<int64_t>{-8, -4}));
}

// ---- GroupNormalization (18: per-group scale/bias; 21: per-channel) ----

TEST(Opset18Normalization, GroupNormScalePerGroupVsPerChannel) {
  // x [1, 4, 2], 2 groups of 2 channels (4 values each).
  std::vector<float> xv = {1, 2, 3, 4, 10, 20, 30, 50};
  Tensor x = f32(xv, {1, 4, 2});
  double eps = 1e-5;
  auto normalized = [&](int ch, int i) {
    int g = ch / 2;
    double m = 0, v = 0;
    for (int k = 0; k < 4; ++k) m += xv[size_t(g * 4 + k)];
    m /= 4;
    for (int k = 0; k < 4; ++k) v += (xv[size_t(g * 4 + k)] - m) * (xv[size_t(g * 4 + k)] - m);
    v /= 4;
    return (xv[size_t(ch * 2 + i)] - m) / std::sqrt(v + eps);
  };
  auto groups = [](auto& n) { ModelBuilder::attr(n, "num_groups", 2); };
  // 18: scale/bias per group.
  std::vector<float> gs = {2, 3}, gb = {0.5f, -1}, w18;
  for (int ch = 0; ch < 4; ++ch)
    for (int i = 0; i < 2; ++i) w18.push_back(float(normalized(ch, i) * gs[size_t(ch / 2)] + gb[size_t(ch / 2)]));
  expect_close(run1("GroupNormalization", {{"x", x}, konst("s", f32(gs, {2})), konst("b", f32(gb, {2}))}, groups, 18),
               f32(w18, {1, 4, 2}), 1e-4);
  // 21: per channel.
  std::vector<float> cs = {1, 2, 3, 4}, cb = {0, 1, 0, -1}, w21;
  for (int ch = 0; ch < 4; ++ch)
    for (int i = 0; i < 2; ++i) w21.push_back(float(normalized(ch, i) * cs[size_t(ch)] + cb[size_t(ch)]));
  expect_close(run1("GroupNormalization", {{"x", x}, konst("s", f32(cs, {4})), konst("b", f32(cb, {4}))}, groups, 21),
               f32(w21, {1, 4, 2}), 1e-4);
}

// ---- LayerNormalization (17) outputs and stash_type; RMSNormalization (23) ----

TEST(Opset18Normalization, LayerNormStatsAndRmsNorm) {
  std::vector<float> xv = {1, 2, 3, 2, 4, 7};
  Tensor x = f32(xv, {2, 3});
  Tensor scale = f32({1, 2, 0.5f}, {3});
  Tensor bias = f32({0, 1, -1}, {3});
  auto outs = run_op("LayerNormalization", {{"x", x}, konst("s", scale), konst("b", bias)},
                     [](auto& n) { ModelBuilder::attr(n, "stash_type", 1); }, 18, 3);
  std::vector<float> y, mean, inv;
  for (int r = 0; r < 2; ++r) {
    double m = 0, v = 0;
    for (int k = 0; k < 3; ++k) m += xv[size_t(r * 3 + k)];
    m /= 3;
    for (int k = 0; k < 3; ++k) v += (xv[size_t(r * 3 + k)] - m) * (xv[size_t(r * 3 + k)] - m);
    v /= 3;
    double is = 1 / std::sqrt(v + 1e-5);
    mean.push_back(float(m));
    inv.push_back(float(is));
    for (int k = 0; k < 3; ++k)
      y.push_back(float((xv[size_t(r * 3 + k)] - m) * is * scale.to_vector<float>()[size_t(k)] + bias.to_vector<float>()[size_t(k)]));
  }
  expect_close(outs[0], f32(y, {2, 3}), 1e-5);
  expect_close(outs[1], f32(mean, {2, 1}), 1e-5);
  expect_close(outs[2], f32(inv, {2, 1}), 1e-5);
  // axis 0 normalizes over everything; statistics keep rank with 1s. (Scale is a required input.)
  auto all = run_op("LayerNormalization", {{"x", x}, konst("s1", f32({1, 1, 1, 1, 1, 1}, {2, 3}))},
                    [](auto& n) { ModelBuilder::attr(n, "axis", 0); }, 18, 3);
  EXPECT_EQ(all[1].shape(), (Shape{1, 1}));
  EXPECT_NEAR(all[1].to_vector<float>()[0], 19.0 / 6, 1e-5);

  // RMSNormalization: x / sqrt(mean(x^2 over axes >= axis) + eps) * scale.
  auto rms = [&](int axis) {
    std::vector<float> out(6);
    int groups = axis == 1 ? 2 : 1, len = 6 / groups;
    for (int g = 0; g < groups; ++g) {
      double ss = 0;
      for (int k = 0; k < len; ++k) ss += double(xv[size_t(g * len + k)]) * xv[size_t(g * len + k)];
      double r = std::sqrt(ss / len + 1e-5);
      for (int k = 0; k < len; ++k) out[size_t(g * len + k)] = float(xv[size_t(g * len + k)] / r * scale.to_vector<float>()[size_t(k % 3)]);
    }
    return f32(out, {2, 3});
  };
  expect_close(run1("RMSNormalization", {{"x", x}, konst("s", scale)}, {}, 23), rms(1), 1e-5);
  expect_close(run1("RMSNormalization", {{"x", x}, konst("s", scale)},
                    [](auto& n) {
                      ModelBuilder::attr(n, "axis", 0);
                      ModelBuilder::attr(n, "stash_type", 1);
                    },
                    23),
               rms(0), 1e-5);
}

// ---- quick sanity: Reshape allowzero, Shape start/end, (Un)Squeeze axes input, TopK, Trilu, Range, Einsum ----

TEST(Opset18Sanity, ShapeOpsTopKTriluRangeEinsum) {
  Tensor x = f32({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(run1("Reshape", {{"x", x}, konst("t", i64({0, -1}))}, {}, 21).shape(), (Shape{2, 3}));
  // allowzero=0: a 0 copies the input's extent at that position.
  EXPECT_EQ(run1("Reshape", {{"x", f32({1, 2, 3, 4, 5, 6}, {2, 3, 1})}, konst("t", i64({0, 1, 3}))},
                 [](auto& n) { ModelBuilder::attr(n, "allowzero", 0); }, 21)
                .shape(),
            (Shape{2, 1, 3}));
  EXPECT_THROW_WITH(run1("Reshape", {{"x", x}, konst("t", i64({3, 0}))}, [](auto& n) { ModelBuilder::attr(n, "allowzero", 1); }, 21),
                    "cannot reshape");
  Tensor x4 = Tensor::full(DType::F32, Shape{2, 3, 4, 5}, 0);
  EXPECT_EQ(ints(run1("Shape", {{"x", x4}}, [](auto& n) {
              ModelBuilder::attr(n, "start", 1);
              ModelBuilder::attr(n, "end", -1);
            }, 21)),
            (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(ints(run1("Shape", {{"x", x4}}, [](auto& n) { ModelBuilder::attr(n, "start", -10); }, 21)),
            (std::vector<int64_t>{2, 3, 4, 5}));
  Tensor s = f32({1, 2, 3}, {1, 3, 1});
  EXPECT_EQ(run1("Squeeze", {{"s", s}, konst("a", i64({0, -1}))}, {}, 21).shape(), (Shape{3}));
  EXPECT_EQ(run1("Squeeze", {{"s", s}}, {}, 21).shape(), (Shape{3}));
  EXPECT_EQ(run1("Unsqueeze", {{"v", f32({1, 2, 3}, {3})}, konst("a", i64({-1, 0}))}, {}, 21).shape(), (Shape{1, 3, 1}));

  auto topk = run_op("TopK", {{"t", f32({3, 1, 2, 5}, {4})}, konst("k", i64({2}))}, [](auto& n) {
    ModelBuilder::attr(n, "largest", 0);
    ModelBuilder::attr(n, "sorted", 1);
  }, 18, 2);
  expect_close(topk[0], f32({1, 2}, {2}));
  EXPECT_EQ(ints(topk[1]), (std::vector<int64_t>{1, 2}));
  auto top2 = run_op("TopK", {{"t", f32({3, 1, 3, 5}, {4})}, konst("k", i64({3}))}, {}, 18, 2);
  expect_close(top2[0], f32({5, 3, 3}, {3}));
  EXPECT_EQ(ints(top2[1]), (std::vector<int64_t>{3, 0, 2}));  // ties: the lower index first

  Tensor m = f32({1, 2, 3, 4, 5, 6, 7, 8, 9}, {3, 3});
  expect_close(run1("Trilu", {{"m", m}, konst("k", Tensor::scalar(int64_t(-1)))}, [](auto& n) { ModelBuilder::attr(n, "upper", 0); }, 18),
               f32({0, 0, 0, 4, 0, 0, 7, 8, 0}, {3, 3}));
  expect_close(run1("Trilu", {{"m", m}, konst("k", Tensor::scalar(int64_t(1)))}, {}, 18), f32({0, 2, 3, 0, 0, 6, 0, 0, 0}, {3, 3}));

  EXPECT_EQ(ints(run1("Range", {konst("a", Tensor::scalar(int64_t(10))), konst("b", Tensor::scalar(int64_t(4))),
                                konst("c", Tensor::scalar(int64_t(-3)))},
                      {}, 18)),
            (std::vector<int64_t>{10, 7}));
  EXPECT_EQ(ints(run1("Range", {konst("a", Tensor::scalar(int64_t(1))), konst("b", Tensor::scalar(int64_t(5))),
                                konst("c", Tensor::scalar(int64_t(-1)))},
                      {}, 18)),
            (std::vector<int64_t>{}));
  expect_close(run1("Range", {konst("a", Tensor::scalar(1.0f)), konst("b", Tensor::scalar(-1.0f)), konst("c", Tensor::scalar(-0.5f))},
                    {}, 18),
               f32({1, 0.5f, 0, -0.5f}, {4}));

  Tensor a = f32({1, 2, 3, 4}, {2, 2}), b = f32({5, 6, 7, 8}, {2, 2});
  expect_close(run1("Einsum", {{"a", a}, {"b", b}}, [](auto& n) { ModelBuilder::attr(n, "equation", "ij,jk->ik"); }, 18),
               f32({19, 22, 43, 50}, {2, 2}));
  expect_close(run1("Einsum", {{"a", a}}, [](auto& n) { ModelBuilder::attr(n, "equation", "ij->ji"); }, 18),
               f32({1, 3, 2, 4}, {2, 2}));
  expect_close(run1("Einsum", {{"a", a}}, [](auto& n) { ModelBuilder::attr(n, "equation", "ii->"); }, 18), f32({5}, {}));
}

// ---- an ai.onnx opset newer than graft implements ----

TEST(Opset18Sanity, NewerOpsetRunsWithTheNewestDefinitions) {
  // A model importing opset 24 runs with opset 23's definitions rather than being refused outright.
  ModelBuilder b(kMaxOpset + 1);
  b.input("x", DType::F32, {2});
  b.output_untyped("y");
  b.node("Relu", {"x"}, {"y"}, "relu_node");
  Model m = b.model();
  EXPECT_TRUE(m.unsupported_ops().empty());
  expect_close(testing::run_model(m, {{"x", f32({-1, 1}, {2})}}).at("y"), f32({0, 1}, {2}));
}

}  // namespace
}  // namespace graft::onnx
