// Gather / scatter / indexing: Gather, GatherElements, GatherND, ScatterElements (and the deprecated
// Scatter), ScatterND, OneHot, Trilu, and the data-dependent NonZero / Compress (known inputs only).
#include <cstring>
#include <numeric>

#include "onnx/converter.h"

namespace graft::onnx {

namespace {

ReduceOp reduction_attr(OpContext& c) {
  std::string red = c.attr_string("reduction", "none");
  if (red == "none") return ReduceOp::Replace;
  if (red == "add") return ReduceOp::Sum;
  if (red == "mul") return ReduceOp::Prod;
  if (red == "max") return ReduceOp::Max;
  if (red == "min") return ReduceOp::Min;
  c.fail("unknown reduction '", red, "'");
}

// Gather on known small tensors (shape arithmetic), done on the host.
std::optional<Tensor> host_gather(const Tensor& data, const Tensor& indices, int axis) {
  if (data.rank() != 1 || axis != 0 || !is_integer(indices.dtype())) return std::nullopt;
  int64_t d = data.shape()[0];
  auto idx = indices.to_vector<int64_t>();
  size_t es = dtype_size(data.dtype());
  Tensor out = Tensor::uninitialized(data.dtype(), indices.shape());
  for (size_t i = 0; i < idx.size(); ++i) {
    int64_t j = idx[i] < 0 ? idx[i] + d : idx[i];
    if (j < 0 || j >= d) return std::nullopt;  // let the regular path report it
    std::memcpy(static_cast<char*>(out.raw()) + i * es, static_cast<const char*>(data.raw()) + size_t(j) * es, es);
  }
  return out;
}

void gather_op(OpContext& c) {
  int r = c.value(0).type().shape.rank();
  int axis = normalize_axis(c, c.attr_int("axis", 0), r);
  const Value& dv = c.value(0);
  const Value& iv = c.value(1);
  if (dv.known && iv.known)
    if (auto t = host_gather(*dv.known, *iv.known, axis)) return c.set_known(0, *t);
  Node x = c.input(0), idx = c.input(1);
  if (const Tensor* k = c.known(1)) {
    int64_t d = x.dim(axis);
    for (int64_t v : k->to_vector<int64_t>())
      if (v < -d || v >= d) c.fail("index ", v, " is out of range for axis ", axis, " of extent ", d);
  }
  c.set_output(0, Take(x, idx, axis));
}

// Indices with negative entries counted from the end of the axis each component addresses.
Node wrap_index_vectors(Node idx, const std::vector<int64_t>& extents) {
  Graph& g = *idx.graph();
  Node dims = g.constant(Tensor::from_vector(extents));
  Node zero = ScalarLike(idx, 0);
  return Select(Less(idx, zero), idx + dims, idx);
}

void gather_nd_op(OpContext& c) {
  Node data = c.input(0), idx = Convert(c.input(1), DType::I64);
  int64_t b = c.attr_int("batch_dims", 0);
  int q = idx.rank(), r = data.rank();
  if (q < 1) c.fail("indices must have rank >= 1");
  int64_t k = idx.dim(-1);
  if (b < 0 || b + k > r) c.fail("batch_dims ", b, " + index length ", k, " exceed the data rank ", r);
  std::vector<int64_t> extents;
  for (int64_t i = 0; i < k; ++i) extents.push_back(data.dim(int(b + i)));
  idx = wrap_index_vectors(idx, extents);
  if (b > 0) {
    // Prepend the batch coordinates so each index vector addresses axes 0 .. b+k-1.
    std::vector<int64_t> one = idx.shape().dims();
    one.back() = 1;
    std::vector<Node> parts;
    for (int64_t i = 0; i < b; ++i) parts.push_back(Iota(c.graph(), DType::I64, Shape(one), int(i)));
    parts.push_back(idx);
    idx = Concatenate(parts, -1);
  }
  int64_t n = b + k;
  GatherAttrs a;
  a.index_vector_dim = q - 1;
  for (int64_t i = 0; i < n; ++i) {
    a.start_index_map.push_back(i);
    a.collapsed_slice_dims.push_back(i);
  }
  a.slice_sizes = data.shape().dims();
  for (int64_t i = 0; i < n; ++i) a.slice_sizes[size_t(i)] = 1;
  for (int64_t i = n; i < r; ++i) a.offset_dims.push_back(q - 1 + (i - n));
  c.set_output(0, Gather(data, idx, a));
}

void scatter_nd_op(OpContext& c) {
  Node data = c.input(0), idx = Convert(c.input(1), DType::I64), upd = c.input(2);
  int q = idx.rank(), r = data.rank();
  int64_t k = idx.dim(-1);
  if (k > r) c.fail("index vectors of length ", k, " for data of rank ", r);
  std::vector<int64_t> extents;
  for (int64_t i = 0; i < k; ++i) extents.push_back(data.dim(int(i)));
  idx = wrap_index_vectors(idx, extents);
  ScatterAttrs a;
  a.index_vector_dim = q - 1;
  for (int64_t i = 0; i < k; ++i) {
    a.scatter_dims_to_operand_dims.push_back(i);
    a.inserted_window_dims.push_back(i);
  }
  for (int64_t i = 0; i < r - k; ++i) a.update_window_dims.push_back(q - 1 + i);
  a.combiner = reduction_attr(c);
  c.set_output(0, Scatter(data, idx, Convert(upd, data.dtype()), a));
}

void one_hot_op(OpContext& c) {
  Node indices = c.input(0);
  const Tensor& depth_t = c.require_known(1, "depth");
  int64_t depth = int64_t(depth_t.value_as_double(0));
  if (depth <= 0) c.fail("depth must be positive, got ", depth);
  Node values = c.input(2);
  if (values.shape().size() != 2) c.fail("values must hold [off, on], got ", values.shape());
  int out_rank = indices.rank() + 1;
  int axis = normalize_axis(c, c.attr_int("axis", -1), out_rank);
  Node idx = is_floating(indices.dtype()) ? Convert(Floor(indices), DType::I64) : Convert(indices, DType::I64);
  idx = Select(Less(idx, ScalarLike(idx, 0)), idx + double(depth), idx);
  std::vector<int64_t> dims = idx.shape().dims();
  dims.insert(dims.begin() + axis, depth);
  Node expanded = ExpandDims(idx, axis);
  Node iota = Iota(c.graph(), DType::I64, Shape(dims), axis);
  Node hit = Equal(BroadcastTo(expanded, Shape(dims)), iota);
  Node flat = Reshape(values, {2});
  Node off = Reshape(SliceAxis(flat, 0, 0, 1), {}), on = Reshape(SliceAxis(flat, 0, 1, 2), {});
  c.set_output(0, Select(hit, on, off));
}

void trilu_op(OpContext& c) {
  Node x = c.input(0);
  if (x.rank() < 2) c.fail("input must have rank >= 2, got ", x.shape());
  int64_t k = 0;
  if (c.has_input(1)) k = c.require_int(1, "k");
  bool upper = c.attr_int("upper", 1) != 0;
  Shape s{x.dim(-2), x.dim(-1)};
  Node rows = Iota(c.graph(), DType::I64, s, 0), cols = Iota(c.graph(), DType::I64, s, 1);
  Node diff = cols - rows, kk = ScalarLike(diff, double(k));
  Node keep = upper ? GreaterEqual(diff, kk) : LessEqual(diff, kk);
  c.set_output(0, Select(keep, x, ScalarLike(x, 0)));
}

// NonZero of a host tensor: the [rank, hits] indices.
Tensor nonzero_of(const Tensor& t) {
  std::vector<double> v = t.to_vector<double>();
  std::vector<int64_t> strides = t.shape().strides();
  int r = t.rank();
  std::vector<int64_t> hits;
  for (size_t i = 0; i < v.size(); ++i)
    if (v[i] != 0) hits.push_back(int64_t(i));
  int64_t n = int64_t(hits.size());
  std::vector<int64_t> out(size_t(std::max(r, 1)) * size_t(n));
  for (int64_t j = 0; j < n; ++j) {
    int64_t rem = hits[size_t(j)];
    for (int a = 0; a < r; ++a) {
      out[size_t(a * n + j)] = rem / strides[size_t(a)];
      rem %= strides[size_t(a)];
    }
    if (r == 0) out[size_t(j)] = 0;
  }
  return Tensor::from_vector(out, Shape{int64_t(std::max(r, 1)), n});
}

void nonzero_op(OpContext& c) {
  // Computed from the run's inputs: run between compiled stages, the indices an input of the next one.
  if (auto staged = c.stage_op({0}, [](const std::vector<Tensor>& v) { return std::vector<Tensor>{nonzero_of(v[0])}; }))
    return c.set_output(0, (*staged)[0]);
  c.set_known(0, nonzero_of(c.require_known(0, "the input (NonZero's output shape depends on its values)")));
}

// The positions of Compress's true conditions below `extent`.
Tensor compress_indices(const Tensor& cond, int64_t extent) {
  std::vector<double> cv = cond.to_vector<double>();
  std::vector<int64_t> idx;
  for (size_t i = 0; i < cv.size() && int64_t(i) < extent; ++i)
    if (cv[i] != 0) idx.push_back(int64_t(i));
  return Tensor::from_vector(idx);
}

void compress_op(OpContext& c) {
  Node x = c.input(0);
  std::optional<int64_t> axis_attr = c.attr_int_opt("axis");
  Node src = x;
  int axis = 0;
  if (axis_attr) {
    axis = normalize_axis(c, *axis_attr, x.rank());
  } else {
    src = Reshape(x, {x.shape().size()});
  }
  int64_t d = src.dim(axis);
  auto indices = [d](const std::vector<Tensor>& v) { return std::vector<Tensor>{compress_indices(v[0], d)}; };
  if (auto staged = c.stage_op({1}, indices)) return c.set_output(0, Take(src, (*staged)[0], axis));
  const Tensor& cond = c.require_known(1, "the condition (Compress's output shape depends on its values)");
  c.set_output(0, Take(src, c.graph().constant(compress_indices(cond, d)), axis));
}

}  // namespace

void register_indexing_ops(Registry& r) {
  r.add("", "Gather", 1, gather_op);
  r.add("", "GatherElements", 11, [](OpContext& c) {
    Node x = c.input(0);
    c.set_output(0, TakeAlongAxis(x, c.input(1), normalize_axis(c, c.attr_int("axis", 0), x.rank())));
  });
  r.add("", "GatherND", 11, gather_nd_op);
  auto scatter_elements = [](OpContext& c) {
    Node x = c.input(0);
    int axis = normalize_axis(c, c.attr_int("axis", 0), x.rank());
    c.set_output(0, ScatterAlongAxis(x, c.input(1), Convert(c.input(2), x.dtype()), axis, reduction_attr(c)));
  };
  r.add("", "ScatterElements", 11, scatter_elements);
  r.add("", "Scatter", 9, scatter_elements).until = 10;
  r.add("", "ScatterND", 11, scatter_nd_op);
  r.add("", "OneHot", 9, one_hot_op);
  r.add("", "Trilu", 14, trilu_op);
  r.add("", "NonZero", 9, nonzero_op).note = "input known while tracing, or computed between stages (InferenceSession)";
  r.add("", "Compress", 9, compress_op).note = "condition known while tracing, or computed between stages (InferenceSession)";
}

}  // namespace graft::onnx
