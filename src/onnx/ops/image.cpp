// Image ops built from gathers, scatters and products: GridSample (1-, 2-, 3-D and beyond; linear /
// nearest / cubic; zeros / border / reflection padding), AffineGrid, Col2Im (a scatter-add), CenterCropPad,
// MaxRoiPool (range-maximum tables, so run-time rois are exact), DeformConv (bilinear gathers, then one
// grouped product), and resampling: Resize and Upsample (host-computed taps per axis, then gathers).
#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <optional>
#include <span>

#include "graft/core/limits.h"
#include "onnx/converter.h"

namespace graft::onnx {

namespace {

DType compute_dtype_of(DType dt) { return dt == DType::F64 ? DType::F64 : DType::F32; }

int64_t product(const std::vector<int64_t>& v) {
  return std::accumulate(v.begin(), v.end(), int64_t(1), std::multiplies<int64_t>());
}

// Reflects coordinates into [lo, hi] (the border reflects, periodic with period 2 * (hi - lo)); the identity
// inside the range.
Node reflect(Node x, double lo, double hi) {
  double span = hi - lo;
  if (span <= 0) return x * 0.0 + lo;
  Node d = Abs(x - lo);
  Node flips = Floor(d / span);
  Node extra = d - flips * span;
  Node odd = Equal(flips - Floor(flips / 2.0) * 2.0, ScalarLike(flips, 1));
  return Select(odd, hi - extra, extra + lo);
}

// C's round(): half away from zero (floor(|v| + 0.5) would round 0.49999997f up).
Node round_half_away(Node v) {
  Node a = Abs(v);
  Node ip = Floor(a);
  Node r = Select(GreaterEqual(a - ip, ScalarLike(a, 0.5)), ip + 1.0, ip);
  return Select(Less(v, ScalarLike(v, 0)), -r, r);
}

enum class Border { Zeros, Clamp, Reflect };

// Rows of `table` ([rows, C]) at integer positions of a grid of `extents` (row-major, starting at row `base`,
// an i64 node broadcastable to the taps' shape). `taps` holds one float node of integers per grid axis (all
// of one shape S); the result is [S..., C]. Out-of-range taps read zeros (Zeros), the nearest edge (Clamp), or
// their reflection about the border (Reflect: about [0, extent-1] when `align`, else [-0.5, extent-0.5]).
Node fetch_rows(Node table, Node base, const std::vector<Node>& taps, const std::vector<int64_t>& extents,
                Border border, bool align) {
  Node lin = base, valid;
  int64_t stride = 1;
  for (int i = int(taps.size()) - 1; i >= 0; --i) {
    Node t = taps[size_t(i)];
    double hi = double(extents[size_t(i)] - 1);
    if (border == Border::Zeros) {
      Node ok = And(GreaterEqual(t, ScalarLike(t, 0)), LessEqual(t, ScalarLike(t, hi)));
      valid = valid.valid() ? And(valid, ok) : ok;
    } else if (border == Border::Reflect) {
      t = align ? reflect(t, 0, hi) : reflect(t, -0.5, hi + 0.5);
    }
    Node ti = Convert(Clamp(t, ScalarLike(t, 0), ScalarLike(t, hi)), DType::I64);
    lin = lin + (stride == 1 ? ti : ti * double(stride));
    stride *= extents[size_t(i)];
  }
  Node v = Take(table, lin, 0);
  if (valid.valid()) v = Select(ExpandDims(valid, valid.rank()), v, ScalarLike(v, 0));
  return v;
}

// One axis of an interpolation: the integer tap positions (float nodes) and their weights (unset: 1).
struct AxisTaps {
  std::vector<Node> pos, weight;
};

AxisTaps linear_taps(Node p) {
  Node x0 = Floor(p), t = p - x0;
  return {{x0, x0 + 1.0}, {1.0 - t, t}};
}

// Keys' cubic convolution (A = -0.75) over the 4 taps around p.
AxisTaps cubic_taps(Node p) {
  const double A = -0.75;
  Node x0 = Floor(p), t = p - x0;
  auto near = [&](Node d) { return ((d * (A + 2.0) - (A + 3.0)) * d) * d + 1.0; };     // |d| <= 1
  auto far = [&](Node d) { return ((d * A - 5.0 * A) * d + 8.0 * A) * d - 4.0 * A; };  // 1 < |d| < 2
  return {{x0 - 1.0, x0, x0 + 1.0, x0 + 2.0}, {far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)}};
}

// Sum over every combination of per-axis taps of the fetched rows times the product of the tap weights.
Node interpolate(const std::vector<AxisTaps>& axes, const std::function<Node(const std::vector<Node>&)>& fetch) {
  Node sum;
  std::vector<Node> pos(axes.size());
  std::function<void(size_t, Node)> rec = [&](size_t i, Node w) {
    if (i == axes.size()) {
      Node v = fetch(pos);
      if (w.valid()) v = v * ExpandDims(w, w.rank());
      sum = sum.valid() ? sum + v : v;
      return;
    }
    for (size_t j = 0; j < axes[i].pos.size(); ++j) {
      pos[i] = axes[i].pos[j];
      Node wj = j < axes[i].weight.size() ? axes[i].weight[j] : Node();
      rec(i + 1, w.valid() && wj.valid() ? w * wj : (wj.valid() ? wj : w));
    }
  };
  rec(0, Node());
  return sum;
}

// ---- GridSample -------------------------------------------------------------------------------------------

// X [N, C, D1..Dk] sampled at grid [N, O1..Ok, k] (the last axis lists coordinates innermost-first: x, y, z)
// as in the ONNX reference: normalized coordinates are unnormalized (align_corners), rounded for nearest
// (std::nearbyint; std::round in 3-D as PyTorch does), padded when outside the border (border: clamped,
// reflection: reflected), then interpolated with taps that are padded the same way (zeros: read 0).
void grid_sample_op(OpContext& c) {
  Node x = c.input(0), grid = c.input(1);
  int D = x.rank() - 2;
  if (D < 1 || grid.rank() != D + 2 || grid.dim(D + 1) != D || grid.dim(0) != x.dim(0))
    c.fail("expected X [N, C, spatial...] and grid [N, out spatial..., ", D, "], got ", x.shape(), " and ",
           grid.shape());
  std::string mode = c.attr_string("mode", c.opset() >= 20 ? "linear" : "bilinear");
  std::string pad = c.attr_string("padding_mode", "zeros");
  bool align = c.attr_int("align_corners", 0) != 0;
  if (mode == "bilinear") mode = "linear";
  if (mode == "bicubic") mode = "cubic";
  if (mode != "linear" && mode != "nearest" && mode != "cubic") c.fail("unknown mode '", mode, "'");
  if (pad != "zeros" && pad != "border" && pad != "reflection") c.fail("unknown padding_mode '", pad, "'");
  int64_t N = x.dim(0), C = x.dim(1);
  std::vector<int64_t> S, O;
  for (int i = 0; i < D; ++i) {
    S.push_back(x.dim(i + 2));
    O.push_back(grid.dim(i + 1));
  }
  int64_t P = product(S), Q = product(O);
  DType dt = x.dtype(), cd = compute_dtype_of(dt);
  Axes perm = {0};
  for (int i = 0; i < D; ++i) perm.push_back(i + 2);
  perm.push_back(1);
  Node table = Reshape(Transpose(Convert(x, cd), perm), {N * P, C});
  Node g = Reshape(Convert(grid, cd), {N, Q, int64_t(D)});
  Node base = Iota(c.graph(), DType::I64, Shape{N, 1}, 0) * double(P);
  std::vector<AxisTaps> axes;
  for (int i = 0; i < D; ++i) {
    double s = double(S[size_t(i)]);
    Node v = Reshape(SliceAxis(g, 2, D - 1 - i, D - i), {N, Q});
    Node p = align ? (v + 1.0) * ((s - 1) / 2) : ((v + 1.0) * s - 1.0) / 2.0;
    if (mode == "nearest") p = D == 3 ? round_half_away(p) : Round(p);
    double lo = align ? 0.0 : -0.5, hi = align ? s - 1 : s - 0.5;
    if (pad == "border") {
      Node out = Or(Less(p, ScalarLike(p, lo)), Greater(p, ScalarLike(p, hi)));
      p = Select(out, Clamp(p, ScalarLike(p, 0), ScalarLike(p, s - 1)), p);
    } else if (pad == "reflection") {
      p = reflect(p, lo, hi);
    }
    if (mode == "nearest")
      axes.push_back({{p}, {}});
    else
      axes.push_back(mode == "linear" ? linear_taps(p) : cubic_taps(p));
  }
  Border border = pad == "zeros" ? Border::Zeros : pad == "border" ? Border::Clamp : Border::Reflect;
  Node y = interpolate(axes, [&](const std::vector<Node>& taps) { return fetch_rows(table, base, taps, S, border, align); });
  std::vector<int64_t> out = {N, C};
  out.insert(out.end(), O.begin(), O.end());
  c.set_output(0, Convert(Reshape(Transpose(y, {0, 2, 1}), out), dt));  // [N, Q, C] -> [N, C, O...]
}

// ---- AffineGrid -------------------------------------------------------------------------------------------

// theta [N, 2, 3] (or [N, 3, 4]) applied to the normalized coordinates (x, y[, z], 1) of every output
// position: a host-computed [P, k+1] base grid times theta^T.
void affine_grid_op(OpContext& c) {
  Node theta = c.input(0);
  std::vector<int64_t> size = c.require_ints(1, "size");
  bool align = c.attr_int("align_corners", 0) != 0;
  if (size.size() != 4 && size.size() != 5) c.fail("size must be [N, C, H, W] or [N, C, D, H, W], got ", size.size(), " entries");
  int D = int(size.size()) - 2;
  if (theta.rank() != 3 || theta.dim(1) != D || theta.dim(2) != D + 1 || theta.dim(0) != size[0])
    c.fail("theta must be [", size[0], ", ", D, ", ", D + 1, "], got ", theta.shape());
  if (!is_floating(theta.dtype())) c.fail("theta must be floating-point, got ", dtype_name(theta.dtype()));
  std::vector<int64_t> S(size.begin() + 2, size.end());
  for (int64_t s : S)
    if (s <= 0) c.fail("spatial sizes must be positive, got ", s);
  int64_t P = product(S), N = size[0];
  auto coord = [&](int64_t i, int64_t s) {
    if (align) return s > 1 ? -1.0 + 2.0 * double(i) / double(s - 1) : -1.0;
    return (2.0 * double(i) + 1.0) / double(s) - 1.0;
  };
  std::vector<double> base(size_t(P * (D + 1)));
  for (int64_t p = 0; p < P; ++p) {
    int64_t rest = p;
    for (int i = D - 1; i >= 0; --i) {  // axis i's coordinate goes to column D-1-i (x first)
      int64_t s = S[size_t(i)];
      base[size_t(p * (D + 1) + (D - 1 - i))] = coord(rest % s, s);
      rest /= s;
    }
    base[size_t(p * (D + 1) + D)] = 1.0;
  }
  DType dt = theta.dtype(), cd = compute_dtype_of(dt);
  Node b = Convert(c.graph().constant(Tensor::from_vector(base, Shape{P, int64_t(D + 1)})), cd);
  Node grid = MatMul(b, Transpose(Convert(theta, cd), {0, 2, 1}));  // [N, P, D]
  std::vector<int64_t> out = {N};
  out.insert(out.end(), S.begin(), S.end());
  out.push_back(D);
  c.set_output(0, Convert(Reshape(grid, out), dt));
}

// ---- Col2Im -----------------------------------------------------------------------------------------------

// input [N, C * prod(block), L] -> [N, C, image...]: every column entry is added into the image position its
// block element covers (a scatter-add with host-computed positions; positions in the padding go to a scratch
// row that is sliced off).
void col2im_op(OpContext& c) {
  Node x = c.input(0);
  std::vector<int64_t> image = c.require_ints(1, "image_shape"), block = c.require_ints(2, "block_shape");
  size_t D = image.size();
  if (D == 0 || block.size() != D) c.fail("image_shape and block_shape must have the same positive length");
  std::vector<int64_t> dil = c.attr_ints("dilations", std::vector<int64_t>(D, 1));
  std::vector<int64_t> pads = c.attr_ints("pads", std::vector<int64_t>(2 * D, 0));
  std::vector<int64_t> strides = c.attr_ints("strides", std::vector<int64_t>(D, 1));
  if (dil.size() != D || pads.size() != 2 * D || strides.size() != D)
    c.fail("dilations/strides need ", D, " entries and pads ", 2 * D);
  if (x.rank() != 3) c.fail("input must be [N, C * prod(block_shape), L], got ", x.shape());
  int64_t K = product(block);
  if (K <= 0 || x.dim(1) % K != 0) c.fail("input channels ", x.dim(1), " are not a multiple of prod(block_shape) ", K);
  int64_t N = x.dim(0), C = x.dim(1) / K;
  std::vector<int64_t> ncol(D);
  for (size_t i = 0; i < D; ++i) {
    if (strides[i] <= 0 || dil[i] <= 0 || block[i] <= 0 || image[i] <= 0) c.fail("sizes, strides and dilations must be positive");
    int64_t span = dil[i] * (block[i] - 1) + 1;
    ncol[i] = (image[i] + pads[i] + pads[i + D] - span) / strides[i] + 1;
    if (image[i] + pads[i] + pads[i + D] < span) c.fail("the block does not fit the padded image on axis ", i);
  }
  int64_t L = product(ncol), P = product(image);
  if (x.dim(2) != L) c.fail("input has ", x.dim(2), " blocks, the image, block, pads, strides and dilations give ", L);
  // Position of every (block element, block) pair in the flattened image; P (a scratch row) in the padding.
  std::vector<int64_t> pos(size_t(K * L));
  for (int64_t k = 0; k < K; ++k)
    for (int64_t l = 0; l < L; ++l) {
      int64_t kr = k, lr = l, flat = 0, stride = 1;
      bool inside = true;
      for (int i = int(D) - 1; i >= 0; --i) {
        size_t a = size_t(i);
        int64_t ki = kr % block[a], li = lr % ncol[a];
        kr /= block[a];
        lr /= ncol[a];
        int64_t p = li * strides[a] - pads[a] + ki * dil[a];
        if (p < 0 || p >= image[a]) inside = false;
        flat += p * stride;
        stride *= image[a];
      }
      pos[size_t(k * L + l)] = inside ? flat : P;
    }
  Node idx = c.graph().constant(Tensor::from_vector(pos, Shape{K * L, 1}));
  // Rows of N*C values (contiguous runs): updates [K*L, N*C] into [P, N*C].
  Node upd = Reshape(Transpose(Reshape(x, {N * C, K * L}), {1, 0}), {K * L, N * C});
  ScatterAttrs a;
  a.update_window_dims = {1};
  a.inserted_window_dims = {0};
  a.scatter_dims_to_operand_dims = {0};
  a.index_vector_dim = 1;
  a.combiner = ReduceOp::Sum;
  Node img = SliceAxis(Scatter(Zeros(c.graph(), x.dtype(), {P + 1, N * C}), idx, upd, a), 0, 0, P);  // row P: padding
  std::vector<int64_t> out = {N, C};
  out.insert(out.end(), image.begin(), image.end());
  c.set_output(0, Reshape(Transpose(img, {1, 0}), out));
}

// ---- CenterCropPad ----------------------------------------------------------------------------------------

// Each listed axis is cropped (a centered window; an odd excess leaves the extra element at the end) or
// zero-padded (centered; the extra element goes at the end) to the requested extent.
void center_crop_pad_op(OpContext& c) {
  Node x = c.input(0);
  std::vector<int64_t> shape = c.require_ints(1, "shape");
  int r = x.rank();
  std::vector<int64_t> axes;
  if (c.has_attr("axes")) {
    axes = normalize_axes(c, c.attr_ints("axes"), r);
  } else {
    axes.resize(size_t(r));
    std::iota(axes.begin(), axes.end(), 0);
  }
  if (shape.size() != axes.size()) c.fail("shape has ", shape.size(), " entries for ", axes.size(), " axes");
  Axes lo(size_t(r), 0), hi(size_t(r), 0);
  for (size_t i = 0; i < axes.size(); ++i) {
    if (shape[i] < 0) c.fail("shape entries must be non-negative, got ", shape[i]);
    int64_t d = shape[i] - x.dim(int(axes[i]));  // > 0 pads, < 0 crops
    int64_t m = std::abs(d);
    int64_t first = m / 2, second = m - m / 2;
    lo[size_t(axes[i])] = d >= 0 ? first : -first;
    hi[size_t(axes[i])] = d >= 0 ? second : -second;
  }
  c.set_output(0, Pad(x, lo, hi));
}

// ---- MaxRoiPool -------------------------------------------------------------------------------------------

// Range-maximum ("sparse") table over axis 1 of x: levels k = 0..K-1 with T_k[i] = max(x[i .. i + 2^k)),
// stacked as [K, x...]. A range [s, s + len) is then max(T_k[s], T_k[s + len - 2^k]) with 2^k <= len < 2^(k+1).
Node range_max_table(Node x, int levels) {
  std::vector<Node> t = {x};
  int64_t n = x.dim(1);
  for (int k = 1; k < levels; ++k) {
    int64_t h = int64_t(1) << (k - 1);
    Node prev = t.back();
    Axes lo(size_t(x.rank()), 0), hi(size_t(x.rank()), 0);
    hi[1] = h;
    Node shifted = SliceAxis(Pad(prev, lo, hi, PadMode::Edge), 1, h, h + n);
    t.push_back(Max(prev, shifted));
  }
  for (auto& v : t) v = ExpandDims(v, 0);
  return t.size() == 1 ? t[0] : Concatenate(t, 0);
}

int levels_for(int64_t n) {
  int k = 1;
  while ((int64_t(1) << k) <= n) ++k;
  return k;
}

// The level of a range length (i64 node of values in [1, n]): floor(log2(len)).
Node level_of(Node len, int levels) {
  Node k = ScalarLike(len, 0);
  for (int j = 1; j < levels; ++j) k = k + Convert(GreaterEqual(len, ScalarLike(len, double(int64_t(1) << j))), DType::I64);
  return k;
}

// Caffe's ROI max pooling as in the ONNX reference: roi corners rounded (half away from zero) after scaling,
// bins [floor(i * bin), ceil((i + 1) * bin)) offset by the roi start and clipped to the map, empty bins 0.
// Each bin's maximum is two lookups in range-maximum tables (one axis after the other), so rois may be run-
// time values of any size.
void max_roi_pool_op(OpContext& c) {
  Node x = c.input(0), rois = c.input(1);
  if (x.rank() != 4) c.fail("X must be [N, C, H, W], got ", x.shape());
  if (rois.rank() != 2 || rois.dim(1) != 5) c.fail("rois must be [num_rois, 5], got ", rois.shape());
  std::vector<int64_t> pooled = c.attr_ints("pooled_shape");
  if (pooled.size() != 2 || pooled[0] <= 0 || pooled[1] <= 0) c.fail("pooled_shape must be two positive values");
  double scale = c.attr_float("spatial_scale", 1.0);
  Graph& g = c.graph();
  int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), R = rois.dim(0);
  int64_t ph = pooled[0], pw = pooled[1];
  DType dt = x.dtype(), cd = compute_dtype_of(dt);
  Node rf = Convert(rois, cd);
  auto col = [&](int i) { return Reshape(SliceAxis(rf, 1, i, i + 1), {R, 1}); };
  Node b = Convert(col(0), DType::I64);  // [R, 1]
  // Bin bounds along one axis: start/length (i64 [R, bins]) and whether the bin is non-empty.
  struct Bins {
    Node start, len, nonempty;
  };
  auto bins = [&](Node lo_coord, Node hi_coord, int64_t nb, int64_t extent) {
    Node s = round_half_away(lo_coord * scale), e = round_half_away(hi_coord * scale);
    Node size = Max(e - s + 1.0, ScalarLike(s, 1.0));
    Node bin = size / double(nb);
    Node i = Convert(Iota(g, DType::F64, Shape{1, nb}, 1), cd);
    Node lo = Clamp(Floor(i * bin) + s, ScalarLike(s, 0), ScalarLike(s, double(extent)));
    Node hi = Clamp(Ceil((i + 1.0) * bin) + s, ScalarLike(s, 0), ScalarLike(s, double(extent)));
    Bins r;
    r.nonempty = Greater(hi, lo);
    Node start = Convert(Min(lo, ScalarLike(lo, double(extent - 1))), DType::I64);
    r.len = Select(r.nonempty, Convert(hi - lo, DType::I64), ScalarLike(start, 1));
    r.start = start;
    return r;
  };
  Bins bw = bins(col(1), col(3), pw, W), bh = bins(col(2), col(4), ph, H);
  // Along W: table [Lw, N, W, H, C] as rows of H*C; per (roi, column bin) the max over its columns.
  int lw = levels_for(W), lh = levels_for(H);
  Node tw = Reshape(range_max_table(Transpose(x, {0, 3, 2, 1}), lw), {int64_t(lw) * N * W, H * C});
  Node kw = level_of(bw.len, lw);  // [R, pw]
  Node roww = (kw * double(N) + b) * double(W);
  Node ends_w = bw.start + bw.len - Convert(ShiftLeft(ScalarLike(kw, 1), kw), DType::I64);
  Node aw = Max(Take(tw, roww + bw.start, 0), Take(tw, roww + ends_w, 0));  // [R, pw, H*C]
  // Along H: table [Lh, R, H, pw, C] as rows of pw*C.
  Node xh = Transpose(Reshape(aw, {R, pw, H, C}), {0, 2, 1, 3});
  Node th = Reshape(range_max_table(xh, lh), {int64_t(lh) * R * H, pw * C});
  Node kh = level_of(bh.len, lh);  // [R, ph]
  Node rowh = (kh * double(R) + Iota(g, DType::I64, Shape{R, 1}, 0)) * double(H);
  Node ends_h = bh.start + bh.len - Convert(ShiftLeft(ScalarLike(kh, 1), kh), DType::I64);
  Node y = Max(Take(th, rowh + bh.start, 0), Take(th, rowh + ends_h, 0));  // [R, ph, pw*C]
  y = Reshape(y, {R, ph, pw, C});
  Node ok = And(Reshape(bh.nonempty, {R, ph, 1, 1}), Reshape(bw.nonempty, {R, 1, pw, 1}));
  y = Select(ok, y, ScalarLike(y, 0));
  c.set_output(0, Transpose(y, {0, 3, 1, 2}));
}

