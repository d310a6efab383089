// Convolutions: Conv and ConvTranspose (auto_pad, output_shape and output_padding resolved into graft's
// Convolution attributes; the bias added per channel).
#include <optional>

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

// A transposed convolution whose windows do not overlap — kernel == stride, no dilation, padding or output
// padding, one group: the 2x2 stride-2 upsampling of segmentation and text-detection heads — writes each
// input pixel's product with the weights into its own k1 x k2 block: one product [N, pixels, C] x [C, O * k1 *
// k2], then a pixel shuffle. oneDNN's direct deconvolution pads the channels to its 16-wide blocks (an
// output of 1 channel wrote 16) and reorders around it: 4-6x slower on a DBNet head (bench/gen_bench_models.py).
std::optional<Node> non_overlapping_transposed(Node x, Node w, const ConvolutionAttrs& a,
                                               const std::vector<int64_t>& kernel) {
  const int s = x.rank() - 2;
  if (a.groups != 1 || !is_floating(x.dtype()) || w.rank() != x.rank() || int(kernel.size()) != s) return std::nullopt;
  for (int i = 0; i < s; ++i)
    if (kernel[size_t(i)] != a.strides[size_t(i)] || w.dim(2 + i) != kernel[size_t(i)] || a.dilations[size_t(i)] != 1 ||
        a.pad_low[size_t(i)] != 0 || a.pad_high[size_t(i)] != 0 || a.output_padding[size_t(i)] != 0)
      return std::nullopt;
  const int64_t n = x.dim(0), ch = x.dim(1), o = w.dim(1);
  int64_t pixels = 1, taps = 1;
  for (int i = 0; i < s; ++i) pixels *= x.dim(2 + i), taps *= kernel[size_t(i)];
  DotGeneralAttrs d;
  d.lhs_contract = {1};
  d.rhs_contract = {0};
  Node y = DotGeneral(Reshape(x, {n, ch, pixels}), Reshape(w, {ch, o * taps}), d);  // [N, pixels, O * taps]
  std::vector<int64_t> split{n}, perm{0, s + 1}, out{n, o};
  for (int i = 0; i < s; ++i) split.push_back(x.dim(2 + i));
  split.push_back(o);
  for (int i = 0; i < s; ++i) split.push_back(kernel[size_t(i)]);
  for (int i = 0; i < s; ++i) {
    perm.push_back(1 + i);      // input position along axis i
    perm.push_back(s + 2 + i);  // tap along axis i
    out.push_back(x.dim(2 + i) * kernel[size_t(i)]);
  }
  return Reshape(Transpose(Reshape(y, split), perm), out);
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
  if (auto y = non_overlapping_transposed(x, Convert(w, x.dtype()), a, kernel)) {
    c.set_output(0, with_channel_bias(c, *y));
    return;
  }
  c.set_output(0, with_channel_bias(c, Convolution(x, Convert(w, x.dtype()), a)));
}

}  // namespace

void register_convolution_ops(Registry& r) {
  r.add("", "Conv", 1, conv_op);
  r.add("", "ConvTranspose", 1, conv_transpose_op);
}

}  // namespace graft::onnx
