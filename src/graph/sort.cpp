// Sorting builders: Sort (stable, several operands by the keys of the first) and TopK.
#include "graft/graph/ops.h"
#include "graph/builder_util.h"

namespace graft {

using detail::normalize_axes;

std::vector<Node> Sort(std::vector<Node> operands, int axis, bool descending, bool stable) {
  GRAFT_CHECK(!operands.empty(), "Sort: no operands");
  const Node& keys = operands[0];
  axis = int(normalize_axes({axis}, keys.rank(), "Sort of " + keys.describe())[0]);
  std::vector<ValueType> types;
  for (const Node& o : operands) {
    GRAFT_CHECK(o.shape() == keys.shape(), "Sort: operand ", o.describe(), " ", o.shape(), " differs from keys ",
                keys.shape());
    types.push_back(o.type());
  }
  return keys.graph()->add_op(OpKind::Sort, operands, SortAttrs{axis, descending, stable}, types);
}

std::pair<Node, Node> TopK(Node x, int64_t k, int axis, bool largest) {
  axis = int(normalize_axes({axis}, x.rank(), "TopK of " + x.describe())[0]);
  GRAFT_CHECK(k >= 0 && k <= x.shape()[axis], "TopK of ", x.describe(), ": k=", k, " exceeds axis ", axis, " of ",
              x.shape());
  std::vector<int64_t> dims = x.shape().dims();
  dims[size_t(axis)] = k;
  auto outs = x.graph()->add_op(OpKind::TopK, {x}, TopKAttrs{k, axis, largest, true},
                                {ValueType{x.dtype(), Shape(dims)}, ValueType{DType::I64, Shape(dims)}});
  return {outs[0], outs[1]};
}

}  // namespace graft
