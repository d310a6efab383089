// Graph structure and the builder's shape inference / error messages (no backend involved).
#include <gtest/gtest.h>

#include <string>

#include "graft/graph/ops.h"

using namespace graft;

namespace {

template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

#define EXPECT_HAS(msg, sub) EXPECT_NE((msg).find(sub), std::string::npos) << "message: " << (msg) << "\nwanted: " << (sub)

int count_kind(const Graph& g, OpKind k) {
  int n = 0;
  for (const Op& op : g.ops()) n += op.kind == k;
  return n;
}

}  // namespace

// ---- Graph basics ----------------------------------------------------------------------------------

TEST(Graph, DumpListsOpsTypesNamesAndOutputs) {
  Graph g("demo");
  Node x = g.parameter("x", DType::F32, {2, 3});
  Node y = Exp(x);
  g.set_current_name("enc/add");
  Node z = Add(y, x);
  g.set_current_name("");
  auto [vals, idx] = TopK(z, 2, -1);
  g.set_outputs({z, idx});
  std::string want =
      "graph demo {\n"
      "  %0 = Parameter() -> float32[2, 3]  // x\n"
      "  %1 = Exp(%0) -> float32[2, 3]\n"
      "  %2 = Add(%1, %0) -> float32[2, 3]  // enc/add\n"
      "  %3 = TopK(%2) -> float32[2, 2], int64[2, 2]\n"
      "  return %2 %3:1\n"
      "}\n";
  EXPECT_EQ(g.dump(), want);
  Node after = Neg(idx);  // a use of output 1 prints as %3:1
  EXPECT_NE(g.dump().find("%4 = Neg(%3:1) -> int64[2, 2]"), std::string::npos) << g.dump();
  (void)vals;
  (void)after;
}

TEST(Graph, ParametersKeepDeclarationOrder) {
  Graph g;
  Node a = g.parameter("a", DType::F32, {2});
  Node e = Exp(a);
  Node b = g.parameter("b", DType::I32, {3, 1});
  Node c = g.parameter("c", DType::Bool, {});
  ASSERT_EQ(g.parameters().size(), 3u);
  EXPECT_EQ(g.parameters()[0], a.op_index());
  EXPECT_EQ(g.parameters()[1], b.op_index());
  EXPECT_EQ(g.parameters()[2], c.op_index());
  EXPECT_EQ(std::get<ParameterAttrs>(b.op().attrs).index, 1);
  EXPECT_EQ(std::get<ParameterAttrs>(c.op().attrs).index, 2);
  EXPECT_EQ(std::get<ParameterAttrs>(c.op().attrs).name, "c");
  EXPECT_EQ(b.type(), (ValueType{DType::I32, Shape{3, 1}}));
  EXPECT_EQ(b.type().str(), "int32[3, 1]");
  EXPECT_EQ(c.type().str(), "bool[]");
  EXPECT_EQ(e.op().inputs.size(), 1u);
  EXPECT_EQ(e.op().inputs[0].op, a.op_index());
  // Copies are deep for ops: recording into the copy leaves the original alone.
  Graph copy = g;
  Node p = copy.parameter("d", DType::F32, {1});
  EXPECT_EQ(copy.parameters().size(), 4u);
  EXPECT_EQ(g.parameters().size(), 3u);
  EXPECT_EQ(p.graph(), &copy);
}

TEST(Graph, DescribeNamesOpKindAndIndexOrName) {
  Graph g;
  Node x = g.parameter("input_ids", DType::F32, {2});
  Node y = Exp(x);
  Node z = y + x;
  EXPECT_EQ(x.describe(), "Parameter \"input_ids\"");
  EXPECT_EQ(y.describe(), "Exp #1");
  EXPECT_EQ(z.describe(), "Add #2");
  g.set_current_name("layer0/mul");
  Node w = z * z;
  EXPECT_EQ(w.describe(), "Mul \"layer0/mul\"");
  EXPECT_EQ(Node().describe(), "<empty node>");
  EXPECT_FALSE(Node().valid());
  EXPECT_THROW(Node().type(), Error);
  // The name shows up in builder errors.
  Node i = g.parameter("i", DType::I32, {2});
  std::string m = error_of([&] { Add(w, i); });
  EXPECT_HAS(m, "layer0/mul");
}

