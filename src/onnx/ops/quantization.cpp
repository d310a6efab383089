// Quantization: QuantizeLinear / DequantizeLinear (per-tensor, per-axis, blocked), DynamicQuantizeLinear,
// MatMulInteger / ConvInteger, QLinearMatMul / QLinearConv. MatMulInteger is an int32 product of int32
// operands; the other integer products are computed in f64 (exact for 8-bit operands far beyond any realistic
// reduction length) and converted to int32.
#include <cmath>

#include "onnx/converter.h"

namespace graft::onnx {

namespace {

struct QRange {
  double lo, hi;
};

QRange range_of(OpContext& c, DType d) {
  switch (d) {
    case DType::U8: return {0, 255};
    case DType::I8: return {-128, 127};
    case DType::U16: return {0, 65535};
    case DType::I16: return {-32768, 32767};
    case DType::I32: return {-2147483648.0, 2147483647.0};
    case DType::U32: return {0, 4294967295.0};
    default: c.fail("quantized type ", dtype_name(d), " is not supported");
  }
}

// Brings a scale / zero point to x's rank: a scalar stays, a 1-D per-axis vector becomes [1, .., n, .., 1],
// a blocked tensor (same rank as x) is repeated `block` times along `axis` and cropped to x's extent.
Node align_param(OpContext& c, Node p, Node x, int64_t axis_attr, int64_t block) {
  if (p.rank() == 0 || (p.rank() == 1 && p.dim(0) == 1 && block == 0)) return Reshape(p, {});
  int axis = normalize_axis(c, axis_attr, x.rank());
  if (block > 0) {
    if (p.rank() != x.rank()) c.fail("blocked scale ", p.shape(), " must have x's rank ", x.rank());
    std::vector<int64_t> dims = p.shape().dims();
    std::vector<int64_t> expanded = dims;
    expanded.insert(expanded.begin() + axis + 1, block);
    Axes bdims;
    for (int i = 0; i < p.rank(); ++i) bdims.push_back(i <= axis ? i : i + 1);
    Node b = BroadcastInDim(p, Shape(expanded), bdims);
    dims[size_t(axis)] *= block;
    b = Reshape(b, dims);
    if (dims[size_t(axis)] != x.dim(axis)) b = SliceAxis(b, axis, 0, x.dim(axis));
    return b;
  }
  if (p.rank() != 1 || p.dim(0) != x.dim(axis))
    c.fail("per-axis parameter ", p.shape(), " must be [", x.dim(axis), "] (axis ", axis, " of ", x.shape(), ")");
  std::vector<int64_t> shape(size_t(x.rank()), 1);
  shape[size_t(axis)] = p.dim(0);
  return Reshape(p, shape);
}

// The division runs in f32 (f64 when x or the `precision` attribute is double; f16/bf16 scales and
// precisions are computed in f32, as ONNX Runtime does).
Node quantize(OpContext& c, Node x, Node scale, std::optional<Node> zp, DType out, int64_t axis, int64_t block) {
  QRange q = range_of(c, out);
  DType ct = x.dtype() == DType::F64 ? DType::F64 : DType::F32;
  if (auto p = c.attr_int_opt("precision"); p && *p != 0 && onnx_dtype_attr(c, *p) == DType::F64) ct = DType::F64;
  Node s = align_param(c, Convert(scale, ct), x, axis, block);
  Node v = Round(Convert(x, ct) / s);
  if (zp) v = v + align_param(c, Convert(*zp, ct), x, axis, block);
  v = Clamp(v, c.graph().scalar_like(q.lo, ct), c.graph().scalar_like(q.hi, ct));
  return Convert(v, out);
}

void quantize_op(OpContext& c) {
  Node x = c.input(0), scale = c.input(1);
  std::optional<Node> zp = c.optional_input(2);
  DType out = DType::U8;
  if (zp)
    out = zp->dtype();
  else if (auto od = c.attr_int_opt("output_dtype"); od && *od != 0)
    out = onnx_dtype_attr(c, *od);
  c.set_output(0, quantize(c, x, scale, zp, out, c.attr_int("axis", 1), c.attr_int("block_size", 0)));
}

void dequantize_op(OpContext& c) {
  Node x = c.input(0), scale = c.input(1);
  std::optional<Node> zp = c.optional_input(2);
  int64_t axis = c.attr_int("axis", 1), block = c.attr_int("block_size", 0);
  DType out = scale.dtype();  // output_dtype (when given) overrides the scale's type
  if (auto od = c.attr_int_opt("output_dtype"); od && *od != 0) out = onnx_dtype_attr(c, *od);
  DType ct = scale.dtype() == DType::F64 || out == DType::F64 ? DType::F64 : DType::F32;
  Node v = Convert(x, ct);
  if (zp) v = v - align_param(c, Convert(*zp, ct), x, axis, block);
  Node y = v * align_param(c, Convert(scale, ct), x, axis, block);
  c.set_output(0, Convert(y, out));
}

void dynamic_quantize_op(OpContext& c) {
  Node x = Convert(c.input(0), DType::F32);
  Node zero = ScalarLike(x, 0);
  Node lo = Min(ReduceMin(x), zero), hi = Max(ReduceMax(x), zero);
  Node scale = (hi - lo) / 255.0;
  Node zp = Clamp(Round(-lo / scale), zero, ScalarLike(x, 255));
  Node y = Clamp(Round(x / scale) + zp, zero, ScalarLike(x, 255));
  c.set_output(0, Convert(y, DType::U8));
  c.set_output(1, scale);
  c.set_output(2, Convert(zp, DType::U8));
}

// (v - zero_point) in f64, the zero point broadcast per row (A) or per column / channel (B, W).
Node centered(Node v, std::optional<Node> zp, int per_axis_from_end) {
  Node f = Convert(v, DType::F64);
  if (!zp) return f;
  Node z = Convert(*zp, DType::F64);
  if (z.rank() == 1 && z.dim(0) > 1 && per_axis_from_end > 0) {
    std::vector<int64_t> shape(size_t(per_axis_from_end), 1);
    shape[0] = z.dim(0);
    z = Reshape(z, shape);
  } else if (z.rank() == 1 && z.dim(0) == 1) {
    z = Reshape(z, {});
  }
  return f - z;
}

// (v - zero_point) as int32, the zero point a scalar or a 1-D vector along the axis `per_axis_from_end`
// counts from the end (A's rows: 2, B's columns: 1).
Node centered_i32(OpContext& c, Node v, std::optional<Node> zp, int per_axis_from_end, const char* what) {
  Node f = Convert(v, DType::I32);
  if (!zp) return f;
  Node z = Convert(*zp, DType::I32);
  if (z.rank() == 0 || z.shape().size() == 1) return f - Reshape(z, {});
  if (z.rank() != 1 || v.rank() < per_axis_from_end || z.dim(0) != v.dim(-per_axis_from_end))
    c.fail(what, " zero point ", z.shape(), " is neither a scalar nor one per ", per_axis_from_end == 2 ? "row" : "column",
           " of ", v.shape());
  std::vector<int64_t> shape(size_t(per_axis_from_end), 1);
  shape[0] = z.dim(0);
  return f - Reshape(z, shape);
}

// An int32 product of int32 operands (exact: each term fits, the sum wraps as ONNX Runtime's does). The CPU
// backend recognizes this form — 8-bit operands minus zero points, then optionally Cast + scale Mul — and
// runs it on oneDNN's int8 matmul (src/backend/cpu/quantized_product.cpp).
void matmul_integer_op(OpContext& c) {
  Node a = centered_i32(c, c.input(0), c.optional_input(2), 2, "A");
  Node b = centered_i32(c, c.input(1), c.optional_input(3), 1, "B");
  c.set_output(0, MatMul(a, b));
}

// Conv attributes shared by ConvInteger and QLinearConv.
ConvolutionAttrs conv_attrs(OpContext& c, Node x, Node w) {
  size_t s = size_t(x.rank() - 2);
  ConvolutionAttrs a;
  std::vector<int64_t> kernel = c.attr_ints("kernel_shape");
  if (kernel.empty())
    for (int i = 2; i < w.rank(); ++i) kernel.push_back(w.dim(i));
  a.strides = c.attr_ints("strides", std::vector<int64_t>(s, 1));
  a.dilations = c.attr_ints("dilations", std::vector<int64_t>(s, 1));
  std::vector<int64_t> pads = c.attr_ints("pads", std::vector<int64_t>(2 * s, 0));
  a.pad_low.assign(pads.begin(), pads.begin() + long(s));
  a.pad_high.assign(pads.begin() + long(s), pads.end());
  a.groups = c.attr_int("group", 1);
  std::string auto_pad = c.attr_string("auto_pad", "NOTSET");
  for (size_t i = 0; i < s; ++i) {
    int64_t in = x.dim(int(i) + 2), span = (kernel[i] - 1) * a.dilations[i] + 1;
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      int64_t out = (in + a.strides[i] - 1) / a.strides[i];
      int64_t total = std::max<int64_t>((out - 1) * a.strides[i] + span - in, 0);
      a.pad_low[i] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      a.pad_high[i] = total - a.pad_low[i];
    } else if (auto_pad == "VALID") {
      a.pad_low[i] = a.pad_high[i] = 0;
    }
  }
  return a;
}

void conv_integer_op(OpContext& c) {
  Node x0 = c.input(0), w0 = c.input(1);
  Node x = centered(x0, c.optional_input(2), 0);
  Node w = centered(w0, c.optional_input(3), w0.rank());  // per output channel: [M, 1, 1, ...]
  c.set_output(0, Convert(Convolution(x, w, conv_attrs(c, x0, w0)), DType::I32));
}

// y = quantize(dequantize(a) x dequantize(b)) with y's scale and zero point.
void qlinear_matmul_op(OpContext& c) {
  Node a = c.input(0), b = c.input(3);
  Node ad = centered(a, c.input(2), 2) * align_param(c, Convert(c.input(1), DType::F64), a, -2, 0);
  Node bd = centered(b, c.input(5), 0) * Convert(c.input(4), DType::F64);
  Node y = MatMul(ad, bd);
  Node yzp = c.input(7);
  Node ys = Convert(c.input(6), DType::F64);
  QRange q = range_of(c, yzp.dtype());
  Node v = Round(y / Reshape(ys, ys.rank() == 1 && ys.dim(0) == 1 ? std::vector<int64_t>{} : ys.shape().dims())) +
           Convert(yzp, DType::F64);
  v = Clamp(v, c.graph().scalar_like(q.lo, DType::F64), c.graph().scalar_like(q.hi, DType::F64));
  c.set_output(0, Convert(v, yzp.dtype()));
}

void qlinear_conv_op(OpContext& c) {
  Node x0 = c.input(0), w0 = c.input(3);
  Node xs = Convert(c.input(1), DType::F64), ws = Convert(c.input(4), DType::F64);
  Node x = centered(x0, c.input(2), 0) * Reshape(xs, {});
  std::vector<int64_t> per_out(size_t(w0.rank()), 1);
  per_out[0] = ws.shape().size();
  Node w = centered(w0, c.input(5), w0.rank()) * (ws.shape().size() == 1 ? Reshape(ws, {}) : Reshape(ws, per_out));
  Node y = Convolution(x, w, conv_attrs(c, x0, w0));
  if (auto bias = c.optional_input(8)) {  // int32, scale x_scale * w_scale, zero point 0
    std::vector<int64_t> bs(size_t(y.rank()), 1);
    bs[1] = y.dim(1);
    Node bscale = Reshape(xs, {}) * (ws.shape().size() == 1 ? Reshape(ws, {}) : Reshape(ws, {ws.shape().size()}));
    y = y + Reshape(Convert(*bias, DType::F64) * bscale, bs);
  }
  Node yzp = c.input(7);
  QRange q = range_of(c, yzp.dtype());
  Node v = Round(y / Reshape(Convert(c.input(6), DType::F64), {})) + Reshape(Convert(yzp, DType::F64), {});
  v = Clamp(v, c.graph().scalar_like(q.lo, DType::F64), c.graph().scalar_like(q.hi, DType::F64));
  c.set_output(0, Convert(v, yzp.dtype()));
}

}  // namespace

void register_quantization_ops(Registry& r) {
  r.add("", "QuantizeLinear", 10, quantize_op).note =
      "per-tensor, per-axis, blocked (block_size); output_dtype; 8/16/32-bit integer types only (float8/int4: an error)";
  r.add("", "DequantizeLinear", 10, dequantize_op).note =
      "per-tensor, per-axis, blocked (block_size); output_dtype; 8/16/32-bit integer types only (float8/int4: an error)";
  r.add("", "DynamicQuantizeLinear", 11, dynamic_quantize_op);
  r.add("", "MatMulInteger", 10, matmul_integer_op);
  r.add("", "ConvInteger", 10, conv_integer_op);
  r.add("", "QLinearMatMul", 10, qlinear_matmul_op);
  r.add("", "QLinearConv", 10, qlinear_conv_op);
}

}  // namespace graft::onnx
