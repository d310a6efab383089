// Layout builders: broadcast, reshape, transpose, slicing, concatenation, padding, reversal.
#include <algorithm>
#include <limits>
#include <numeric>

#include "graft/graph/ops.h"
#include "graph/builder_util.h"

namespace graft {

using detail::axes_str;
using detail::normalize_axes;

Node BroadcastInDim(Node x, Shape shape, Axes dims) {
  GRAFT_CHECK(int(dims.size()) == x.rank(), "BroadcastInDim of ", x.describe(), ": ", dims.size(),
              " dims for operand of rank ", x.rank());
  for (int i = 0; i < x.rank(); ++i) {
    GRAFT_CHECK(dims[i] >= 0 && dims[i] < shape.rank(), "BroadcastInDim of ", x.describe(), ": dim ", dims[i],
                " out of range for output ", shape);
    GRAFT_CHECK(i == 0 || dims[i] > dims[i - 1], "BroadcastInDim of ", x.describe(), ": dims ", axes_str(dims),
                " must increase");
    int64_t d = x.shape()[i];
    GRAFT_CHECK(d == 1 || d == shape[int(dims[i])], "BroadcastInDim of ", x.describe(), ": operand ", x.shape(),
                " axis ", i, " (", d, ") cannot broadcast to ", shape, " axis ", dims[i]);
  }
  if (x.shape() == shape) return x;
  return x.graph()->add_op1(OpKind::BroadcastInDim, {x}, BroadcastInDimAttrs{std::move(dims)},
                            ValueType{x.dtype(), std::move(shape)});
}

Node BroadcastTo(Node x, Shape shape) {
  GRAFT_CHECK(x.rank() <= shape.rank(), "BroadcastTo: ", x.describe(), " ", x.shape(), " has higher rank than ",
              shape);
  broadcast_shapes(x.shape(), shape, "BroadcastTo of " + x.describe());
  Shape check = broadcast_shapes(x.shape(), shape, "BroadcastTo");
  GRAFT_CHECK(check == shape, "BroadcastTo: ", x.describe(), " ", x.shape(), " does not broadcast to ", shape);
  Axes dims(static_cast<size_t>(x.rank()));
  std::iota(dims.begin(), dims.end(), int64_t(shape.rank() - x.rank()));
  return BroadcastInDim(x, std::move(shape), std::move(dims));
}

Node Reshape(Node x, std::vector<int64_t> dims) {
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == -1) {
      GRAFT_CHECK(infer < 0, "Reshape of ", x.describe(), ": more than one -1 in target ", axes_str(dims));
      infer = int(i);
    } else {
      GRAFT_CHECK(dims[i] >= 0, "Reshape of ", x.describe(), ": bad target dimension ", dims[i]);
      known *= dims[i];
    }
  }
  if (infer >= 0) {
    GRAFT_CHECK(known != 0 && x.shape().size() % known == 0, "Reshape of ", x.describe(), ": cannot infer -1 in ",
                axes_str(dims), " from ", x.shape());
    dims[size_t(infer)] = x.shape().size() / known;
  }
  Shape s(dims);
  GRAFT_CHECK(s.size() == x.shape().size(), "Reshape of ", x.describe(), ": ", x.shape(), " (", x.shape().size(),
              " elements) to ", s, " (", s.size(), " elements)");
  if (s == x.shape()) return x;
  return x.graph()->add_op1(OpKind::Reshape, {x}, NoAttrs{}, ValueType{x.dtype(), std::move(s)});
}

Node Transpose(Node x, Axes perm) {
  GRAFT_CHECK(int(perm.size()) == x.rank(), "Transpose of ", x.describe(), ": permutation ", axes_str(perm),
              " for rank ", x.rank());
  perm = normalize_axes(perm, x.rank(), "Transpose of " + x.describe());
  bool identity = true;
  std::vector<int64_t> dims(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) {
    dims[i] = x.shape()[int(perm[i])];
    identity &= perm[i] == int64_t(i);
  }
  if (identity) return x;
  return x.graph()->add_op1(OpKind::Transpose, {x}, TransposeAttrs{std::move(perm)},
                            ValueType{x.dtype(), Shape(std::move(dims))});
}

