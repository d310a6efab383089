// Shape and tensor manipulation: Shape/Size, Reshape, Flatten, (Un)Squeeze, Transpose, Concat, Split,
// Slice, Expand, Tile, Pad, Constant, ConstantOfShape, Range, EyeLike, DepthToSpace, SpaceToDepth.
// Where every input is known while tracing the result is computed on the host, so shape sub-graphs
// (Shape -> Gather -> Concat -> Reshape) never reach the compiled graph.
#include <climits>
#include <cmath>
#include <cstring>

#include "graft/core/limits.h"
#include "onnx/converter.h"

namespace graft::onnx {

namespace {

Tensor int64_tensor(const std::vector<int64_t>& v) { return Tensor::from_vector(v); }

// Reshape of a known value or of a node.
void reshape_output(OpContext& c, int input, const std::vector<int64_t>& dims) {
  if (const Tensor* k = c.value(input).known ? &*c.value(input).known : nullptr) {
    c.set_known(0, k->reshape(Shape(dims)));
    return;
  }
  c.set_output(0, Reshape(c.input(input), dims));
}

std::vector<int64_t> input_dims(OpContext& c, int i) { return c.value(i).type().shape.dims(); }

void shape_op(OpContext& c) {
  std::vector<int64_t> dims = input_dims(c, 0);
  int64_t r = int64_t(dims.size());
  int64_t start = c.attr_int("start", 0), end = c.attr_int("end", r);
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = std::clamp<int64_t>(start, 0, r);
  end = std::clamp<int64_t>(end, 0, r);
  std::vector<int64_t> out;
  for (int64_t i = start; i < end; ++i) out.push_back(dims[size_t(i)]);
  c.set_known(0, int64_tensor(out));
}

void reshape_op(OpContext& c) {
  std::vector<int64_t> dims = input_dims(c, 0);
  std::vector<int64_t> target = c.opset() < 5 ? c.attr_ints("shape") : c.require_ints(1, "the target shape");
  bool allowzero = c.attr_int("allowzero", 0) != 0;
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == 0 && !allowzero) {
      if (i >= dims.size()) c.fail("target shape has 0 at axis ", i, " but the input ", Shape(dims), " has rank ", dims.size());
      target[i] = dims[i];
    }
  }
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == -1) {
      if (infer >= 0) c.fail("target shape has more than one -1");
      infer = int64_t(i);
    } else if (target[i] < 0) {
      c.fail("bad target dimension ", target[i]);
    } else {
      known *= target[i];
    }
  }
  int64_t total = Shape(dims).size();
  if (infer >= 0) {
    if (known == 0 || total % known != 0)
      c.fail("cannot infer the -1 of target shape from input ", Shape(dims), " (", total, " elements)");
    target[size_t(infer)] = total / known;
  }
  if (Shape(target).size() != total)
    c.fail("cannot reshape ", Shape(dims), " (", total, " elements) to ", Shape(target), " (", Shape(target).size(),
           " elements)");
  reshape_output(c, 0, target);
}

void flatten_op(OpContext& c) {
  std::vector<int64_t> dims = input_dims(c, 0);
  int r = int(dims.size());
  int64_t axis = c.attr_int("axis", 1);
  if (axis < 0) axis += r;
  if (axis < 0 || axis > r) c.fail("axis ", c.attr_int("axis", 1), " out of range for rank ", r);
  int64_t a = 1, b = 1;
  for (int i = 0; i < r; ++i) (i < axis ? a : b) *= dims[size_t(i)];
  reshape_output(c, 0, {a, b});
}

