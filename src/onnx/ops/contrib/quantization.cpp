// com.microsoft quantized ops: MatMulNBits (2-, 4- or 8-bit blockwise-quantized weights with per-block
// scales and optional zero points, kept packed: an "onnx.matmul_nbits" composite that the CPU backend runs
// dequantizing cache-sized panels of the weights as it multiplies; no g_idx), and the 8-bit
// products MatMulIntegerToFloat, DynamicQuantizeMatMul and QGemm, written as the int32 product + f32 scale
// that the CPU backend runs on oneDNN's int8 matmul (onnx/ops/quantization.h). Semantics from ONNX Runtime's
// contrib op documentation.
#include "onnx/ops/contrib/contrib.h"
#include "onnx/ops/quantization.h"

namespace graft::onnx {

namespace {

// ---- MatMulNBits: blockwise-quantized weights, kept packed ----
//
// MatMulNBits(A [..., K], B [N, k_blocks, blob] u8, scales [N * k_blocks][, zero_points][, g_idx][, bias [N]])
// computes A · W + bias with W[k, n] = (q(n, k) - zp(n, k / block)) · scale(n, k / block), q the k-th `bits`-bit
// field of row n of B (lowest bits first; blocks of `block_size` values, the last one zero-padded past K).
// zero_points are either packed like B (u8, ceil(k_blocks · bits / 8) bytes per row) or typed like the scales;
// absent, they are 2^(bits - 1).
//
// It becomes one "onnx.matmul_nbits" composite over f32 values whose B operand is the packed bytes as they are:
// the CPU backend runs it with a kernel that dequantizes panels of W into cache-sized scratch and multiplies
// them there (src/backend/cpu/kernels/matmul_nbits.cpp), so a 4-bit model holds its weights at 4 bits. The
// decomposition (autodiff, the ONNX exporter and other backends use it) unpacks the bits with shifts and masks,
// dequantizes in f32 as ONNX Runtime's MLAS does ((f32(q) - zp) · scale, one rounding) and multiplies.
// Parameters (ints): {K, N, bits, block_size, zero point form (0 none, 1 packed u8, 2 f32), has bias}; operands
// A, B, scales (f32 [N · k_blocks]), then the zero points (u8 [N · row] or f32 [N · k_blocks]) and the bias
// (f32 [N]) when present.
constexpr const char* kMatMulNBitsName = "onnx.matmul_nbits";

// The `bits`-bit fields of each byte of x (u8 [..., bytes]), lowest first: u8 [..., bytes · 8 / bits].
Node unpack_bit_fields(Node x, int64_t bits) {
  Graph& g = *x.graph();
  const int64_t per_byte = 8 / bits;
  std::vector<uint8_t> shifts;
  for (int64_t i = 0; i < per_byte; ++i) shifts.push_back(uint8_t(i * bits));
  std::vector<int64_t> dims = x.shape().dims();
  std::vector<int64_t> split = dims;
  split.push_back(1);
  Node fields = BitwiseAnd(ShiftRight(Reshape(x, split), g.constant(Tensor::from_vector(shifts))),
                           g.constant(Tensor::scalar(uint8_t((1u << bits) - 1))));
  dims.back() *= per_byte;
  return Reshape(fields, dims);
}

std::vector<Node> matmul_nbits_decomposition(std::span<const Node> in, int64_t k, int64_t n, int64_t bits,
                                             int64_t block, int64_t zp_form, bool has_bias) {
  Node a = in[0], b = in[1], scales = in[2];
  const int64_t blocks = (k + block - 1) / block;
  Node q = Convert(Reshape(unpack_bit_fields(b, bits), {n, blocks, block}), DType::F32);
  Node zp;
  if (zp_form == 1) {
    Node fields = unpack_bit_fields(Reshape(in[3], {n, in[3].shape().size() / n}), bits);
    zp = Convert(SliceAxis(fields, 1, 0, blocks), DType::F32);
  } else if (zp_form == 2) {
    zp = in[3];
  } else {
    zp = a.graph()->constant(Tensor::scalar(float(1 << (bits - 1))));
  }
  if (zp_form != 0) zp = Reshape(zp, {n, blocks, 1});
  Node w = (q - zp) * Reshape(scales, {n, blocks, 1});  // [N, k_blocks, block]
  w = Transpose(SliceAxis(Reshape(w, {n, blocks * block}), 1, 0, k), {1, 0});  // [K, N]
  Node y = MatMul(a, w);
  if (has_bias) y = y + in[size_t(zp_form != 0 ? 4 : 3)];
  return {y};
}

void matmul_nbits(OpContext& c) {
  Node a = c.input(0);
  int64_t k = c.attr_int("K", 0), n = c.attr_int("N", 0);
  int64_t bits = c.attr_int("bits", 4), block = c.attr_int("block_size", 0);
  if (k <= 0 || n <= 0) c.fail("attributes 'K' and 'N' are required and must be positive");
  if (bits != 2 && bits != 4 && bits != 8) c.fail("attribute 'bits'=", bits, " is not supported (2, 4 or 8)");
  if (block < 16 || (block & (block - 1)) != 0) c.fail("attribute 'block_size'=", block, " must be a power of 2, >= 16");
  if (c.has_input(4)) c.fail("input 'g_idx' is not supported");
  if (a.rank() < 1 || a.dim(-1) != k) c.fail("input 'A' of shape ", a.shape().str(), " does not end in attribute 'K'=", k);
  if (!is_floating(a.dtype())) c.fail("input 'A' has type ", dtype_name(a.dtype()), ", want a floating-point type");
  int64_t blocks = (k + block - 1) / block, blob = block * bits / 8;
  // B, the scales and the zero points need not be known while tracing (the kernel reads them at run time): a
  // model imported for fine-tuning has its float scales as variables, which then train with the rest.
  Node bq = c.input(1);
  if (bq.dtype() != DType::U8 || bq.shape().size() != n * blocks * blob)
    c.fail("input 'B' of type ", dtype_name(bq.dtype()), " and shape ", bq.shape().str(),
           " is not uint8 [N, k_blocks, blob] = [", n, ", ", blocks, ", ", blob, "]");
  Node sc = c.input(2);
  if (!is_floating(sc.dtype()) || sc.shape().size() != n * blocks)
    c.fail("input 'scales' of type ", dtype_name(sc.dtype()), " has ", sc.shape().size(), " values, want ", n * blocks,
           " floating-point values");
  std::vector<Node> operands = {Convert(a, DType::F32), Reshape(bq, {n, blocks, blob}),
                                Reshape(Convert(sc, DType::F32), {n * blocks})};
  int64_t zp_form = 0;
  if (auto z = c.optional_input(3)) {
    if (z->dtype() == DType::U8) {
      int64_t row = (blocks * bits + 7) / 8;
      if (z->shape().size() != n * row) c.fail("input 'zero_points' has ", z->shape().size(), " bytes, want ", n * row);
      operands.push_back(Reshape(*z, {n * row}));
      zp_form = 1;
    } else {
      if (!is_floating(z->dtype()) || z->shape().size() != n * blocks)
        c.fail("input 'zero_points' of type ", dtype_name(z->dtype()), " has ", z->shape().size(), " values, want ",
               n * blocks, " uint8 (packed) or floating-point values");
      operands.push_back(Reshape(Convert(*z, DType::F32), {n * blocks}));
      zp_form = 2;
    }
  }
  const std::optional<Node> bias = c.optional_input(5);
  const bool has_bias = bias.has_value();
  if (bias) {
    if (bias->shape().size() != n) c.fail("input 'bias' of shape ", bias->shape().str(), " does not have N=", n, " values");
    operands.push_back(Reshape(Convert(*bias, DType::F32), {n}));
  }
  CustomCompositeParams p;
  p.name = kMatMulNBitsName;
  p.ints = {k, n, bits, block, zp_form, has_bias ? 1 : 0};
  std::vector<int64_t> out_dims = a.shape().dims();
  out_dims.back() = n;
  auto decompose = [=](std::span<const Node> in) {
    return matmul_nbits_decomposition(in, k, n, bits, block, zp_form, has_bias);
  };
  // The output type is given so that recording the composite does not build the decomposition (whose f32
  // weights are what this form exists to avoid).
  Node y = Composite(std::move(p), operands, decompose, std::vector<ValueType>{{DType::F32, Shape(out_dims)}})[0];
  c.set_output(0, Convert(y, a.dtype()));
}

// ---- 8-bit products ----

// A, B, a_scale, b_scale[, a_zero_point, b_zero_point, bias]: (A - a_zp)(B - b_zp) · a_scale · b_scale + bias,
// in a_scale's type.
void matmul_integer_to_float(OpContext& c) {
  Node b = c.input(1);
  DType out = c.input(2).dtype();
  Node as = per_tensor_or_column(c, Convert(c.input(2), DType::F32), 1, "a_scale");
  Node bs = per_tensor_or_column(c, Convert(c.input(3), DType::F32), b.dim(-1), "b_scale");
  Node y = scaled_integer_product(c, c.input(0), c.optional_input(4), b, c.optional_input(5), as * bs);
  c.set_output(0, Convert(with_bias(c, y, 6), out));
}

// A (f32), B (8-bit), b_scale[, b_zero_point, bias]: A quantized to u8 as DynamicQuantizeLinear does, then as
// MatMulIntegerToFloat.
void dynamic_quantize_matmul(OpContext& c) {
  Node b = c.input(1);
  DynamicQuantized a = dynamic_quantize(c.input(0));
  Node bs = per_tensor_or_column(c, Convert(c.input(2), DType::F32), b.dim(-1), "b_scale");
  Node y = scaled_integer_product(c, a.q, a.zero_point, b, c.optional_input(3), a.scale * bs);
  c.set_output(0, Convert(with_bias(c, y, 4), c.input(0).dtype()));
}

// A, a_scale, a_zp, B, b_scale, b_zp[, C (int32, scale a_scale · b_scale), y_scale, y_zp]; alpha, transA,
// transB: alpha · a_scale · b_scale · ((A - a_zp)(B - b_zp) + C), f32, or requantized with y's scale and zero
// point when y_scale is given.
void qgemm(OpContext& c) {
  Node a = c.input(0), b = c.input(3);
  if (a.rank() != 2 || b.rank() != 2) c.fail("A ", a.shape(), " and B ", b.shape(), " must be matrices");
  if (c.attr_int("transA", 0)) a = Transpose(a, {1, 0});
  if (c.attr_int("transB", 0)) b = Transpose(b, {1, 0});
  double alpha = c.attr_float("alpha", 1.0);
  Node as = per_tensor_or_column(c, Convert(c.input(1), DType::F32), 1, "a_scale");
  Node bs = per_tensor_or_column(c, Convert(c.input(4), DType::F32), b.dim(-1), "b_scale");
  Node scale = as * bs * alpha;
  Node y = scaled_integer_product(c, a, c.input(2), b, c.input(5), scale);
  if (auto bias = c.optional_input(6)) y = y + Convert(*bias, DType::F32) * scale;
  if (c.has_input(7)) {
    Node ys = per_tensor_or_column(c, Convert(c.input(7), DType::F32), 1, "y_scale");
    if (!c.has_input(8)) c.fail("y_scale is given without y_zero_point");
    y = requantize(c, y, ys, per_tensor_or_column(c, c.input(8), 1, "y_zero_point"));
  }
  c.set_output(0, y);
}

}  // namespace

void register_contrib_quantization_ops(Registry& r) {
  r.add(kMs, "MatMulNBits", 1, matmul_nbits).note =
      "bits 2, 4, 8; any block size (power of 2 >= 16), K not a multiple of it, zero points packed or typed, bias; "
      "weights kept packed (CPU: `onnx.matmul_nbits`, dequantized panel by panel inside the product; other "
      "backends and autodiff: its decomposition); no g_idx";
  r.add(kMs, "MatMulIntegerToFloat", 1, matmul_integer_to_float).note = "int8 product (CPU: oneDNN int8 matmul)";
  r.add(kMs, "DynamicQuantizeMatMul", 1, dynamic_quantize_matmul).note = "int8 product (CPU: oneDNN int8 matmul)";
  r.add(kMs, "QGemm", 1, qgemm).note = "int8 product (CPU: oneDNN int8 matmul); f32 or requantized output";
}

}  // namespace graft::onnx