Node ExpandDims(Node x, int axis) {
  int r = x.rank() + 1;
  GRAFT_CHECK(axis >= -r && axis < r, "ExpandDims of ", x.describe(), ": axis ", axis, " out of range");
  if (axis < 0) axis += r;
  std::vector<int64_t> dims = x.shape().dims();
  dims.insert(dims.begin() + axis, 1);
  return Reshape(x, dims);
}

Node Squeeze(Node x, Axes axes) {
  axes = normalize_axes(axes, x.rank(), "Squeeze of " + x.describe());
  std::vector<int64_t> dims;
  for (int i = 0; i < x.rank(); ++i) {
    bool listed = std::find(axes.begin(), axes.end(), i) != axes.end();
    if (axes.empty() ? x.shape()[i] == 1 : listed) {
      GRAFT_CHECK(x.shape()[i] == 1, "Squeeze of ", x.describe(), ": axis ", i, " of ", x.shape(), " is not 1");
      continue;
    }
    dims.push_back(x.shape()[i]);
  }
  return Reshape(x, dims);
}

Node Slice(Node x, Axes starts, Axes limits, Axes strides) {
  int r = x.rank();
  if (strides.empty()) strides.assign(size_t(r), 1);
  GRAFT_CHECK(int(starts.size()) == r && int(limits.size()) == r && int(strides.size()) == r, "Slice of ",
              x.describe(), ": starts/limits/strides must have rank ", r);
  std::vector<int64_t> dims(static_cast<size_t>(r));
  bool identity = true;
  for (int i = 0; i < r; ++i) {
    int64_t d = x.shape()[i];
    GRAFT_CHECK(strides[i] >= 1, "Slice of ", x.describe(), ": stride ", strides[i], " on axis ", i,
                " must be positive (use SliceAxis or Reverse for negative steps)");
    GRAFT_CHECK(0 <= starts[i] && starts[i] <= limits[i] && limits[i] <= d, "Slice of ", x.describe(), ": [",
                starts[i], ", ", limits[i], ") out of range on axis ", i, " of ", x.shape());
    dims[i] = limits[i] > starts[i] ? 1 + (limits[i] - starts[i] - 1) / strides[i] : 0;  // no overflow for huge strides
    if (dims[i] <= 1) {  // a stride over at most one element is irrelevant: keep kernels' stride products small
      strides[i] = 1;
      limits[i] = starts[i] + dims[i];
    }
    identity &= dims[i] == d;
  }
  if (identity) return x;
  return x.graph()->add_op1(OpKind::Slice, {x}, SliceAttrs{std::move(starts), std::move(limits), std::move(strides)},
                            ValueType{x.dtype(), Shape(std::move(dims))});
}

Node SliceAxis(Node x, int axis, std::optional<int64_t> start, std::optional<int64_t> end, int64_t step) {
  axis = x.shape().normalize_axis(axis);
  int64_t d = x.shape()[axis];
  GRAFT_CHECK(step != 0, "SliceAxis of ", x.describe(), ": step 0");
  Axes starts(static_cast<size_t>(x.rank()), 0), limits = x.shape().dims(), strides(size_t(x.rank()), 1);
  auto norm = [&](int64_t v, int64_t lo, int64_t hi) {
    if (v < 0) v += d;
    return std::clamp(v, lo, hi);
  };
  if (step > 0) {
    int64_t s = start ? norm(*start, 0, d) : 0;
    int64_t e = end ? norm(*end, 0, d) : d;
    starts[axis] = s;
    limits[axis] = std::max(s, e);
    strides[axis] = step;
    return Slice(x, starts, limits, strides);
  }
  // Walking backwards: x[s:e:-k] takes s, s-k, ... while > e. Reverse the axis, then slice forwards.
  int64_t s = start ? norm(*start, -1, d - 1) : d - 1;
  int64_t e = end ? norm(*end, -1, d - 1) : -1;
  if (end && *end < -d) e = -1;
  if (step == std::numeric_limits<int64_t>::min()) step = -std::numeric_limits<int64_t>::max();  // same slice; -step fits
  int64_t count = s > e ? 1 + (s - e - 1) / (-step) : 0;
  Node rev = Reverse(x, {axis});
  int64_t rs = d - 1 - s;  // position of s in the reversed axis
  starts[axis] = count ? rs : 0;
  strides[axis] = count > 1 ? -step : 1;
  limits[axis] = count ? rs + (count - 1) * strides[axis] + 1 : 0;
  return Slice(rev, starts, limits, strides);
}

