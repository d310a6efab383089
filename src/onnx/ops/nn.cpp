// Convolution and pooling (Conv, ConvTranspose, MaxPool, AveragePool, LpPool, Global*Pool), LRN,
// Dropout (identity in inference, a seeded mask in training), and resampling (Resize, Upsample).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "onnx/converter.h"
#include "onnx/ops/random.h"

namespace graft::onnx {

namespace {

struct Window {
  std::vector<int64_t> kernel, strides, dilations, pad_low, pad_high;
  std::vector<int64_t> ceil_extra;  // part of pad_high added by ceil_mode (not padding the model asked for)
};

// Kernel/strides/dilations/pads with auto_pad resolved for `spatial` input extents.
Window window_attrs(OpContext& c, const std::vector<int64_t>& spatial, std::vector<int64_t> kernel, bool ceil_mode = false) {
  size_t s = spatial.size();
  Window w;
  w.kernel = std::move(kernel);
  if (w.kernel.size() != s) c.fail("kernel_shape has ", w.kernel.size(), " entries for ", s, " spatial axes");
  w.strides = c.attr_ints("strides", std::vector<int64_t>(s, 1));
  w.dilations = c.attr_ints("dilations", std::vector<int64_t>(s, 1));
  std::vector<int64_t> pads = c.attr_ints("pads", std::vector<int64_t>(2 * s, 0));
  if (w.strides.size() != s || w.dilations.size() != s || pads.size() != 2 * s)
    c.fail("strides/dilations/pads do not match ", s, " spatial axes");
  w.pad_low.assign(pads.begin(), pads.begin() + long(s));
  w.pad_high.assign(pads.begin() + long(s), pads.end());
  std::string auto_pad = c.attr_string("auto_pad", "NOTSET");
  w.ceil_extra.assign(s, 0);
  for (size_t i = 0; i < s; ++i) {
    int64_t span = (w.kernel[i] - 1) * w.dilations[i] + 1;
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      int64_t out = (spatial[i] + w.strides[i] - 1) / w.strides[i];
      int64_t total = std::max<int64_t>((out - 1) * w.strides[i] + span - spatial[i], 0);
      int64_t small = total / 2;
      w.pad_low[i] = auto_pad == "SAME_UPPER" ? small : total - small;
      w.pad_high[i] = total - w.pad_low[i];
    } else if (auto_pad == "VALID") {
      w.pad_low[i] = w.pad_high[i] = 0;
    } else if (auto_pad != "NOTSET") {
      c.fail("unknown auto_pad '", auto_pad, "'");
    }
    if (ceil_mode) {
      int64_t padded = spatial[i] + w.pad_low[i] + w.pad_high[i];
      int64_t out = (padded - span + w.strides[i] - 1) / w.strides[i] + 1;
      // A window may not start in the right padding.
      if ((out - 1) * w.strides[i] >= spatial[i] + w.pad_low[i]) --out;
      int64_t need = (out - 1) * w.strides[i] + span - padded;
      if (need > 0) {
        w.pad_high[i] += need;
        w.ceil_extra[i] = need;
      }
    }
  }
  return w;
}

std::vector<int64_t> spatial_dims(Node x) {
  return std::vector<int64_t>(x.shape().dims().begin() + 2, x.shape().dims().end());
}

void conv_op(OpContext& c) {
  Node x = c.input(0), w = c.input(1);
  if (x.rank() < 3) c.fail("input must be [N, C, spatial...], got ", x.shape());
  std::vector<int64_t> kernel = c.attr_ints("kernel_shape", spatial_dims(w));
  Window win = window_attrs(c, spatial_dims(x), kernel);
  ConvolutionAttrs a;
  a.strides = win.strides;
  a.dilations = win.dilations;
  a.pad_low = win.pad_low;
  a.pad_high = win.pad_high;
  a.groups = c.attr_int("group", 1);
  Node y = Convolution(x, Convert(w, x.dtype()), a);
  if (auto b = c.optional_input(2)) {
    std::vector<int64_t> bs(size_t(y.rank()), 1);
    bs[1] = y.dim(1);
    y = y + Reshape(Convert(*b, y.dtype()), bs);
  }
  c.set_output(0, y);
}

void conv_transpose_op(OpContext& c) {
  Node x = c.input(0), w = c.input(1);
  if (x.rank() < 3) c.fail("input must be [N, C, spatial...], got ", x.shape());
  std::vector<int64_t> in = spatial_dims(x);
  size_t s = in.size();
  std::vector<int64_t> kernel = c.attr_ints("kernel_shape", spatial_dims(w));
  std::vector<int64_t> strides = c.attr_ints("strides", std::vector<int64_t>(s, 1));
  std::vector<int64_t> dil = c.attr_ints("dilations", std::vector<int64_t>(s, 1));
  std::vector<int64_t> out_pad = c.attr_ints("output_padding", std::vector<int64_t>(s, 0));
  std::vector<int64_t> pads = c.attr_ints("pads", std::vector<int64_t>(2 * s, 0));
  std::vector<int64_t> out_shape = c.attr_ints("output_shape");
  std::string auto_pad = c.attr_string("auto_pad", "NOTSET");
  if (out_shape.size() > s) out_shape.erase(out_shape.begin(), out_shape.end() - long(s));  // [N, C, ...] given
  ConvolutionAttrs a;
  a.transposed = true;
  a.groups = c.attr_int("group", 1);
  a.strides = strides;
  a.dilations = dil;
  a.output_padding = out_pad;
  a.pad_low.assign(pads.begin(), pads.begin() + long(s));
  a.pad_high.assign(pads.begin() + long(s), pads.end());
  if (!out_shape.empty() || auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    for (size_t i = 0; i < s; ++i) {
      int64_t target = out_shape.empty() ? in[i] * strides[i] : out_shape[i];
      int64_t full = strides[i] * (in[i] - 1) + out_pad[i] + (kernel[i] - 1) * dil[i] + 1;
      int64_t total = full - target;
      if (total < 0) {  // the output is larger than the kernel reaches: extend with output padding
        a.output_padding[i] += -total;
        total = 0;
      }
      if (auto_pad == "SAME_UPPER") {
        a.pad_low[i] = total / 2;
        a.pad_high[i] = total - total / 2;
      } else {
        a.pad_low[i] = total - total / 2;
        a.pad_high[i] = total / 2;
      }
    }
  }
  Node y = Convolution(x, Convert(w, x.dtype()), a);
  if (auto b = c.optional_input(2)) {
    std::vector<int64_t> bs(size_t(y.rank()), 1);
    bs[1] = y.dim(1);
    y = y + Reshape(Convert(*b, y.dtype()), bs);
  }
  c.set_output(0, y);
}

// MaxPool's Indices output: for every output element, the flat index into the input [N, C, spatial...] of
// the first (scan-order) maximum of its window; padding never counts. storage_order 1 numbers the spatial
// positions column-major (the first spatial axis fastest), still offset by (n * C + c) * spatial size.
// Built as a gather of every window (host index tables) and an ArgMax over the window axis.
Node max_pool_indices(OpContext& c, Node x, const Window& w) {
  Graph& g = c.graph();
  int64_t storage_order = c.attr_int("storage_order", 0);
  if (storage_order != 0 && storage_order != 1) c.fail("storage_order must be 0 or 1, got ", storage_order);
  std::vector<int64_t> in = spatial_dims(x);
  size_t s = in.size();
  std::vector<int64_t> padded(s), out(s);
  int64_t K = 1, O = 1, S = 1, P = 1;
  for (size_t i = 0; i < s; ++i) {
    padded[i] = in[i] + w.pad_low[i] + w.pad_high[i];
    int64_t span = (w.kernel[i] - 1) * w.dilations[i] + 1;
    out[i] = (padded[i] - span) / w.strides[i] + 1;
    if (out[i] < 1) c.fail("the window does not fit the padded input on spatial axis ", i);
    K *= w.kernel[i];
    O *= out[i];
    S *= in[i];
    P *= padded[i];
  }
  // Per (output position, window tap): the padded flat position to read, and the input index it stands for.
  std::vector<int64_t> read(size_t(O * K)), orig(size_t(O * K));
  std::vector<int64_t> o_pos(s), k_pos(s);
  for (int64_t o = 0; o < O; ++o) {
    for (int64_t r = o, i = int64_t(s) - 1; i >= 0; --i) {
      o_pos[size_t(i)] = r % out[size_t(i)];
      r /= out[size_t(i)];
    }
    for (int64_t k = 0; k < K; ++k) {
      for (int64_t r = k, i = int64_t(s) - 1; i >= 0; --i) {
        k_pos[size_t(i)] = r % w.kernel[size_t(i)];
        r /= w.kernel[size_t(i)];
      }
      int64_t flat_padded = 0, row = 0, col = 0, col_stride = 1;
      for (size_t i = 0; i < s; ++i) {
        int64_t p = o_pos[i] * w.strides[i] + k_pos[i] * w.dilations[i];  // in the padded input
        int64_t q = std::clamp<int64_t>(p - w.pad_low[i], 0, in[i] - 1);   // padding taps never win
        flat_padded = flat_padded * padded[i] + p;
        row = row * in[i] + q;
        col += q * col_stride;
        col_stride *= in[i];
      }
      read[size_t(o * K + k)] = flat_padded;
      orig[size_t(o * K + k)] = storage_order == 0 ? row : col;
    }
  }
  int64_t N = x.dim(0), C = x.dim(1);
  double lowest = is_floating(x.dtype()) ? -INFINITY
                  : x.dtype() == DType::U8 ? 0.0
                  : x.dtype() == DType::I8 ? -128.0
                                           : -2147483648.0;
  Axes lo(size_t(x.rank()), 0), hi(size_t(x.rank()), 0);
  for (size_t i = 0; i < s; ++i) {
    lo[i + 2] = w.pad_low[i];
    hi[i + 2] = w.pad_high[i];
  }
  Node xp = Pad(x, lo, hi, PadMode::Constant, ScalarLike(x, lowest));
  Node windows = Take(Reshape(xp, {N, C, P}), g.constant(Tensor::from_vector(read, Shape{O, K})), 2);  // [N, C, O, K]
  Node am = ArgMax(windows, 3);                                                                        // [N, C, O]
  Node pick = am + Iota(g, DType::I64, Shape{N, C, O}, 2) * double(K);
  Node idx = Take(g.constant(Tensor::from_vector(orig, Shape{O * K})), pick, 0);
  Node base = (Iota(g, DType::I64, Shape{N, C, O}, 0) * double(C) + Iota(g, DType::I64, Shape{N, C, O}, 1)) * double(S);
  std::vector<int64_t> dims = {N, C};
  dims.insert(dims.end(), out.begin(), out.end());
  return Reshape(idx + base, dims);
}
// A pooling window over [N, C, spatial...] as a summing ReduceWindow (window 1 on N and C).
ReduceWindowAttrs sum_window(const Window& w) {
  ReduceWindowAttrs a;
  a.op = ReduceOp::Sum;
  a.window = {1, 1};
  a.strides = {1, 1};
  a.dilations = {1, 1};
  a.pad_low = {0, 0};
  a.pad_high = {0, 0};
  a.window.insert(a.window.end(), w.kernel.begin(), w.kernel.end());
  a.strides.insert(a.strides.end(), w.strides.begin(), w.strides.end());
  a.dilations.insert(a.dilations.end(), w.dilations.begin(), w.dilations.end());
  a.pad_low.insert(a.pad_low.end(), w.pad_low.begin(), w.pad_low.end());
  a.pad_high.insert(a.pad_high.end(), w.pad_high.begin(), w.pad_high.end());
  return a;
}


// AveragePool. The divisor counts the taps inside the input (count_include_pad=0) or inside the input and
// the model's own pads (count_include_pad=1); the extra high padding that ceil_mode adds is never counted
// (the ONNX reference and ONNX Runtime truncate those windows). Dilated windows (opset 19) and windows that
// reach into the ceil_mode padding with count_include_pad=1 are a window sum divided by host-computed counts
// (separable: the product of per-axis counts); the rest use the backend's average pooling.
Node average_pool(OpContext& c, Node x, const Window& w, bool count_include_pad) {
  size_t s = w.kernel.size();
  bool dilated = false, extra = false;
  for (size_t i = 0; i < s; ++i) {
    dilated |= w.dilations[i] != 1;
    extra |= w.ceil_extra[i] != 0;
  }
  if (!dilated && !(extra && count_include_pad))
    return AvgPool(x, w.kernel, w.strides, w.pad_low, w.pad_high, count_include_pad);
  ReduceWindowAttrs a = sum_window(w);
  Node xs = is_floating(x.dtype()) ? x : Convert(x, DType::F32);
  Node sum = ReduceWindow(xs, a);
  std::vector<int64_t> in = spatial_dims(x);
  std::vector<int64_t> out_dims(size_t(x.rank()), 1);
  std::vector<double> count{1.0};
  for (size_t i = 0; i < s; ++i) {
    int64_t out = sum.dim(int(i) + 2);
    out_dims[i + 2] = out;
    int64_t lo = count_include_pad ? -w.pad_low[i] : 0;
    int64_t hi = count_include_pad ? in[i] + w.pad_high[i] - w.ceil_extra[i] : in[i];  // exclusive
    std::vector<double> next;
    for (double prev : count)
      for (int64_t o = 0; o < out; ++o) {
        int64_t n = 0;
        for (int64_t k = 0; k < w.kernel[i]; ++k) {
          int64_t p = o * w.strides[i] - w.pad_low[i] + k * w.dilations[i];
          n += p >= lo && p < hi;
        }
        next.push_back(prev * double(std::max<int64_t>(n, 1)));
      }
    count = std::move(next);
  }
  Node cnt = c.graph().constant(Tensor::from_vector(count, Shape(out_dims)).cast(xs.dtype()));
  Node y = sum / cnt;
  return y.dtype() == x.dtype() ? y : Convert(y, x.dtype());
}

void pool_op(OpContext& c, ReduceOp op) {
  Node x = c.input(0);
  if (x.rank() < 3) c.fail("input must be [N, C, spatial...], got ", x.shape());
  if (c.has_output(1) && op != ReduceOp::Max) c.fail("only MaxPool has an Indices output");
  Window w = window_attrs(c, spatial_dims(x), c.attr_ints("kernel_shape"), c.attr_int("ceil_mode", 0) != 0);
  Node y;
  if (op == ReduceOp::Max) {
    y = MaxPool(x, w.kernel, w.strides, w.pad_low, w.pad_high, w.dilations);
    if (c.has_output(1)) {
      Node idx = max_pool_indices(c, x, w);
      if (idx.shape() != y.shape()) c.fail("Indices shape ", idx.shape(), " differs from the output's ", y.shape());
      c.set_output(1, idx);
    }
  } else {
    y = average_pool(c, x, w, c.attr_int("count_include_pad", 0) != 0);
  }
  c.set_output(0, y);
}

void lp_pool_op(OpContext& c) {
  Node x = c.input(0);
  double p = double(c.attr_int("p", 2));
  Window w = window_attrs(c, spatial_dims(x), c.attr_ints("kernel_shape"), c.attr_int("ceil_mode", 0) != 0);
  ReduceWindowAttrs a = sum_window(w);
  Node s = ReduceWindow(Pow(Abs(x), ScalarLike(x, p)), a);
  c.set_output(0, Pow(s, ScalarLike(s, 1.0 / p)));
}

void global_pool_op(OpContext& c, int kind) {
  Node x = c.input(0);
  Axes axes;
  for (int i = 2; i < x.rank(); ++i) axes.push_back(i);
  if (kind == 0) return c.set_output(0, ReduceMean(x, axes, true));
  if (kind == 1) return c.set_output(0, ReduceMax(x, axes, true));
  double p = double(c.attr_int("p", 2));
  Node s = ReduceSum(Pow(Abs(x), ScalarLike(x, p)), axes, true);
  c.set_output(0, Pow(s, ScalarLike(s, 1.0 / p)));
}

void lrn_op(OpContext& c) {
  Node x = c.input(0);
  int64_t size = c.attr_int("size", 1);
  double alpha = c.attr_float("alpha", 1e-4), beta = c.attr_float("beta", 0.75), bias = c.attr_float("bias", 1.0);
  ReduceWindowAttrs a;
  a.op = ReduceOp::Sum;
  a.window.assign(size_t(x.rank()), 1);
  a.window[1] = size;
  a.pad_low.assign(size_t(x.rank()), 0);
  a.pad_high.assign(size_t(x.rank()), 0);
  a.pad_low[1] = (size - 1) / 2;
  a.pad_high[1] = size - 1 - (size - 1) / 2;
  Node sq = ReduceWindow(x * x, a);
  c.set_output(0, x / Pow(sq * (alpha / double(size)) + bias, ScalarLike(x, beta)));
}

// Dropout: identity in inference; in training (training_mode input, or TraceOptions::training when absent)
// an inverted-dropout mask: keep an element when its hash-uniform u >= ratio and scale kept ones by
// 1 / (1 - ratio). The mask is deterministic for (TraceOptions::seed [+ seed_node], the `seed` attribute,
// the node name, element index).
void dropout_op(OpContext& c) {
  Node x = c.input(0);
  const TraceOptions* opts = c.tracer().state().options;
  bool training = opts && opts->training;
  if (c.opset() >= 12 && c.has_input(2)) {
    // A graph input specializes the trace on its value (NeedsInputValue); anything else is an error.
    training = c.require_known(2, "training_mode").value_as_double(0) != 0;
  }
  if (c.opset() < 7 && c.attr_int("is_test", 0)) training = false;
  std::optional<double> ratio_k;
  std::optional<Node> ratio_n;
  if (c.opset() >= 12) {
    if (c.has_input(1)) {
      if (const Tensor* t = c.known(1))
        ratio_k = t->value_as_double(0);
      else
        ratio_n = Convert(Reshape(c.input(1), {}), DType::F32);
    } else {
      ratio_k = 0.5;
    }
  } else {
    ratio_k = c.attr_float("ratio", 0.5);
  }
  if (ratio_k && (*ratio_k < 0 || *ratio_k > 1)) c.fail("ratio must be in [0, 1], got ", *ratio_k);
  if (!training || (ratio_k && *ratio_k == 0)) {
    c.set_output(0, x);
    if (c.has_output(1)) c.set_output(1, Full(c.graph(), DType::Bool, x.shape(), 1.0));
    return;
  }
  Graph& g = c.graph();
  uint64_t salt = (opts ? opts->seed : 0) ^ fnv1a(c.name());
  if (auto s = c.attr_int_opt("seed")) salt ^= uint64_t(*s) * 0xD1B54A32D192ED03ull;
  Node key = g.scalar(salt);
  if (opts && opts->seed_node) {
    Node sn = *opts->seed_node;
    if (sn.graph() != &g)
      c.fail("TraceOptions::seed_node belongs to another graph (a Dropout inside a control-flow body cannot use it)");
    if (sn.dtype() != DType::U64) sn = Convert(sn, DType::U64);
    if (sn.rank() != 0) sn = Reshape(sn, {});
    key = key + sn * g.scalar(uint64_t(0x9E3779B97F4A7C15ull));
  }
  Node u = uniform_from_hash(g, key, x.shape());
  Node r = ratio_n ? *ratio_n : g.scalar(float(*ratio_k));
  Node mask = GreaterEqual(u, r);
  Node scale = ratio_n ? Convert(1.0 / (1.0 - *ratio_n), x.dtype())
                       : g.constant(known_scalar_tensor(x.dtype(), *ratio_k < 1 ? 1.0 / (1.0 - *ratio_k) : 0.0));
  c.set_output(0, Select(mask, x * scale, ScalarLike(x, 0)));
  if (c.has_output(1)) c.set_output(1, mask);
}

// ---- Resize ------------------------------------------------------------------------------------------------

struct ResizeSpec {
  std::string mode = "nearest", coord = "half_pixel", nearest = "round_prefer_floor";
  double cubic_a = -0.75;
  bool exclude_outside = false, antialias = false;
  double extrapolation = 0;
};

// For one axis: the source taps (indices and weights) of every output position, padded to the same count,
// plus a per-output flag for positions outside the input (tf_crop_and_resize extrapolation).
struct AxisTaps {
  int64_t taps = 1;
  std::vector<int64_t> index;   // [out, taps]
  std::vector<double> weight;   // [out, taps]
  std::vector<bool> outside;    // [out]
};

double cubic_weight(double t, double a) {
  t = std::abs(t);
  if (t <= 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
  return 0;
}

// `length` is the resized length before rounding (input * scale, or the requested size): align_corners and
// tf_crop_and_resize divide by it, as the ONNX reference does, so a downsample by 0.6 of 4 maps over 2.4.
AxisTaps axis_taps(const ResizeSpec& r, int64_t in, int64_t out, double scale, double length, double roi_start,
                   double roi_end) {
  AxisTaps t;
  t.outside.assign(size_t(out), false);
  std::vector<std::vector<std::pair<int64_t, double>>> all(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    double x;
    double xo = double(o);
    if (r.coord == "half_pixel") {
      x = (xo + 0.5) / scale - 0.5;
    } else if (r.coord == "half_pixel_symmetric") {
      double adj = double(out) / length;
      double center = double(in) / 2;
      x = center * (1 - adj) + (xo + 0.5) / scale - 0.5;
    } else if (r.coord == "pytorch_half_pixel") {
      x = out > 1 ? (xo + 0.5) / scale - 0.5 : 0;
    } else if (r.coord == "align_corners") {
      x = length == 1 ? 0 : xo * double(in - 1) / (length - 1);
    } else if (r.coord == "asymmetric") {
      x = xo / scale;
    } else if (r.coord == "tf_crop_and_resize") {
      x = length != 1 ? roi_start * double(in - 1) + xo * (roi_end - roi_start) * double(in - 1) / (length - 1)
                      : 0.5 * (roi_start + roi_end) * double(in - 1);
      if (x < 0 || x > double(in - 1)) t.outside[size_t(o)] = true;
    } else {
      throw Error("unknown coordinate_transformation_mode '" + r.coord + "'");
    }
    auto& taps = all[size_t(o)];
    auto clampi = [&](int64_t i) { return std::clamp<int64_t>(i, 0, in - 1); };
    if (r.mode == "nearest") {
      int64_t i;
      if (r.nearest == "round_prefer_floor")
        i = int64_t(std::ceil(x - 0.5));
      else if (r.nearest == "round_prefer_ceil")
        i = int64_t(std::floor(x + 0.5));
      else if (r.nearest == "floor")
        i = int64_t(std::floor(x));
      else if (r.nearest == "ceil")
        i = int64_t(std::ceil(x));
      else
        throw Error("unknown nearest_mode '" + r.nearest + "'");
      taps.push_back({clampi(i), 1.0});
      continue;
    }
    bool cubic = r.mode == "cubic";
    if (!cubic && r.mode != "linear") throw Error("unknown mode '" + r.mode + "'");
    double support_scale = (r.antialias && scale < 1) ? scale : 1.0;  // filter stretched when downsampling
    double radius = (cubic ? 2.0 : 1.0) / support_scale;
    int64_t lo = int64_t(std::floor(x - radius)) + 1, hi = int64_t(std::ceil(x + radius)) - 1;
    if (!r.antialias || scale >= 1) {
      lo = int64_t(std::floor(x)) - (cubic ? 1 : 0);
      hi = int64_t(std::floor(x)) + (cubic ? 2 : 1);
    }
    double sum = 0;
    std::vector<std::pair<int64_t, double>> raw;
    for (int64_t i = lo; i <= hi; ++i) {
      double d = (double(i) - x) * support_scale;
      double w = cubic ? cubic_weight(d, r.cubic_a) : std::max(0.0, 1 - std::abs(d));
      bool inside = i >= 0 && i < in;
      if (!inside && r.exclude_outside) w = 0;  // otherwise the tap reads the edge value
      raw.push_back({clampi(i), w});
      sum += w;
    }
    if ((r.exclude_outside || (r.antialias && scale < 1)) && sum != 0)
      for (auto& p : raw) p.second /= sum;
    taps = raw;
  }
  for (const auto& v : all) t.taps = std::max<int64_t>(t.taps, int64_t(v.size()));
  t.index.assign(size_t(out * t.taps), 0);
  t.weight.assign(size_t(out * t.taps), 0);
  for (int64_t o = 0; o < out; ++o)
    for (size_t k = 0; k < all[size_t(o)].size(); ++k) {
      t.index[size_t(o * t.taps) + k] = all[size_t(o)][k].first;
      t.weight[size_t(o * t.taps) + k] = all[size_t(o)][k].second;
    }
  return t;
}

// Resamples axis `axis` of x with precomputed taps: sum_k take(x, index[:, k]) * weight[:, k].
Node resample_axis(Node x, int axis, const AxisTaps& t, int64_t out, const ResizeSpec& r) {
  Graph& g = *x.graph();
  int rank = x.rank();
  std::vector<int64_t> wshape(size_t(rank), 1);
  wshape[size_t(axis)] = out;
  Node y;
  bool nearest = t.taps == 1 && r.mode == "nearest";
  Node xf = nearest || is_floating(x.dtype()) ? x : Convert(x, DType::F32);
  for (int64_t k = 0; k < t.taps; ++k) {
    std::vector<int64_t> idx(static_cast<size_t>(out));
    std::vector<double> w(static_cast<size_t>(out));
    bool any = false;
    for (int64_t o = 0; o < out; ++o) {
      idx[size_t(o)] = t.index[size_t(o * t.taps + k)];
      w[size_t(o)] = t.weight[size_t(o * t.taps + k)];
      any |= w[size_t(o)] != 0;
    }
    if (!any) continue;
    Node taken = Take(xf, g.constant(Tensor::from_vector(idx)), axis);
    if (!nearest) taken = taken * g.constant(Tensor::from_vector(w, Shape(wshape)).cast(xf.dtype()));
    y = y.valid() ? y + taken : taken;
  }
  if (!y.valid()) {
    std::vector<int64_t> d = xf.shape().dims();
    d[size_t(axis)] = out;
    y = Zeros(g, xf.dtype(), Shape(d));
  }
  bool any_outside = std::find(t.outside.begin(), t.outside.end(), true) != t.outside.end();
  if (any_outside) {
    std::vector<bool> mask_v(t.outside.begin(), t.outside.end());
    Node mask = g.constant(Tensor::from_vector(mask_v, Shape(wshape)));
    y = Select(mask, ScalarLike(y, r.extrapolation), y);
  }
  if (y.dtype() != x.dtype()) {
    if (is_integer(x.dtype())) y = Round(y);
    y = Convert(y, x.dtype());
  }
  return y;
}

void resize_op(OpContext& c, bool upsample) {
  Node x = c.input(0);
  int rank = x.rank();
  ResizeSpec r;
  r.mode = c.attr_string("mode", "nearest");
  if (upsample || c.opset() < 11) {
    r.coord = "asymmetric";
    r.nearest = "floor";
    if (r.mode == "bilinear" || r.mode == "trilinear") r.mode = "linear";
  } else {
    r.coord = c.attr_string("coordinate_transformation_mode", "half_pixel");
    r.nearest = c.attr_string("nearest_mode", "round_prefer_floor");
  }
  r.cubic_a = c.attr_float("cubic_coeff_a", -0.75);
  r.exclude_outside = c.attr_int("exclude_outside", 0) != 0;
  r.antialias = c.attr_int("antialias", 0) != 0;
  r.extrapolation = c.attr_float("extrapolation_value", 0.0);
  std::vector<int64_t> axes = c.attr_ints("axes");
  if (axes.empty())
    for (int i = 0; i < rank; ++i) axes.push_back(i);
  axes = normalize_axes(c, axes, rank);
  std::vector<double> scales, roi;
  std::vector<int64_t> sizes;
  if (upsample) {
    scales = c.opset() < 9 ? std::vector<double>(c.attr_floats("scales").begin(), c.attr_floats("scales").end())
                           : c.require_doubles(1, "scales");
  } else if (c.opset() < 11) {
    scales = c.require_doubles(1, "scales");
  } else {
    // roi matters only for tf_crop_and_resize (where a graph input specializes the trace on its value).
    if (r.coord == "tf_crop_and_resize" && c.has_input(1) && c.require_known(1, "roi").size() > 0)
      roi = c.require_doubles(1, "roi");
    if (c.has_input(2) && c.require_known(2, "scales").size() > 0) scales = c.require_doubles(2, "scales");
    if (c.has_input(3) && c.require_known(3, "sizes").size() > 0) sizes = c.require_ints(3, "sizes");
  }
  if (scales.empty() && sizes.empty()) c.fail("one of scales and sizes must be given");
  size_t n = axes.size();
  if (!scales.empty() && scales.size() != n) c.fail(scales.size(), " scales for ", n, " axes");
  if (!sizes.empty() && sizes.size() != n) c.fail(sizes.size(), " sizes for ", n, " axes");
  std::vector<double> sc(n), len(n);
  std::vector<int64_t> out(n);
  std::string policy = c.attr_string("keep_aspect_ratio_policy", "stretch");
  if (!sizes.empty()) {
    for (size_t i = 0; i < n; ++i) sc[i] = double(sizes[i]) / double(x.dim(int(axes[i])));
    if (policy != "stretch") {
      double s = policy == "not_larger" ? *std::min_element(sc.begin(), sc.end()) : *std::max_element(sc.begin(), sc.end());
      for (size_t i = 0; i < n; ++i) {
        sc[i] = s;
        len[i] = s * double(x.dim(int(axes[i])));
        out[i] = int64_t(std::floor(len[i] + 0.5));
      }
    } else {
      out = sizes;
      for (size_t i = 0; i < n; ++i) len[i] = double(sizes[i]);
    }
  } else {
    for (size_t i = 0; i < n; ++i) {
      sc[i] = scales[i];
      if (sc[i] <= 0) c.fail("scale ", sc[i], " must be positive");
      len[i] = double(x.dim(int(axes[i]))) * sc[i];
      out[i] = int64_t(std::floor(len[i]));
    }
  }
  Node y = x;
  for (size_t i = 0; i < n; ++i) {
    int a = int(axes[i]);
    int64_t in = x.dim(a);
    double rs = 0, re = 1;
    if (roi.size() == 2 * n) {
      rs = roi[i];
      re = roi[i + n];
    } else if (roi.size() == size_t(2 * rank)) {
      rs = roi[size_t(a)];
      re = roi[size_t(a + rank)];
    }
    if (out[i] == in && sc[i] == 1.0 && r.coord != "tf_crop_and_resize") continue;
    try {
      AxisTaps t = axis_taps(r, in, out[i], sc[i], len[i], rs, re);
      y = resample_axis(y, a, t, out[i], r);
    } catch (const Error& e) {
      c.fail(e.what());
    }
  }
  c.set_output(0, y);
}

}  // namespace

void register_nn_ops(Registry& r) {
  r.add("", "Conv", 1, conv_op);
  r.add("", "ConvTranspose", 1, conv_transpose_op);
  r.add("", "MaxPool", 1, [](OpContext& c) { pool_op(c, ReduceOp::Max); }).note =
      "Indices output (storage_order 0/1) via a window gather + ArgMax";
  r.add("", "AveragePool", 1, [](OpContext& c) { pool_op(c, ReduceOp::Mean); }).note =
      "dilations (opset 19); ceil_mode's extra windows never count the overhang past the pads";
  r.add("", "LpPool", 2, lp_pool_op);
  r.add("", "GlobalAveragePool", 1, [](OpContext& c) { global_pool_op(c, 0); });
  r.add("", "GlobalMaxPool", 1, [](OpContext& c) { global_pool_op(c, 1); });
  r.add("", "GlobalLpPool", 2, [](OpContext& c) { global_pool_op(c, 2); });
  r.add("", "LRN", 1, lrn_op);
  r.add("", "Dropout", 1, dropout_op).note = "identity in inference; TraceOptions::training: seeded inverted dropout";
  r.add("", "Resize", 10, [](OpContext& c) { resize_op(c, false); }).note =
      "all modes and coordinate transforms, antialias, axes, keep_aspect_ratio_policy; scales/sizes (and roi for "
      "tf_crop_and_resize) must be known while tracing";
  r.add("", "Upsample", 7, [](OpContext& c) { resize_op(c, true); }).until = 9;
  register_random_ops(r);  // random.cpp (shares the counter-based generator with Dropout)
}

}  // namespace graft::onnx