TEST(Graph, OperandsFromAnotherGraphAreRejected) {
  Graph g("first"), h("second");
  Node a = g.parameter("a", DType::F32, {2});
  Node b = h.parameter("b", DType::F32, {2});
  std::string m = error_of([&] { Add(a, b); });
  EXPECT_HAS(m, "different graphs");
  EXPECT_THROW(g.set_outputs({b}), Error);
  EXPECT_THROW(Concatenate({a, b}, 0), Error);
}

TEST(Graph, ConstantsAndSources) {
  Graph g;
  Node c = g.constant(Tensor{{1.f, 2.f}, {3.f, 4.f}});
  EXPECT_EQ(c.type().str(), "float32[2, 2]");
  EXPECT_EQ(g.scalar(int64_t(3)).type().str(), "int64[]");
  EXPECT_EQ(g.scalar_like(2.5, DType::F16).type().str(), "float16[]");
  EXPECT_EQ(ScalarLike(c, 1).type().str(), "float32[]");
  EXPECT_EQ(Iota(g, DType::I32, Shape{3, 4}, 1).type().str(), "int32[3, 4]");
  EXPECT_EQ(Full(g, DType::U8, Shape{2, 5}, 7).type().str(), "uint8[2, 5]");
  EXPECT_EQ(Zeros(g, DType::Bool, Shape{0}).type().str(), "bool[0]");
  EXPECT_THROW(g.constant(Tensor()), Error);
}

// ---- shape inference and errors ----------------------------------------------------------------------

TEST(ShapeInference, DotGeneralAndMatMul) {
  Graph g;
  Node a = g.parameter("a", DType::F32, {2, 3, 4});
  Node b = g.parameter("b", DType::F32, {2, 4, 5});
  EXPECT_EQ(DotGeneral(a, b, {{0}, {0}, {2}, {1}}).shape(), (Shape{2, 3, 5}));
  EXPECT_EQ(DotGeneral(a, b, {{}, {}, {2}, {1}}).shape(), (Shape{2, 3, 2, 5}));
  EXPECT_EQ(DotGeneral(a, b, {{0}, {0}, {}, {}}).shape(), (Shape{2, 3, 4, 4, 5}));
  EXPECT_EQ(MatMul(a, b).shape(), (Shape{2, 3, 5}));
  Node v = g.parameter("v", DType::F32, {4});
  EXPECT_EQ(MatMul(a, v).shape(), (Shape{2, 3}));
  EXPECT_EQ(MatMul(v, b).shape(), (Shape{2, 5}));
  EXPECT_EQ(MatMul(v, v).shape(), Shape{});
  Node c = g.parameter("c", DType::F32, {7, 1, 4, 6});
  Node d = g.parameter("d", DType::F32, {3, 6, 2});
  EXPECT_EQ(MatMul(c, d).shape(), (Shape{7, 3, 4, 2}));

  std::string m = error_of([&] { MatMul(a, a); });
  EXPECT_HAS(m, "MatMul of Parameter \"a\" [2, 3, 4] and Parameter \"a\" [2, 3, 4]: inner dims 4 vs 3");
  m = error_of([&] { DotGeneral(a, b, {{}, {}, {1}, {1}}); });
  EXPECT_HAS(m, "DotGeneral of Parameter \"a\" [2, 3, 4] and Parameter \"b\" [2, 4, 5]");
  EXPECT_HAS(m, "inner dims 3 vs 4");
  m = error_of([&] { DotGeneral(a, b, {{0}, {}, {2}, {1}}); });
  EXPECT_HAS(m, "differ in length");
  m = error_of([&] { DotGeneral(a, b, {{}, {}, {2, 2}, {1, 0}}); });
  EXPECT_HAS(m, "given twice");
  Node i = g.parameter("i", DType::I64, {4, 5});
  m = error_of([&] { DotGeneral(a, i, {{}, {}, {2}, {0}}); });
  EXPECT_HAS(m, "float32 and int64 differ");
  Node i8 = g.parameter("i8", DType::I8, {3, 4});
  Node u8 = g.parameter("u8", DType::U8, {4, 2});
  EXPECT_EQ(DotGeneral(i8, u8, {{}, {}, {1}, {0}}, DType::I32).type().str(), "int32[3, 2]");
  EXPECT_THROW(DotGeneral(i8, u8, {{}, {}, {1}, {0}}), Error);
  m = error_of([&] { DotGeneral(a, b, {{}, {}, {2}, {1}}, DType::I32); });
  EXPECT_HAS(m, "cannot produce int32 from float32");
}

