// The convolution builder: N-d, grouped, dilated, padded, transposed (ONNX kernel layouts).
#include "graft/graph/ops.h"
#include "graph/builder_util.h"

namespace graft {

using detail::axes_str;
using detail::normalize_axes;

Node Convolution(Node x, Node w, ConvolutionAttrs a) {
  std::string what = "Convolution of " + x.describe() + " " + x.shape().str() + " with " + w.describe() + " " +
                     w.shape().str();
  GRAFT_CHECK(x.rank() >= 3 && w.rank() == x.rank(), what, ": expected [N, C, spatial...] input and kernel of equal rank");
  GRAFT_CHECK(x.dtype() == w.dtype() && is_floating(x.dtype()), what, ": operands must share a floating dtype");
  size_t s = size_t(x.rank() - 2);
  auto fill = [&](Axes& v, int64_t def, const char* name) {
    if (v.empty()) v.assign(s, def);
    GRAFT_CHECK(v.size() == s, what, ": ", name, " ", axes_str(v), " must have ", s, " entries");
  };
  fill(a.strides, 1, "strides");
  fill(a.dilations, 1, "dilations");
  fill(a.pad_low, 0, "pad_low");
  fill(a.pad_high, 0, "pad_high");
  fill(a.output_padding, 0, "output_padding");
  int64_t g = a.groups;
  GRAFT_CHECK(g >= 1, what, ": groups ", g);
  int64_t c_in = x.shape()[1];
  int64_t c_out;
  if (!a.transposed) {
    GRAFT_CHECK(c_in == w.shape()[1] * g, what, ": input channels ", c_in, " != kernel channels ", w.shape()[1],
                " x groups ", g);
    GRAFT_CHECK(w.shape()[0] % g == 0, what, ": output channels ", w.shape()[0], " not divisible by groups ", g);
    c_out = w.shape()[0];
  } else {
    GRAFT_CHECK(c_in == w.shape()[0], what, ": input channels ", c_in, " != kernel's first axis ", w.shape()[0]);
    GRAFT_CHECK(c_in % g == 0, what, ": input channels not divisible by groups ", g);
    c_out = w.shape()[1] * g;
  }
  std::vector<int64_t> dims{x.shape()[0], c_out};
  for (size_t i = 0; i < s; ++i) {
    int64_t in = x.shape()[int(i + 2)], k = w.shape()[int(i + 2)];
    int64_t span = a.dilations[i] * (k - 1) + 1;
    int64_t o;
    if (!a.transposed) {
      int64_t padded = in + a.pad_low[i] + a.pad_high[i];
      GRAFT_CHECK(padded >= span, what, ": kernel extent ", span, " exceeds padded input ", padded, " on spatial axis ", i);
      o = (padded - span) / a.strides[i] + 1;
    } else {
      o = (in - 1) * a.strides[i] - a.pad_low[i] - a.pad_high[i] + span + a.output_padding[i];
      GRAFT_CHECK(o >= 0, what, ": negative output size on spatial axis ", i);
    }
    dims.push_back(o);
  }
  return x.graph()->add_op1(OpKind::Convolution, {x, w}, a, ValueType{x.dtype(), Shape(dims)});
}

}  // namespace graft
