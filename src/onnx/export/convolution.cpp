// Export of the convolution family: Convolution as Conv or ConvTranspose.
#include "onnx/export/exporter.h"

namespace graft::onnx {

namespace {

void conv(Exporter& e, const Graph& g, const Op& op, const Names& in, const Names& out) {
  const auto& a = std::get<ConvolutionAttrs>(op.attrs);
  const Shape& ws = e.in_type(g, op, 1).shape;
  std::vector<int64_t> kernel(ws.dims().begin() + 2, ws.dims().end());
  std::vector<int64_t> pads = a.pad_low;
  pads.insert(pads.end(), a.pad_high.begin(), a.pad_high.end());
  for (int64_t p : pads)
    if (p < 0) e.unsupported(op, "negative convolution padding");
  bool out_pad = false;
  for (int64_t p : a.output_padding) out_pad |= p != 0;
  e.op(a.transposed ? "ConvTranspose" : "Conv", {in[0], in[1]}, out[0], [&](OnnxNode& n) {
    n.ints("kernel_shape", kernel).ints("strides", a.strides).ints("pads", pads).ints("dilations", a.dilations);
    n.i("group", a.groups);
    if (a.transposed && out_pad) n.ints("output_padding", a.output_padding);
  });
}

}  // namespace

void register_convolution_emitters(EmitterTable& t) { t.add(OpKind::Convolution, conv); }

}  // namespace graft::onnx