TEST(ShapeInference, ConcatenateReshapeBroadcastTranspose) {
  Graph g;
  Node a = g.parameter("a", DType::F32, {2, 3});
  Node b = g.parameter("b", DType::F32, {2, 4});
  EXPECT_EQ(Concatenate({a, b, a}, 1).shape(), (Shape{2, 10}));
  EXPECT_EQ(Concatenate({a, b}, -1).shape(), (Shape{2, 7}));
  std::string m = error_of([&] { Concatenate({a, b}, 0); });
  EXPECT_HAS(m, "Concatenate on axis 0: shapes [2, 3] and [2, 4] differ on axis 1");
  m = error_of([&] { Reshape(a, {4, 2}); });
  EXPECT_HAS(m, "Reshape of Parameter \"a\": [2, 3] (6 elements) to [4, 2] (8 elements)");
  m = error_of([&] { BroadcastInDim(a, Shape{2, 5}, {0, 1}); });
  EXPECT_HAS(m, "BroadcastInDim of Parameter \"a\": operand [2, 3] axis 1 (3) cannot broadcast to [2, 5] axis 1");
  m = error_of([&] { BroadcastInDim(a, Shape{3, 3, 2}, {2, 1}); });
  EXPECT_HAS(m, "must increase");
  m = error_of([&] { Transpose(a, {1, 1}); });
  EXPECT_HAS(m, "Transpose of Parameter \"a\": axis 1 given twice");
  m = error_of([&] { Transpose(a, {0, 2}); });
  EXPECT_HAS(m, "axis 2 out of range for rank 2");
  m = error_of([&] { Transpose(a, {0, 1, 2}); });
  EXPECT_HAS(m, "permutation [0, 1, 2] for rank 2");
  EXPECT_EQ(Transpose(a, {1, 0}).shape(), (Shape{3, 2}));
  EXPECT_EQ(BroadcastTo(a, Shape{5, 2, 3}).shape(), (Shape{5, 2, 3}));
}

TEST(ShapeInference, ElementwiseReduceAndOthers) {
  Graph g;
  Node a = g.parameter("a", DType::F32, {4, 1, 3});
  Node b = g.parameter("b", DType::F32, {5, 1});
  EXPECT_EQ((a + b).shape(), (Shape{4, 5, 3}));
  EXPECT_EQ(Less(a, b).dtype(), DType::Bool);
  EXPECT_EQ(ReduceSum(a, {0, 2}).shape(), (Shape{1}));
  EXPECT_EQ(ReduceSum(a, {0, 2}, true).shape(), (Shape{1, 1, 1}));
  EXPECT_EQ(ReduceMean(a).shape(), Shape{});
  EXPECT_EQ(ArgMax(a, 2, true).type().str(), "int64[4, 1, 1]");
  EXPECT_EQ(CumSum(a, -1).shape(), a.shape());
  auto [v, i] = TopK(a, 2, -1);
  EXPECT_EQ(v.type().str(), "float32[4, 1, 2]");
  EXPECT_EQ(i.type().str(), "int64[4, 1, 2]");
  EXPECT_THROW(TopK(a, 4, -1), Error);
  EXPECT_EQ(Pad(a, {1, 0, -1}, {0, 2, 0}).shape(), (Shape{5, 3, 2}));
  EXPECT_EQ(Slice(a, {1, 0, 0}, {4, 1, 3}, {2, 1, 2}).shape(), (Shape{2, 1, 2}));
  EXPECT_EQ(SliceAxis(a, 0, -1, std::nullopt, -1).shape(), (Shape{4, 1, 3}));
  EXPECT_EQ(SliceAxis(a, 2, 5, 0, 1).shape(), (Shape{4, 1, 0}));
  EXPECT_EQ(Convert(a, DType::BF16).type().str(), "bfloat16[4, 1, 3]");
  EXPECT_EQ(Select(Less(a, b), a, b).shape(), (Shape{4, 5, 3}));
  std::string m = error_of([&] { Select(a, a, b); });
  EXPECT_NE(m, "<no error>");
  Node x = g.parameter("x", DType::F32, {1, 2, 8, 8});
  Node w = g.parameter("w", DType::F32, {4, 2, 3, 3});
  ConvolutionAttrs ca;
  ca.pad_low = {1, 1};
  ca.pad_high = {1, 1};
  ca.strides = {2, 2};
  EXPECT_EQ(Convolution(x, w, ca).shape(), (Shape{1, 4, 4, 4}));
  EXPECT_EQ(MaxPool(x, {2, 2}, {2, 2}).shape(), (Shape{1, 2, 4, 4}));
}

