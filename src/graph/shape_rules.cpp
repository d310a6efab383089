// The shape rule of every op kind: how to record an op again through its builder, which infers its
// result types and checks its operands. The builders (one file per family) hold the rules themselves;
// this table maps each op kind and its typed attributes back to its builder.
#include "graft/graph/op_table.h"
#include "graft/graph/ops.h"
#include "graph/composite_defs.h"

namespace graft {

namespace {

using Rule = std::vector<Node> (*)(Graph& g, const Op& op, std::span<const Node> in);

template <typename A>
const A& attrs(const Op& op) {
  return std::get<A>(op.attrs);
}

std::vector<Node> one(Node n) { return {n}; }

const OpTable<Rule>& rules() {
  static const OpTable<Rule> table = [] {
    OpTable<Rule> t;
#define GRAFT_UNARY_RULE(name) t.add(OpKind::name, [](Graph&, const Op&, std::span<const Node> in) { return one(name(in[0])); });
    GRAFT_UNARY_OPS(GRAFT_UNARY_RULE)
#undef GRAFT_UNARY_RULE
#define GRAFT_BINARY_RULE(name) \
  t.add(OpKind::name, [](Graph&, const Op&, std::span<const Node> in) { return one(name(in[0], in[1])); });
    GRAFT_BINARY_OPS(GRAFT_BINARY_RULE)
#undef GRAFT_BINARY_RULE
    t.add(OpKind::Parameter, [](Graph& g, const Op& op, std::span<const Node>) {
      return one(g.parameter(attrs<ParameterAttrs>(op).name, op.outputs[0].dtype, op.outputs[0].shape));
    });
    t.add(OpKind::Constant, [](Graph& g, const Op& op, std::span<const Node>) {
      return one(g.constant(attrs<ConstantAttrs>(op).value));
    });
    t.add(OpKind::Iota, [](Graph& g, const Op& op, std::span<const Node>) {
      return one(Iota(g, op.outputs[0].dtype, op.outputs[0].shape, attrs<IotaAttrs>(op).axis));
    });
    t.add(OpKind::Select, [](Graph&, const Op&, std::span<const Node> in) { return one(Select(in[0], in[1], in[2])); });
    t.add(OpKind::Convert, [](Graph&, const Op& op, std::span<const Node> in) {
      return one(Convert(in[0], op.outputs[0].dtype));
    });
    t.add(OpKind::StopGradient, [](Graph&, const Op&, std::span<const Node> in) { return one(StopGradient(in[0])); });
    t.add(OpKind::BroadcastInDim, [](Graph&, const Op& op, std::span<const Node> in) {
      return one(BroadcastInDim(in[0], op.outputs[0].shape, attrs<BroadcastInDimAttrs>(op).dims));
    });
    t.add(OpKind::Reshape, [](Graph&, const Op& op, std::span<const Node> in) {
      return one(Reshape(in[0], op.outputs[0].shape.dims()));
    });
    t.add(OpKind::Transpose, [](Graph&, const Op& op, std::span<const Node> in) {
      return one(Transpose(in[0], attrs<TransposeAttrs>(op).perm));
    });
    t.add(OpKind::Slice, [](Graph&, const Op& op, std::span<const Node> in) {
      const auto& a = attrs<SliceAttrs>(op);
      return one(Slice(in[0], a.starts, a.limits, a.strides));
    });
    t.add(OpKind::DynamicSlice, [](Graph&, const Op& op, std::span<const Node> in) {
      return one(DynamicSlice(in[0], std::vector<Node>(in.begin() + 1, in.end()), attrs<DynamicSliceAttrs>(op).sizes));
    });
    t.add(OpKind::DynamicUpdateSlice, [](Graph&, const Op&, std::span<const Node> in) {
      return one(DynamicUpdateSlice(in[0], in[1], std::vector<Node>(in.begin() + 2, in.end())));
    });
    t.add(OpKind::Concatenate, [](Graph&, const Op& op, std::span<const Node> in) {
      return one(Concatenate(std::vector<Node>(in.begin(), in.end()), attrs<ConcatenateAttrs>(op).axis));
    });
    t.add(OpKind::Pad, [](Graph&, const Op& op, std::span<const Node> in) {
      const auto& a = attrs<PadAttrs>(op);
      return one(Pad(in[0], a.low, a.high, a.mode, in[1]));
    });
    t.add(OpKind::Reverse, [](Graph&, const Op& op, std::span<const Node> in) {
      return one(Reverse(in[0], attrs<ReverseAttrs>(op).axes));
    });
    t.add(OpKind::Gather, [](Graph&, const Op& op, std::span<const Node> in) {
      return one(Gather(in[0], in[1], attrs<GatherAttrs>(op)));
    });
    t.add(OpKind::Scatter, [](Graph&, const Op& op, std::span<const Node> in) {
      return one(Scatter(in[0], in[1], in[2], attrs<ScatterAttrs>(op)));
    });
    t.add(OpKind::Reduce, [](Graph&, const Op& op, std::span<const Node> in) {
      const auto& a = attrs<ReduceAttrs>(op);
      return one(Reduce(in[0], a.op, a.axes));
    });
    t.add(OpKind::ArgMinMax, [](Graph&, const Op& op, std::span<const Node> in) {
      const auto& a = attrs<ArgMinMaxAttrs>(op);
      return one(a.is_min ? ArgMin(in[0], a.axis, false, a.select_last) : ArgMax(in[0], a.axis, false, a.select_last));
    });
    t.add(OpKind::DotGeneral, [](Graph&, const Op& op, std::span<const Node> in) {
      return one(DotGeneral(in[0], in[1], attrs<DotGeneralAttrs>(op), op.outputs[0].dtype));
    });
    t.add(OpKind::Convolution, [](Graph&, const Op& op, std::span<const Node> in) {
      return one(Convolution(in[0], in[1], attrs<ConvolutionAttrs>(op)));
    });
    t.add(OpKind::ReduceWindow, [](Graph&, const Op& op, std::span<const Node> in) {
      return one(ReduceWindow(in[0], attrs<ReduceWindowAttrs>(op)));
    });
    t.add(OpKind::Sort, [](Graph&, const Op& op, std::span<const Node> in) {
      const auto& a = attrs<SortAttrs>(op);
      return Sort(std::vector<Node>(in.begin(), in.end()), a.axis, a.descending, a.stable);
    });
    t.add(OpKind::TopK, [](Graph&, const Op& op, std::span<const Node> in) {
      const auto& a = attrs<TopKAttrs>(op);
      auto [values, indices] = TopK(in[0], a.k, a.axis, a.largest);
      return std::vector<Node>{values, indices};
    });
    t.add(OpKind::Cumulative, [](Graph&, const Op& op, std::span<const Node> in) {
      const auto& a = attrs<CumulativeAttrs>(op);
      return one(Cumulative(in[0], a.axis, a.op, a.exclusive, a.reverse));
    });
    t.add(OpKind::If, [](Graph&, const Op& op, std::span<const Node> in) {
      const auto& a = attrs<IfAttrs>(op);
      return If(in[0], *a.then_branch, *a.else_branch, std::vector<Node>(in.begin() + 1, in.end()));
    });
    t.add(OpKind::While, [](Graph&, const Op& op, std::span<const Node> in) {
      const auto& a = attrs<WhileAttrs>(op);
      return While(*a.cond, *a.body, std::vector<Node>(in.begin(), in.end()));
    });
    t.add(OpKind::Composite, [](Graph&, const Op& op, std::span<const Node> in) {
      const auto& a = attrs<CompositeAttrs>(op);
      // rnn_scan knows its types without building its (large) decomposition.
      if (const auto* p = a.get_if<RnnScanParams>()) return RnnScan(*p, std::vector<Node>(in.begin(), in.end()));
      return detail::record_composite(a.params, std::vector<Node>(in.begin(), in.end()), a.decompose);
    });
    return t;
  }();
  return table;
}

}  // namespace

bool has_shape_rule(OpKind k) { return rules().find(k) != nullptr; }

std::vector<Node> Rebuild(Graph& g, const Op& op, std::span<const Node> inputs) {
  const Rule* rule = rules().find(op.kind);
  GRAFT_CHECK(rule, "Rebuild: no shape rule for ", op_name(op.kind));
  for (const Node& n : inputs)
    GRAFT_CHECK(n.graph() == &g, "Rebuild of ", op_name(op.kind), ": operand ", n.describe(), " belongs to another graph");
  GRAFT_CHECK(inputs.size() == op.inputs.size(), "Rebuild of ", op_name(op.kind), ": ", inputs.size(),
              " operands for an op that has ", op.inputs.size());
  const std::string saved = g.current_name();
  g.set_current_name(op.name);
  std::vector<Node> out = (*rule)(g, op, inputs);
  g.set_current_name(saved);
  return out;
}

}  // namespace graft
