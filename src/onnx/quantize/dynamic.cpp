// Dynamic quantization, in the layout ONNX Runtime's quantize_dynamic writes:
//   A -> DynamicQuantizeLinear -> (A_q uint8, A_scale, A_zp)
//   MatMulInteger(A_q, W_q int8, A_zp, W_zp) -> Cast(float) -> Mul(A_scale * W_scale) [-> Add(bias)]
// W is quantized once here (symmetric int8, per tensor or per output column); A at run time.
#include <cstring>

#include "onnx/quantize/rewrite.h"

namespace graft::onnx::quantize_impl {

namespace {
// W [K, N] transposed to [N, K] or back.
Tensor transpose_2d(const Tensor& w) {
  int64_t r = w.shape().dims()[0], c = w.shape().dims()[1];
  std::vector<float> out(size_t(r * c));
  const float* src = static_cast<const float*>(w.raw());
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < c; ++j) out[size_t(j * r + i)] = src[i * c + j];
  return Tensor::from_vector(out, Shape{c, r});
}
}  // namespace

std::string rewrite_dynamic(Rewrite& rw, const ::onnx::NodeProto& node) {
  bool gemm = node.op_type() == "Gemm";
  if (node.op_type() != "MatMul" && !gemm) return "not MatMul or Gemm";
  if (node.input_size() < 2 || node.output_size() != 1) return "unexpected inputs or outputs";
  std::optional<Tensor> w = rw.constant_float(node.input(1), 2);
  if (!w) return "B is not a constant 2-D float32 initializer";
  std::string bias;  // Gemm's C (times beta), added after the product
  float alpha = 1;
  if (gemm) {
    if (int_attr(node, "transA", 0) != 0) return "transA = 1";
    if (int_attr(node, "transB", 0) != 0) w = transpose_2d(*w);
    alpha = float_attr(node, "alpha", 1.f);
    float beta = float_attr(node, "beta", 1.f);
    if (node.input_size() > 2 && !node.input(2).empty() && beta != 0) {
      bias = node.input(2);
      if (beta != 1) {
        std::optional<Tensor> c = rw.constant_float(bias);
        if (!c) return "C is not constant and beta != 1";
        Tensor scaled = c->clone();
        auto* p = static_cast<float*>(scaled.raw());
        for (int64_t i = 0; i < scaled.shape().size(); ++i) p[i] *= beta;
        bias = rw.add_initializer(bias + "_scaled", scaled);
      }
    }
  }
  const std::string& a = node.input(0);
  const std::string& y = node.output(0);
  std::string base = node.name().empty() ? y : node.name();

  // The weight: int8 symmetric, zero point 0. The scales fold Gemm's alpha in.
  bool per_channel = rw.options().per_channel;
  std::vector<float> scales;
  Tensor wq = quantize_symmetric_int8(*w, per_channel ? 1 : -1, scales);
  int64_t n = w->shape().dims()[1];
  for (float& s : scales) s *= alpha;
  Shape scale_shape = per_channel ? Shape{n} : Shape{};
  std::string w_q = rw.add_initializer(node.input(1) + "_quantized", wq);
  std::string w_scale = rw.add_initializer(node.input(1) + "_scale", Tensor::from_vector(scales, scale_shape));
  std::string w_zp = rw.add_initializer(node.input(1) + "_zero_point", Tensor::zeros(DType::I8, scale_shape));

  // The activation, quantized once however many products read it.
  auto& aq = rw.shared["dql:" + a];
  if (aq.empty()) {
    aq = {rw.fresh(a + "_quantized"), rw.fresh(a + "_scale"), rw.fresh(a + "_zero_point")};
    rw.add_node("DynamicQuantizeLinear", {a}, aq, a + "_QuantizeLinear");
  }
  std::string product = rw.fresh(y + "_MatMulInteger"), as_float = rw.fresh(y + "_cast"),
              scale = rw.fresh(y + "_scale"), scaled = bias.empty() ? y : rw.fresh(y + "_scaled");
  rw.add_node("MatMulInteger", {aq[0], w_q, aq[2], w_zp}, {product}, base + "_MatMulInteger");
  set_attr(rw.add_node("Cast", {product}, {as_float}, base + "_cast"), "to", ::onnx::TensorProto::FLOAT);
  rw.add_node("Mul", {aq[1], w_scale}, {scale}, base + "_scale_mul");
  rw.add_node("Mul", {as_float, scale}, {scaled}, base + "_output_mul");
  if (!bias.empty()) rw.add_node("Add", {scaled, bias}, {y}, base + "_bias_add");
  return "";
}

}  // namespace graft::onnx::quantize_impl
