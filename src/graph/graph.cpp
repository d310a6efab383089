#include "graft/graph/graph.h"

#include <sstream>

#include "graft/core/limits.h"
#include "graft/graph/ops.h"

namespace graft {

std::string ValueType::str() const { return std::string(dtype_name(dtype)) + shape.str(); }

const Op& Node::op() const {
  GRAFT_CHECK(graph_, "use of an empty Node");
  return graph_->op(ref_.op);
}

const ValueType& Node::type() const { return op().outputs[size_t(ref_.output)]; }

std::string Node::describe() const {
  if (!graph_) return "<empty node>";
  const Op& o = op();
  std::ostringstream os;
  os << op_name(o.kind);
  if (o.kind == OpKind::Composite) os << "(" << std::get<CompositeAttrs>(o.attrs).name() << ")";
  if (!o.name.empty())
    os << " \"" << o.name << "\"";
  else
    os << " #" << ref_.op;
  return os.str();
}

Node Graph::parameter(const std::string& name, DType dtype, Shape shape) {
  ParameterAttrs a{int(parameters_.size()), name};
  Node n = add_op1(OpKind::Parameter, {}, a, ValueType{dtype, std::move(shape)});
  ops_.back().name = name;
  parameters_.push_back(n.op_index());
  return n;
}

Node Graph::constant(Tensor value) {
  GRAFT_CHECK(value.defined(), "Graph::constant: undefined tensor");
  ValueType t{value.dtype(), value.shape()};
  return add_op1(OpKind::Constant, {}, ConstantAttrs{std::move(value)}, std::move(t));
}

Node Graph::scalar_like(double v, DType dtype) { return constant(Tensor::full(dtype, Shape{}, v)); }

void Graph::set_outputs(std::vector<Node> outputs) {
  outputs_.clear();
  for (const Node& n : outputs) {
    GRAFT_CHECK(n.graph() == this, "Graph::set_outputs: node ", n.describe(), " belongs to another graph");
    outputs_.push_back(n.ref());
  }
}

std::vector<Node> Graph::add_op(OpKind kind, std::vector<Node> inputs, Attrs attrs, std::vector<ValueType> outputs) {
  // Every value of every graph is checked against the memory limit when it is recorded, so a model whose
  // shapes (computed while tracing) need too much memory fails here, before anything is allocated.
  for (const ValueType& t : outputs)
    if (uint64_t bytes = uint64_t(t.shape.size()) * dtype_size(t.dtype); bytes > memory_limit())
      check_memory(bytes, detail::concat(op_name(kind), current_name_.empty() ? "" : " \"" + current_name_ + "\"",
                                         ": result ", dtype_name(t.dtype), t.shape));
  Op op{kind, {}, std::move(outputs), std::move(attrs), current_name_};
  for (const Node& in : inputs) {
    GRAFT_CHECK(in.graph() == this, op_name(kind), ": operand ", in.describe(),
                " belongs to another graph (", in.graph() ? in.graph()->name() : "none", ", not ", name_, ")");
    op.inputs.push_back(in.ref());
  }
  int index = int(ops_.size());
  size_t n = op.outputs.size();
  ops_.push_back(std::move(op));
  std::vector<Node> result;
  for (size_t i = 0; i < n; ++i) result.emplace_back(this, ValueRef{index, int(i)});
  return result;
}

std::string Graph::dump() const {
  std::ostringstream os;
  os << "graph " << name_ << " {\n";
  for (size_t i = 0; i < ops_.size(); ++i) {
    const Op& o = ops_[i];
    os << "  %" << i << " = " << op_name(o.kind) << "(";
    for (size_t j = 0; j < o.inputs.size(); ++j)
      os << (j ? ", " : "") << "%" << o.inputs[j].op << (o.inputs[j].output ? ":" + std::to_string(o.inputs[j].output) : "");
    os << ") -> ";
    for (size_t j = 0; j < o.outputs.size(); ++j) os << (j ? ", " : "") << o.outputs[j].str();
    if (!o.name.empty()) os << "  // " << o.name;
    os << "\n";
  }
  os << "  return";
  for (const ValueRef& r : outputs_) os << " %" << r.op << (r.output ? ":" + std::to_string(r.output) : "");
  os << "\n}\n";
  return os.str();
}

}  // namespace graft
