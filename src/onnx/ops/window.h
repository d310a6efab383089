#pragma once
// The sliding-window attributes Conv and the pooling ops share: kernel_shape, strides, dilations, pads and
// auto_pad (SAME_UPPER / SAME_LOWER / VALID), resolved for the input's spatial extents.
#include <vector>

#include "onnx/converter.h"

namespace graft::onnx {

struct Window {
  std::vector<int64_t> kernel, strides, dilations, pad_low, pad_high;
  std::vector<int64_t> ceil_extra;  // part of pad_high added by ceil_mode (not padding the model asked for)
};

// Kernel/strides/dilations/pads with auto_pad resolved for `spatial` input extents; with `ceil_mode`, the
// high padding grows so the last partial window counts (ceil_extra records by how much).
Window window_attrs(OpContext& c, const std::vector<int64_t>& spatial, std::vector<int64_t> kernel, bool ceil_mode = false);

// The spatial extents of an [N, C, spatial...] value.
std::vector<int64_t> spatial_dims(Node x);

}  // namespace graft::onnx
