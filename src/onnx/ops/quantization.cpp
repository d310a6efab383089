// Quantization: QuantizeLinear / DequantizeLinear (per-tensor, per-axis, blocked), DynamicQuantizeLinear,
// MatMulInteger / ConvInteger, QLinearMatMul / QLinearConv. The products are written in the forms the CPU
// backend runs on oneDNN's int8 primitives, each exact (or f32-rounded where ONNX Runtime rounds in f32) on
// any backend:
//   MatMulInteger, QLinearMatMul: an int32 product of int32 operands (8-bit minus zero points), for
//     QLinearMatMul then Convert(f32) · (a_scale · b_scale / y_scale) and the requantization
//     (backend/cpu/quantized_product.cpp);
//   ConvInteger: an f64 convolution of the centered 8-bit operands (exact) converted to int32;
//   QLinearConv: the dequantized f32 convolution (DequantizeLinear(x) conv DequantizeLinear(w) + bias), then
//     QuantizeLinear — the same graph as a QDQ Conv (backend/cpu/quantized_conv.cpp).
#include "onnx/ops/quantization.h"

#include <cmath>

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
  DynamicQuantized d = dynamic_quantize(c.input(0));
  c.set_output(0, d.q);
  c.set_output(1, d.scale);
  c.set_output(2, d.zero_point);
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

// y = requantize((a - a_zp) · (b - b_zp) · (a_scale · b_scale / y_scale)): the int32 product, one f32
// multiplier per tensor or per column, then round + zero point, as ONNX Runtime computes it.
void qlinear_matmul_op(OpContext& c) {
  Node a = c.input(0), b = c.input(3);
  int64_t n = b.dim(-1);
  Node as = Convert(c.input(1), DType::F32);
  // Per tensor, or per row of a ([M] -> [M, 1]: then one multiplier per element, an unfused int32 product).
  if (as.rank() == 1 && as.dim(0) > 1 && a.rank() >= 2 && as.dim(0) == a.dim(-2))
    as = Reshape(as, {as.dim(0), 1});
  else
    as = per_tensor_or_column(c, as, 1, "a_scale");
  Node bs = per_tensor_or_column(c, Convert(c.input(4), DType::F32), n, "b_scale");
  Node ys = per_tensor_or_column(c, Convert(c.input(6), DType::F32), 1, "y_scale");
  Node y = scaled_integer_product(c, a, c.input(2), b, c.input(5), as * bs / ys);
  Node yzp = c.input(7);
  c.set_output(0, requantize(c, y, std::nullopt, per_tensor_or_column(c, yzp, 1, "y_zero_point")));
}

// The QDQ form: DequantizeLinear(x) conv DequantizeLinear(w) (+ the int32 bias at scale x_scale · w_scale), in
// f32, then QuantizeLinear with y's scale and zero point.
void qlinear_conv_op(OpContext& c) {
  Node x0 = c.input(0), w0 = c.input(3);
  Node xs = per_tensor_or_column(c, Convert(c.input(1), DType::F32), 1, "x_scale");
  Node ws = per_tensor_or_column(c, Convert(c.input(4), DType::F32), w0.dim(0), "w_scale");
  Node x = (Convert(x0, DType::F32) - Convert(per_tensor_or_column(c, c.input(2), 1, "x_zero_point"), DType::F32)) * xs;
  std::vector<int64_t> per_out(size_t(w0.rank()), 1);
  per_out[0] = w0.dim(0);
  Node wz = Convert(per_tensor_or_column(c, c.input(5), w0.dim(0), "w_zero_point"), DType::F32);
  auto per_channel = [&](Node p, std::vector<int64_t> shape) { return p.rank() == 0 ? p : Reshape(p, shape); };
  Node w = (Convert(w0, DType::F32) - per_channel(wz, per_out)) * per_channel(ws, per_out);
  Node y = Convolution(x, w, conv_attrs(c, x0, w0));
  if (auto bias = c.optional_input(8)) {  // int32, scale x_scale * w_scale, zero point 0
    std::vector<int64_t> bs(size_t(y.rank()), 1);
    bs[1] = y.dim(1);
    Node bscale = xs * ws;
    y = y + Reshape(Convert(*bias, DType::F32) * bscale, bs);
  }
  c.set_output(0, requantize(c, y, per_tensor_or_column(c, Convert(c.input(6), DType::F32), 1, "y_scale"),
                             per_tensor_or_column(c, c.input(7), 1, "y_zero_point")));
}

}  // namespace

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

Node scaled_integer_product(OpContext& c, Node a, std::optional<Node> a_zp, Node b, std::optional<Node> b_zp,
                            Node scale) {
  Node acc = MatMul(centered_i32(c, a, a_zp, 2, "A"), centered_i32(c, b, b_zp, 1, "B"));
  return Convert(acc, DType::F32) * scale;
}

Node per_tensor_or_column(OpContext& c, Node p, int64_t n, const char* what) {
  if (p.shape().size() == 1) return Reshape(p, {});
  if (p.rank() == 1 && p.dim(0) == n) return p;
  c.fail(what, " of shape ", p.shape(), " is neither a scalar nor one value per channel/column (", n, ")");
}

DynamicQuantized dynamic_quantize(Node x0) {
  Node x = Convert(x0, DType::F32);
  Node zero = ScalarLike(x, 0);
  Node lo = Min(ReduceMin(x), zero), hi = Max(ReduceMax(x), zero);
  Node scale = (hi - lo) / 255.0;
  Node zp = Clamp(Round(-lo / scale), zero, ScalarLike(x, 255));
  Node y = Clamp(Round(x / scale) + zp, zero, ScalarLike(x, 255));
  return {Convert(y, DType::U8), scale, Convert(zp, DType::U8)};
}

Node requantize(OpContext& c, Node y, std::optional<Node> scale, Node zero_point) {
  QRange q = range_of(c, zero_point.dtype());
  Node v = Round(scale ? y / *scale : y) + Convert(zero_point, y.dtype());
  v = Clamp(v, c.graph().scalar_like(q.lo, y.dtype()), c.graph().scalar_like(q.hi, y.dtype()));
  return Convert(v, zero_point.dtype());
}

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
