// Host evaluation of traced values, op by op, with an injected OpEvaluator (known_values.h).
#include "onnx/known_values.h"

#include "graft/graph/ops.h"

namespace graft::onnx {

namespace {

// A composite without a kernel of its own: its decomposition, recorded on constants of its operands and
// evaluated like any other ops.
std::optional<std::vector<Tensor>> evaluate_decomposition(const Op& op, const std::vector<Tensor>& args,
                                                          const OpEvaluator& evaluate) {
  Graph scratch("host_eval");
  std::vector<Node> operands;
  for (const Tensor& t : args) operands.push_back(scratch.constant(t));
  std::vector<Node> outs = Decompose(std::get<CompositeAttrs>(op.attrs), operands);
  OpValues memo;
  auto no_parameters = [](int) -> std::optional<Tensor> { return std::nullopt; };
  std::vector<Tensor> values;
  for (const Node& o : outs) {
    auto v = evaluate_on_host(scratch, o.ref(), evaluate, memo, no_parameters);
    if (!v) return std::nullopt;
    values.push_back(std::move(*v));
  }
  return values;
}

std::optional<std::vector<Tensor>> evaluate_op(const Graph& graph, int index, const OpEvaluator& evaluate,
                                               const OpValues& memo) {
  const Op& op = graph.op(index);
  if (op.kind == OpKind::Constant) return std::vector<Tensor>{std::get<ConstantAttrs>(op.attrs).value};
  std::vector<Tensor> args;
  std::vector<ValueType> types;
  for (const ValueRef& r : op.inputs) {
    args.push_back(memo.at(r.op).at(size_t(r.output)));
    types.push_back(graph.op(r.op).outputs[size_t(r.output)]);
  }
  if (auto v = evaluate(op, types, args)) return v;
  if (op.kind == OpKind::Composite) return evaluate_decomposition(op, args, evaluate);
  return std::nullopt;
}

}  // namespace

std::optional<Tensor> evaluate_on_host(const Graph& graph, ValueRef root, const OpEvaluator& evaluate,
                                       OpValues& memo, const ParameterValue& parameter) {
  if (!evaluate) return std::nullopt;
  std::vector<char> needed(size_t(root.op) + 1, 0);
  needed[size_t(root.op)] = 1;
  // Parameters first, so that a prefix that cannot be computed costs no evaluation.
  for (int i = root.op; i >= 0; --i) {
    if (!needed[size_t(i)] || memo.count(i)) continue;
    const Op& op = graph.op(i);
    if (op.kind == OpKind::Parameter) {
      auto v = parameter(i);
      if (!v) return std::nullopt;
      memo.emplace(i, std::vector<Tensor>{std::move(*v)});
    }
    for (const ValueRef& r : op.inputs) needed[size_t(r.op)] = 1;
  }
  for (int i = 0; i <= root.op; ++i) {
    if (!needed[size_t(i)] || memo.count(i)) continue;
    auto values = evaluate_op(graph, i, evaluate, memo);
    if (!values) return std::nullopt;
    memo.emplace(i, std::move(*values));
  }
  return memo.at(root.op).at(size_t(root.output));
}

}  // namespace graft::onnx