Node DynamicSlice(Node x, std::vector<Node> starts, Axes sizes) {
  GRAFT_CHECK(int(starts.size()) == x.rank() && int(sizes.size()) == x.rank(), "DynamicSlice of ", x.describe(),
              ": need ", x.rank(), " start indices and sizes");
  std::vector<Node> inputs{x};
  for (int i = 0; i < x.rank(); ++i) {
    GRAFT_CHECK(starts[i].rank() == 0 && is_integer(starts[i].dtype()), "DynamicSlice of ", x.describe(),
                ": start index ", i, " must be an integer scalar, got ", starts[i].type().str());
    GRAFT_CHECK(sizes[i] >= 0 && sizes[i] <= x.shape()[i], "DynamicSlice of ", x.describe(), ": size ", sizes[i],
                " exceeds axis ", i, " of ", x.shape());
    inputs.push_back(Convert(starts[i], DType::I64));
  }
  return x.graph()->add_op1(OpKind::DynamicSlice, std::move(inputs), DynamicSliceAttrs{sizes},
                            ValueType{x.dtype(), Shape(sizes)});
}

Node DynamicUpdateSlice(Node x, Node update, std::vector<Node> starts) {
  GRAFT_CHECK(update.dtype() == x.dtype() && update.rank() == x.rank(), "DynamicUpdateSlice of ", x.describe(),
              ": update ", update.type().str(), " does not match operand ", x.type().str());
  GRAFT_CHECK(int(starts.size()) == x.rank(), "DynamicUpdateSlice of ", x.describe(), ": need ", x.rank(),
              " start indices");
  std::vector<Node> inputs{x, update};
  for (int i = 0; i < x.rank(); ++i) {
    GRAFT_CHECK(update.shape()[i] <= x.shape()[i], "DynamicUpdateSlice of ", x.describe(), ": update ",
                update.shape(), " larger than operand ", x.shape());
    GRAFT_CHECK(starts[i].rank() == 0 && is_integer(starts[i].dtype()), "DynamicUpdateSlice: start index ", i,
                " must be an integer scalar");
    inputs.push_back(Convert(starts[i], DType::I64));
  }
  return x.graph()->add_op1(OpKind::DynamicUpdateSlice, std::move(inputs), NoAttrs{}, x.type());
}

Node Concatenate(std::vector<Node> xs, int axis) {
  GRAFT_CHECK(!xs.empty(), "Concatenate: no operands");
  if (xs.size() == 1) return xs[0];
  const Node& first = xs[0];
  axis = first.shape().normalize_axis(axis);
  std::vector<int64_t> dims = first.shape().dims();
  dims[size_t(axis)] = 0;
  for (const Node& x : xs) {
    GRAFT_CHECK(x.dtype() == first.dtype() && x.rank() == first.rank(), "Concatenate: ", x.describe(), " is ",
                x.type().str(), ", ", first.describe(), " is ", first.type().str());
    for (int i = 0; i < x.rank(); ++i)
      GRAFT_CHECK(i == axis || x.shape()[i] == first.shape()[i], "Concatenate on axis ", axis, ": shapes ",
                  first.shape(), " and ", x.shape(), " differ on axis ", i);
    dims[size_t(axis)] += x.shape()[axis];
  }
  return first.graph()->add_op1(OpKind::Concatenate, xs, ConcatenateAttrs{axis},
                                ValueType{first.dtype(), Shape(std::move(dims))});
}