TEST(ShapeInference, GatherAndScatterDimensionErrors) {
  Graph g;
  Node x = g.parameter("x", DType::F32, {5, 6});
  Node idx = g.parameter("idx", DType::I32, {3, 1});
  GatherAttrs ga;
  ga.offset_dims = {1};
  ga.collapsed_slice_dims = {0};
  ga.start_index_map = {0};
  ga.slice_sizes = {1, 6};
  ga.index_vector_dim = 1;
  EXPECT_EQ(Gather(x, idx, ga).shape(), (Shape{3, 6}));
  EXPECT_EQ(Take(x, g.parameter("t", DType::I64, {2, 4}), 1).shape(), (Shape{5, 2, 4}));
  EXPECT_EQ(TakeAlongAxis(x, g.parameter("ta", DType::I64, {5, 2}), 1).shape(), (Shape{5, 2}));

  auto bad = ga;
  bad.start_index_map = {0, 1};
  EXPECT_HAS(error_of([&] { Gather(x, idx, bad); }), "does not match index vectors of length 1");
  bad = ga;
  bad.slice_sizes = {1};
  EXPECT_HAS(error_of([&] { Gather(x, idx, bad); }), "must have the operand's rank 2");
  bad = ga;
  bad.slice_sizes = {2, 6};
  EXPECT_HAS(error_of([&] { Gather(x, idx, bad); }), "collapsed dim 0 must have slice size 1");
  bad = ga;
  bad.slice_sizes = {1, 7};
  EXPECT_HAS(error_of([&] { Gather(x, idx, bad); }), "slice size 7 exceeds axis 1");
  bad = ga;
  bad.offset_dims = {};
  EXPECT_HAS(error_of([&] { Gather(x, idx, bad); }), "should list 1 output axes");
  bad = ga;
  bad.index_vector_dim = 3;
  EXPECT_HAS(error_of([&] { Gather(x, idx, bad); }), "index_vector_dim 3 out of range");
  Node fidx = g.parameter("fidx", DType::F32, {3, 1});
  std::string m = error_of([&] { Gather(x, fidx, ga); });
  EXPECT_HAS(m, "Gather of Parameter \"x\"");
  EXPECT_HAS(m, "expected integers");

  ScatterAttrs sa;
  sa.update_window_dims = {1};
  sa.inserted_window_dims = {0};
  sa.scatter_dims_to_operand_dims = {0};
  sa.index_vector_dim = 1;
  Node upd = g.parameter("upd", DType::F32, {3, 6});
  EXPECT_EQ(Scatter(x, idx, upd, sa).type(), x.type());
  Node iupd = g.parameter("iupd", DType::I32, {3, 6});
  m = error_of([&] { Scatter(x, idx, iupd, sa); });
  EXPECT_HAS(m, "Scatter into Parameter \"x\"");
  EXPECT_HAS(m, "int32[3, 6]");
  auto sbad = sa;
  sbad.inserted_window_dims = {};
  EXPECT_HAS(error_of([&] { Scatter(x, idx, upd, sbad); }), "must cover the operand's rank 2");
  sbad = sa;
  sbad.scatter_dims_to_operand_dims = {0, 1};
  EXPECT_HAS(error_of([&] { Scatter(x, idx, upd, sbad); }), "does not match index vectors of length 1");
  Node upd3 = g.parameter("upd3", DType::F32, {3, 2, 6});
  EXPECT_HAS(error_of([&] { Scatter(x, idx, upd3, sa); }), "do not match indices");
  EXPECT_HAS(error_of([&] { ScatterAlongAxis(x, g.parameter("si", DType::I64, {5, 2}), upd, 1); }),
             "must match and have the operand's rank");
}

