// Graph -> ONNX export: every primitive family and composite is built as a small graft graph, evaluated with
// the CPU backend, exported, and run again (a) by graft's own importer and (b) by ONNX Runtime (the
// independent reference: bench/ort/run_model.js, skipped with a note when node or onnxruntime-node is
// missing). Exported models also pass onnx.checker (python3-onnx, skipped when absent).
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <set>

#include "graft/onnx/export.h"
#include "onnx/model_impl.h"  // proto_of: the exported protobuf, to inspect
#include "onnx_test_util.h"

namespace graft::onnx {
namespace {

using testing::TempDir;
namespace fs = std::filesystem;
using json = nlohmann::json;

// ---- helpers -------------------------------------------------------------------------------------------

std::vector<double> to_doubles(const Tensor& t) {
  std::vector<double> out(size_t(t.shape().size()));
  visit_dtype(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = static_cast<const T*>(t.raw());
    for (size_t i = 0; i < out.size(); ++i) out[i] = double(to_compute(p[i]));
  });
  return out;
}

void expect_close(const Tensor& want, DType got_dtype, const Shape& got_shape, const std::vector<double>& got,
                  double rtol, double atol, const std::string& what) {
  ASSERT_EQ(got_dtype, want.dtype()) << what;
  ASSERT_EQ(got_shape, want.shape()) << what;
  std::vector<double> w = to_doubles(want);
  ASSERT_EQ(w.size(), got.size()) << what;
  bool exact = !is_floating(want.dtype());
  int bad = 0;
  for (size_t i = 0; i < w.size() && bad < 5; ++i) {
    bool ok = exact ? w[i] == got[i]
                    : (std::isnan(w[i]) ? std::isnan(got[i])
                                        : (w[i] == got[i] || std::abs(w[i] - got[i]) <= atol + rtol * std::abs(w[i])));
    if (!ok) {
      ++bad;
      ADD_FAILURE() << what << ": element " << i << " is " << got[i] << ", expected " << w[i];
    }
  }
}

bool ort_available() {
  static int state = -1;
  if (state < 0) {
    fs::path dir = fs::path(GRAFT_SOURCE_DIR) / "bench" / "ort";
    state = fs::exists(dir / "node_modules" / "onnxruntime-node") && std::system("node --version > /dev/null 2>&1") == 0;
    if (!state)
      std::printf("[ note ] ONNX Runtime comparisons skipped: node or bench/ort/node_modules/onnxruntime-node missing "
                  "(npm install --ignore-scripts in bench/ort)\n");
  }
  return state == 1;
}

json number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  return v;
}

