#include "graft/core/shape.h"

#include <sstream>

#include "graft/core/error.h"

namespace graft {

void Shape::validate() const {
  // The element count is bounded so that size() and any byte count (size() * 8) fit in an int64_t: a shape
  // read from a file or computed from one can claim any extents. The non-zero extents are bounded even when
  // another extent is 0: size() and strides() multiply them before (or without) meeting the zero, so
  // [214696521750, 77712077, 0] overflowed there (a fuzzed .npy header).
  constexpr int64_t kMaxElements = int64_t(1) << 56;
  int64_t n = 1;
  bool empty = false;
  for (int64_t d : dims_) {
    GRAFT_CHECK(d >= 0, "shape ", str(), " has a negative dimension");
    if (d == 0) empty = true;
    else if (n <= kMaxElements && (__builtin_mul_overflow(n, d, &n) || n > kMaxElements)) n = kMaxElements + 1;
  }
  GRAFT_CHECK(n <= kMaxElements, "shape ", str(),
              empty ? " has non-zero extents whose product is more than 2^56" : " has more than 2^56 elements");
}

int64_t Shape::size() const {
  int64_t n = 1;
  for (int64_t d : dims_) n *= d;
  return n;
}

std::vector<int64_t> Shape::strides() const {
  std::vector<int64_t> s(dims_.size());
  int64_t acc = 1;
  for (int i = rank() - 1; i >= 0; --i) {
    s[i] = acc;
    acc *= dims_[i];
  }
  return s;
}

int Shape::normalize_axis(int axis) const {
  int r = rank();
  GRAFT_CHECK(axis >= -r && axis < r, "axis ", axis, " is out of range for shape ", str());
  return axis < 0 ? axis + r : axis;
}

std::string Shape::str() const {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < dims_.size(); ++i) os << (i ? ", " : "") << dims_[i];
  os << ']';
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << s.str(); }

Shape broadcast_shapes(const Shape& a, const Shape& b, const std::string& what) {
  int r = std::max(a.rank(), b.rank());
  std::vector<int64_t> out(r);
  for (int i = 0; i < r; ++i) {
    int ia = a.rank() - r + i, ib = b.rank() - r + i;
    int64_t da = ia >= 0 ? a.dims()[ia] : 1;
    int64_t db = ib >= 0 ? b.dims()[ib] : 1;
    GRAFT_CHECK(da == db || da == 1 || db == 1, what, ": shapes ", a, " and ", b, " do not broadcast (axis ", i,
                ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return Shape(std::move(out));
}

}  // namespace graft
