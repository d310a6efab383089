// Completeness: every op kind of graft's IR and every composite kind has what each layer needs —
// a shape rule (graph), a gradient rule or a declaration that it has none (autodiff), a CPU kernel (or,
// for a composite, a decomposition the CPU backend runs), and an ONNX export that graft imports back to
// the same values. Each kind gets a small sample graph here; a kind without a sample fails the test by
// name, so a new op cannot land without the rest (a new backend joins the table below).
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <map>
#include <random>

#include <unistd.h>

#include "autodiff/rules.h"
#include "backend/cpu/kernel.h"
#include "graft/backend/backend.h"
#include "graft/graph/ops.h"
#include "graft/onnx/export.h"
#include "graft/onnx/model.h"
#include "graft/onnx/session.h"

namespace graft {
namespace {

namespace fs = std::filesystem;

// A sample: builds parameters and an op of the kind into `g` and sets the graph's outputs.
using Build = std::function<void(Graph& g)>;

Node f32(Graph& g, const char* name, Shape s) { return g.parameter(name, DType::F32, std::move(s)); }

std::map<OpKind, Build> primitive_samples() {
  std::map<OpKind, Build> m;
#define GRAFT_UNARY_SAMPLE(name)                                                               \
  m[OpKind::name] = [](Graph& g) {                                                             \
    bool logic = OpKind::name == OpKind::Not, bits = OpKind::name == OpKind::BitwiseNot;       \
    DType t = logic ? DType::Bool : bits ? DType::I32 : DType::F32;                             \
    g.set_outputs({name(g.parameter("x", t, {2, 3}))});                                        \
  };
  GRAFT_UNARY_OPS(GRAFT_UNARY_SAMPLE)
#undef GRAFT_UNARY_SAMPLE
#define GRAFT_BINARY_SAMPLE(name)                                                                          \
  m[OpKind::name] = [](Graph& g) {                                                                         \
    OpKind k = OpKind::name;                                                                               \
    bool logic = k == OpKind::And || k == OpKind::Or || k == OpKind::Xor;                                  \
    bool bits = k >= OpKind::BitwiseAnd && k <= OpKind::ShiftRight;                                        \
    DType t = logic ? DType::Bool : bits ? DType::I32 : DType::F32;                                         \
    g.set_outputs({name(g.parameter("a", t, {2, 3}), g.parameter("b", t, {1, 3}))});                       \
  };
  GRAFT_BINARY_OPS(GRAFT_BINARY_SAMPLE)
#undef GRAFT_BINARY_SAMPLE
  m[OpKind::Parameter] = [](Graph& g) { g.set_outputs({f32(g, "x", {2}) * 2.0}); };
  m[OpKind::Constant] = [](Graph& g) { g.set_outputs({f32(g, "x", {2}) + g.constant(Tensor{1.f, 2.f})}); };
  m[OpKind::Iota] = [](Graph& g) { g.set_outputs({f32(g, "x", {2, 3}) + Iota(g, DType::F32, {2, 3}, 1)}); };
  m[OpKind::Select] = [](Graph& g) {
    Node a = f32(g, "a", {2, 3}), b = f32(g, "b", {2, 3});
    g.set_outputs({Select(Less(a, b), a, b)});
  };
  m[OpKind::Convert] = [](Graph& g) { g.set_outputs({Convert(f32(g, "x", {2, 3}), DType::F64)}); };
  m[OpKind::StopGradient] = [](Graph& g) { g.set_outputs({StopGradient(f32(g, "x", {2, 3})) * 2.0}); };
  m[OpKind::BroadcastInDim] = [](Graph& g) { g.set_outputs({BroadcastInDim(f32(g, "x", {3}), {2, 3}, {1})}); };
  m[OpKind::Reshape] = [](Graph& g) { g.set_outputs({Reshape(f32(g, "x", {2, 3}), {3, 2}) * 1.5}); };
  m[OpKind::Transpose] = [](Graph& g) { g.set_outputs({Transpose(f32(g, "x", {2, 3, 4}), {2, 0, 1})}); };
  m[OpKind::Slice] = [](Graph& g) { g.set_outputs({Slice(f32(g, "x", {4, 5}), {1, 0}, {4, 5}, {2, 2})}); };
  m[OpKind::DynamicSlice] = [](Graph& g) {
    Node i = g.parameter("i", DType::I64, {});
    g.set_outputs({DynamicSlice(f32(g, "x", {4, 5}), {i, g.scalar<int64_t>(1)}, {2, 3})});
  };
  m[OpKind::DynamicUpdateSlice] = [](Graph& g) {
    Node i = g.parameter("i", DType::I64, {});
    g.set_outputs({DynamicUpdateSlice(f32(g, "x", {4, 5}), f32(g, "u", {2, 2}), {i, g.scalar<int64_t>(1)})});
  };
  m[OpKind::Concatenate] = [](Graph& g) { g.set_outputs({Concatenate({f32(g, "a", {2, 3}), f32(g, "b", {1, 3})}, 0)}); };
  m[OpKind::Pad] = [](Graph& g) { g.set_outputs({Pad(f32(g, "x", {2, 3}), {1, 0}, {0, 2}, PadMode::Reflect)}); };
  m[OpKind::Reverse] = [](Graph& g) { g.set_outputs({Reverse(f32(g, "x", {2, 3}), {1})}); };
  m[OpKind::Gather] = [](Graph& g) {
    Node idx = g.constant(Tensor::from_vector(std::vector<int64_t>{2, 0, 1}, Shape{3}));
    g.set_outputs({Take(f32(g, "x", {3, 4}), idx, 0)});
  };
  m[OpKind::Scatter] = [](Graph& g) {
    Node idx = g.constant(Tensor::from_vector(std::vector<int64_t>{2, 0}, Shape{2, 1}));
    ScatterAttrs a;
    a.update_window_dims = {1};
    a.inserted_window_dims = {0};
    a.scatter_dims_to_operand_dims = {0};
    a.index_vector_dim = 1;
    a.combiner = ReduceOp::Sum;
    g.set_outputs({Scatter(f32(g, "x", {3, 4}), idx, f32(g, "u", {2, 4}), a)});
  };
  m[OpKind::Reduce] = [](Graph& g) { g.set_outputs({ReduceSum(f32(g, "x", {2, 3}), {1})}); };
  m[OpKind::ArgMinMax] = [](Graph& g) { g.set_outputs({ArgMax(f32(g, "x", {2, 3}), 1)}); };
  m[OpKind::DotGeneral] = [](Graph& g) { g.set_outputs({MatMul(f32(g, "a", {2, 3}), f32(g, "b", {3, 4}))}); };
  m[OpKind::Convolution] = [](Graph& g) {
    ConvolutionAttrs a;
    a.pad_low = a.pad_high = {1, 1};
    g.set_outputs({Convolution(f32(g, "x", {1, 2, 5, 5}), f32(g, "w", {3, 2, 3, 3}), a)});
  };
  m[OpKind::ReduceWindow] = [](Graph& g) { g.set_outputs({MaxPool(f32(g, "x", {1, 2, 4, 4}), {2, 2}, {2, 2})}); };
  m[OpKind::Sort] = [](Graph& g) { g.set_outputs(Sort({f32(g, "x", {2, 5})}, 1)); };
  m[OpKind::TopK] = [](Graph& g) {
    auto [v, i] = TopK(f32(g, "x", {2, 5}), 2, 1);
    g.set_outputs({v, i});
  };
  m[OpKind::Cumulative] = [](Graph& g) { g.set_outputs({CumSum(f32(g, "x", {2, 5}), 1)}); };
  m[OpKind::If] = [](Graph& g) {
    Graph then_g("then"), else_g("else");
    then_g.set_outputs({then_g.parameter("x", DType::F32, {2}) * 2.0});
    else_g.set_outputs({else_g.parameter("x", DType::F32, {2}) - 1.0});
    Node p = g.parameter("p", DType::Bool, {});
    g.set_outputs(If(p, then_g, else_g, {f32(g, "x", {2})}));
  };
  m[OpKind::While] = [](Graph& g) {
    Graph cond("cond"), body("body");
    Node ci = cond.parameter("i", DType::I64, {});
    cond.parameter("x", DType::F32, {2});
    cond.set_outputs({Less(ci, cond.scalar<int64_t>(3))});
    Node bi = body.parameter("i", DType::I64, {});
    Node bx = body.parameter("x", DType::F32, {2});
    body.set_outputs({bi + body.scalar<int64_t>(1), bx * 1.5});
    g.set_outputs({While(cond, body, {g.scalar<int64_t>(0), f32(g, "x", {2})})[1]});
  };
  m[OpKind::Composite] = [](Graph& g) { g.set_outputs({Softmax(f32(g, "x", {2, 3}), 1)}); };
  return m;
}

std::map<CompositeKind, Build> composite_samples() {
  std::map<CompositeKind, Build> m;
  m[CompositeKind::Softmax] = [](Graph& g) { g.set_outputs({Softmax(f32(g, "x", {2, 5}), 1)}); };
  m[CompositeKind::LogSoftmax] = [](Graph& g) { g.set_outputs({LogSoftmax(f32(g, "x", {2, 5}), 1)}); };
  m[CompositeKind::Gelu] = [](Graph& g) { g.set_outputs({Gelu(f32(g, "x", {2, 5}), true)}); };
  m[CompositeKind::Silu] = [](Graph& g) { g.set_outputs({Silu(f32(g, "x", {2, 5}))}); };
  m[CompositeKind::LayerNorm] = [](Graph& g) {
    g.set_outputs({LayerNorm(f32(g, "x", {2, 5}), f32(g, "s", {5}), f32(g, "b", {5}), -1, 1e-5)});
  };
  m[CompositeKind::RmsNorm] = [](Graph& g) { g.set_outputs({RmsNorm(f32(g, "x", {2, 5}), f32(g, "s", {5}))}); };
  m[CompositeKind::GroupNorm] = [](Graph& g) {
    g.set_outputs({GroupNorm(f32(g, "x", {2, 4, 3}), f32(g, "s", {4}), f32(g, "b", {4}), 2)});
  };
  m[CompositeKind::BatchNorm] = [](Graph& g) {
    Node x = f32(g, "x", {2, 3, 4});
    Node var = g.constant(Tensor{0.5f, 1.f, 2.f});
    g.set_outputs({BatchNormInference(x, f32(g, "s", {3}), f32(g, "b", {3}), f32(g, "m", {3}), var)});
  };
  m[CompositeKind::Attention] = [](Graph& g) {
    g.set_outputs({ScaledDotProductAttention(f32(g, "q", {1, 2, 3, 4}), f32(g, "k", {1, 2, 5, 4}),
                                             f32(g, "v", {1, 2, 5, 4}), std::nullopt, true)});
  };
  m[CompositeKind::RnnScan] = [](Graph& g) {
    RnnScanParams p;
    p.cell = RnnCell::Gru;
    const int64_t seq = 3, batch = 2, hidden = 4;
    auto r = RnnScan(p, {f32(g, "xp", {seq, batch, 3 * hidden}), f32(g, "rt", {hidden, 3 * hidden}),
                         f32(g, "h0", {batch, hidden}), f32(g, "c0", {batch, hidden})});
    g.set_outputs({r[0], r[1]});
  };
  m[CompositeKind::Custom] = [](Graph& g) {
    g.set_outputs({Composite("twice_plus_one", {f32(g, "x", {2, 3})}, {}, {},
                             [](std::span<const Node> in) { return std::vector<Node>{in[0] * 2.0 + 1.0}; })});
  };
  return m;
}

// Random inputs for the graph's parameters (indices and predicates within range).
std::vector<Tensor> inputs_for(const Graph& g) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(0.1f, 2.0f);
  std::vector<Tensor> in;
  for (int p : g.parameters()) {
    const ValueType& t = g.op(p).outputs[0];
    Tensor v = Tensor::zeros(t.dtype, t.shape);
    for (int64_t i = 0; i < v.size(); ++i) {
      switch (t.dtype) {
        case DType::Bool: v.data<bool>()[i] = rng() % 2; break;
        case DType::I64: v.data<int64_t>()[i] = 1; break;  // a valid start index for the samples
        case DType::I32: v.data<int32_t>()[i] = int32_t(rng() % 5 + 1); break;
        case DType::F32: v.data<float>()[i] = u(rng); break;
        default: ADD_FAILURE() << "no random values for " << dtype_name(t.dtype);
      }
    }
    in.push_back(v);
  }
  return in;
}

const Op* find_op(const Graph& g, OpKind k, std::optional<CompositeKind> ck = std::nullopt) {
  for (const Op& op : g.ops())
    if (op.kind == k && (!ck || composite_kind(op) == ck)) return &op;
  return nullptr;
}

// What every layer must have for the sampled op; `what` names it in failures.
void check_layers(const Graph& g, const Op& op, const std::string& what) {
  // graph: a shape rule that records the op again with the same result types.
  EXPECT_TRUE(has_shape_rule(op.kind)) << what << ": no shape rule";
  {
    Graph copy("rebuilt");
    std::vector<std::vector<Node>> map;
    for (const Op& o : g.ops()) {
      std::vector<Node> in;
      for (const ValueRef& r : o.inputs) in.push_back(map[size_t(r.op)][size_t(r.output)]);
      map.push_back(Rebuild(copy, o, in));
    }
    for (size_t i = 0; i < g.outputs().size(); ++i) {
      const ValueRef& r = g.outputs()[i];
      EXPECT_EQ(map[size_t(r.op)][size_t(r.output)].type(), g.op(r.op).outputs[size_t(r.output)]) << what;
    }
  }
  // autodiff: a rule (rules that return no gradients declare the op non-differentiable).
  EXPECT_NE(autodiff::rule_table().find(op), nullptr) << what << ": no gradient rule";
  // CPU backend: a kernel for primitives that compute (sources and aliases are buffers); a composite
  // either has a fused kernel or is expanded — both must compile and run.
  const bool buffer = op.kind == OpKind::Parameter || op.kind == OpKind::Constant || op.kind == OpKind::Reshape ||
                      op.kind == OpKind::StopGradient || op.kind == OpKind::Composite;
  if (!buffer) EXPECT_NE(cpu::KernelRegistry::get().find(op), nullptr) << what << ": no CPU kernel";
  std::vector<Tensor> in = inputs_for(g);
  std::vector<Tensor> want;
  ASSERT_NO_THROW(want = cpu_backend()->compile(g)->run(in)) << what << ": does not run on the CPU backend";
  // ONNX export: the exported model, imported by graft, computes the same values.
  fs::path dir = fs::temp_directory_path() / ("graft_completeness_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::path file = dir / "model.onnx";
  ASSERT_NO_THROW(onnx::save_graph(g, file, {.opset = 23})) << what << ": no ONNX export";
  onnx::InferenceSession session(onnx::Model::load(file));
  std::map<std::string, Tensor> feeds;
  for (size_t i = 0; i < g.parameters().size(); ++i)
    feeds[std::get<ParameterAttrs>(g.op(g.parameters()[i]).attrs).name] = in[i];
  std::map<std::string, Tensor> got = session.run(feeds);
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t j = 0; j < want.size(); ++j) {
    const Tensor& w = want[j];
    const Tensor& o = got.at("output_" + std::to_string(j));
    ASSERT_EQ(o.shape(), w.shape()) << what << " output " << j;
    for (int64_t i = 0; i < w.size(); ++i) {
      double a = w.value_as_double(i), b = o.value_as_double(i);
      if (std::isnan(a) && std::isnan(b)) continue;
      ASSERT_NEAR(b, a, 1e-5 + 1e-5 * std::abs(a)) << what << " output " << j << " element " << i << " after export";
    }
  }
  fs::remove_all(dir);
}

TEST(Completeness, EveryOpKindHasAShapeRuleGradientKernelAndExport) {
  auto samples = primitive_samples();
  for (int k = 0; k < int(OpKind::kCount); ++k) {
    OpKind kind = OpKind(k);
    std::string what = "op kind " + std::string(op_name(kind));
    auto it = samples.find(kind);
    if (it == samples.end()) {
      ADD_FAILURE() << what << " has no sample in tests/completeness: add one, with its rules, kernel and export";
      continue;
    }
    Graph g(what);
    ASSERT_NO_THROW(it->second(g)) << what << ": its builder fails on the sample";
    const Op* op = find_op(g, kind);
    ASSERT_NE(op, nullptr) << what << ": the sample does not record such an op";
    check_layers(g, *op, what);
  }
}

TEST(Completeness, EveryCompositeKindHasADecompositionGradientAndExport) {
  auto samples = composite_samples();
  for (int k = 0; k < int(CompositeKind::kCount); ++k) {
    CompositeKind kind = CompositeKind(k);
    std::string what = "composite " + std::string(composite_name(kind));
    auto it = samples.find(kind);
    if (it == samples.end()) {
      ADD_FAILURE() << what << " has no sample in tests/completeness: add one";
      continue;
    }
    Graph g(what);
    ASSERT_NO_THROW(it->second(g)) << what << ": its builder fails on the sample";
    const Op* op = find_op(g, OpKind::Composite, kind);
    ASSERT_NE(op, nullptr) << what << ": the sample does not record such a composite";
    // The decomposition has the composite's types.
    Graph expanded = optimize(g, PassOptions{});
    for (size_t i = 0; i < g.outputs().size(); ++i)
      EXPECT_EQ(expanded.op(expanded.outputs()[i].op).outputs[size_t(expanded.outputs()[i].output)],
                g.op(g.outputs()[i].op).outputs[size_t(g.outputs()[i].output)])
          << what;
    check_layers(g, *op, what);
  }
}

}  // namespace
}  // namespace graft