void unsqueeze_op(OpContext& c) {
  std::vector<int64_t> axes = c.opset() < 13 ? c.attr_ints("axes") : c.require_ints(1, "axes");
  std::vector<int64_t> dims = input_dims(c, 0);
  int out_rank = int(dims.size() + axes.size());
  axes = normalize_axes(c, axes, out_rank);
  std::sort(axes.begin(), axes.end());
  for (size_t i = 1; i < axes.size(); ++i)
    if (axes[i] == axes[i - 1]) c.fail("axis ", axes[i], " given twice");
  std::vector<int64_t> out;
  size_t k = 0, j = 0;
  for (int i = 0; i < out_rank; ++i) {
    if (k < axes.size() && axes[k] == i) {
      out.push_back(1);
      ++k;
    } else {
      out.push_back(dims[j++]);
    }
  }
  reshape_output(c, 0, out);
}

void squeeze_op(OpContext& c) {
  std::vector<int64_t> dims = input_dims(c, 0);
  std::vector<int64_t> axes;
  if (c.opset() < 13)
    axes = c.attr_ints("axes");
  else if (c.has_input(1))
    axes = c.require_ints(1, "axes");
  axes = normalize_axes(c, axes, int(dims.size()));
  std::vector<int64_t> out;
  for (int i = 0; i < int(dims.size()); ++i) {
    bool listed = std::find(axes.begin(), axes.end(), i) != axes.end();
    if (axes.empty() ? dims[size_t(i)] == 1 : listed) {
      if (dims[size_t(i)] != 1) c.fail("cannot squeeze axis ", i, " of ", Shape(dims), ": extent is not 1");
      continue;
    }
    out.push_back(dims[size_t(i)]);
  }
  reshape_output(c, 0, out);
}

void transpose_op(OpContext& c) {
  int r = c.value(0).type().shape.rank();
  std::vector<int64_t> perm = c.attr_ints("perm");
  if (perm.empty())
    for (int i = r - 1; i >= 0; --i) perm.push_back(i);
  if (int(perm.size()) != r) c.fail("perm has ", perm.size(), " entries for an input of rank ", r);
  c.set_output(0, Transpose(c.input(0), perm));
}

// Concatenation along axis 0 of known tensors is a byte concatenation.
std::optional<Tensor> host_concat0(const std::vector<const Tensor*>& ts) {
  std::vector<int64_t> dims = ts[0]->shape().dims();
  if (dims.empty()) return std::nullopt;
  dims[0] = 0;
  for (const Tensor* t : ts) {
    if (t->dtype() != ts[0]->dtype() || t->rank() != ts[0]->rank()) return std::nullopt;
    for (int i = 1; i < t->rank(); ++i)
      if (t->shape()[i] != ts[0]->shape()[i]) return std::nullopt;
    dims[0] += t->shape()[0];
  }
  Tensor out = Tensor::uninitialized(ts[0]->dtype(), Shape(dims));
  char* p = static_cast<char*>(out.raw());
  for (const Tensor* t : ts) {
    if (t->nbytes()) std::memcpy(p, t->raw(), t->nbytes());
    p += t->nbytes();
  }
  return out;
}

void concat_op(OpContext& c) {
  int64_t axis = c.attr_int("axis", 0);
  std::vector<int> present;
  for (int i = 0; i < c.num_inputs(); ++i)
    if (c.has_input(i)) present.push_back(i);
  if (present.empty()) c.fail("no inputs");
  int r = c.value(present[0]).type().shape.rank();
  int a = normalize_axis(c, axis, r);
  std::vector<const Tensor*> known;
  for (int i : present)
    if (c.value(i).known) known.push_back(&*c.value(i).known);
  if (a == 0 && known.size() == present.size())
    if (auto t = host_concat0(known)) return c.set_known(0, *t);
  std::vector<Node> xs;
  for (int i : present) {
    Node x = c.input(i);
    if (x.rank() != r) c.fail("input ", i, " has rank ", x.rank(), ", input ", present[0], " has rank ", r);
    xs.push_back(x);
  }
  c.set_output(0, Concatenate(xs, a));
}

