// Vision ops: NonMaxSuppression (data-dependent output size: computed on the host from values known while
// tracing), MaxUnpool (a scatter) and RoiAlign (interpolation matrices and products, or gathers for max).
// GridSample, AffineGrid, Col2Im, CenterCropPad, MaxRoiPool and DeformConv are in image.cpp.
#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>

#include "onnx/converter.h"

namespace graft::onnx {

namespace {

// ---- NonMaxSuppression ----------------------------------------------------------------------------------

struct NmsParams {
  int64_t max_out = 0;
  double iou_th = 0;
  std::optional<double> score_th;
  bool center = false;
};

// One class's greedy selection over `nbox` boxes given as corners (y1, x1, y2, x2 with y1 <= y2, x1 <= x2) and
// areas: candidates in descending score order (stable), each kept unless a kept box overlaps it with IoU above
// `iou_th`, up to `max_out` kept. The IoU of one pair is computed in double, always the same way; which pairs
// are compared changes nothing: with iou_th >= 0 a pair whose boxes do not intersect
// (ih <= 0 or iw <= 0, so IoU 0) can never suppress, so boxes proven disjoint from the candidate by plain
// comparisons are skipped. Boxes are sorted by y1 into blocks of 32 with the block's largest y2 and its x
// extent; a candidate looks only at blocks that start above its bottom edge and whose extent reaches it. For
// torchvision's batched NMS (every class's boxes offset into a region of their own) this takes the 13,500
// boxes of Faster R-CNN's post-processing from ~60 M pair tests to a few per candidate.
std::vector<int64_t> nms_one_class(const std::vector<std::array<double, 4>>& box, const std::vector<double>& area,
                                   const std::vector<int64_t>& cand, int64_t max_out, double iou_th) {
  const int64_t nbox = int64_t(box.size());
  auto suppresses = [&](int64_t a, int64_t b) {  // kept box b suppresses candidate a
    const auto &p = box[size_t(a)], &q = box[size_t(b)];
    double ih = std::min(p[2], q[2]) - std::max(p[0], q[0]), iw = std::min(p[3], q[3]) - std::max(p[1], q[1]);
    double iou = 0.0;
    if (ih > 0 && iw > 0) {
      double inter = ih * iw;
      double ua = area[size_t(a)] + area[size_t(b)] - inter;
      iou = ua > 0 ? inter / ua : 0.0;
    }
    return iou > iou_th;
  };
  std::vector<int64_t> kept;
  bool finite = true;
  for (int64_t i : cand)
    for (double v : box[size_t(i)]) finite = finite && std::isfinite(v);
  if (iou_th < 0 || !finite || cand.size() < 64) {
    // Every pair (a negative threshold suppresses disjoint boxes too; NaN corners cannot be sorted).
    for (int64_t i : cand) {
      if (int64_t(kept.size()) >= max_out) break;
      bool ok = true;
      for (int64_t j : kept)
        if (suppresses(i, j)) {
          ok = false;
          break;
        }
      if (ok) kept.push_back(i);
    }
    return kept;
  }
  // Only candidates can be kept: the blocks hold them.
  constexpr int64_t kBlock = 32;
  std::vector<int64_t> order = cand;
  const int64_t n = int64_t(order.size());
  std::sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return box[size_t(x)][0] < box[size_t(y)][0]; });
  const int64_t nblocks = (n + kBlock - 1) / kBlock;
  std::vector<double> first_y1(size_t(nblocks), 0.0), max_y2(size_t(nblocks), 0.0), min_x1(size_t(nblocks), 0.0),
      max_x2(size_t(nblocks), 0.0);
  for (int64_t b = 0; b < nblocks; ++b) {
    const auto& q0 = box[size_t(order[size_t(b * kBlock)])];
    first_y1[size_t(b)] = q0[0];
    max_y2[size_t(b)] = q0[2], min_x1[size_t(b)] = q0[1], max_x2[size_t(b)] = q0[3];
    for (int64_t k = b * kBlock + 1; k < std::min(n, (b + 1) * kBlock); ++k) {
      const auto& q = box[size_t(order[size_t(k)])];
      max_y2[size_t(b)] = std::max(max_y2[size_t(b)], q[2]);
      min_x1[size_t(b)] = std::min(min_x1[size_t(b)], q[1]);
      max_x2[size_t(b)] = std::max(max_x2[size_t(b)], q[3]);
    }
  }
  std::vector<char> is_kept(size_t(nbox), 0);
  std::vector<int> kept_in_block(size_t(nblocks), 0);
  std::vector<int64_t> block_of(size_t(nbox), 0);
  for (int64_t k = 0; k < n; ++k) block_of[size_t(order[size_t(k)])] = k / kBlock;
  for (int64_t i : cand) {
    if (int64_t(kept.size()) >= max_out) break;
    const auto& p = box[size_t(i)];
    bool ok = true;
    // Blocks in y1 order: one starting at or below the candidate's bottom edge (y1 >= p.y2) holds only
    // boxes with ih <= 0, and so does every later one.
    for (int64_t b = 0; ok && b < nblocks && first_y1[size_t(b)] < p[2]; ++b) {
      if (!kept_in_block[size_t(b)] || max_y2[size_t(b)] <= p[0] || min_x1[size_t(b)] >= p[3] ||
          max_x2[size_t(b)] <= p[1])
        continue;
      for (int64_t k = b * kBlock; k < std::min(n, (b + 1) * kBlock); ++k) {
        int64_t j = order[size_t(k)];
        if (is_kept[size_t(j)] && suppresses(i, j)) {
          ok = false;
          break;
        }
      }
    }
    if (ok) {
      kept.push_back(i);
      is_kept[size_t(i)] = 1;
      kept_in_block[size_t(block_of[size_t(i)])]++;
    }
  }
  return kept;
}

