#pragma once
// Small helpers shared by the builder files.
#include <algorithm>
#include <string>

#include "graft/graph/ops.h"

namespace graft::detail {

inline std::string axes_str(const Axes& a) {
  std::string s = "[";
  for (size_t i = 0; i < a.size(); ++i) s += (i ? ", " : "") + std::to_string(a[i]);
  return s + "]";
}

// Maps possibly-negative axes of a rank-r tensor into [0, r); rejects out-of-range and repeated axes.
inline Axes normalize_axes(const Axes& axes, int r, const std::string& what) {
  Axes out;
  for (int64_t a : axes) {
    GRAFT_CHECK(a >= -r && a < r, what, ": axis ", a, " out of range for rank ", r);
    int64_t n = a < 0 ? a + r : a;
    GRAFT_CHECK(std::find(out.begin(), out.end(), n) == out.end(), what, ": axis ", a, " given twice");
    out.push_back(n);
  }
  return out;
}

}  // namespace graft::detail
