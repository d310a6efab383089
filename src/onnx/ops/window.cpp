// The sliding-window attributes Conv and the pooling ops share (window.h).
#include "onnx/ops/window.h"

#include <algorithm>

namespace graft::onnx {


Window window_attrs(OpContext& c, const std::vector<int64_t>& spatial, std::vector<int64_t> kernel, bool ceil_mode) {
  size_t s = spatial.size();
  Window w;
  w.kernel = std::move(kernel);
  if (w.kernel.size() != s) c.fail("kernel_shape has ", w.kernel.size(), " entries for ", s, " spatial axes");
  w.strides = c.attr_ints("strides", std::vector<int64_t>(s, 1));
  w.dilations = c.attr_ints("dilations", std::vector<int64_t>(s, 1));
  std::vector<int64_t> pads = c.attr_ints("pads", std::vector<int64_t>(2 * s, 0));
  if (w.strides.size() != s || w.dilations.size() != s || pads.size() != 2 * s)
    c.fail("strides/dilations/pads do not match ", s, " spatial axes");
  w.pad_low.assign(pads.begin(), pads.begin() + long(s));
  w.pad_high.assign(pads.begin() + long(s), pads.end());
  std::string auto_pad = c.attr_string("auto_pad", "NOTSET");
  w.ceil_extra.assign(s, 0);
  for (size_t i = 0; i < s; ++i) {
    int64_t span = (w.kernel[i] - 1) * w.dilations[i] + 1;
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      int64_t out = (spatial[i] + w.strides[i] - 1) / w.strides[i];
      int64_t total = std::max<int64_t>((out - 1) * w.strides[i] + span - spatial[i], 0);
      int64_t small = total / 2;
      w.pad_low[i] = auto_pad == "SAME_UPPER" ? small : total - small;
      w.pad_high[i] = total - w.pad_low[i];
    } else if (auto_pad == "VALID") {
      w.pad_low[i] = w.pad_high[i] = 0;
    } else if (auto_pad != "NOTSET") {
      c.fail("unknown auto_pad '", auto_pad, "'");
    }
    if (ceil_mode) {
      int64_t padded = spatial[i] + w.pad_low[i] + w.pad_high[i];
      int64_t out = (padded - span + w.strides[i] - 1) / w.strides[i] + 1;
      // A window may not start in the right padding.
      if ((out - 1) * w.strides[i] >= spatial[i] + w.pad_low[i]) --out;
      int64_t need = (out - 1) * w.strides[i] + span - padded;
      if (need > 0) {
        w.pad_high[i] += need;
        w.ceil_extra[i] = need;
      }
    }
  }
  return w;
}

std::vector<int64_t> spatial_dims(Node x) {
  return std::vector<int64_t>(x.shape().dims().begin() + 2, x.shape().dims().end());
}

}  // namespace graft::onnx