// The selected [batch, class, box] triples, as ONNX defines them (a host computation: its row count depends
// on the values).
Tensor nms_selected(const Tensor& boxes_t, const Tensor& scores_t, const NmsParams& p) {
  const int64_t max_out = p.max_out;
  const std::optional<double> score_th = p.score_th;
  int64_t nb = boxes_t.shape()[0], nbox = boxes_t.shape()[1], ncls = scores_t.shape()[1];
  std::vector<double> boxes = boxes_t.to_vector<double>(), scores = scores_t.to_vector<double>();
  std::vector<int64_t> out;
  for (int64_t b = 0; b < nb; ++b) {
    // Corners as (y1, x1, y2, x2) with y1 <= y2, x1 <= x2, and areas, once per batch.
    std::vector<std::array<double, 4>> corners(size_t(nbox), std::array<double, 4>{});
    std::vector<double> area(size_t(nbox), 0.0);
    for (int64_t i = 0; i < nbox; ++i) {
      const double* q = &boxes[size_t((b * nbox + i) * 4)];
      auto& r = corners[size_t(i)];
      if (p.center) {
        r = {q[1] - q[3] / 2, q[0] - q[2] / 2, q[1] + q[3] / 2, q[0] + q[2] / 2};
      } else {
        r = {std::min(q[0], q[2]), std::min(q[1], q[3]), std::max(q[0], q[2]), std::max(q[1], q[3])};
      }
      area[size_t(i)] = (r[2] - r[0]) * (r[3] - r[1]);
    }
    for (int64_t k = 0; k < ncls; ++k) {
      if (max_out <= 0) continue;
      const double* s = &scores[size_t((b * ncls + k) * nbox)];
      std::vector<int64_t> cand;
      for (int64_t i = 0; i < nbox; ++i)
        if (!score_th || s[i] > *score_th) cand.push_back(i);
      std::stable_sort(cand.begin(), cand.end(), [&](int64_t x, int64_t y) { return s[x] > s[y]; });
      for (int64_t i : nms_one_class(corners, area, cand, max_out, p.iou_th)) out.insert(out.end(), {b, k, i});
    }
  }
  return Tensor::from_vector(out, Shape{int64_t(out.size() / 3), 3});
}

void nms_op(OpContext& c) {
  NmsParams p;
  if (c.has_input(2)) p.max_out = c.require_int(2, "max_output_boxes_per_class");
  if (c.has_input(3)) p.iou_th = c.require_double(3, "iou_threshold");
  if (c.has_input(4)) p.score_th = c.require_double(4, "score_threshold");
  p.center = c.attr_int("center_point_box", 0) != 0;
  auto check = [&c](const Shape& boxes, const Shape& scores) {
    if (boxes.rank() != 3 || boxes[2] != 4) c.fail("boxes must be [batches, boxes, 4], got ", boxes);
    if (scores.rank() != 3 || scores[0] != boxes[0] || scores[2] != boxes[1])
      c.fail("scores ", scores, " do not match boxes ", boxes);
  };
  check(c.value(0).type().shape, c.value(1).type().shape);
  // Boxes and scores computed from the run's inputs (a detector's): the selection runs between compiled
  // stages on every run, and the rest of the model is traced for its row count only.
  auto select = [p](const std::vector<Tensor>& v) { return std::vector<Tensor>{nms_selected(v[0], v[1], p)}; };
  if (auto staged = c.stage_op({0, 1}, select)) return c.set_output(0, (*staged)[0]);
  c.set_known(0, nms_selected(c.require_known(0, "boxes"), c.require_known(1, "scores"), p));
}