// ---- DeformConv -------------------------------------------------------------------------------------------

// Deformable convolution (any number of spatial axes): every kernel tap of every output position samples X
// bilinearly (zeros outside) at its regular position plus its learned offset, times the optional mask; the
// sampled columns [N, C * K, L] are then multiplied by the weights, group by group.
// offset [N, offset_group * K * k, out...] is laid out (offset_group, kernel position, axis); mask
// [N, offset_group * K, out...].
void deform_conv_op(OpContext& c) {
  Node x = c.input(0), w = c.input(1), off = c.input(2);
  std::optional<Node> bias = c.optional_input(3), mask = c.optional_input(4);
  int D = x.rank() - 2;
  if (D < 1) c.fail("X must be [N, C, spatial...], got ", x.shape());
  if (w.rank() != D + 2) c.fail("W must be [M, C/group, kernel...], got ", w.shape());
  int64_t N = x.dim(0), C = x.dim(1), M = w.dim(0);
  int64_t group = c.attr_int("group", 1), og = c.attr_int("offset_group", 1);
  std::vector<int64_t> kernel = c.attr_ints("kernel_shape"), S;
  for (int i = 0; i < D; ++i) S.push_back(x.dim(i + 2));
  if (kernel.empty())
    for (int i = 0; i < D; ++i) kernel.push_back(w.dim(i + 2));
  std::vector<int64_t> dil = c.attr_ints("dilations", std::vector<int64_t>(size_t(D), 1));
  std::vector<int64_t> pads = c.attr_ints("pads", std::vector<int64_t>(2 * size_t(D), 0));
  std::vector<int64_t> strides = c.attr_ints("strides", std::vector<int64_t>(size_t(D), 1));
  if (kernel.size() != size_t(D) || dil.size() != size_t(D) || strides.size() != size_t(D) || pads.size() != 2 * size_t(D))
    c.fail("kernel_shape/dilations/strides need ", D, " entries and pads ", 2 * D);
  if (group <= 0 || C % group != 0 || M % group != 0 || w.dim(1) * group != C)
    c.fail("W ", w.shape(), " does not match X ", x.shape(), " with group ", group);
  if (og <= 0 || C % og != 0) c.fail("input channels ", C, " are not a multiple of offset_group ", og);
  for (int i = 0; i < D; ++i)
    if (w.dim(i + 2) != kernel[size_t(i)]) c.fail("kernel_shape does not match W ", w.shape());
  std::vector<int64_t> O;
  for (size_t i = 0; i < size_t(D); ++i) {
    int64_t span = dil[i] * (kernel[i] - 1) + 1;
    O.push_back((S[i] + pads[i] + pads[i + size_t(D)] - span) / strides[i] + 1);
    if (O.back() <= 0) c.fail("the kernel does not fit the padded input on axis ", i);
  }
  int64_t K = product(kernel), L = product(O), P = product(S), Cg = C / og;
  std::vector<int64_t> off_shape = {N, og * K * D};
  off_shape.insert(off_shape.end(), O.begin(), O.end());
  if (off.shape() != Shape(off_shape)) c.fail("offset must be ", Shape(off_shape), ", got ", off.shape());
  if (mask) {
    std::vector<int64_t> ms = {N, og * K};
    ms.insert(ms.end(), O.begin(), O.end());
    if (mask->shape() != Shape(ms)) c.fail("mask must be ", Shape(ms), ", got ", mask->shape());
  }
  if (bias && (bias->rank() != 1 || bias->dim(0) != M)) c.fail("B must be [", M, "], got ", bias->shape());
  Graph& g = c.graph();
  DType dt = x.dtype(), cd = compute_dtype_of(dt);
  // Rows of Cg channels: [N * og * P, Cg].
  Node table = Reshape(Transpose(Reshape(Convert(x, cd), {N, og, Cg, P}), {0, 1, 3, 2}), {N * og * P, Cg});
  Node base = (Iota(g, DType::I64, Shape{N, og, 1, 1}, 0) * double(og) + Iota(g, DType::I64, Shape{N, og, 1, 1}, 1)) *
              double(P);
  Node offs = Reshape(Convert(off, cd), {N, og, K, int64_t(D), L});
  std::vector<AxisTaps> axes;
  for (size_t i = 0; i < size_t(D); ++i) {
    // Regular position of kernel tap k at output l along axis i: o_i * stride - pad + k_i * dilation.
    std::vector<double> reg(size_t(K * L));
    int64_t kdiv = 1, odiv = 1;
    for (size_t j = i + 1; j < size_t(D); ++j) {
      kdiv *= kernel[j];
      odiv *= O[j];
    }
    for (int64_t k = 0; k < K; ++k)
      for (int64_t l = 0; l < L; ++l)
        reg[size_t(k * L + l)] = double((l / odiv) % O[i] * strides[i] - pads[i] + (k / kdiv) % kernel[i] * dil[i]);
    Node r = Convert(g.constant(Tensor::from_vector(reg, Shape{1, 1, K, L})), cd);
    Node p = r + Reshape(SliceAxis(offs, 3, int64_t(i), int64_t(i) + 1), {N, og, K, L});
    axes.push_back(linear_taps(p));
  }
  Node cols = interpolate(axes, [&](const std::vector<Node>& taps) {
    return fetch_rows(table, base, taps, S, Border::Zeros, true);
  });  // [N, og, K, L, Cg]
  if (mask) cols = cols * Reshape(Convert(*mask, cd), {N, og, K, L, 1});
  // [N, og, Cg, K, L] = [N, C, K, L] -> [N, group, C/group * K, L]
  cols = Reshape(Transpose(cols, {0, 1, 4, 2, 3}), {N, group, (C / group) * K, L});
  Node wr = Reshape(Convert(w, cd), {group, M / group, (C / group) * K});
  DotGeneralAttrs d;
  d.lhs_batch = {0};
  d.rhs_batch = {1};
  d.lhs_contract = {2};
  d.rhs_contract = {2};
  Node y = DotGeneral(wr, cols, d);  // [group, M/group, N, L]
  std::vector<int64_t> out = {N, M};
  out.insert(out.end(), O.begin(), O.end());
  y = Reshape(Transpose(y, {2, 0, 1, 3}), out);
  if (bias) {
    std::vector<int64_t> bs(size_t(D + 2), 1);
    bs[1] = M;
    y = y + Reshape(Convert(*bias, cd), bs);
  }
  c.set_output(0, Convert(y, dt));
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
struct ResizeTaps {
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
ResizeTaps axis_taps(const ResizeSpec& r, int64_t in, int64_t out, double scale, double length, double roi_start,
                   double roi_end) {
  ResizeTaps t;
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
Node resample_axis(Node x, int axis, const ResizeTaps& t, int64_t out, const ResizeSpec& r) {
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

// ---- Resize's fused form -----------------------------------------------------------------------------------
//
// The cases ONNX Runtime's CPU Resize computes with its plain nearest, bilinear and trilinear loops become one
// "onnx.resize" composite: its decomposition is the per-axis gathers above (what autodiff, the exporter and other
// backends use), and the CPU backend runs it with one kernel (src/backend/cpu/kernels/resize.cpp) that reads
// the tables below and sums the taps in ONNX Runtime's order, so that the results are ONNX Runtime's bit for
// bit. The tables are computed here once, in f32 arithmetic written as ONNX Runtime writes it (coordinates,
// clamping, the 0.5 / 0.5 weights at the last input position), not in the double arithmetic of axis_taps.
//
// Layout (the kernel's decoder mirrors it): over the trailing `window` axes of x, each given as
//   ints   = {mode (0 nearest, 1 linear), window, extrapolate (0 / 1), then per window axis, outermost first:
//             nearest: the source index of every output position (-1: the extrapolation value);
//             linear:  the lower source index of every output position, the upper one, then 1 where the
//                      position lies outside the input (the extrapolation value) and 0 elsewhere}
//   floats = {extrapolation value, then per window axis (linear only): the weight of the lower index of
//             every output position, then that of the upper one}
// Leading axes outside the window are not resized. A linear window is 2 axes for rank 2 and 4 and 3 axes for
// rank 3 and 5 (ONNX Runtime's bilinear and trilinear loops, which also interpolate, with weights 1 and 0,
// along window axes that are not resized), 1 axis for rank 1.
constexpr const char* kFusedResizeName = "onnx.resize";

// One axis as ONNX Runtime sees it: lengths, the f32 scale (the given one, or out / in for sizes) and roi.
struct OrtAxis {
  int64_t in = 1, out = 1;
  float scale = 1, roi_start = 0, roi_end = 1;
};

// ONNX Runtime's original coordinate of output position o (f32, and f64 where its formula mixes in doubles).
float ort_original_coordinate(const std::string& coord, float o, const OrtAxis& a, bool nearest) {
  const float s = a.scale, lr = float(a.out), lo = float(a.in);
  if (coord == "asymmetric") return o / s;
  if (coord == "pytorch_half_pixel") return lr > 1 ? (o + 0.5f) / s - 0.5f : 0.0f;
  if (coord == "align_corners") return lr == 1 ? 0.0f : o * (lo - 1) / (lr - 1);
  if (coord == "tf_crop_and_resize") {
    // onnxruntime-node 1.30's nearest positions come out as this formula's in f64, rounded to f32 (a tie at 1.5
    // in f64 is 1.5000001 in f32; tests/onnx/resize_kernel_test.cpp), its linear weights as in f32.
    if (nearest) {
      const double rs = a.roi_start, re = a.roi_end;
      return float(lr > 1 ? rs * double(lo - 1) + (double(o) * (re - rs) * double(lo - 1)) / double(lr - 1)
                          : 0.5 * (rs + re) * double(lo - 1));
    }
    return lr > 1 ? a.roi_start * (lo - 1) + (o * (a.roi_end - a.roi_start) * (lo - 1)) / (lr - 1)
                  : float(0.5 * double(a.roi_start + a.roi_end) * double(lo - 1));
  }
  if (coord == "half_pixel_symmetric") {
    const float resized = s * lo, adjustment = lr / resized, center = lo / 2, offset = center * (1 - adjustment);
    return float(double(offset) + (double(o) + 0.5) / double(s) - 0.5);
  }
  return ((o + 0.5f) / s) - 0.5f;  // half_pixel
}

int64_t ort_nearest(const std::string& mode, float x) {
  if (mode == "round_prefer_ceil") return int64_t(std::round(x));
  if (mode == "floor") return int64_t(std::floor(x));
  if (mode == "ceil") return int64_t(std::ceil(x));
  if (x == float(int64_t(x)) + 0.5f) return int64_t(std::floor(x));  // round_prefer_floor
  return int64_t(std::round(x));
}

// The fused form's parameters, or nullopt where ONNX Runtime's loops and graft's definition part ways or the
// kernel has no case (cubic, antialias, keep_aspect_ratio_policy, f64 or integer linear, other layouts).
std::optional<CustomCompositeParams> fused_resize(const ResizeSpec& r, DType dt, const std::vector<OrtAxis>& axes,
                                                  const std::vector<double>& length, const std::string& policy) {
  const bool linear = r.mode == "linear";
  if ((!linear && r.mode != "nearest") || r.antialias || r.exclude_outside || policy != "stretch") return std::nullopt;
  if (linear && dt != DType::F32 && dt != DType::F16 && dt != DType::BF16) return std::nullopt;
  const int rank = int(axes.size());
  if (rank == 0 || (linear && rank > 5)) return std::nullopt;
  const bool extrapolate = r.coord == "tf_crop_and_resize";
  int first_resized = rank;
  for (int a = rank - 1; a >= 0; --a) {
    const OrtAxis& x = axes[size_t(a)];
    if (x.scale == 1.0f) {
      // ONNX Runtime takes such an axis as it is, whatever the transform; graft too unless a roi crops it.
      if (x.out != x.in || (extrapolate && (x.roi_start != 0 || x.roi_end != 1))) return std::nullopt;
      continue;
    }
    first_resized = a;
    // ONNX Runtime divides by the rounded output length where ONNX's definition takes the unrounded one.
    if ((r.coord == "align_corners" || extrapolate) && length[size_t(a)] != double(x.out)) return std::nullopt;
  }
  bool any_change = false;  // ONNX Runtime copies x when no length changes, whatever the scales
  for (const OrtAxis& x : axes) any_change |= x.out != x.in;
  if (!any_change) return std::nullopt;
  const int window = linear ? (rank == 1 ? 1 : rank % 2 == 0 ? 2 : 3) : rank - first_resized;
  if (first_resized < rank - window) return std::nullopt;  // a leading axis is resized

  CustomCompositeParams p;
  p.name = kFusedResizeName;
  p.ints = {linear ? 1 : 0, window, extrapolate ? 1 : 0};
  p.floats = {r.extrapolation};
  for (int a = rank - window; a < rank; ++a) {
    const OrtAxis& x = axes[size_t(a)];
    const float last = float(x.in - 1);
    std::vector<int64_t> lo, hi, outside;
    std::vector<double> w_lo, w_hi;
    for (int64_t o = 0; o < x.out; ++o) {
      const float orig = x.scale == 1.0f ? float(o) : ort_original_coordinate(r.coord, float(o), x, !linear);
      const bool out_of_range = extrapolate && (orig < 0 || orig > last);
      if (!linear) {
        int64_t i = x.scale == 1.0f ? o : std::clamp<int64_t>(ort_nearest(r.nearest, orig), 0, x.in - 1);
        lo.push_back(out_of_range ? -1 : i);
        continue;
      }
      const float c = std::max(0.0f, std::min(orig, last));
      const int64_t i1 = std::min<int64_t>(int64_t(c), x.in - 1), i2 = std::min<int64_t>(i1 + 1, x.in - 1);
      float d1 = std::fabs(c - float(i1)), d2 = std::fabs(c - float(i2));
      if (i1 == i2) d1 = d2 = 0.5f;
      lo.push_back(i1), hi.push_back(i2), outside.push_back(out_of_range ? 1 : 0);
      w_lo.push_back(d2), w_hi.push_back(d1);  // each index weighs the distance to the other
    }
    p.ints.insert(p.ints.end(), lo.begin(), lo.end());
    p.ints.insert(p.ints.end(), hi.begin(), hi.end());
    p.ints.insert(p.ints.end(), outside.begin(), outside.end());
    p.floats.insert(p.floats.end(), w_lo.begin(), w_lo.end());
    p.floats.insert(p.floats.end(), w_hi.begin(), w_hi.end());
  }
  return p;
}

// Resized lengths beyond this cannot be real (and their doubles would not convert to int64 exactly).
constexpr double kMaxResizedLength = double(int64_t(1) << 56);

// Refuses, before any tap table is built, a Resize whose output or per-axis tap tables would not fit the
// memory limit (a fuzzed scale of 1.6e7 on a channel axis once built a 15.7-million-entry table, 1.6 GB,
// before anything looked at the 3 GB output). `out[i]` < 0 marks a length that is not a size at all.
void check_resize_bounds(OpContext& c, Node x, const ResizeSpec& r, const std::vector<int64_t>& axes,
                         const std::vector<double>& sc, const std::vector<int64_t>& out) {
  std::vector<double> dims(static_cast<size_t>(x.rank()));
  for (int a = 0; a < x.rank(); ++a) dims[size_t(a)] = double(x.dim(a));
  for (size_t i = 0; i < axes.size(); ++i) {
    if (out[i] < 0)
      c.fail("axis ", axes[i], " of ", x.shape(), " resized by ", sc[i], " gives a length beyond 2^56");
    dims[size_t(axes[i])] = double(out[i]);
  }
  double elements = 1;
  for (double d : dims) elements *= d;
  std::string shape = "[";
  for (size_t a = 0; a < dims.size(); ++a) shape += (a ? ", " : "") + std::to_string(int64_t(dims[a]));
  shape += "]";
  const double bytes = elements * double(dtype_size(x.dtype()));
  if (bytes > kMaxResizedLength) c.fail("the output ", shape, " holds ", elements, " elements");
  check_memory(uint64_t(bytes), c.describe() + ": the output " + shape);
  // Each resampled axis keeps, per output position, its taps (an index and a weight, 16 bytes) in a table
  // built on the host; downsampling with antialias stretches the filter over 1/scale inputs.
  for (size_t i = 0; i < axes.size(); ++i) {
    double taps = 1;
    if (r.mode != "nearest") {
      const double radius = (r.mode == "cubic" ? 2.0 : 1.0) / (r.antialias && sc[i] < 1 ? sc[i] : 1.0);
      taps = 2 * radius + 2;
    }
    const double table = double(out[i]) * (taps * 16 + 48);
    if (table > kMaxResizedLength) c.fail("axis ", axes[i], " would need ", taps, " taps for each of ", out[i], " outputs");
    check_memory(uint64_t(table), c.describe() + ": the interpolation taps of axis " + std::to_string(axes[i]));
  }
}

void resize_op(OpContext& c, bool upsample) {
  Node x = c.input(0);
  int rank = x.rank();
  ResizeSpec r;
  r.mode = c.attr_string("mode", "nearest");
  if (upsample || c.opset() < 11) {
    // (ONNX Runtime rounds a downsampling Resize-10's nearest positions up; graft floors them, as for upsampling.)
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
    for (size_t i = 0; i < n; ++i)
      if (sizes[i] < 0) c.fail("sizes[", i, "] = ", sizes[i], " is negative");
    for (size_t i = 0; i < n; ++i) sc[i] = double(sizes[i]) / double(x.dim(int(axes[i])));
    if (policy != "stretch") {
      double s = policy == "not_larger" ? *std::min_element(sc.begin(), sc.end()) : *std::max_element(sc.begin(), sc.end());
      for (size_t i = 0; i < n; ++i) {
        sc[i] = s;
        len[i] = s * double(x.dim(int(axes[i])));
        out[i] = std::floor(len[i] + 0.5) < kMaxResizedLength ? int64_t(std::floor(len[i] + 0.5)) : -1;
      }
    } else {
      out = sizes;
      for (size_t i = 0; i < n; ++i) len[i] = double(sizes[i]);
    }
  } else {
    for (size_t i = 0; i < n; ++i) {
      sc[i] = scales[i];
      if (!(sc[i] > 0) || !std::isfinite(sc[i])) c.fail("scale ", sc[i], " must be positive and finite");
      len[i] = double(x.dim(int(axes[i]))) * sc[i];
      out[i] = std::floor(len[i]) < kMaxResizedLength ? int64_t(std::floor(len[i])) : -1;
    }
  }
  check_resize_bounds(c, x, r, axes, sc, out);
  // Per axis of x as ONNX Runtime sees it (for the fused form), and the taps of the axes that change.
  std::vector<OrtAxis> ort(static_cast<size_t>(rank));
  std::vector<double> full_len(static_cast<size_t>(rank));
  for (int a = 0; a < rank; ++a) ort[size_t(a)].in = ort[size_t(a)].out = x.dim(a), full_len[size_t(a)] = double(x.dim(a));
  std::vector<int> resampled_axes;
  std::vector<ResizeTaps> taps;
  std::vector<int64_t> resampled_out;
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
    OrtAxis& o = ort[size_t(a)];
    o.out = out[i];
    o.scale = sizes.empty() || policy != "stretch" ? float(sc[i]) : float(out[i]) / float(in);
    o.roi_start = float(rs), o.roi_end = float(re);
    full_len[size_t(a)] = len[i];
    if (out[i] == in && sc[i] == 1.0 && r.coord != "tf_crop_and_resize") continue;
    try {
      taps.push_back(axis_taps(r, in, out[i], sc[i], len[i], rs, re));
    } catch (const Error& e) {
      c.fail(e.what());
    }
    resampled_axes.push_back(a);
    resampled_out.push_back(out[i]);
  }
  auto decompose = [r, resampled_axes, taps, resampled_out](std::span<const Node> in) {
    Node y = in[0];
    for (size_t k = 0; k < taps.size(); ++k) y = resample_axis(y, resampled_axes[k], taps[k], resampled_out[k], r);
    return std::vector<Node>{y};
  };
  if (std::optional<CustomCompositeParams> p = fused_resize(r, x.dtype(), ort, full_len, policy))
    c.set_output(0, Composite(std::move(*p), {x}, decompose)[0]);
  else
    c.set_output(0, decompose(std::span<const Node>(&x, 1))[0]);
}

}  // namespace

void register_image_ops(Registry& r) {
  r.add("", "GridSample", 16, grid_sample_op).note =
      "any number of spatial axes (opset 20 semantics: nearest rounds half away from zero in 3-D); linear, nearest, "
      "cubic; zeros, border, reflection";
  r.add("", "AffineGrid", 20, affine_grid_op).note = "2-D and 3-D; size must be known while tracing";
  r.add("", "Col2Im", 18, col2im_op).note = "any number of spatial axes; image_shape and block_shape must be known while tracing";
  r.add("", "CenterCropPad", 18, center_crop_pad_op).note = "shape must be known while tracing";
  r.add("", "MaxRoiPool", 1, max_roi_pool_op);
  r.add("", "DeformConv", 19, deform_conv_op).note = "any number of spatial axes; optional mask";
  r.add("", "Resize", 10, [](OpContext& c) { resize_op(c, false); }).note =
      "all modes and coordinate transforms, antialias, axes, keep_aspect_ratio_policy; scales/sizes (and roi for "
      "tf_crop_and_resize) must be known while tracing; nearest and linear (bilinear / trilinear) run on a fused CPU "
      "kernel, equal to ONNX Runtime's bit for bit";
  r.add("", "Upsample", 7, [](OpContext& c) { resize_op(c, true); }).until = 9;
}

}  // namespace graft::onnx
