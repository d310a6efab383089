// Convolutions: Conv and ConvTranspose (auto_pad, output_shape and output_padding resolved into graft's
// Convolution attributes; the bias added per channel).
#include "onnx/converter.h"
#include "onnx/ops/window.h"

namespace graft::onnx {

namespace {

// y [N, C, spatial...] plus the optional bias input 2 [C], per channel.
Node with_channel_bias(OpContext& c, Node y) {
  if (auto b = c.optional_input(2)) {
    std::vector<int64_t> bs(size_t(y.rank()), 1);
    bs[1] = y.dim(1);
    y = y + Reshape(Convert(*b, y.dtype()), bs);
  }
  return y;
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
  c.set_output(0, with_channel_bias(c, Convolution(x, Convert(w, x.dtype()), a)));
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
  c.set_output(0, with_channel_bias(c, Convolution(x, Convert(w, x.dtype()), a)));
}

}  // namespace

void register_convolution_ops(Registry& r) {
  r.add("", "Conv", 1, conv_op);
  r.add("", "ConvTranspose", 1, conv_transpose_op);
}

}  // namespace graft::onnx