// ---- MaxUnpool --------------------------------------------------------------------------------------------

void max_unpool_op(OpContext& c) {
  Node x = c.input(0), idx = Convert(c.input(1), DType::I64);
  if (x.rank() < 3) c.fail("X must be [N, C, spatial...], got ", x.shape());
  size_t s = size_t(x.rank() - 2);
  std::vector<int64_t> kernel = c.attr_ints("kernel_shape");
  std::vector<int64_t> strides = c.attr_ints("strides", std::vector<int64_t>(s, 1));
  std::vector<int64_t> pads = c.attr_ints("pads", std::vector<int64_t>(2 * s, 0));
  if (kernel.size() != s) c.fail("kernel_shape must have ", s, " entries");
  // Indices address the output shape the pooling implies; a larger output_shape pads it at the end.
  std::vector<int64_t> out = {x.dim(0), x.dim(1)};
  for (size_t i = 0; i < s; ++i) out.push_back((x.dim(int(i) + 2) - 1) * strides[i] + kernel[i] - pads[i] - pads[i + s]);
  std::vector<int64_t> requested = out;
  if (c.has_input(2)) {
    requested = c.require_ints(2, "output_shape");
    if (requested.size() != size_t(x.rank())) c.fail("output_shape must have ", x.rank(), " entries");
    for (size_t i = 0; i < requested.size(); ++i)
      if (requested[i] < out[i]) c.fail("output_shape ", requested[i], " on axis ", i, " is below the pooled extent ", out[i]);
  }
  int64_t spatial = 1;
  for (size_t i = 2; i < out.size(); ++i) spatial *= out[i];
  // Indices address the flattened [N, C, spatial] output; scatter per (n, c) row along the last axis.
  int64_t N = x.dim(0), C = x.dim(1);
  int64_t per = x.shape().size() / (N * C);
  Node rows = Reshape(x, {N, C, per});
  Node base = Iota(c.graph(), DType::I64, Shape{N, C, per}, 0) * double(C * spatial) +
              Iota(c.graph(), DType::I64, Shape{N, C, per}, 1) * double(spatial);
  Node local = Reshape(idx, {N, C, per}) - base;  // ONNX indices may be global over N, C as well
  Node zeros = Zeros(c.graph(), x.dtype(), {N, C, spatial});
  Node y = ScatterAlongAxis(zeros, local, rows, 2, ReduceOp::Replace);
  y = Reshape(y, out);
  if (requested != out) {
    Axes lo(out.size(), 0), hi(out.size(), 0);
    for (size_t i = 0; i < out.size(); ++i) hi[i] = requested[i] - out[i];
    y = Pad(y, lo, hi);
  }
  c.set_output(0, y);
}

// ---- RoiAlign ---------------------------------------------------------------------------------------------

// One spatial axis of RoiAlign's sampling grid, for every roi r, output bin o and sample g (< G): the two
// bilinear taps (lo, hi: i64 [R, o, G]) and their weights (masked: zero for padding samples g >= grid[r]
// and for samples beyond [-1, extent]), plus the per-roi sample count grid [R] (f64).
struct RoiAxis {
  Node lo, hi, w_lo, w_hi, in_grid, grid;
};

RoiAxis roi_axis(Graph& g, Node start, Node end, int64_t bins, int64_t G, int64_t sampling_ratio, int64_t extent,
                 bool half_pixel) {
  int64_t R = start.dim(0);
  Node size = end - start;
  if (!half_pixel) size = Max(size, ScalarLike(size, 1.0));  // malformed rois are forced to 1 x 1
  Node bin = size / double(bins);
  RoiAxis a;
  a.grid = sampling_ratio > 0 ? Full(g, DType::F64, Shape{R}, double(sampling_ratio))
                              : Min(Ceil(bin), ScalarLike(bin, double(G)));  // adaptive, capped at G
  Node grid = Reshape(a.grid, {R, 1, 1});
  Node o = Iota(g, DType::F64, Shape{1, bins, 1}, 1), s = Iota(g, DType::F64, Shape{1, 1, G}, 2);
  Node b3 = Reshape(bin, {R, 1, 1});
  Node v = Reshape(start, {R, 1, 1}) + o * b3 + (s + 0.5) * b3 / Max(grid, ScalarLike(grid, 1.0));  // [R, bins, G]
  a.in_grid = Less(s, grid);
  Node keep = And(a.in_grid, And(GreaterEqual(v, ScalarLike(v, -1.0)), LessEqual(v, ScalarLike(v, double(extent)))));
  Node vc = Max(v, ScalarLike(v, 0.0));
  Node lo = Floor(vc);
  Node at_end = GreaterEqual(lo, ScalarLike(lo, double(extent - 1)));
  Node last = ScalarLike(lo, double(extent - 1));
  lo = Select(at_end, last, lo);
  Node hi = Select(at_end, last, lo + 1.0);
  vc = Select(at_end, lo, vc);
  Node l = vc - lo;
  Node zero = ScalarLike(l, 0.0);
  a.w_lo = Select(keep, 1.0 - l, zero);
  a.w_hi = Select(keep, l, zero);
  a.lo = Convert(lo, DType::I64);
  a.hi = Convert(hi, DType::I64);
  return a;
}

