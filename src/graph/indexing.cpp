// Gather / scatter (XLA dimension numbers) and the NumPy-style conveniences built on them.
#include <numeric>
#include <optional>

#include "graft/graph/ops.h"
#include "graph/builder_util.h"

namespace graft {

using detail::axes_str;
using detail::normalize_axes;

namespace {
bool contains(const Axes& v, int64_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

// Negative indices count from the end of an axis of extent d (NumPy / ONNX convention).
Node wrap_negative(Node idx, int64_t d) {
  Node zero = ScalarLike(idx, 0);
  return Select(Less(idx, zero), idx + double(d), idx);
}
}  // namespace

Node Gather(Node operand, Node indices, GatherAttrs a) {
  std::string what = "Gather of " + operand.describe();
  GRAFT_CHECK(is_integer(indices.dtype()), what, ": indices ", indices.describe(), " are ", indices.type().str(),
              ", expected integers");
  int ir = indices.rank();
  GRAFT_CHECK(a.index_vector_dim >= 0 && a.index_vector_dim <= ir, what, ": index_vector_dim ", a.index_vector_dim,
              " out of range for indices of rank ", ir);
  int64_t index_len = a.index_vector_dim == ir ? 1 : indices.shape()[int(a.index_vector_dim)];
  GRAFT_CHECK(int64_t(a.start_index_map.size()) == index_len, what, ": start_index_map ", axes_str(a.start_index_map),
              " does not match index vectors of length ", index_len);
  GRAFT_CHECK(int(a.slice_sizes.size()) == operand.rank(), what, ": slice_sizes ", axes_str(a.slice_sizes),
              " must have the operand's rank ", operand.rank());
  for (int i = 0; i < operand.rank(); ++i)
    GRAFT_CHECK(a.slice_sizes[i] >= 0 && a.slice_sizes[i] <= operand.shape()[i], what, ": slice size ",
                a.slice_sizes[i], " exceeds axis ", i, " of ", operand.shape());
  for (int64_t c : a.collapsed_slice_dims)
    GRAFT_CHECK(c >= 0 && c < operand.rank() && a.slice_sizes[size_t(c)] == 1, what, ": collapsed dim ", c,
                " must have slice size 1");
  for (int64_t s : a.start_index_map)
    GRAFT_CHECK(s >= 0 && s < operand.rank(), what, ": start_index_map entry ", s, " out of range");
  std::vector<int64_t> batch;
  for (int i = 0; i < ir; ++i)
    if (i != a.index_vector_dim) batch.push_back(indices.shape()[i]);
  std::vector<int64_t> offsets;
  for (int i = 0; i < operand.rank(); ++i)
    if (!contains(a.collapsed_slice_dims, i)) offsets.push_back(a.slice_sizes[size_t(i)]);
  GRAFT_CHECK(offsets.size() == a.offset_dims.size(), what, ": offset_dims ", axes_str(a.offset_dims), " should list ",
              offsets.size(), " output axes");
  int out_rank = int(batch.size() + offsets.size());
  std::vector<int64_t> dims(static_cast<size_t>(out_rank));
  size_t bi = 0, oi = 0;
  for (int i = 0; i < out_rank; ++i) {
    if (contains(a.offset_dims, i))
      dims[size_t(i)] = offsets[oi++];
    else {
      GRAFT_CHECK(bi < batch.size(), what, ": offset_dims ", axes_str(a.offset_dims), " out of range");
      dims[size_t(i)] = batch[bi++];
    }
  }
  return operand.graph()->add_op1(OpKind::Gather, {operand, Convert(indices, DType::I64)}, a,
                                  ValueType{operand.dtype(), Shape(dims)});
}

Node Scatter(Node operand, Node indices, Node updates, ScatterAttrs a) {
  std::string what = "Scatter into " + operand.describe();
  GRAFT_CHECK(is_integer(indices.dtype()), what, ": indices are ", indices.type().str(), ", expected integers");
  GRAFT_CHECK(updates.dtype() == operand.dtype(), what, ": updates ", updates.type().str(), " vs operand ",
              operand.type().str());
  int ir = indices.rank();
  GRAFT_CHECK(a.index_vector_dim >= 0 && a.index_vector_dim <= ir, what, ": bad index_vector_dim");
  int64_t index_len = a.index_vector_dim == ir ? 1 : indices.shape()[int(a.index_vector_dim)];
  GRAFT_CHECK(int64_t(a.scatter_dims_to_operand_dims.size()) == index_len, what,
              ": scatter_dims_to_operand_dims does not match index vectors of length ", index_len);
  GRAFT_CHECK(int(a.update_window_dims.size() + a.inserted_window_dims.size()) == operand.rank(), what,
              ": update_window_dims + inserted_window_dims must cover the operand's rank ", operand.rank());
  int scatter_rank = updates.rank() - int(a.update_window_dims.size());
  GRAFT_CHECK(scatter_rank == ir - (a.index_vector_dim < ir ? 1 : 0), what, ": updates ", updates.shape(),
              " do not match indices ", indices.shape());
  return operand.graph()->add_op1(OpKind::Scatter, {operand, Convert(indices, DType::I64), updates}, a,
                                  operand.type());
}

Node Take(Node x, Node indices, int axis) {
  axis = int(normalize_axes({axis}, x.rank(), "Take of " + x.describe())[0]);
  if (x.shape()[axis] == 0) {
    // Nothing to take from (a detector's NMS that kept no box): no indices give an empty result — the
    // gather below would need a slice of 1 from an axis of 0 — and any index is out of range.
    GRAFT_CHECK(indices.shape().size() == 0, "Take of ", x.describe(), ": ", indices.shape().size(),
                " indices into axis ", axis, " of ", x.shape(), ", which is empty: every index is out of range");
    std::vector<int64_t> dims(x.shape().dims().begin(), x.shape().dims().begin() + axis);
    for (int64_t d : indices.shape().dims()) dims.push_back(d);
    for (int i = axis + 1; i < x.rank(); ++i) dims.push_back(x.shape()[i]);
    return Zeros(*x.graph(), x.dtype(), Shape(dims));
  }
  Node idx = wrap_negative(Convert(indices, DType::I64), x.shape()[axis]);
  int ir = idx.rank();
  GatherAttrs a;
  a.index_vector_dim = ir;
  a.start_index_map = {axis};
  a.collapsed_slice_dims = {axis};
  a.slice_sizes = x.shape().dims();
  a.slice_sizes[size_t(axis)] = 1;
  for (int i = 0; i < x.rank(); ++i)
    if (i != axis) a.offset_dims.push_back(i < axis ? i : i - 1 + ir);
  return Gather(x, idx, a);
}

namespace {
// Full coordinates for every element of `idx`: [..., rank] with idx on `axis` and iotas elsewhere.
Node along_axis_coordinates(Node idx, int axis, int rank) {
  std::vector<Node> coords;
  Shape s = idx.shape();
  std::vector<int64_t> with_one = s.dims();
  with_one.push_back(1);
  for (int i = 0; i < rank; ++i) {
    Node c = i == axis ? idx : Iota(*idx.graph(), DType::I64, s, i);
    coords.push_back(Reshape(c, with_one));
  }
  return Concatenate(coords, rank);
}
}  // namespace

namespace {
// When `indices` is a broadcast that varies only along `axis` (PyTorch's x.scatter(0, i.expand(...), u),
// as detection heads write whole rows, or torch.gather(x, d, i.expand(...))) and `span` covers every
// other axis of the operand, the element-wise scatter/gather moves whole slices: returns the [n, 1]
// slice indices for that, else nullopt.
std::optional<Node> row_indices(Node x, Node indices, Node span, int axis) {
  if (indices.op().kind != OpKind::BroadcastInDim) return std::nullopt;
  const auto& dims = std::get<BroadcastInDimAttrs>(indices.op().attrs).dims;
  Node src = indices.graph()->node(indices.op().inputs[0]);
  for (int i = 0; i < x.rank(); ++i)
    if (i != axis && span.shape()[i] != x.shape()[i]) return std::nullopt;
  // Every operand axis must land on an output axis of extent 1 in the source, except the one on `axis`.
  int64_t along = 1;
  for (size_t j = 0; j < dims.size(); ++j) {
    int64_t e = src.shape()[int(j)];
    if (dims[j] == axis) along = e;
    else if (e != 1) return std::nullopt;
  }
  if (along != indices.shape()[axis]) return std::nullopt;
  return Reshape(src, {along, 1});
}
}  // namespace

Node TakeAlongAxis(Node x, Node indices, int axis) {
  axis = int(normalize_axes({axis}, x.rank(), "TakeAlongAxis of " + x.describe())[0]);
  GRAFT_CHECK(indices.rank() == x.rank(), "TakeAlongAxis of ", x.describe(), ": indices ", indices.shape(),
              " must have the operand's rank ", x.rank());
  // Indices that only vary along `axis`, over whole slices (torch.gather(x, d, i.expand(...))): a Take.
  if (auto rows = row_indices(x, indices, indices, axis))
    return Take(x, Reshape(*rows, {indices.shape()[axis]}), axis);
  Node idx = wrap_negative(Convert(indices, DType::I64), x.shape()[axis]);
  GatherAttrs a;
  a.index_vector_dim = x.rank();
  a.start_index_map.resize(size_t(x.rank()));
  std::iota(a.start_index_map.begin(), a.start_index_map.end(), 0);
  a.collapsed_slice_dims = a.start_index_map;
  a.slice_sizes.assign(size_t(x.rank()), 1);
  return Gather(x, along_axis_coordinates(idx, axis, x.rank()), a);
}


Node ScatterAlongAxis(Node x, Node indices, Node updates, int axis, ReduceOp combiner) {
  axis = int(normalize_axes({axis}, x.rank(), "ScatterAlongAxis into " + x.describe())[0]);
  GRAFT_CHECK(indices.shape() == updates.shape() && indices.rank() == x.rank(), "ScatterAlongAxis into ",
              x.describe(), ": indices ", indices.shape(), " and updates ", updates.shape(),
              " must match and have the operand's rank");
  if (auto rows = row_indices(x, indices, updates, axis)) {
    // Whole slices: updates' slice i goes to position rows[i] along `axis`.
    ScatterAttrs a;
    a.index_vector_dim = 1;
    a.scatter_dims_to_operand_dims = {axis};
    a.inserted_window_dims = {axis};
    // Updates are [n, the other axes in order] (axis moved to the front): dims 1.. are the window.
    for (int i = 1; i < x.rank(); ++i) a.update_window_dims.push_back(i);
    a.combiner = combiner;
    Node idx = wrap_negative(Convert(*rows, DType::I64), x.shape()[axis]);
    Node upd = axis == 0 ? updates : Transpose(updates, [&] {
      Axes perm{axis};
      for (int i = 0; i < x.rank(); ++i)
        if (i != axis) perm.push_back(i);
      return perm;
    }());
    return Scatter(x, idx, upd, a);
  }
  Node idx = wrap_negative(Convert(indices, DType::I64), x.shape()[axis]);
  ScatterAttrs a;
  a.index_vector_dim = x.rank();
  a.scatter_dims_to_operand_dims.resize(size_t(x.rank()));
  std::iota(a.scatter_dims_to_operand_dims.begin(), a.scatter_dims_to_operand_dims.end(), 0);
  a.inserted_window_dims = a.scatter_dims_to_operand_dims;
  a.combiner = combiner;
  return Scatter(x, along_axis_coordinates(idx, axis, x.rank()), updates, a);
}

}  // namespace graft
