// com.microsoft quantized ops: MatMulNBits (2-, 4- or 8-bit blockwise-quantized weights with per-block
// scales and optional zero points, dequantized while tracing into an f32 constant; no g_idx), and the 8-bit
// products MatMulIntegerToFloat, DynamicQuantizeMatMul and QGemm, written as the int32 product + f32 scale
// that the CPU backend runs on oneDNN's int8 matmul (onnx/ops/quantization.h). Semantics from ONNX Runtime's
// contrib op documentation.
#include "onnx/ops/contrib/contrib.h"
#include "onnx/ops/quantization.h"

namespace graft::onnx {

namespace {

// ---- MatMulNBits: blockwise-quantized weights, dequantized while tracing ----

void matmul_nbits(OpContext& c) {
  Node a = c.input(0);
  int64_t k = c.attr_int("K", 0), n = c.attr_int("N", 0);
  int64_t bits = c.attr_int("bits", 4), block = c.attr_int("block_size", 0);
  if (k <= 0 || n <= 0) c.fail("attributes 'K' and 'N' are required and must be positive");
  if (bits != 2 && bits != 4 && bits != 8) c.fail("attribute 'bits'=", bits, " is not supported (2, 4 or 8)");
  if (block < 16 || (block & (block - 1)) != 0) c.fail("attribute 'block_size'=", block, " must be a power of 2, >= 16");
  if (c.has_input(4)) c.fail("input 'g_idx' is not supported");
  if (a.dim(-1) != k) c.fail("input 'A' of shape ", a.shape().str(), " does not end in attribute 'K'=", k);
  int64_t blocks = (k + block - 1) / block, blob = block * bits / 8;
  const Tensor& bq = c.require_known(1, "quantized weights 'B'");
  if (bq.dtype() != DType::U8 || bq.size() != n * blocks * blob)
    c.fail("input 'B' of type/shape ", bq.shape().str(), " is not uint8 [N, k_blocks, blob] = [", n, ", ", blocks, ", ",
           blob, "]");
  std::vector<double> scales = c.require_doubles(2, "input 'scales'");
  if (int64_t(scales.size()) != n * blocks) c.fail("input 'scales' has ", scales.size(), " values, want ", n * blocks);
  const uint8_t* q = bq.data<uint8_t>();
  uint32_t mask = (1u << bits) - 1;
  auto unpack = [&](const uint8_t* bytes, int64_t i) {
    int64_t off = i * bits;
    return double((bytes[off / 8] >> (off % 8)) & mask);
  };
  std::vector<double> zp(size_t(n * blocks), double(1 << (bits - 1)));
  if (c.has_input(3)) {
    const Tensor& z = c.require_known(3, "input 'zero_points'");
    if (z.dtype() == DType::U8) {
      int64_t row = (blocks * bits + 7) / 8;
      if (z.size() != n * row) c.fail("input 'zero_points' has ", z.size(), " bytes, want ", n * row);
      for (int64_t r = 0; r < n; ++r)
        for (int64_t j = 0; j < blocks; ++j) zp[size_t(r * blocks + j)] = unpack(z.data<uint8_t>() + r * row, j);
    } else {
      if (z.size() != n * blocks) c.fail("input 'zero_points' has ", z.size(), " values, want ", n * blocks);
      for (int64_t i = 0; i < n * blocks; ++i) zp[size_t(i)] = z.value_as_double(i);
    }
  }
  std::vector<float> w(size_t(k * n));  // [K, N]
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = 0; j < blocks; ++j) {
      const uint8_t* blk = q + (r * blocks + j) * blob;
      double sc = scales[size_t(r * blocks + j)], z = zp[size_t(r * blocks + j)];
      for (int64_t i = 0; i < block && j * block + i < k; ++i)
        w[size_t((j * block + i) * n + r)] = float((unpack(blk, i) - z) * sc);
    }
  Node wn = c.graph().constant(Tensor::from_vector(w, Shape{k, n}));
  Node y = MatMul(a, Convert(wn, a.dtype()));
  if (auto bias = c.optional_input(5)) y = y + Convert(*bias, a.dtype());
  c.set_output(0, y);
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
  r.add(kMs, "MatMulNBits", 1, matmul_nbits).note = "dequantized while tracing; no g_idx";
  r.add(kMs, "MatMulIntegerToFloat", 1, matmul_integer_to_float).note = "int8 product (CPU: oneDNN int8 matmul)";
  r.add(kMs, "DynamicQuantizeMatMul", 1, dynamic_quantize_matmul).note = "int8 product (CPU: oneDNN int8 matmul)";
  r.add(kMs, "QGemm", 1, qgemm).note = "int8 product (CPU: oneDNN int8 matmul); f32 or requantized output";
}

}  // namespace graft::onnx