// RoiAlign (opsets 10, 16): bilinear samples on a regular grid per bin, averaged or max-pooled, as in the
// ONNX reference (max mode takes the largest weighted corner of each sample, as ONNX Runtime does).
// Built from graph ops, so rois may be run-time values. Average pooling is separable: a [R*oh, N*H]
// row-weight matrix (batch index folded in) times X as [N*H, C*W], then a batched product with the
// [R, ow, W] column weights. Max pooling gathers every sample's four corners.
// sampling_ratio 0 (adaptive, ceil(roi extent / bins) samples per bin) needs a bound on the samples per
// bin: exact from the rois when they are known while tracing; otherwise ceil(extent / bins) per axis, so
// rois inside the feature map are exact and larger ones are averaged over that many samples.
void roi_align_op(OpContext& c) {
  Node x = c.input(0), rois = c.input(1), bidx = c.input(2);
  if (x.rank() != 4) c.fail("X must be [N, C, H, W], got ", x.shape());
  if (rois.rank() != 2 || rois.dim(1) != 4) c.fail("rois must be [num_rois, 4], got ", rois.shape());
  if (bidx.rank() != 1 || bidx.dim(0) != rois.dim(0))
    c.fail("batch_indices must be [num_rois] (", rois.dim(0), "), got ", bidx.shape());
  std::string mode = c.attr_string("mode", "avg");
  if (mode != "avg" && mode != "max") c.fail("unknown mode '", mode, "'");
  std::string coord = c.opset() >= 16 ? c.attr_string("coordinate_transformation_mode", "half_pixel") : "output_half_pixel";
  if (coord != "half_pixel" && coord != "output_half_pixel") c.fail("unknown coordinate_transformation_mode '", coord, "'");
  bool half_pixel = coord == "half_pixel";
  int64_t oh = c.attr_int("output_height", 1), ow = c.attr_int("output_width", 1);
  int64_t sr = c.attr_int("sampling_ratio", 0);
  double scale = c.attr_float("spatial_scale", 1.0);
  if (oh < 1 || ow < 1) c.fail("output_height and output_width must be positive");
  if (sr < 0) c.fail("sampling_ratio must be non-negative, got ", sr);
  Graph& g = c.graph();
  int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), R = rois.dim(0);
  double offset = half_pixel ? 0.5 : 0.0;
  // Samples per bin along each axis (an upper bound for the adaptive grid).
  int64_t Gh = sr, Gw = sr;
  if (sr == 0) {
    Gh = std::max<int64_t>(1, (H + oh - 1) / oh);
    Gw = std::max<int64_t>(1, (W + ow - 1) / ow);
    if (const Tensor* t = c.known(1)) {
      std::vector<double> rv = t->to_vector<double>();
      Gh = Gw = 1;
      for (int64_t r = 0; r < R; ++r) {
        const double* p = &rv[size_t(r * 4)];
        double w = (p[2] * scale - offset) - (p[0] * scale - offset), h = (p[3] * scale - offset) - (p[1] * scale - offset);
        if (!half_pixel) {
          w = std::max(w, 1.0);
          h = std::max(h, 1.0);
        }
        Gh = std::max<int64_t>(Gh, int64_t(std::ceil(h / double(oh))));
        Gw = std::max<int64_t>(Gw, int64_t(std::ceil(w / double(ow))));
      }
    }
  }
  Node rf = Convert(rois, DType::F64);
  auto col = [&](int i) { return Reshape(SliceAxis(rf, 1, i, i + 1), {R}) * scale - offset; };
  RoiAxis ay = roi_axis(g, col(1), col(3), oh, Gh, sr, H, half_pixel);
  RoiAxis ax = roi_axis(g, col(0), col(2), ow, Gw, sr, W, half_pixel);
  DType dt = x.dtype(), cd = dt == DType::F64 ? DType::F64 : DType::F32;
  Node b = Convert(bidx, DType::I64);
  Node y;
  if (mode == "avg") {
    // Interpolation matrix of one axis: [R, bins, extent], each row the mean of its samples' tap weights.
    auto matrix = [&](const RoiAxis& a, int64_t bins, int64_t G, int64_t extent) {
      Node pos = Iota(g, DType::I64, Shape{1, 1, 1, extent}, 3);
      Node one_lo = Convert(Equal(ExpandDims(a.lo, 3), pos), DType::F64);
      Node one_hi = Convert(Equal(ExpandDims(a.hi, 3), pos), DType::F64);
      Node m = ReduceSum(one_lo * ExpandDims(a.w_lo, 3) + one_hi * ExpandDims(a.w_hi, 3), {2});  // [R, bins, extent]
      Node count = Reshape(Max(a.grid, ScalarLike(a.grid, 1.0)), {R, 1, 1});
      return Convert(m / count, cd);
    };
    Node my = matrix(ay, oh, Gh, H), mx = matrix(ax, ow, Gw, W);
    Node onehot_b = Convert(Equal(Reshape(b, {R, 1, 1, 1}), Iota(g, DType::I64, Shape{1, 1, N, 1}, 2)), cd);
    Node rows = Reshape(ExpandDims(my, 2) * onehot_b, {R * oh, N * H});            // [R*oh, N*H]
    Node xt = Reshape(Transpose(Convert(x, cd), {0, 2, 1, 3}), {N * H, C * W});    // [N*H, C*W]
    Node t = Reshape(MatMul(rows, xt), {R, oh, C, W});
    DotGeneralAttrs d;
    d.lhs_batch = {0};
    d.rhs_batch = {0};
    d.lhs_contract = {3};
    d.rhs_contract = {2};
    y = Transpose(DotGeneral(t, mx, d), {0, 2, 1, 3});  // [R, oh, C, ow] -> [R, C, oh, ow]
  } else {
    // idx/weight [R, oh, Gh, 2, ow, Gw, 2]: the four corners of every sample.
    Node yi = Reshape(Concatenate({ExpandDims(ay.lo, 3), ExpandDims(ay.hi, 3)}, 3), {R, oh, Gh, 2, 1, 1, 1});
    Node yw = Reshape(Concatenate({ExpandDims(ay.w_lo, 3), ExpandDims(ay.w_hi, 3)}, 3), {R, oh, Gh, 2, 1, 1, 1});
    Node xi = Reshape(Concatenate({ExpandDims(ax.lo, 3), ExpandDims(ax.hi, 3)}, 3), {R, 1, 1, 1, ow, Gw, 2});
    Node xw = Reshape(Concatenate({ExpandDims(ax.w_lo, 3), ExpandDims(ax.w_hi, 3)}, 3), {R, 1, 1, 1, ow, Gw, 2});
    Node idx = (Reshape(b, {R, 1, 1, 1, 1, 1, 1}) * double(H) + yi) * double(W) + xi;
    Node wt = Convert(yw * xw, cd);
    Node xflat = Reshape(Transpose(Convert(x, cd), {0, 2, 3, 1}), {N * H * W, C});
    Node v = Take(xflat, idx, 0) * ExpandDims(wt, 7);   // [R, oh, Gh, 2, ow, Gw, 2, C]
    Node sample = ReduceMax(v, {3, 6});                   // [R, oh, Gh, ow, Gw, C]
    Node in_grid = And(Reshape(ay.in_grid, {R, 1, Gh, 1, 1, 1}), Reshape(ax.in_grid, {R, 1, 1, 1, Gw, 1}));
    sample = Select(in_grid, sample, ScalarLike(sample, -INFINITY));
    Node best = ReduceMax(sample, {2, 4});                // [R, oh, ow, C]
    Node any = And(GreaterEqual(ay.grid, ScalarLike(ay.grid, 1.0)), GreaterEqual(ax.grid, ScalarLike(ax.grid, 1.0)));
    best = Select(Reshape(any, {R, 1, 1, 1}), best, ScalarLike(best, 0.0));
    y = Transpose(best, {0, 3, 1, 2});
  }
  c.set_output(0, Convert(y, dt));
}

}  // namespace

void register_vision_ops(Registry& r) {
  r.add("", "NonMaxSuppression", 10, nms_op);
  r.add("", "MaxUnpool", 9, max_unpool_op);
  r.add("", "RoiAlign", 10, roi_align_op).note =
      "avg/max, half_pixel/output_half_pixel; run-time rois with sampling_ratio 0 sample at most ceil(extent/bins) "
      "points per bin axis (exact for rois inside the feature map)";
}

}  // namespace graft::onnx
