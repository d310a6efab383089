// Sort (every operand permuted by the keys of operand 0) and TopK, along one axis.
//
// Order of keys, as NumPy and PyTorch have it: NaN is larger than every number, so an ascending sort
// puts NaNs last and a descending sort puts them first; TopK(largest) returns NaNs first and
// TopK(smallest) last. -0.0 and +0.0 are equal. Equal keys keep their original order (stable, also
// when descending), and TopK breaks ties by the lower index. f16/bf16 keys compare as f32.
//
// Each line along the axis is copied into (key, position) pairs, ordered by key with the position as
// the tie-breaker (which is exactly a stable sort), then every operand is permuted by the positions.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "backend/cpu/kernel.h"
#include "backend/cpu/parallel.h"

namespace graft::cpu {

namespace {

constexpr int64_t kSortParallelWork = int64_t(1) << 14;  // sorting is compute-heavy: threads pay earlier

// A line along `axis` of a shape viewed as [outer, len, inner]: element t at (o * len + t) * inner + i.
struct Lines {
  int64_t outer = 1, len = 1, inner = 1;
  Lines(const Shape& s, int axis) {
    len = s[axis];
    for (int i = 0; i < axis; ++i) outer *= s[i];
    for (int i = axis + 1; i < s.rank(); ++i) inner *= s[i];
  }
  int64_t count() const { return outer * inner; }
  int64_t base(int64_t line) const { return (line / inner) * len * inner + line % inner; }
};

template <typename K>
struct Keyed {
  K key;
  int64_t pos;
};

template <typename K>
inline bool is_nan(K k) {
  if constexpr (std::is_floating_point_v<K>) return k != k;
  else return false;
}

// Strict orders with NaN as the largest value; ties resolved by position (lower first).
template <typename K>
struct Ascending {
  bool operator()(const Keyed<K>& a, const Keyed<K>& b) const {
    if constexpr (std::is_floating_point_v<K>) {
      bool an = is_nan(a.key), bn = is_nan(b.key);
      if (an || bn) return (an == bn) ? a.pos < b.pos : bn;
    }
    return a.key < b.key || (a.key == b.key && a.pos < b.pos);
  }
};
template <typename K>
struct Descending {
  bool operator()(const Keyed<K>& a, const Keyed<K>& b) const {
    if constexpr (std::is_floating_point_v<K>) {
      bool an = is_nan(a.key), bn = is_nan(b.key);
      if (an || bn) return (an == bn) ? a.pos < b.pos : an;
    }
    return a.key > b.key || (a.key == b.key && a.pos < b.pos);
  }
};

// Runs body(line, scratch) for every line, splitting lines across threads when there is enough work.
// Each range of lines has its own scratch buffer; body must not throw.
template <typename S, typename F>
void for_each_line(int64_t lines, int64_t work, const F& body) {
  parallel_for(lines, work, [&](int64_t lo, int64_t hi) {
    S scratch;
    for (int64_t l = lo; l < hi; ++l) body(l, scratch);
  }, kSortParallelWork);
}

// Permutes one operand's line by the sorted positions (elements of `es` bytes).
inline void permute_line(const char* src, char* dst, const int64_t* order, int64_t len, int64_t inner, size_t es) {
  switch (es) {
#define GRAFT_PERMUTE(N, U)                                                            \
  case N: {                                                                            \
    const U* s = reinterpret_cast<const U*>(src);                                     \
    U* d = reinterpret_cast<U*>(dst);                                                  \
    for (int64_t t = 0; t < len; ++t) std::memcpy(d + t * inner, s + order[t] * inner, N); \
    return;                                                                            \
  }
    GRAFT_PERMUTE(1, uint8_t)
    GRAFT_PERMUTE(2, uint16_t)
    GRAFT_PERMUTE(4, uint32_t)
    GRAFT_PERMUTE(8, uint64_t)
#undef GRAFT_PERMUTE
    default:
      for (int64_t t = 0; t < len; ++t) std::memcpy(dst + t * inner * es, src + order[t] * inner * es, es);
  }
}

std::unique_ptr<Kernel> sort(const KernelArgs& a) {
  const auto& at = std::get<SortAttrs>(a.op.attrs);
  const Shape& shape = a.inputs[0].shape;
  Lines lines(shape, at.axis);
  bool descending = at.descending;
  std::vector<size_t> sizes;
  for (const ValueType& t : a.inputs) sizes.push_back(dtype_size(t.dtype));
  return visit_dtype(a.inputs[0].dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
    using T = decltype(tag);
    using K = compute_t<T>;
    return lambda_kernel([=](std::span<const void* const> in, std::span<void* const> out) {
      if (lines.count() == 0 || lines.len == 0) return;
      const T* keys = static_cast<const T*>(in[0]);
      struct Scratch {
        std::vector<Keyed<K>> pairs;
        std::vector<int64_t> order;
      };
      for_each_line<Scratch>(lines.count(), lines.count() * lines.len * int64_t(sizes.size()),
                             [&](int64_t l, Scratch& s) {
        int64_t base = lines.base(l);
        s.pairs.resize(size_t(lines.len));
        s.order.resize(size_t(lines.len));
        for (int64_t t = 0; t < lines.len; ++t) s.pairs[size_t(t)] = {to_compute(keys[base + t * lines.inner]), t};
        if (descending)
          std::sort(s.pairs.begin(), s.pairs.end(), Descending<K>{});
        else
          std::sort(s.pairs.begin(), s.pairs.end(), Ascending<K>{});
        for (int64_t t = 0; t < lines.len; ++t) s.order[size_t(t)] = s.pairs[size_t(t)].pos;
        for (size_t k = 0; k < sizes.size(); ++k) {
          size_t es = sizes[k];
          permute_line(static_cast<const char*>(in[k]) + base * int64_t(es),
                       static_cast<char*>(out[k]) + base * int64_t(es), s.order.data(), lines.len, lines.inner,
                       es);
        }
      });
    });
  });
}

std::unique_ptr<Kernel> top_k(const KernelArgs& a) {
  const auto& at = std::get<TopKAttrs>(a.op.attrs);
  Lines in_lines(a.inputs[0].shape, at.axis);
  Lines out_lines(a.outputs[0].shape, at.axis);
  int64_t k = at.k;
  GRAFT_CHECK(k >= 0 && k <= in_lines.len, a.describe(), ": k=", k, " exceeds the axis extent ", in_lines.len);
  bool largest = at.largest;
  return visit_dtype(a.inputs[0].dtype, [&](auto tag) -> std::unique_ptr<Kernel> {
    using T = decltype(tag);
    using K = compute_t<T>;
    return lambda_kernel([=](std::span<const void* const> in, std::span<void* const> out) {
      if (k == 0 || in_lines.count() == 0) return;
      const T* x = static_cast<const T*>(in[0]);
      T* values = static_cast<T*>(out[0]);
      int64_t* indices = static_cast<int64_t*>(out[1]);
      for_each_line<std::vector<Keyed<K>>>(in_lines.count(), in_lines.count() * in_lines.len,
                                           [&](int64_t l, std::vector<Keyed<K>>& pairs) {
        int64_t ib = in_lines.base(l), ob = out_lines.base(l);
        pairs.resize(size_t(in_lines.len));
        for (int64_t t = 0; t < in_lines.len; ++t) pairs[size_t(t)] = {to_compute(x[ib + t * in_lines.inner]), t};
        auto mid = pairs.begin() + k;
        if (largest)
          std::partial_sort(pairs.begin(), mid, pairs.end(), Descending<K>{});
        else
          std::partial_sort(pairs.begin(), mid, pairs.end(), Ascending<K>{});
        for (int64_t t = 0; t < k; ++t) {
          int64_t p = pairs[size_t(t)].pos;
          values[ob + t * out_lines.inner] = x[ib + p * in_lines.inner];  // the original bits (NaN payloads, -0)
          indices[ob + t * out_lines.inner] = p;
        }
      });
    });
  });
}

}  // namespace

void register_sort_kernels(KernelRegistry& r) {
  r.add(OpKind::Sort, sort);
  r.add(OpKind::TopK, top_k);
}

}  // namespace graft::cpu
