// Pooling: MaxPool (with its Indices output), AveragePool, LpPool and GlobalAveragePool / GlobalMaxPool /
// GlobalLpPool, as graft's ReduceWindow and reductions.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "onnx/converter.h"
#include "onnx/ops/window.h"

namespace graft::onnx {

namespace {

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

}  // namespace

void register_pooling_ops(Registry& r) {
  r.add("", "MaxPool", 1, [](OpContext& c) { pool_op(c, ReduceOp::Max); }).note =
      "Indices output (storage_order 0/1) via a window gather + ArgMax";
  r.add("", "AveragePool", 1, [](OpContext& c) { pool_op(c, ReduceOp::Mean); }).note =
      "dilations (opset 19); ceil_mode's extra windows never count the overhang past the pads";
  r.add("", "LpPool", 2, lp_pool_op);
  r.add("", "GlobalAveragePool", 1, [](OpContext& c) { global_pool_op(c, 0); });
  r.add("", "GlobalMaxPool", 1, [](OpContext& c) { global_pool_op(c, 1); });
  r.add("", "GlobalLpPool", 2, [](OpContext& c) { global_pool_op(c, 2); });
}

}  // namespace graft::onnx