// Runs `model` under ONNX Runtime; outputs by name as (dtype, shape, values).
struct OrtOut {
  DType dtype;
  Shape shape;
  std::vector<double> data;
};
std::map<std::string, OrtOut> run_ort(const fs::path& model, const std::map<std::string, Tensor>& inputs) {
  json in = json::object();
  for (const auto& [name, t] : inputs) {
    json data = json::array();
    for (double v : to_doubles(t)) data.push_back(number(v));
    in[name] = {{"dims", t.shape().dims()}, {"data", data}, {"type", std::string(dtype_name(t.dtype()))}};
  }
  fs::path in_file = model.string() + ".inputs.json";
  testing::write_file(in_file, in.dump());
  fs::path err_file = model.string() + ".stderr";
  std::string cmd = "node " + (fs::path(GRAFT_SOURCE_DIR) / "bench" / "ort" / "run_model.js").string() + " '" +
                    model.string() + "' @'" + in_file.string() + "' 2>'" + err_file.string() + "'";
  FILE* pipe = popen(cmd.c_str(), "r");
  std::string text;
  char buf[65536];
  while (size_t n = fread(buf, 1, sizeof buf, pipe)) text.append(buf, n);
  int rc = pclose(pipe);
  if (rc != 0) {
    std::ifstream err(err_file);
    std::string e((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
    throw std::runtime_error("onnxruntime failed on " + model.string() + ": " + text + e);
  }
  json j = json::parse(text);
  std::map<std::string, OrtOut> out;
  for (auto& [name, v] : j.items()) {
    OrtOut o{dtype_from_name(v["type"].get<std::string>()), Shape(v["dims"].get<std::vector<int64_t>>()), {}};
    for (auto& x : v["data"]) {
      if (x.is_string()) {
        std::string s = x.get<std::string>();
        o.data.push_back(s == "NaN" ? NAN : s == "Infinity" ? INFINITY : -INFINITY);
      } else {
        o.data.push_back(x.get<double>());
      }
    }
    out[name] = std::move(o);
  }
  return out;
}

std::vector<std::string> op_types(const ::onnx::GraphProto& g) {
  std::vector<std::string> out;
  for (const auto& n : g.node()) {
    out.push_back(n.op_type());
    for (const auto& a : n.attribute())
      if (a.has_g())
        for (auto& s : op_types(a.g())) out.push_back(s);
  }
  return out;
}
bool uses(const ::onnx::ModelProto& m, const std::string& op_type) {
  auto t = op_types(m.graph());
  return std::find(t.begin(), t.end(), op_type) != t.end();
}

struct Tol {
  double rtol = 1e-5, atol = 1e-6;
};

// Evaluates `g` on `inputs` with graft, exports it, and checks that graft's importer and ONNX Runtime give the
// same outputs. Returns the exported model.
::onnx::ModelProto check(const Graph& g, const std::vector<Tensor>& inputs, ExportOptions o = {}, Tol tol = {}) {
  std::vector<Tensor> all = inputs;
  std::map<std::string, Tensor> feeds;
  size_t next = 0;
  for (size_t i = 0; i < g.parameters().size(); ++i) {
    std::string name = std::get<ParameterAttrs>(g.op(g.parameters()[i]).attrs).name;
    auto w = o.weights.find(name);
    if (w != o.weights.end()) {
      all.insert(all.begin() + long(i), w->second);
    } else {
      EXPECT_LT(next, inputs.size());
      feeds[name] = inputs[next++];
    }
  }
  std::vector<Tensor> want = cpu_backend()->compile(g)->run(all);
  std::string where = g.name() + " at opset " + std::to_string(o.opset);
  ::onnx::ModelProto m = proto_of(export_graph(g, o));
  std::vector<std::string> names;
  for (size_t i = 0; i < want.size(); ++i)
    names.push_back(i < o.output_names.size() ? o.output_names[i] : "output_" + std::to_string(i));
  // graft's importer
  std::string bytes;
  EXPECT_TRUE(m.SerializeToString(&bytes));
  try {
    InferenceSession s(Model::from_bytes(bytes, {}, g.name() + ".onnx"));
    auto got = s.run(feeds);
    for (size_t i = 0; i < want.size(); ++i) {
      const Tensor& t = got.at(names[i]);
      expect_close(want[i], t.dtype(), t.shape(), to_doubles(t), tol.rtol, tol.atol,
                   where + " (graft import) output " + names[i]);
    }
  } catch (const std::exception& e) {
    ADD_FAILURE() << where << ": graft import failed: " << e.what();
  }
  // ONNX Runtime
  if (ort_available()) {
    TempDir dir;
    fs::path file = dir.path / (g.name() + ".onnx");
    testing::write_file(file, bytes);
    if (const char* keep = std::getenv("GRAFT_EXPORT_TEST_KEEP"))  // a folder to keep the exported models in
      fs::copy_file(file, fs::path(keep) / file.filename(), fs::copy_options::overwrite_existing);
    try {
      auto got = run_ort(file, feeds);
      for (size_t i = 0; i < want.size(); ++i) {
        const OrtOut& t = got.at(names[i]);
        expect_close(want[i], t.dtype, t.shape, t.data, tol.rtol, tol.atol, where + " (onnxruntime) output " + names[i]);
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << where << ": " << e.what();
    }
  }
  return m;
}

Tensor randn(Shape s, uint32_t seed, float lo = -1, float hi = 1) { return testing::random_tensor(std::move(s), seed, lo, hi); }
Tensor ints(std::vector<int64_t> v, Shape s) { return Tensor::from_vector(v, std::move(s)); }

// ---- element-wise ----------------------------------------------------------------------------------------

TEST(Export, UnaryFloat) {
  Graph g("unary_float");
  Node x = g.parameter("x", DType::F32, {3, 4});
  Node p = g.parameter("p", DType::F32, {3, 4});  // positive, > 1
  Node tiny = g.parameter("tiny", DType::F32, {4});
  std::vector<Node> outs;
  for (auto f : {Neg, Abs, Sign, Exp, Expm1, Sin, Cos, Tan, Asin, Acos, Atan, Sinh, Cosh, Tanh, Asinh, Atanh, Erf, Floor,
                 Ceil, Round, Logistic, Log1p})
    outs.push_back(f(x));
  for (auto f : {Log, Sqrt, Rsqrt, Acosh, Reciprocal}) outs.push_back(f(p));
  outs.push_back(Expm1(tiny));
  outs.push_back(Log1p(tiny));
  Node special = Log(x);  // NaN for negatives, -inf at 0
  outs.push_back(Convert(IsNan(special), DType::F32));
  outs.push_back(IsInf(Reciprocal(x)));
  g.set_outputs(outs);
  Tensor xv = randn({3, 4}, 1, -0.9f, 0.9f);
  xv.data<float>()[0] = 0.f;
  xv.data<float>()[1] = 0.5f;  // Round: half to even
  xv.data<float>()[2] = -2.5f;
  Tensor tv = Tensor::from_vector<float>({1e-7f, -3e-6f, 2e-3f, -0.25f});
  for (int opset : {13, 17})
    check(g, {xv, randn({3, 4}, 2, 1.1f, 3.f), tv}, {.opset = opset}, {1e-5, 1e-6});
}

TEST(Export, BinaryFloat) {
  Graph g("binary_float");
  Node a = g.parameter("a", DType::F32, {2, 3});
  Node b = g.parameter("b", DType::F32, {3});
  std::vector<Node> outs;
  for (auto f : {Add, Sub, Mul, Div, Rem, Fmod, Min, Max, Atan2}) outs.push_back(f(a, b));
  outs.push_back(Pow(Abs(a), b));
  for (auto f : {Equal, NotEqual, Less, LessEqual, Greater, GreaterEqual}) outs.push_back(f(a, b));
  outs.push_back(Atan2(a, ScalarLike(a, 0)));
  outs.push_back(Atan2(ScalarLike(a, 0), b));
  outs.push_back(Select(Less(a, b), a, b));
  g.set_outputs(outs);
  Tensor av = Tensor({{0.5f, -1.5f, 2.f}, {-0.25f, 0.f, 3.f}});
  Tensor bv = Tensor::from_vector<float>({0.5f, -0.75f, 1.25f});
  check(g, {av, bv}, {}, {1e-6, 1e-6});
}

TEST(Export, IntegerAndBool) {
  Graph g("integer_bool");
  Node a = g.parameter("a", DType::I64, {2, 3});
  Node b = g.parameter("b", DType::I64, {3});  // nonzero
  Node s = g.parameter("s", DType::I32, {2, 3});
  Node n = g.parameter("n", DType::I32, {3});  // shift amounts
  Node f = g.parameter("f", DType::F32, {2, 3});
  std::vector<Node> outs;
  for (auto op : {Neg, Abs, Sign, BitwiseNot}) outs.push_back(op(a));
  for (auto op : {Add, Sub, Mul, Div, Rem, Min, Max}) outs.push_back(op(a, b));
  outs.push_back(Pow(a, Abs(b)));
  for (auto op : {Equal, NotEqual, Less, LessEqual, Greater, GreaterEqual}) outs.push_back(op(a, b));
  outs.push_back(ShiftLeft(s, n));
  outs.push_back(ShiftRight(s, n));
  outs.push_back(ShiftRight(Convert(s, DType::U32), Convert(n, DType::U32)));
  Node p = Less(a, b), q = Greater(a, ScalarLike(a, 0));
  for (auto op : {And, Or, Xor, Equal}) outs.push_back(op(p, q));
  outs.push_back(Not(p));
  outs.push_back(Convert(f, DType::I64));
  outs.push_back(Convert(a, DType::F32));
  outs.push_back(Convert(a, DType::Bool));
  outs.push_back(Select(p, a, Neg(a)));
  g.set_outputs(outs);
  Tensor av = ints({7, -7, 12, -1, 0, 5}, {2, 3}), bv = ints({2, 3, -5}, {3});
  Tensor sv = Tensor::from_vector<int32_t>({-17, 16, 5, -1, 1024, -1024}, Shape{2, 3});
  Tensor nv = Tensor::from_vector<int32_t>({1, 2, 3});
  Tensor fv = Tensor({{1.7f, -1.7f, 0.2f}, {-3.9f, 100.5f, 0.f}});
  check(g, {av, bv, sv, nv, fv}, {.opset = 13});
  check(g, {av, bv, sv, nv, fv}, {.opset = 18});
}

TEST(Export, BitwiseOpsNeedOpset18) {
  Graph g("bitwise");
  Node a = g.parameter("a", DType::I32, {4}), b = g.parameter("b", DType::I32, {4});
  g.set_outputs({BitwiseAnd(a, b), BitwiseOr(a, b), BitwiseXor(a, b), BitwiseNot(a)});
  Tensor av = Tensor::from_vector<int32_t>({12, -1, 7, 0}), bv = Tensor::from_vector<int32_t>({10, 5, -8, 3});
  auto m = check(g, {av, bv}, {.opset = 18});
  EXPECT_TRUE(uses(m, "BitwiseAnd"));
  EXPECT_THROW_WITH(export_graph(g, {.opset = 17}), "BitwiseAnd", "opset 18");
}

// ---- layout ----------------------------------------------------------------------------------------------

TEST(Export, LayoutOps) {
  Graph g("layout");
  Node x = g.parameter("x", DType::F32, {2, 3, 4});
  Node v = g.parameter("v", DType::F32, {3});
  std::vector<Node> outs{
      BroadcastInDim(v, {2, 3, 5}, {1}),
      BroadcastTo(v, {4, 3}),
      Reshape(x, {6, -1}),
      Transpose(x, {2, 0, 1}),
      Slice(x, {0, 1, 0}, {2, 3, 4}, {1, 1, 3}),
      SliceAxis(x, 2, 3, 0, -2),
      Reverse(x, {0, 2}),
      Concatenate({x, x * 2.0}, 1),
      Iota(g, DType::F32, {2, 3}, 1) + ReduceSum(x, {2}),
      Convert(Iota(g, DType::I64, {3, 2}, 0), DType::F32),
      Convert(Iota(g, DType::I32, {4}, 0), DType::F32),
      Convert(Iota(g, DType::U8, {2, 2}, 1), DType::F32),
      g.constant(Tensor({{1.f, 2.f}, {3.f, 4.f}})),
      Squeeze(ExpandDims(v, 0), {0}),
      StopGradient(x) + 1.0,
      x,
  };
  g.set_outputs(outs);
  check(g, {randn({2, 3, 4}, 3), randn({3}, 4)});
}

TEST(Export, PadAllModes) {
  Graph g("pad");
  Node x = g.parameter("x", DType::F32, {3, 4});
  Node c = g.parameter("c", DType::F32, {});
  std::vector<Node> outs{
      Pad(x, {1, 2}, {0, 1}),
      Pad(x, {1, -1}, {-2, 2}, PadMode::Constant, c),
      Pad(x, {2, 1}, {1, 3}, PadMode::Reflect),
      Pad(x, {2, 1}, {1, 5}, PadMode::Edge),
      Pad(x, {1, 2}, {2, 1}, PadMode::Wrap),
      Pad(x, {4, 0}, {0, 9}, PadMode::Wrap),
      Pad(x, {-1, 1}, {2, -1}, PadMode::Edge),
      Pad(x, {-1, 2}, {1, -2}, PadMode::Reflect),
  };
  g.set_outputs(outs);
  Tensor xv = randn({3, 4}, 5);
  Tensor cv = Tensor::scalar(7.5f);
  auto m17 = check(g, {xv, cv}, {.opset = 17});
  auto m19 = check(g, {xv, cv}, {.opset = 19});
  EXPECT_TRUE(uses(m17, "Gather"));  // wrap before opset 19
  int wraps = 0;
  for (const auto& n : m19.graph().node())
    for (const auto& a : n.attribute())
      if (a.name() == "mode" && a.s() == "wrap") ++wraps;
  EXPECT_EQ(wraps, 1);  // the pad longer than its axis still gathers
}

TEST(Export, DynamicSliceAndUpdate) {
  Graph g("dynamic_slice");
  Node x = g.parameter("x", DType::F32, {4, 5});
  Node u = g.parameter("u", DType::F32, {2, 3});
  Node i = g.parameter("i", DType::I64, {}), j = g.parameter("j", DType::I64, {});
  g.set_outputs({DynamicSlice(x, {i, j}, {2, 3}), DynamicUpdateSlice(x, u, {i, j}), DynamicSlice(x, {j, i}, {3, 2})});
  Tensor xv = randn({4, 5}, 6), uv = randn({2, 3}, 7);
  check(g, {xv, uv, Tensor::scalar<int64_t>(1), Tensor::scalar<int64_t>(2)});
  check(g, {xv, uv, Tensor::scalar<int64_t>(3), Tensor::scalar<int64_t>(9)});  // clamped
  check(g, {xv, uv, Tensor::scalar<int64_t>(-2), Tensor::scalar<int64_t>(0)});
}

// ---- indexing --------------------------------------------------------------------------------------------

TEST(Export, GatherForms) {
  Graph g("gather");
  Node x = g.parameter("x", DType::F32, {4, 5, 3});
  Node idx = g.parameter("idx", DType::I64, {2, 3});
  Node idx0 = g.parameter("idx0", DType::I64, {3});
  Node along = g.parameter("along", DType::I64, {4, 2, 3});
  Node starts = g.parameter("starts", DType::I64, {2, 2});  // index vectors on axis 0
  GatherAttrs windows;  // XLA gather: 2x2 windows at (starts[0, k], starts[1, k]) of axes (0, 1)
  windows.index_vector_dim = 0;
  windows.start_index_map = {0, 1};
  windows.collapsed_slice_dims = {};
  windows.slice_sizes = {2, 2, 3};
  windows.offset_dims = {0, 2, 3};
  g.set_outputs({Take(x, idx, 1), Take(x, idx0, 0), TakeAlongAxis(x, along, 1), Gather(x, starts, windows)});
  auto m = check(g, {randn({4, 5, 3}, 8), ints({0, 4, -1, 2, 2, 1}, {2, 3}), ints({3, -4, 1}, {3}),
                     ints({0, 1, 4, 3, 2, 1, 0, 0, 0, 4, 4, 4, 1, 2, 3, 3, 2, 1, 0, 1, 2, 2, 1, 0}, {4, 2, 3}),
                     ints({0, 2, 3, 1}, {2, 2})});
  EXPECT_TRUE(uses(m, "Gather"));
  EXPECT_TRUE(uses(m, "GatherND"));
}

TEST(Export, ScatterForms) {
  Graph g("scatter");
  Node x = g.parameter("x", DType::F32, {3, 4});
  Node idx = g.parameter("idx", DType::I64, {2, 4});
  Node upd = g.parameter("upd", DType::F32, {2, 4});
  Node rows = g.parameter("rows", DType::I64, {2, 1});
  Node win = g.parameter("win", DType::F32, {2, 2});
  ScatterAttrs a;  // rows of 2 elements at (rows[k], 1)
  a.index_vector_dim = 1;
  a.scatter_dims_to_operand_dims = {0};
  a.inserted_window_dims = {0};
  a.update_window_dims = {1};
  a.combiner = ReduceOp::Sum;
  std::vector<Node> outs{ScatterAlongAxis(x, idx, upd, 0),
                         ScatterAlongAxis(x, idx, upd, 0, ReduceOp::Sum),
                         ScatterAlongAxis(x, idx, upd, 0, ReduceOp::Max),
                         ScatterAlongAxis(x, idx, upd, 0, ReduceOp::Prod)};
  Node xs = Slice(x, {0, 1}, {3, 3});  // [3, 2]
  outs.push_back(Scatter(xs, rows, win, a));
  g.set_outputs(outs);
  auto m = check(g, {randn({3, 4}, 9), ints({0, 1, 2, 0, 2, 2, 1, 1}, {2, 4}), randn({2, 4}, 10),
                     ints({2, 0}, {2, 1}), randn({2, 2}, 11)},
                 {.opset = 18});
  EXPECT_TRUE(uses(m, "ScatterND"));
  EXPECT_THROW_WITH(export_graph(g, {.opset = 17}), "Scatter", "'max'", "opset 18");
}

// ---- reductions, products ------------------------------------------------------------------------------

TEST(Export, Reductions) {
  Graph g("reduce");
  Node x = g.parameter("x", DType::F32, {2, 3, 4});
  Node b = Greater(x, ScalarLike(x, 0));
  Node i = g.parameter("i", DType::I64, {2, 3});
  g.set_outputs({ReduceSum(x, {1}), ReduceMean(x, {0, 2}), ReduceMax(x, {2}), ReduceMin(x, {0}), ReduceProd(x, {1, 2}),
                 ReduceAll(b, {2}), ReduceAny(b, {1}), ReduceSum(x), ReduceMax(i, {1}), ArgMax(x, 1), ArgMin(x, 2),
                 ArgMax(i, 1, false, true), ArgMin(i, 0, true, false)});
  Tensor xv = randn({2, 3, 4}, 12), iv = ints({1, 3, 3, 2, 2, 0}, {2, 3});
  check(g, {xv, iv}, {.opset = 13});
  check(g, {xv, iv}, {.opset = 18});
}

TEST(Export, DotGeneralForms) {
  Graph g("dot");
  Node a = g.parameter("a", DType::F32, {2, 3, 4});
  Node w = g.parameter("w", DType::F32, {4, 5});
  Node b = g.parameter("b", DType::F32, {2, 4, 5});
  Node v = g.parameter("v", DType::F32, {4});
  Node c = g.parameter("c", DType::F32, {3, 2, 4});
  std::vector<Node> outs{MatMul(a, w), MatMul(a, b), MatMul(a, v), MatMul(v, w),
                         // batch on axis 1 of c and 0 of a, contracting the last axis: [2, 3, 3]
                         DotGeneral(c, a, {{1}, {0}, {2}, {2}}),
                         // contract two axes: [3]x... -> [5]
                         DotGeneral(a, b, {{}, {}, {0, 2}, {0, 1}}),
                         // rhs transposed: a [2,3,4] . b^T
                         DotGeneral(a, Transpose(b, {0, 2, 1}), {{0}, {0}, {2}, {2}})};
  g.set_outputs(outs);
  check(g, {randn({2, 3, 4}, 13), randn({4, 5}, 14), randn({2, 4, 5}, 15), randn({4}, 16), randn({3, 2, 4}, 17)}, {},
        {1e-5, 1e-5});
}

TEST(Export, Convolutions) {
  Graph g("conv");
  Node x = g.parameter("x", DType::F32, {1, 4, 7, 6});
  Node w = g.parameter("w", DType::F32, {6, 2, 3, 2});
  Node wt = g.parameter("wt", DType::F32, {4, 3, 2, 3});
  Node x1 = g.parameter("x1", DType::F32, {2, 3, 9});
  Node w1 = g.parameter("w1", DType::F32, {5, 3, 3});
  ConvolutionAttrs c{.strides = {2, 1}, .pad_low = {1, 0}, .pad_high = {2, 1}, .dilations = {1, 2}, .groups = 2};
  ConvolutionAttrs t{.strides = {2, 2}, .pad_low = {1, 0}, .pad_high = {0, 1}, .dilations = {1, 1},
                     .output_padding = {1, 0}, .groups = 2, .transposed = true};
  g.set_outputs({Convolution(x, w, c), Convolution(x, wt, t), Convolution(x1, w1, {.strides = {2}, .pad_low = {1},
                                                                                     .pad_high = {1}})});
  auto m = check(g, {randn({1, 4, 7, 6}, 18), randn({6, 2, 3, 2}, 19), randn({4, 3, 2, 3}, 20), randn({2, 3, 9}, 21),
                     randn({5, 3, 3}, 22)},
                 {}, {1e-5, 1e-5});
  EXPECT_TRUE(uses(m, "Conv"));
  EXPECT_TRUE(uses(m, "ConvTranspose"));
}

TEST(Export, ReduceWindows) {
  Graph g("reduce_window");
  Node x = g.parameter("x", DType::F32, {1, 2, 6, 5});
  Node y = g.parameter("y", DType::F32, {5, 6});
  ReduceWindowAttrs min_w{.op = ReduceOp::Min, .window = {1, 1, 2, 3}, .strides = {1, 1, 2, 1}, .dilations = {},
                          .pad_low = {0, 0, 1, 1}, .pad_high = {0, 0, 0, 1}};
  ReduceWindowAttrs sum2d{.op = ReduceOp::Sum, .window = {2, 3}, .strides = {1, 2}, .dilations = {2, 1},
                          .pad_low = {1, 0}, .pad_high = {0, 2}};
  g.set_outputs({MaxPool(x, {3, 2}, {2, 1}, {1, 0}, {1, 1}),
                 MaxPool(x, {2, 2}, {1, 1}, {}, {}, {2, 2}),
                 AvgPool(x, {3, 3}, {1, 2}, {1, 1}, {1, 1}, false),
                 AvgPool(x, {3, 3}, {1, 2}, {1, 1}, {1, 1}, true),
                 ReduceWindow(x, min_w), ReduceWindow(y, sum2d),
                 ReduceWindow(y, {.op = ReduceOp::Mean, .window = {2, 2}, .strides = {}, .dilations = {1, 2},
                                  .pad_low = {1, 1}, .pad_high = {1, 1}}),
                 ReduceWindow(x, {.op = ReduceOp::Mean, .window = {1, 1, 2, 2}, .strides = {}, .dilations = {1, 1, 2, 2}})});
  Tensor xv = randn({1, 2, 6, 5}, 23), yv = randn({5, 6}, 24);
  auto m = check(g, {xv, yv}, {.opset = 17});
  EXPECT_TRUE(uses(m, "MaxPool"));
  EXPECT_TRUE(uses(m, "AveragePool"));
  check(g, {xv, yv}, {.opset = 19});
}

TEST(Export, SortTopKAndScans) {
  Graph g("sort_scan");
  Node x = g.parameter("x", DType::F32, {2, 5});
  Node k = g.parameter("k", DType::I64, {2, 5});
  auto sorted = Sort({x, k}, 1, true);
  auto sorted_k = Sort({k, x}, 1);
  auto [vals, idx] = TopK(x, 3, 1);
  auto [svals, sidx] = TopK(x, 2, 0, false);
  std::vector<Node> outs{sorted[0], sorted[1], sorted_k[0], sorted_k[1], vals, idx, svals, sidx,
                         CumSum(x, 1), CumSum(x, 1, true, false), CumSum(x, 0, false, true), CumSum(k, 1, true, true),
                         CumProd(x, 1), CumProd(x, 1, true, true)};
  for (ReduceOp op : {ReduceOp::Max, ReduceOp::Min})
    for (bool excl : {false, true})
      outs.push_back(g.add_op1(OpKind::Cumulative, {x}, CumulativeAttrs{1, op, excl, !excl}, x.type()));
  // (inclusive, non-negative: graft's CPU kernel scans signed integers in unsigned arithmetic)
  outs.push_back(g.add_op1(OpKind::Cumulative, {k}, CumulativeAttrs{1, ReduceOp::Max, false, false}, k.type()));
  g.set_outputs(outs);
  Tensor xv = Tensor({{0.5f, -1.f, 0.5f, 2.f, -1.f}, {3.f, 0.25f, 0.25f, -2.f, 1.f}});
  Tensor kv = ints({3, 1, 3, 0, 2, 5, 5, 1, 1, 0}, {2, 5});
  check(g, {xv, kv});
}

// ---- control flow --------------------------------------------------------------------------------------

TEST(Export, IfAndWhile) {
  Graph then_b("then"), else_b("else"), cond("cond"), body("body");
  {
    Node a = then_b.parameter("a", DType::F32, {3}), s = then_b.parameter("s", DType::F32, {});
    then_b.set_outputs({a * s + 1.0, ReduceSum(a)});
    Node a2 = else_b.parameter("a", DType::F32, {3}), s2 = else_b.parameter("s", DType::F32, {});
    else_b.set_outputs({Exp(a2) - s2, s2});
  }
  {
    Node i = cond.parameter("i", DType::I64, {}), acc = cond.parameter("acc", DType::F32, {3});
    (void)acc;
    cond.set_outputs({Less(i, cond.scalar<int64_t>(5))});
    Node bi = body.parameter("i", DType::I64, {}), bacc = body.parameter("acc", DType::F32, {3});
    body.set_outputs({bi + body.scalar<int64_t>(1), bacc * 2.0 + Convert(bi, DType::F32)});
  }
  Graph g("control");
  Node p = g.parameter("p", DType::Bool, {});
  Node a = g.parameter("a", DType::F32, {3});
  Node s = g.parameter("s", DType::F32, {});
  Node start = g.parameter("start", DType::I64, {});
  auto r = If(p, then_b, else_b, {a, s});
  auto w = While(cond, body, {start, a});
  g.set_outputs({r[0], r[1], w[0], w[1]});
  Tensor av = Tensor::from_vector<float>({0.5f, -1.f, 2.f});
  for (bool pv : {true, false})
    for (int64_t st : {0, 7}) {
      auto m = check(g, {Tensor::scalar(pv), av, Tensor::scalar(1.5f), Tensor::scalar(st)});
      EXPECT_TRUE(uses(m, "If"));
      EXPECT_TRUE(uses(m, "Loop"));
    }
}

// ---- composites ----------------------------------------------------------------------------------------

TEST(Export, Composites) {
  Graph g("composites");
  Node x = g.parameter("x", DType::F32, {2, 4, 6});
  Node img = g.parameter("img", DType::F32, {2, 4, 3, 3});
  Node sc = g.parameter("scale", DType::F32, {6}), bi = g.parameter("bias", DType::F32, {6});
  Node c4 = g.parameter("c4", DType::F32, {4}), c4b = g.parameter("c4b", DType::F32, {4});
  Node var = g.parameter("var", DType::F32, {4});  // positive
  std::vector<Node> outs{Softmax(x, 1),
                         LogSoftmax(x),
                         LayerNorm(x, sc, bi),
                         LayerNorm(x, std::nullopt, std::nullopt, 1, 1e-3),
                         LayerNorm(x, sc, std::nullopt),
                         RmsNorm(x, sc),
                         RmsNorm(x, std::nullopt, -1, 1e-5),
                         GroupNorm(img, c4, c4b, 2),
                         InstanceNorm(img, c4, c4b),
                         BatchNormInference(img, c4, c4b, c4b, var, 1e-3),
                         Gelu(x),
                         Gelu(x, true),
                         Silu(x)};
  g.set_outputs(outs);
  std::vector<Tensor> in{randn({2, 4, 6}, 30, -2, 2), randn({2, 4, 3, 3}, 31, -2, 2), randn({6}, 32), randn({6}, 33),
                         randn({4}, 34), randn({4}, 35), randn({4}, 36, 0.5f, 2.f)};
  auto m13 = check(g, in, {.opset = 13}, {1e-4, 1e-5});
  EXPECT_TRUE(uses(m13, "Softmax"));
  EXPECT_FALSE(uses(m13, "LayerNormalization"));
  auto m17 = check(g, in, {.opset = 17}, {1e-4, 1e-5});
  EXPECT_TRUE(uses(m17, "LayerNormalization"));
  EXPECT_TRUE(uses(m17, "InstanceNormalization"));
  EXPECT_TRUE(uses(m17, "BatchNormalization"));
  auto m21 = check(g, in, {.opset = 21}, {1e-4, 1e-5});
  EXPECT_TRUE(uses(m21, "Gelu"));
  EXPECT_TRUE(uses(m21, "GroupNormalization"));
  auto m23 = check(g, in, {.opset = 23}, {1e-4, 1e-5});
  EXPECT_TRUE(uses(m23, "RMSNormalization"));
}

TEST(Export, Attention) {
  Graph g("attention");
  Node q = g.parameter("q", DType::F32, {1, 4, 3, 8});
  Node k = g.parameter("k", DType::F32, {1, 2, 5, 8});
  Node v = g.parameter("v", DType::F32, {1, 2, 5, 8});
  Node mask = g.parameter("mask", DType::Bool, {3, 5});
  Node add = g.parameter("add", DType::F32, {1, 1, 3, 5});
  Node q3 = g.parameter("q3", DType::F32, {2, 3, 8});
  g.set_outputs({ScaledDotProductAttention(q, k, v), ScaledDotProductAttention(q, k, v, mask),
                 ScaledDotProductAttention(q, k, v, add, false, 0.5),
                 ScaledDotProductAttention(q, Slice(k, {0, 0, 0, 0}, {1, 2, 3, 8}), Slice(v, {0, 0, 0, 0}, {1, 2, 3, 8}),
                                           std::nullopt, true),
                 ScaledDotProductAttention(q3, q3, q3)});
  Tensor mv = Tensor::zeros(DType::Bool, {3, 5});
  for (int i = 0; i < 15; ++i) static_cast<bool*>(mv.raw())[i] = (i * 7) % 3 != 0;
  std::vector<Tensor> in{randn({1, 4, 3, 8}, 40), randn({1, 2, 5, 8}, 41), randn({1, 2, 5, 8}, 42), mv,
                         randn({1, 1, 3, 5}, 43), randn({2, 3, 8}, 44)};
  check(g, in, {.opset = 17}, {1e-4, 1e-5});
  auto m = check(g, in, {.opset = 23}, {1e-4, 1e-5});
  EXPECT_TRUE(uses(m, "Attention"));
}

// ---- model-level behaviour -------------------------------------------------------------------------------

TEST(Export, WeightsNamesAndExternalData) {
  Graph g("head");
  Node x = g.parameter("features", DType::F32, {2, 8});
  g.set_current_name("classifier/linear");
  Node w = g.parameter("classifier.weight", DType::F32, {8, 300});
  Node b = g.parameter("classifier.bias", DType::F32, {300});
  Node logits = MatMul(x, w) + b;
  g.set_current_name("classifier/softmax");
  Node probs = Softmax(logits);
  g.set_current_name("");
  g.set_outputs({probs, logits});
  Tensor wv = randn({8, 300}, 50), bv = randn({300}, 51);
  ExportOptions o{.output_names = {"probs", "logits"}, .weights = {{"classifier.weight", wv}, {"classifier.bias", bv}}};
  o.metadata["task"] = "classification";
  auto m = check(g, {randn({2, 8}, 52)}, o);
  ASSERT_EQ(m.graph().input_size(), 1);
  EXPECT_EQ(m.graph().input(0).name(), "features");
  EXPECT_EQ(m.graph().output(0).name(), "probs");
  std::set<std::string> inits, node_names;
  for (const auto& t : m.graph().initializer()) inits.insert(t.name());
  for (const auto& n : m.graph().node()) node_names.insert(n.name());
  EXPECT_TRUE(inits.count("classifier.weight") && inits.count("classifier.bias"));
  EXPECT_TRUE(node_names.count("classifier/linear")) << "node names come from graft op names";
  EXPECT_TRUE(node_names.count("classifier/softmax"));
  EXPECT_EQ(m.opset_import(0).version(), 17);
  EXPECT_EQ(m.ir_version(), 8);
  EXPECT_EQ(m.metadata_props(0).key(), "task");

  // Weights as overridable inputs.
  o.weights_as_inputs = true;
  EXPECT_EQ(proto_of(export_graph(g, o)).graph().input_size(), 3);
  o.weights_as_inputs = false;

  // External data: forced, and by the size limit; the files reload in graft and in ONNX Runtime.
  TempDir dir;
  Tensor xv = randn({2, 8}, 53);
  std::vector<Tensor> want = cpu_backend()->compile(g)->run({xv, wv, bv});
  using Placement = ExternalDataOptions::Placement;
  for (auto [placement, limit] : {std::pair{Placement::External, size_t(2) << 30}, std::pair{Placement::Auto, size_t(4096)}}) {
    ExportOptions eo = o;
    eo.data.placement = placement;
    eo.data.inline_limit = limit;
    fs::path file = dir.path / (placement == Placement::External ? "ext" : "auto") / "head.onnx";
    save_graph(g, file, eo);
    ASSERT_TRUE(fs::exists(file.string() + ".data"));
    EXPECT_GE(fs::file_size(file.string() + ".data"), 8u * 300 * 4);
    EXPECT_LT(fs::file_size(file), 4096u);
    InferenceSession s(Model::load(file));
    EXPECT_TRUE(allclose(s.run({{"features", xv}}).at("probs"), want[0], 1e-5, 1e-7));
    if (ort_available()) {
      auto got = run_ort(file, {{"features", xv}});
      expect_close(want[1], got.at("logits").dtype, got.at("logits").shape, got.at("logits").data, 1e-5, 1e-5,
                   "external data in onnxruntime");
    }
    for (const auto& e : fs::directory_iterator(file.parent_path()))
      EXPECT_EQ(e.path().string().find(".tmp-"), std::string::npos) << "temp file left: " << e.path();
  }
  // Inline by default: one file.
  save_graph(g, dir.path / "inline" / "head.onnx", o);
  EXPECT_FALSE(fs::exists(dir.path / "inline" / "head.onnx.data"));
  EXPECT_THROW_WITH(save_graph(g, dir.path / "x.onnx",
                               {.weights = o.weights, .data = {.placement = Placement::Inline, .inline_limit = 1000}}),
                    "over the limit");
}

TEST(Export, ClearErrors) {
  Graph g("errors");
  Node x = g.parameter("x", DType::F32, {2});
  g.set_outputs({x + 1.0});
  EXPECT_THROW_WITH(export_graph(g, {.weights = {{"nope", Tensor::from_vector<float>({1.f, 2.f})}}}), "nope",
                    "not a parameter");
  EXPECT_THROW_WITH(export_graph(g, {.weights = {{"x", Tensor::from_vector<float>({1.f})}}}), "weight \"x\"");
  EXPECT_THROW_WITH(export_graph(g, {.opset = 12}), "opset 12");
  EXPECT_THROW_WITH(export_graph(g, {.output_names = {"x"}}), "output name \"x\"");
}

// A graph with many op kinds passes onnx.checker (full_check: shape inference too). Debian's python3-onnx is
// 1.12, which knows opsets up to 17.
TEST(Export, PassesOnnxChecker) {
  if (std::system("/usr/bin/python3 -c 'import onnx' > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "python3-onnx not installed";
  Graph body("body"), cond("cond");
  {
    Node i = body.parameter("i", DType::I64, {}), acc = body.parameter("acc", DType::F32, {4});
    body.set_outputs({i + body.scalar<int64_t>(1), Tanh(acc)});
    Node ci = cond.parameter("i", DType::I64, {});
    cond.parameter("acc", DType::F32, {4});
    cond.set_outputs({Less(ci, cond.scalar<int64_t>(3))});
  }
  Graph g("checked");
  Node x = g.parameter("x", DType::F32, {2, 3, 4});
  Node idx = g.parameter("idx", DType::I64, {3});
  Node s = g.parameter("s", DType::I64, {});
  Node img = g.parameter("img", DType::F32, {1, 3, 6, 6});
  Node w = g.parameter("w", DType::F32, {4, 3, 3, 3});
  Node h = LayerNorm(x, std::nullopt, std::nullopt);
  Node y = Softmax(MatMul(h, Transpose(x, {0, 2, 1})), -1);
  Node z = Gelu(Take(x, idx, 1)) + Atan2(x, ScalarLike(x, 2)) * Expm1(x);
  Node p = Pad(x, {0, 1, 2}, {0, 1, 1}, PadMode::Wrap);
  Node d = DynamicUpdateSlice(x, DynamicSlice(x, {s, s, s}, {1, 2, 2}), {s, s, s});
  Node c = MaxPool(Convolution(img, w, {.pad_low = {1, 1}, .pad_high = {1, 1}, .groups = 1}), {2, 2}, {2, 2});
  auto [tv, ti] = TopK(ReduceMean(x, {2}), 2, 1);
  auto loop = While(cond, body, {s, ReduceMax(x, {0, 1})});
  Node r = CumProd(ScatterAlongAxis(x, Convert(ArgMax(x, 2, true), DType::I64), ReduceMin(x, {2}, true), 2, ReduceOp::Sum), 1);
  g.set_outputs({y, z, p, d, c, tv, ti, loop[1], r, Iota(g, DType::I64, {2, 3}, 1), RmsNorm(x, std::nullopt),
                 ReduceAll(Greater(x, ScalarLike(x, 0)), {1})});
  TempDir dir;
  fs::path file = dir.path / "checked.onnx";
  save_graph(g, file, {.opset = 17});
  std::string cmd = "/usr/bin/python3 -c \"import onnx,sys; onnx.checker.check_model(onnx.load(sys.argv[1]), "
                    "full_check=True)\" '" + file.string() + "' 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  std::string text;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, pipe)) text.append(buf, n);
  EXPECT_EQ(pclose(pipe), 0) << text;
  // and it runs the same
  check(g, {randn({2, 3, 4}, 60), ints({2, 0, 1}, {3}), Tensor::scalar<int64_t>(1), randn({1, 3, 6, 6}, 61),
            randn({4, 3, 3, 3}, 62)},
        {.opset = 17}, {1e-4, 1e-5});
}

// One graph over many families at every opset the exporter takes.
TEST(Export, EveryOpset) {
  Graph g("every_opset");
  Node x = g.parameter("x", DType::F32, {2, 3, 4});
  Node i = g.parameter("i", DType::I32, {4});
  Node img = g.parameter("img", DType::F32, {1, 4, 5, 5});
  Node c4 = g.parameter("c4", DType::F32, {4});
  std::vector<Node> outs{LayerNorm(x, std::nullopt, std::nullopt), RmsNorm(x, std::nullopt), Gelu(x, true),
                         GroupNorm(img, c4, c4, 2), AvgPool(img, {2, 2}, {1, 1}, {}, {}, false),
                         ReduceMax(x, {0, 2}), ReduceProd(x, {1}), Pad(x, {0, 1, 3}, {0, 2, 0}, PadMode::Wrap),
                         BitwiseNot(i), ShiftRight(i, ScalarLike(i, 1)),
                         ScaledDotProductAttention(Reshape(x, {1, 2, 3, 4}), Reshape(x, {1, 2, 3, 4}),
                                                   Reshape(x, {1, 2, 3, 4}), std::nullopt, true)};
  g.set_outputs(outs);
  std::vector<Tensor> in{randn({2, 3, 4}, 80), Tensor::from_vector<int32_t>({5, -6, 0, 1 << 30}),
                         randn({1, 4, 5, 5}, 81), randn({4}, 82, 0.5f, 1.5f)};
  for (int opset = 13; opset <= 23; ++opset) check(g, in, {.opset = opset}, {1e-4, 1e-5});
}

// ---- end to end: MiniLM + mean pooling + a new head ------------------------------------------------------

class ExportMiniLM : public testing::SharedMiniLM {};

TEST_F(ExportMiniLM, WithPoolingAndLinearHeadMatchesOnnxRuntime) {
  Model model = Model::load(model_dir_ / "minilm_l6_opset14.onnx");
  const int64_t b = 2, t = 7;
  Graph g("minilm_classifier");
  Node ids = g.parameter("input_ids", DType::I64, {b, t});
  Node mask = g.parameter("attention_mask", DType::I64, {b, t});
  Node types = g.parameter("token_type_ids", DType::I64, {b, t});
  Node hidden = model.call(g, {{"input_ids", ids}, {"attention_mask", mask}, {"token_type_ids", types}},
                           {"last_hidden_state"}).at("last_hidden_state");
  g.set_current_name("pooling");
  Node m = Convert(ExpandDims(mask, 2), DType::F32);
  Node pooled = ReduceSum(hidden * m, {1}) / Max(ReduceSum(m, {1}), ScalarLike(m, 1e-9));
  g.set_current_name("head");
  Node w = g.parameter("head.weight", DType::F32, {384, 3});
  Node bias = g.parameter("head.bias", DType::F32, {3});
  Node logits = MatMul(pooled, w) + bias;
  g.set_current_name("");
  g.set_outputs({logits, pooled});
  std::vector<int64_t> idv, mv, tv(size_t(b * t), 0);
  for (int64_t i = 0; i < b * t; ++i) {
    idv.push_back(i % t == 0 ? 101 : i % t == t - 1 ? 102 : 1000 + (i * 131) % 5000);
    mv.push_back(i >= t && i % t >= 5 ? 0 : 1);  // second sequence padded
  }
  Tensor idt = ints(idv, {b, t}), mt = ints(mv, {b, t}), tt = ints(tv, {b, t});
  Tensor wv = randn({384, 3}, 70, -0.1f, 0.1f), bv = randn({3}, 71);
  std::vector<Tensor> want = cpu_backend()->compile(g)->run({idt, mt, tt, wv, bv});
  TempDir dir;
  fs::path file = dir.path / "minilm_classifier.onnx";
  save_graph(g, file, {.output_names = {"logits", "embedding"},
                       .weights = {{"head.weight", wv}, {"head.bias", bv}}});
  std::map<std::string, Tensor> feeds{{"input_ids", idt}, {"attention_mask", mt}, {"token_type_ids", tt}};
  InferenceSession s(Model::load(file));
  auto got = s.run(feeds);
  EXPECT_LT(max_abs_diff(got.at("logits"), want[0]), 1e-4);
  EXPECT_LT(max_abs_diff(got.at("embedding"), want[1]), 1e-4);
  if (!ort_available()) GTEST_SKIP() << "onnxruntime-node not installed";
  auto ort = run_ort(file, feeds);
  expect_close(want[0], ort.at("logits").dtype, ort.at("logits").shape, ort.at("logits").data, 0, 1e-4,
               "logits (onnxruntime)");
  expect_close(want[1], ort.at("embedding").dtype, ort.at("embedding").shape, ort.at("embedding").data, 0, 1e-4,
               "embedding (onnxruntime)");
}

}  // namespace
}  // namespace graft::onnx