Node Pad(Node x, Axes low, Axes high, PadMode mode, std::optional<Node> value) {
  int r = x.rank();
  GRAFT_CHECK(int(low.size()) == r && int(high.size()) == r, "Pad of ", x.describe(), ": pads must have rank ", r);
  Node v = value ? *value : ScalarLike(x, 0.0);
  GRAFT_CHECK(v.rank() == 0 && v.dtype() == x.dtype(), "Pad of ", x.describe(), ": pad value must be a ",
              dtype_name(x.dtype()), " scalar, got ", v.type().str());
  std::vector<int64_t> dims(static_cast<size_t>(r));
  bool identity = true;
  for (int i = 0; i < r; ++i) {
    int64_t d = x.shape()[i];
    // Pads come straight from model files (ONNX Pad's `pads` input): a hostile INT64_MIN must be an error,
    // not a signed overflow that wraps into a plausible length.
    GRAFT_CHECK(!__builtin_add_overflow(d, low[i], &dims[i]) && !__builtin_add_overflow(dims[i], high[i], &dims[i]),
                "Pad of ", x.describe(), ": pads ", low[i], "/", high[i], " on axis ", i, " of ", x.shape(),
                " overflow a 64-bit length");
    GRAFT_CHECK(dims[i] >= 0, "Pad of ", x.describe(), ": pads ", low[i], "/", high[i], " crop axis ", i, " of ",
                x.shape(), " below zero");
    if (mode == PadMode::Reflect)
      GRAFT_CHECK(low[i] < d && high[i] < d, "Pad of ", x.describe(), ": reflect pad ", low[i], "/", high[i],
                  " needs axis ", i, " longer than the pad (", d, ")");
    if (mode == PadMode::Edge || mode == PadMode::Wrap)
      GRAFT_CHECK(d > 0 || (low[i] <= 0 && high[i] <= 0), "Pad of ", x.describe(), ": cannot edge-pad empty axis ", i);
    identity &= low[i] == 0 && high[i] == 0;
  }
  if (identity) return x;
  return x.graph()->add_op1(OpKind::Pad, {x, v}, PadAttrs{std::move(low), std::move(high), mode},
                            ValueType{x.dtype(), Shape(std::move(dims))});
}

std::vector<int64_t> pad_source_map(int64_t d, int64_t lo, int64_t hi, PadMode mode) {
  int64_t n = d + lo + hi;
  std::vector<int64_t> map(static_cast<size_t>(std::max<int64_t>(n, 0)));
  for (int64_t o = 0; o < n; ++o) {
    int64_t i = o - lo;
    if (i < 0 || i >= d) {
      switch (mode) {
        case PadMode::Constant: i = -1; break;
        case PadMode::Edge: i = std::clamp<int64_t>(i, 0, d - 1); break;
        case PadMode::Wrap: i = ((i % d) + d) % d; break;
        case PadMode::Reflect: {
          int64_t period = 2 * (d - 1);
          if (period == 0) {
            i = 0;
            break;
          }
          i = ((i % period) + period) % period;
          if (i >= d) i = period - i;
          break;
        }
      }
    }
    map[size_t(o)] = i;
  }
  return map;
}

Node Reverse(Node x, Axes axes) {
  axes = normalize_axes(axes, x.rank(), "Reverse of " + x.describe());
  if (axes.empty()) return x;
  std::sort(axes.begin(), axes.end());
  return x.graph()->add_op1(OpKind::Reverse, {x}, ReverseAttrs{std::move(axes)}, x.type());
}

}  // namespace graft