void split_op(OpContext& c) {
  Node x = c.input(0);
  int axis = normalize_axis(c, c.attr_int("axis", 0), x.rank());
  int64_t d = x.dim(axis);
  int n = c.num_outputs();
  std::vector<int64_t> sizes;
  if (c.opset() < 13)
    sizes = c.attr_ints("split");
  else if (c.has_input(1))
    sizes = c.require_ints(1, "split sizes");
  if (sizes.empty()) {
    int64_t parts = c.opset() >= 18 && c.has_attr("num_outputs") ? c.attr_int("num_outputs", n) : n;
    if (parts <= 0) c.fail("num_outputs must be positive");
    int64_t chunk = (d + parts - 1) / parts;
    if (c.opset() < 18 && d % parts != 0) c.fail("axis ", axis, " of extent ", d, " does not split evenly into ", parts);
    for (int64_t i = 0, left = d; i < parts; ++i) {
      sizes.push_back(std::min(chunk, left));
      left -= sizes.back();
    }
  }
  if (int(sizes.size()) != n) c.fail(sizes.size(), " split sizes for ", n, " outputs");
  int64_t total = 0;
  for (int64_t s : sizes) total += s;
  if (total != d) c.fail("split sizes add up to ", total, ", but axis ", axis, " has extent ", d);
  int64_t start = 0;
  for (int i = 0; i < n; ++i) {
    c.set_output(i, SliceAxis(x, axis, start, start + sizes[size_t(i)]));
    start += sizes[size_t(i)];
  }
}

}  // namespace

// ONNX Slice semantics on one axis: negative indices count from the end; starts clamp to [0, d] (forward)
// or [0, d-1] (backward), ends to [0, d] or [-1, d-1].
Node onnx_slice(Node x, const std::vector<int64_t>& starts_in, const std::vector<int64_t>& ends_in,
                const std::vector<int64_t>& axes, const std::vector<int64_t>& steps) {
  int r = x.rank();
  std::vector<int64_t> starts(size_t(r), 0), limits = x.shape().dims(), strides(size_t(r), 1);
  std::vector<int64_t> reverse_axes;
  for (size_t k = 0; k < axes.size(); ++k) {
    int a = int(axes[k]);
    int64_t d = x.dim(a), step = steps[k], s = starts_in[k], e = ends_in[k];
    GRAFT_CHECK(step != 0, "Slice: step 0 on axis ", a);
    if (s < 0) s += d;
    if (e < 0) e += d;
    int64_t n;
    if (step > 0) {
      s = std::clamp<int64_t>(s, 0, d);
      e = std::clamp<int64_t>(e, 0, d);
      n = e > s ? (e - s + step - 1) / step : 0;
    } else {
      s = std::clamp<int64_t>(s, 0, d - 1);
      e = std::clamp<int64_t>(e, -1, d - 1);
      n = s > e ? (s - e + (-step) - 1) / (-step) : 0;
    }
    if (d == 0) n = 0;
    if (step > 0) {
      starts[size_t(a)] = n ? s : 0;
      limits[size_t(a)] = n ? s + (n - 1) * step + 1 : 0;
      strides[size_t(a)] = step;
    } else {
      reverse_axes.push_back(a);
      int64_t rs = d - 1 - s;
      starts[size_t(a)] = n ? rs : 0;
      limits[size_t(a)] = n ? rs + (n - 1) * (-step) + 1 : 0;
      strides[size_t(a)] = -step;
    }
  }
  Node y = reverse_axes.empty() ? x : Reverse(x, reverse_axes);
  return Slice(y, starts, limits, strides);
}