// ---- control flow (building only) ------------------------------------------------------------------

namespace {
Graph branch(const std::string& name, double add, DType out = DType::F32) {
  Graph b(name);
  Node x = b.parameter("x", DType::F32, {3});
  Node n = b.parameter("n", DType::I32, {});
  b.set_outputs({Convert(x + add, out), n});
  return b;
}
}  // namespace

TEST(GraphControlFlow, IfSignatureChecks) {
  Graph g;
  Node p = g.parameter("p", DType::Bool, {});
  Node x = g.parameter("x", DType::F32, {3});
  Node n = g.parameter("n", DType::I32, {});
  Graph t = branch("then", 1), e = branch("else", 2);
  auto outs = If(p, t, e, {x, n});
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_EQ(outs[0].type().str(), "float32[3]");
  EXPECT_EQ(outs[1].type().str(), "int32[]");
  const auto& attrs = std::get<IfAttrs>(outs[0].op().attrs);
  EXPECT_EQ(attrs.then_branch->name(), "then");
  EXPECT_EQ(outs[0].op().inputs.size(), 3u);  // pred + operands

  std::string m = error_of([&] { If(x, t, e, {x, n}); });
  EXPECT_HAS(m, "expected a bool scalar");
  m = error_of([&] { If(p, t, e, {x}); });
  EXPECT_HAS(m, "If (then): sub-graph 'then' takes 2 parameters, given 1 operands");
  Node x4 = g.parameter("x4", DType::F32, {4});
  m = error_of([&] { If(p, t, e, {x4, n}); });
  EXPECT_HAS(m, "parameter 0 of sub-graph 'then' is float32[3], operand is float32[4]");
  Graph e16 = branch("else16", 2, DType::F16);
  m = error_of([&] { If(p, t, e16, {x, n}); });
  EXPECT_HAS(m, "If: output 0 is float32[3] in then, float16[3] in else");
  Graph one("one");
  Node ox = one.parameter("x", DType::F32, {3});
  one.parameter("n", DType::I32, {});
  one.set_outputs({ox});
  m = error_of([&] { If(p, t, one, {x, n}); });
  EXPECT_HAS(m, "branches return 2 and 1 values");
}

TEST(GraphControlFlow, WhileSignatureChecks) {
  Graph g;
  Node i = g.parameter("i", DType::I32, {});
  Node acc = g.parameter("acc", DType::F32, {2});
  Graph cond("cond");
  {
    Node ci = cond.parameter("i", DType::I32, {});
    cond.parameter("acc", DType::F32, {2});
    cond.set_outputs({Less(ci, cond.scalar(int32_t(10)))});
  }
  Graph body("body");
  {
    Node bi = body.parameter("i", DType::I32, {});
    Node ba = body.parameter("acc", DType::F32, {2});
    body.set_outputs({bi + body.scalar(int32_t(1)), ba * 2.0});
  }
  auto outs = While(cond, body, {i, acc});
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_EQ(outs[1].type().str(), "float32[2]");
  EXPECT_EQ(outs[0].op().kind, OpKind::While);

  EXPECT_HAS(error_of([&] { While(cond, body, {}); }), "no loop state");
  EXPECT_HAS(error_of([&] { While(cond, body, {i}); }), "While (cond): sub-graph 'cond' takes 2 parameters");
  Node acc3 = g.parameter("acc3", DType::F32, {3});
  EXPECT_HAS(error_of([&] { While(cond, body, {i, acc3}); }), "parameter 1 of sub-graph 'cond' is float32[2]");
  Graph bad_cond("bad_cond");
  {
    Node ci = bad_cond.parameter("i", DType::I32, {});
    bad_cond.parameter("acc", DType::F32, {2});
    bad_cond.set_outputs({ci});
  }
  EXPECT_HAS(error_of([&] { While(bad_cond, body, {i, acc}); }), "must return one bool scalar");
  Graph bad_body("bad_body");
  {
    Node bi = bad_body.parameter("i", DType::I32, {});
    Node ba = bad_body.parameter("acc", DType::F32, {2});
    bad_body.set_outputs({bi, Convert(ba, DType::F64)});
  }
  EXPECT_HAS(error_of([&] { While(cond, bad_body, {i, acc}); }), "must return the loop state's types");
}

