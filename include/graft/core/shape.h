#pragma once
// A static shape: the extent of each axis, row-major. Rank 0 is a scalar.
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <vector>

namespace graft {

class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims) : dims_(dims) { validate(); }
  explicit Shape(std::vector<int64_t> dims) : dims_(std::move(dims)) { validate(); }

  int rank() const { return int(dims_.size()); }
  int64_t size() const;  // number of elements (1 for a scalar, 0 if any axis is empty)
  int64_t operator[](int axis) const { return dims_[normalize_axis(axis)]; }
  int64_t& operator[](int axis) { return dims_[normalize_axis(axis)]; }
  const std::vector<int64_t>& dims() const { return dims_; }
  std::vector<int64_t> strides() const;  // row-major element strides
  bool operator==(const Shape& o) const { return dims_ == o.dims_; }
  bool operator!=(const Shape& o) const { return dims_ != o.dims_; }

  // Maps a possibly negative axis into [0, rank); throws naming the axis and shape when out of range.
  int normalize_axis(int axis) const;

  std::string str() const;  // "[2, 7, 384]"

 private:
  void validate() const;
  std::vector<int64_t> dims_;
};

std::ostream& operator<<(std::ostream& os, const Shape& s);

// The NumPy broadcast of two shapes, or an error naming both (`what` says who asked).
Shape broadcast_shapes(const Shape& a, const Shape& b, const std::string& what = "broadcast");

}  // namespace graft