namespace {

void slice_op(OpContext& c) {
  int r = c.value(0).type().shape.rank();
  std::vector<int64_t> starts, ends, axes, steps;
  if (c.opset() < 10) {
    starts = c.attr_ints("starts");
    ends = c.attr_ints("ends");
    axes = c.attr_ints("axes");
  } else {
    starts = c.require_ints(1, "starts");
    ends = c.require_ints(2, "ends");
    if (c.has_input(3)) axes = c.require_ints(3, "axes");
    if (c.has_input(4)) steps = c.require_ints(4, "steps");
  }
  if (starts.size() != ends.size()) c.fail(starts.size(), " starts but ", ends.size(), " ends");
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(int64_t(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (axes.size() != starts.size() || steps.size() != starts.size())
    c.fail("starts, ends, axes and steps must have the same length");
  axes = normalize_axes(c, axes, r);
  for (int64_t s : steps)
    if (s == 0) c.fail("step 0");
  c.set_output(0, onnx_slice(c.input(0), starts, ends, axes, steps));
}

void expand_op(OpContext& c) {
  Node x = c.input(0);
  std::vector<int64_t> target = c.require_ints(1, "the target shape");
  Shape out;
  try {
    out = broadcast_shapes(x.shape(), Shape(target), "Expand");
  } catch (const Error&) {
    c.fail("input ", x.shape(), " cannot be expanded to ", Shape(target));
  }
  c.set_output(0, BroadcastTo(x, out));
}

void tile_op(OpContext& c) {
  Node x = c.input(0);
  std::vector<int64_t> reps = c.require_ints(1, "repeats");
  if (int(reps.size()) != x.rank()) c.fail(reps.size(), " repeats for an input of rank ", x.rank());
  std::vector<int64_t> inter, bcast, out;
  Axes dims;
  for (int i = 0; i < x.rank(); ++i) {
    if (reps[size_t(i)] < 0) c.fail("negative repeat ", reps[size_t(i)]);
    inter.push_back(1);
    inter.push_back(x.dim(i));
    bcast.push_back(reps[size_t(i)]);
    bcast.push_back(x.dim(i));
    int64_t extent = 0;
    if (__builtin_mul_overflow(reps[size_t(i)], x.dim(i), &extent))
      c.fail("repeat ", reps[size_t(i)], " of axis ", i, " (extent ", x.dim(i), ") overflows int64");
    out.push_back(extent);
  }
  Node y = Reshape(x, inter);
  y = BroadcastTo(y, Shape(bcast));
  c.set_output(0, Reshape(y, out));
}

void pad_op(OpContext& c) {
  Node x = c.input(0);
  int r = x.rank();
  std::string mode = c.attr_string("mode", "constant");
  std::vector<int64_t> pads;
  std::optional<Node> value;
  std::vector<int64_t> axes;
  if (c.opset() < 11) {
    pads = c.attr_ints(c.opset() < 2 ? "paddings" : "pads");
    value = ScalarLike(x, c.attr_float("value", 0.0));
  } else {
    pads = c.require_ints(1, "pads");
    if (auto v = c.optional_input(2)) {
      if (v->shape().size() != 1) c.fail("constant_value must be a scalar");
      value = Reshape(Convert(*v, x.dtype()), {});
    }
    if (c.has_input(3)) axes = c.require_ints(3, "axes");
  }
  if (axes.empty())
    for (int i = 0; i < r; ++i) axes.push_back(i);
  axes = normalize_axes(c, axes, r);
  if (pads.size() != 2 * axes.size()) c.fail(pads.size(), " pads for ", axes.size(), " axes (need 2 per axis)");
  std::vector<int64_t> lo(size_t(r), 0), hi(size_t(r), 0);
  for (size_t k = 0; k < axes.size(); ++k) {
    lo[size_t(axes[k])] = pads[k];
    hi[size_t(axes[k])] = pads[k + axes.size()];
  }
  PadMode m = PadMode::Constant;
  if (mode == "reflect")
    m = PadMode::Reflect;
  else if (mode == "edge")
    m = PadMode::Edge;
  else if (mode == "wrap")
    m = PadMode::Wrap;
  else if (mode != "constant")
    c.fail("unknown mode '", mode, "'");
  c.set_output(0, Pad(x, lo, hi, m, m == PadMode::Constant ? value : std::nullopt));
}

void constant_op(OpContext& c) {
  if (auto t = c.attr_tensor("value")) {
    // A lifted constant of the main graph (TraceOptions::lifted_constants) is traced as an initializer.
    const TraceState& st = c.tracer().state();
    const std::string& out = c.node().output(0);
    if (!c.scope().parent() && st.options && st.options->initializer && st.options->lifted_constants.count(out)) {
      Node n = st.options->initializer(c.graph(), out, *t);
      if (st.initializer_nodes) (*st.initializer_nodes)[out] = n;
      return c.set_output(0, n);
    }
    return c.set_known(0, *t);
  }
  if (c.has_attr("value_float")) return c.set_known(0, Tensor::scalar(float(c.attr_float("value_float", 0))));
  if (c.has_attr("value_int")) return c.set_known(0, Tensor::scalar(c.attr_int("value_int", 0)));
  if (c.has_attr("value_floats")) return c.set_known(0, Tensor::from_vector(c.attr_floats("value_floats")));
  if (c.has_attr("value_ints")) return c.set_known(0, Tensor::from_vector(c.attr_ints("value_ints")));
  if (c.has_attr("sparse_value")) c.fail("sparse constants are not supported");
  if (c.has_attr("value_string") || c.has_attr("value_strings")) c.fail("string constants are not supported");
  c.fail("no value attribute");
}

void constant_of_shape_op(OpContext& c) {
  std::vector<int64_t> dims = c.require_ints(0, "the shape");
  for (int64_t d : dims)
    if (d < 0) c.fail("negative dimension ", d, " in shape");
  DType dtype = DType::F32;
  double v = 0;
  if (auto t = c.attr_tensor("value")) {
    if (t->size() != 1) c.fail("value must hold one element");
    dtype = t->dtype();
    v = t->value_as_double(0);
  }
  Shape s(dims);
  if (s.size() <= 4096) return c.set_known(0, Tensor::full(dtype, s, v));
  c.set_output(0, Full(c.graph(), dtype, s, v));
}

// An integer scalar's value, exactly (value_as_double rounds int64 values beyond 2^53).
int64_t int64_scalar(const Tensor& t) { return t.cast(DType::I64).data<int64_t>()[0]; }

void range_op(OpContext& c) {
  const Tensor& start = c.require_known(0, "start");
  const Tensor& limit = c.require_known(1, "limit");
  const Tensor& delta = c.require_known(2, "delta");
  DType d = start.dtype();
  double s = start.value_as_double(0), l = limit.value_as_double(0), dl = delta.value_as_double(0);
  if (dl == 0) c.fail("delta is 0");
  // The element count max(ceil((limit - start) / delta), 0), computed without overflow (integers in 128 bits,
  // floats in double) and checked against the memory limit before anything is allocated.
  double count = 0;
  if (is_integer(d)) {
    const __int128 si = int64_scalar(start), li = int64_scalar(limit), di = int64_scalar(delta);
    const __int128 span = li - si, q = span / di + ((span % di != 0 && (span < 0) == (di < 0)) ? 1 : 0);
    count = q > 0 ? double(q) : 0.0;
  } else {
    count = std::ceil((l - s) / dl);
    if (std::isnan(count)) c.fail("start ", s, ", limit ", l, " and delta ", dl, " give no element count");
    count = std::max(count, 0.0);
  }
  if (count > double(int64_t(1) << 56))
    c.fail("start ", s, ", limit ", l, " and delta ", dl, " give ", count, " elements, more than 2^56");
  check_memory(uint64_t(count) * uint64_t(dtype_size(d)), "Range of " + std::to_string(uint64_t(count)) + " elements");
  int64_t n = int64_t(count);
  if (is_integer(d)) {
    // si + i·di stays within [start, limit), but i·di alone need not fit int64 (start -7e18, delta 2e16):
    // the product is taken in 128 bits.
    const __int128 si = int64_scalar(start), di = int64_scalar(delta);
    std::vector<int64_t> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[size_t(i)] = int64_t(si + __int128(i) * di);
    return c.set_known(0, Tensor::from_vector(v).cast(d));
  }
  if (n <= 4096) {
    std::vector<double> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[size_t(i)] = s + double(i) * dl;
    return c.set_known(0, Tensor::from_vector(v).cast(d));
  }
  Node i = Iota(c.graph(), d, Shape{n}, 0);
  c.set_output(0, i * dl + s);
}

void eye_like_op(OpContext& c) {
  Node x = c.input(0);
  if (x.rank() != 2) c.fail("input must be 2-D, got ", x.shape());
  DType d = c.has_attr("dtype") ? onnx_dtype_attr(c, c.attr_int("dtype", 1)) : x.dtype();
  int64_t k = c.attr_int("k", 0);
  Node rows = Iota(c.graph(), DType::I64, x.shape(), 0), cols = Iota(c.graph(), DType::I64, x.shape(), 1);
  Node eq = Equal(cols - rows, ScalarLike(rows, double(k)));
  c.set_output(0, Convert(eq, d));
}

void depth_to_space_op(OpContext& c) {
  Node x = c.input(0);
  if (x.rank() != 4) c.fail("input must be [N, C, H, W], got ", x.shape());
  int64_t b = c.attr_int("blocksize", 0), n = x.dim(0), ch = x.dim(1), h = x.dim(2), w = x.dim(3);
  if (b <= 0 || ch % (b * b) != 0) c.fail("channels ", ch, " not divisible by blocksize^2 (", b, "^2)");
  bool crd = c.attr_string("mode", "DCR") == "CRD";
  Node y = crd ? Transpose(Reshape(x, {n, ch / (b * b), b, b, h, w}), {0, 1, 4, 2, 5, 3})
               : Transpose(Reshape(x, {n, b, b, ch / (b * b), h, w}), {0, 3, 4, 1, 5, 2});
  c.set_output(0, Reshape(y, {n, ch / (b * b), h * b, w * b}));
}

void space_to_depth_op(OpContext& c) {
  Node x = c.input(0);
  if (x.rank() != 4) c.fail("input must be [N, C, H, W], got ", x.shape());
  int64_t b = c.attr_int("blocksize", 0), n = x.dim(0), ch = x.dim(1), h = x.dim(2), w = x.dim(3);
  if (b <= 0 || h % b || w % b) c.fail("spatial extents ", h, "x", w, " not divisible by blocksize ", b);
  Node y = Transpose(Reshape(x, {n, ch, h / b, b, w / b, b}), {0, 3, 5, 1, 2, 4});
  c.set_output(0, Reshape(y, {n, ch * b * b, h / b, w / b}));
}

}  // namespace

void register_layout_ops(Registry& r) {
  r.add("", "Shape", 1, shape_op);
  r.add("", "Size", 1, [](OpContext& c) { c.set_known(0, Tensor::scalar(c.value(0).type().shape.size())); });
  r.add("", "Reshape", 1, reshape_op);
  r.add("", "Flatten", 1, flatten_op);
  r.add("", "Unsqueeze", 1, unsqueeze_op);
  r.add("", "Squeeze", 1, squeeze_op);
  r.add("", "Transpose", 1, transpose_op);
  r.add("", "Concat", 4, concat_op);
  r.add("", "Split", 2, split_op);
  r.add("", "Slice", 1, slice_op);
  r.add("", "Expand", 8, expand_op);
  r.add("", "Tile", 6, tile_op);
  r.add("", "Pad", 2, pad_op);
  r.add("", "Constant", 1, constant_op);
  r.add("", "ConstantOfShape", 9, constant_of_shape_op);
  r.add("", "Range", 11, range_op);
  r.add("", "EyeLike", 9, eye_like_op);
  r.add("", "DepthToSpace", 1, depth_to_space_op);
  r.add("", "SpaceToDepth", 1, space_to_depth_op);
}

}  // namespace graft::onnx
