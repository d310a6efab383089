#pragma once
// The data-movement engine behind transpose, broadcast, slice, reverse, concatenate and friends: copy
// the elements of a strided view of one buffer into a strided view of another.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace graft::cpu {

struct StridedView {
  int64_t offset = 0;            // elements
  std::vector<int64_t> strides;  // elements per axis (may be 0 or negative)
};

// Copies dims-shaped views element by element (elem_size bytes each). Axes are merged where both views
// allow it; rows whose inner strides are 1 on both sides move with memcpy; large copies run in parallel.
void strided_copy(const void* src, const StridedView& s, void* dst, const StridedView& d,
                  const std::vector<int64_t>& dims, size_t elem_size);

// Row-major strides of a contiguous shape.
std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& dims);

}  // namespace graft::cpu
