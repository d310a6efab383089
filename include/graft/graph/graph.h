#pragma once
// Graph: the ops a user records through the builder functions (graft/graph/ops.h). A `Node` is a
// handle to one output of one op; it is cheap to copy and valid while its Graph lives.
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "graft/core/tensor.h"
#include "graft/graph/attrs.h"

namespace graft {

struct ValueType {
  DType dtype = DType::F32;
  Shape shape;
  bool operator==(const ValueType& o) const { return dtype == o.dtype && shape == o.shape; }
  std::string str() const;  // "float32[2, 3]"
};

// A reference to output `output` of op `op` in some graph.
struct ValueRef {
  int op = -1;
  int output = 0;
  bool operator==(const ValueRef& o) const { return op == o.op && output == o.output; }
};

struct Op {
  OpKind kind;
  std::vector<ValueRef> inputs;
  std::vector<ValueType> outputs;
  Attrs attrs;
  std::string name;  // optional: where it came from (an ONNX node name), used in errors
};

// The parameters of a composite op of kind composite_kind_of<P>(); throws naming the op otherwise.
template <typename P>
const P& composite_params(const Op& op);
// The composite kind of `op`, or nullopt when it is not a composite.
std::optional<CompositeKind> composite_kind(const Op& op);

class Node {
 public:
  Node() = default;
  Node(Graph* g, ValueRef v) : graph_(g), ref_(v) {}
  bool valid() const { return graph_ != nullptr; }
  Graph* graph() const { return graph_; }
  ValueRef ref() const { return ref_; }
  int op_index() const { return ref_.op; }
  const Op& op() const;
  const ValueType& type() const;
  DType dtype() const { return type().dtype; }
  const Shape& shape() const { return type().shape; }
  int rank() const { return shape().rank(); }
  int64_t dim(int axis) const { return shape()[axis]; }
  // Names the node in errors: `Add "encoder/add_3"` or `Add #12`.
  std::string describe() const;

 private:
  Graph* graph_ = nullptr;
  ValueRef ref_;
};

class Graph {
 public:
  explicit Graph(std::string name = "graph") : name_(std::move(name)) {}
  Graph(const Graph&) = default;
  Graph& operator=(const Graph&) = default;

  const std::string& name() const { return name_; }

  // Graph inputs, in the order they are declared; `run` takes values in this order.
  Node parameter(const std::string& name, DType dtype, Shape shape);
  Node constant(Tensor value);
  template <typename T> Node scalar(T v) { return constant(Tensor::scalar(v)); }
  Node scalar_like(double v, DType dtype);  // a rank-0 constant of `dtype`

  void set_outputs(std::vector<Node> outputs);
  const std::vector<ValueRef>& outputs() const { return outputs_; }
  const std::vector<int>& parameters() const { return parameters_; }

  // A deque, so references to ops and their types stay valid while more ops are recorded.
  const std::deque<Op>& ops() const { return ops_; }
  std::deque<Op>& mutable_ops() { return ops_; }
  const Op& op(int i) const { return ops_[size_t(i)]; }
  int num_ops() const { return int(ops_.size()); }
  Node node(ValueRef v) { return Node(this, v); }

  // Records an op whose output types the caller has already inferred and validated.
  std::vector<Node> add_op(OpKind kind, std::vector<Node> inputs, Attrs attrs, std::vector<ValueType> outputs);
  Node add_op1(OpKind kind, std::vector<Node> inputs, Attrs attrs, ValueType output) {
    return add_op(kind, std::move(inputs), std::move(attrs), {std::move(output)})[0];
  }

  // The name the next recorded ops get (an ONNX node's name, say), so errors point back to it.
  void set_current_name(std::string name) { current_name_ = std::move(name); }
  const std::string& current_name() const { return current_name_; }

  // A readable listing, one op a line, for debugging and error reports.
  std::string dump() const;

 private:
  std::string name_;
  std::deque<Op> ops_;
  std::vector<int> parameters_;
  std::vector<ValueRef> outputs_;
  std::string current_name_;
};

[[noreturn]] void throw_composite_mismatch(const Op& op, CompositeKind wanted);

template <typename P>
const P& composite_params(const Op& op) {
  if (op.kind == OpKind::Composite)
    if (const P* p = std::get<CompositeAttrs>(op.attrs).get_if<P>()) return *p;
  throw_composite_mismatch(op, composite_kind_of<P>());
}

}  // namespace graft
