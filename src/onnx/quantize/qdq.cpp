// Static quantization as a QDQ graph: the op keeps its fp32 form, its inputs are what DequantizeLinear
// makes of quantized tensors.
//   X -> QuantizeLinear(x_scale, x_zp uint8) -> DequantizeLinear -> X'      (range from calibration)
//   W_q int8 (symmetric; per output channel for Conv, and for MatMul/Gemm with --per-channel)
//       -> DequantizeLinear -> W'
//   bias_q int32 (scale x_scale * w_scale, zero point 0) -> DequantizeLinear -> bias'   (Conv, Gemm)
// ONNX Runtime fuses the pairs into QLinearConv / QLinearMatMul / QGemm; other runtimes can run it as is.
#include <algorithm>
#include <cmath>

#include "onnx/quantize/rewrite.h"

namespace graft::onnx::quantize_impl {

namespace {
bool is_qdq_op(const ::onnx::NodeProto& n) {
  return n.domain().empty() && (n.op_type() == "MatMul" || n.op_type() == "Gemm" || n.op_type() == "Conv");
}

// Which weight axis holds the output channels, or why the node is not quantized.
std::string weight_axis(const Rewrite& rw, const ::onnx::NodeProto& node, int& axis) {
  if (node.input_size() < 2 || node.output_size() != 1) return "unexpected inputs or outputs";
  const std::string& op = node.op_type();
  std::optional<Tensor> w = rw.constant_float(node.input(1), op == "Conv" ? -1 : 2);
  if (!w) return "the weight is not a constant float32 initializer" + std::string(op == "Conv" ? "" : " of rank 2");
  if (op == "Conv") axis = 0;
  else if (op == "Gemm") {
    if (int_attr(node, "transA", 0) != 0) return "transA = 1";
    axis = int_attr(node, "transB", 0) ? 0 : 1;
  } else {
    axis = 1;
  }
  return "";
}
}  // namespace

std::string qdq_activation(const Rewrite& rw, const ::onnx::NodeProto& node) {
  int axis = 0;
  if (!is_qdq_op(node) || !weight_axis(rw, node, axis).empty()) return "";
  return node.input(0);
}

std::string rewrite_qdq(Rewrite& rw, const ::onnx::NodeProto& node) {
  if (!is_qdq_op(node)) return "not MatMul, Gemm or Conv";
  int axis = 0;
  if (std::string why = weight_axis(rw, node, axis); !why.empty()) return why;
  const std::string& x = node.input(0);
  auto range = rw.ranges.find(x);
  if (range == rw.ranges.end()) return "no calibrated range for its input \"" + x + "\"";
  const std::string& op = node.op_type();
  bool per_channel = op == "Conv" || rw.options().per_channel;

  // The activation: one QuantizeLinear/DequantizeLinear pair per value, however many ops read it.
  quant::ScaleZeroPoint xq = quant::asymmetric(range->second.lo, range->second.hi, 0, 255);
  auto& pair = rw.shared["qdq:" + x];
  if (pair.empty()) {
    std::string s = rw.add_initializer(x + "_scale", Tensor::scalar(xq.scale));
    std::string zp = rw.add_initializer(x + "_zero_point", Tensor::scalar(uint8_t(xq.zero_point)));
    std::string q = rw.fresh(x + "_QuantizeLinear_Output"), dq = rw.fresh(x + "_DequantizeLinear_Output");
    rw.add_node("QuantizeLinear", {x, s, zp}, {q}, x + "_QuantizeLinear");
    rw.add_node("DequantizeLinear", {q, s, zp}, {dq}, x + "_DequantizeLinear");
    pair = {dq};
  }

  // The weight.
  Tensor w = *rw.constant_float(node.input(1));
  std::vector<float> scales;
  Tensor wq = quantize_symmetric_int8(w, per_channel ? axis : -1, scales);
  Shape scale_shape = per_channel ? Shape{int64_t(scales.size())} : Shape{};
  std::string w_q = rw.add_initializer(node.input(1) + "_quantized", wq);
  std::string w_s = rw.add_initializer(node.input(1) + "_scale", Tensor::from_vector(scales, scale_shape));
  std::string w_zp = rw.add_initializer(node.input(1) + "_zero_point", Tensor::zeros(DType::I8, scale_shape));
  std::string w_dq = rw.fresh(node.input(1) + "_DequantizeLinear_Output");
  auto& wdq = rw.add_node("DequantizeLinear", {w_q, w_s, w_zp}, {w_dq}, node.input(1) + "_DequantizeLinear");
  if (per_channel) set_attr(wdq, "axis", axis);

  // The bias of Conv, and of Gemm when it is added as is (alpha = beta = 1, one value per output column):
  // int32 with the product's scale, the standard form (ONNX Runtime's QLinearConv takes it that way).
  std::string bias = node.input_size() > 2 ? node.input(2) : "";
  if (!bias.empty()) {
    std::optional<Tensor> b = rw.constant_float(bias, 1);
    int64_t channels = w.shape().dims()[size_t(axis)];
    bool plain = op == "Conv" || (float_attr(node, "alpha", 1) == 1 && float_attr(node, "beta", 1) == 1);
    if (b && plain && b->shape().size() == channels) {
      std::vector<float> b_scale(static_cast<size_t>(channels));
      std::vector<int32_t> b_q(static_cast<size_t>(channels));
      const float* bp = static_cast<const float*>(b->raw());
      for (int64_t c = 0; c < channels; ++c) {
        b_scale[size_t(c)] = xq.scale * scales[per_channel ? size_t(c) : 0];
        double q = std::nearbyint(double(bp[c]) / double(b_scale[size_t(c)]));  // ties to even
        b_q[size_t(c)] = int32_t(std::clamp(q, -2147483647.0, 2147483647.0));
      }
      std::string bq = rw.add_initializer(bias + "_quantized", Tensor::from_vector(b_q, Shape{channels}));
      std::string bs = rw.add_initializer(bias + "_scale", Tensor::from_vector(b_scale, Shape{channels}));
      std::string bzp = rw.add_initializer(bias + "_zero_point", Tensor::zeros(DType::I32, Shape{channels}));
      std::string bdq = rw.fresh(bias + "_DequantizeLinear_Output");
      set_attr(rw.add_node("DequantizeLinear", {bq, bs, bzp}, {bdq}, bias + "_DequantizeLinear"), "axis", 0);
      bias = bdq;
    }
  }

  ::onnx::NodeProto copy = node;
  copy.set_input(0, pair[0]);
  copy.set_input(1, w_dq);
  if (!bias.empty()) copy.set_input(2, bias);
  rw.keep(copy);
  return "";
}

}  // namespace graft::onnx::quantize_impl