// ---- composites ------------------------------------------------------------------------------------

TEST(GraphComposites, OutputTypesAndDecomposition) {
  Graph g;
  Node x = g.parameter("x", DType::F32, {2, 5, 8});
  Node s = Softmax(x, 1);
  EXPECT_EQ(s.op().kind, OpKind::Composite);
  EXPECT_EQ(s.type(), x.type());
  EXPECT_EQ(std::get<CompositeAttrs>(s.op().attrs).name(), "softmax");
  EXPECT_EQ(composite_kind(s.op()), CompositeKind::Softmax);
  EXPECT_EQ(composite_params<SoftmaxParams>(s.op()).axis, 1);
  EXPECT_EQ(composite_params<SoftmaxParams>(Softmax(x, -1).op()).axis, 2) << "negative axes are normalized";
  Node sc = g.parameter("scale", DType::F32, {8});
  Node ln = LayerNorm(x, sc, std::nullopt, -1, 1e-3);
  const auto& la = composite_params<LayerNormParams>(ln.op());
  EXPECT_EQ(std::get<CompositeAttrs>(ln.op().attrs).name(), "layer_norm");
  EXPECT_EQ(la.axis, 2);
  EXPECT_TRUE(la.has_scale);
  EXPECT_FALSE(la.has_bias);
  EXPECT_EQ(la.epsilon, 1e-3);
  // Reading a composite's parameters as another kind's names both.
  EXPECT_HAS(error_of([&] { composite_params<RmsNormParams>(ln.op()); }), "Composite(layer_norm)");
  EXPECT_HAS(error_of([&] { composite_params<RmsNormParams>(ln.op()); }), "is not a rms_norm composite");
  EXPECT_HAS(error_of([&] { composite_params<RmsNormParams>(x.op()); }), "is not a rms_norm composite");
  EXPECT_EQ(ln.type(), x.type());
  EXPECT_EQ(Gelu(x, true).type(), x.type());

  Node h = g.parameter("h", DType::F16, {3, 4});
  EXPECT_EQ(LogSoftmax(h).type().str(), "float16[3, 4]");
  Node q = g.parameter("q", DType::F32, {2, 8, 6, 16});
  Node k = g.parameter("k", DType::F32, {2, 2, 9, 16});
  Node v = g.parameter("v", DType::F32, {2, 2, 9, 32});
  Node a = ScaledDotProductAttention(q, k, v);
  EXPECT_EQ(a.type().str(), "float32[2, 8, 6, 32]");
  Node bad_k = g.parameter("bad_k", DType::F32, {2, 3, 9, 16});
  EXPECT_HAS(error_of([&] { ScaledDotProductAttention(q, bad_k, bad_k); }), "must be a multiple of key/value heads 3");
  Node i = g.parameter("i", DType::I32, {3});
  EXPECT_HAS(error_of([&] { Softmax(i); }), "expected floating point");

  // A user composite: its output type comes from building the decomposition.
  Node c = Composite("sum_rows", {x}, {1}, {}, [](std::span<const Node> in) {
    return std::vector<Node>{Convert(ReduceSum(in[0], {1}), DType::F64)};
  });
  EXPECT_EQ(c.type().str(), "float64[2, 8]");
  EXPECT_EQ(std::get<CompositeAttrs>(c.op().attrs).name(), "sum_rows");
  EXPECT_EQ(composite_params<CustomCompositeParams>(c.op()).ints, (std::vector<int64_t>{1}));
  int before = g.num_ops();
  std::vector<Node> expanded = Decompose(c);
  ASSERT_EQ(expanded.size(), 1u);
  EXPECT_EQ(expanded[0].type(), c.type());
  EXPECT_GT(g.num_ops(), before);
  EXPECT_EQ(expanded[0].op().kind, OpKind::Convert);
  EXPECT_HAS(error_of([&] { Decompose(x); }), "is not a composite");
  EXPECT_THROW(Composite("empty", {}, {}, {}, [](std::span<const Node>) { return std::vector<Node>{}; }), Error);
  (void)count_kind;
}
