#include "backend/cpu/strided_copy.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

#include "backend/cpu/parallel.h"

namespace graft::cpu {

std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size());
  int64_t acc = 1;
  for (size_t i = dims.size(); i-- > 0;) {
    s[i] = acc;
    acc *= dims[i];
  }
  return s;
}

namespace {

template <typename T>
void copy_row(const char* src, int64_t ss, char* dst, int64_t ds, int64_t n) {
  const T* s = reinterpret_cast<const T*>(src);
  T* d = reinterpret_cast<T*>(dst);
  for (int64_t i = 0; i < n; ++i) d[i * ds] = s[i * ss];
}

void copy_row_any(const char* src, int64_t ss, char* dst, int64_t ds, int64_t n, size_t es) {
  if (ss == 1 && ds == 1) {
    std::memcpy(dst, src, size_t(n) * es);
    return;
  }
  switch (es) {
    case 1: copy_row<uint8_t>(src, ss, dst, ds, n); break;
    case 2: copy_row<uint16_t>(src, ss, dst, ds, n); break;
    case 4: copy_row<uint32_t>(src, ss, dst, ds, n); break;
    case 8: copy_row<uint64_t>(src, ss, dst, ds, n); break;
    default:
      for (int64_t i = 0; i < n; ++i) std::memcpy(dst + i * ds * int64_t(es), src + i * ss * int64_t(es), es);
  }
}

}  // namespace

void strided_copy(const void* src, const StridedView& s, void* dst, const StridedView& d,
                  const std::vector<int64_t>& dims_in, size_t es) {
  // Merge axes: drop extent-1 axes, fuse axis i into i+1 when both views are contiguous across them.
  std::vector<int64_t> dims, ss, ds;
  for (size_t i = 0; i < dims_in.size(); ++i) {
    if (dims_in[i] == 0) return;
    if (dims_in[i] == 1) continue;
    dims.push_back(dims_in[i]);
    ss.push_back(s.strides[i]);
    ds.push_back(d.strides[i]);
  }
  if (dims.empty()) {
    dims = {1};
    ss = {1};
    ds = {1};
  }
  for (int i = int(dims.size()) - 2; i >= 0; --i) {
    size_t a = size_t(i), b = a + 1;
    if (ss[a] == ss[b] * dims[b] && ds[a] == ds[b] * dims[b]) {
      dims[a] *= dims[b];
      ss[a] = ss[b];
      ds[a] = ds[b];
      dims.erase(dims.begin() + i + 1);
      ss.erase(ss.begin() + i + 1);
      ds.erase(ds.begin() + i + 1);
    }
  }
  int r = int(dims.size());
  // Rows of a few elements (a pixel shuffle's innermost 2, NCHW -> NHWC with 3 channels) would cost their
  // index arithmetic per element or two: run the longest axis innermost instead (the copy is the same set
  // of element moves in any axis order).
  if (r >= 2 && dims.back() < 16) {
    const auto longest = size_t(std::max_element(dims.begin(), dims.end() - 1) - dims.begin());
    if (dims[longest] > 2 * dims.back()) {
      std::swap(dims[longest], dims.back());
      std::swap(ss[longest], ss.back());
      std::swap(ds[longest], ds.back());
    }
  }
  int64_t inner = dims.back(), rows = 1;
  for (int i = 0; i < r - 1; ++i) rows *= dims[size_t(i)];
  const char* sb = static_cast<const char*>(src) + s.offset * int64_t(es);
  char* db = static_cast<char*>(dst) + d.offset * int64_t(es);
  int64_t iss = ss.back(), ids = ds.back();
  auto do_rows = [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      int64_t so = 0, dof = 0, q = row;
      for (int ax = r - 2; ax >= 0; --ax) {
        int64_t i = q % dims[size_t(ax)];
        q /= dims[size_t(ax)];
        so += i * ss[size_t(ax)];
        dof += i * ds[size_t(ax)];
      }
      copy_row_any(sb + so * int64_t(es), iss, db + dof * int64_t(es), ids, inner, es);
    }
  };
  // Copies are memory-bound: only large ones (256 KiB and up) are worth several threads.
  parallel_for(rows, rows * inner * int64_t(es), do_rows, /*min_work=*/int64_t(1) << 18);
}

}  // namespace graft::cpu
