// If and While: ops whose attributes hold sub-graphs.
#include "graft/graph/ops.h"

namespace graft {

namespace {
void check_signature(const Graph& g, const std::vector<ValueType>& want, const std::string& what) {
  GRAFT_CHECK(g.parameters().size() == want.size(), what, ": sub-graph '", g.name(), "' takes ", g.parameters().size(),
              " parameters, given ", want.size(), " operands");
  for (size_t i = 0; i < want.size(); ++i) {
    const ValueType& t = g.op(g.parameters()[i]).outputs[0];
    GRAFT_CHECK(t == want[i], what, ": parameter ", i, " of sub-graph '", g.name(), "' is ", t.str(), ", operand is ",
                want[i].str());
  }
}

std::vector<ValueType> output_types(const Graph& g) {
  std::vector<ValueType> out;
  for (const ValueRef& r : g.outputs()) out.push_back(g.op(r.op).outputs[size_t(r.output)]);
  return out;
}
}  // namespace

std::vector<Node> If(Node pred, const Graph& then_branch, const Graph& else_branch, std::vector<Node> operands) {
  GRAFT_CHECK(pred.dtype() == DType::Bool && pred.shape().size() == 1, "If: predicate ", pred.describe(), " is ",
              pred.type().str(), ", expected a bool scalar");
  std::vector<ValueType> in;
  for (const Node& o : operands) in.push_back(o.type());
  check_signature(then_branch, in, "If (then)");
  check_signature(else_branch, in, "If (else)");
  std::vector<ValueType> t = output_types(then_branch), e = output_types(else_branch);
  GRAFT_CHECK(t.size() == e.size(), "If: branches return ", t.size(), " and ", e.size(), " values");
  for (size_t i = 0; i < t.size(); ++i)
    GRAFT_CHECK(t[i] == e[i], "If: output ", i, " is ", t[i].str(), " in then, ", e[i].str(), " in else");
  std::vector<Node> inputs{pred};
  inputs.insert(inputs.end(), operands.begin(), operands.end());
  return pred.graph()->add_op(OpKind::If, inputs,
                              IfAttrs{std::make_shared<Graph>(then_branch), std::make_shared<Graph>(else_branch)}, t);
}

std::vector<Node> While(const Graph& cond, const Graph& body, std::vector<Node> init) {
  GRAFT_CHECK(!init.empty(), "While: no loop state");
  std::vector<ValueType> in;
  for (const Node& o : init) in.push_back(o.type());
  check_signature(cond, in, "While (cond)");
  check_signature(body, in, "While (body)");
  std::vector<ValueType> c = output_types(cond), b = output_types(body);
  GRAFT_CHECK(c.size() == 1 && c[0].dtype == DType::Bool && c[0].shape.size() == 1, "While: cond '", cond.name(),
              "' must return one bool scalar");
  GRAFT_CHECK(b == in, "While: body '", body.name(), "' must return the loop state's types");
  return init[0].graph()->add_op(OpKind::While, init,
                                 WhileAttrs{std::make_shared<Graph>(cond), std::make_shared<Graph>(body)}, in);
}

}  // namespace graft
