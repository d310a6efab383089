#include "graft/core/tensor.h"

#include <cmath>
#include <map>
#include <mutex>
#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace graft {

// ---- Storage ------------------------------------------------------------------------------------------

namespace {

// Large blocks freed by tensors are kept for reuse. glibc hands blocks above its mmap threshold (at most
// 32 MiB) back to the kernel on free, so without this every run of a model would fault in fresh zeroed
// pages for each big output: measured at about 2.5x the time of the copy itself for a 64 MiB result.
class LargeBlockCache {
 public:
  static constexpr size_t kMinBytes = size_t(1) << 20;     // smaller blocks: malloc's own free lists do well
  static constexpr size_t kGranule = size_t(1) << 16;      // sizes are rounded up to this
  static constexpr size_t kMaxCachedBytes = size_t(1) << 30;

  static size_t round(size_t n) { return n >= kMinBytes ? (n + kGranule - 1) / kGranule * kGranule : (n + 63) / 64 * 64; }

  void* take(size_t rounded) {
    if (rounded < kMinBytes) return nullptr;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = free_.find(rounded);
    if (it == free_.end()) return nullptr;
    void* p = it->second;
    free_.erase(it);
    cached_ -= rounded;
    return p;
  }

  void give(void* p, size_t rounded) {
    if (rounded >= kMinBytes) {
      std::lock_guard<std::mutex> lock(mu_);
      if (cached_ + rounded <= kMaxCachedBytes) {
        free_.emplace(rounded, p);
        cached_ += rounded;
        return;
      }
    }
    std::free(p);
  }

  ~LargeBlockCache() {
    for (auto& [n, p] : free_) std::free(p);
  }

 private:
  std::mutex mu_;
  std::multimap<size_t, void*> free_;
  size_t cached_ = 0;
};

LargeBlockCache& block_cache() {
  static LargeBlockCache* cache = new LargeBlockCache();  // never destroyed: tensors may outlive statics
  return *cache;
}

}  // namespace

std::shared_ptr<Storage> Storage::allocate(size_t nbytes, bool zero) {
  auto s = std::shared_ptr<Storage>(new Storage());
  size_t rounded = LargeBlockCache::round(std::max<size_t>(nbytes, 1));
  s->data_ = block_cache().take(rounded);
  if (!s->data_) s->data_ = std::aligned_alloc(64, rounded);
  GRAFT_CHECK(s->data_ != nullptr, "out of memory allocating ", nbytes, " bytes");
  if (zero) std::memset(s->data_, 0, rounded);
  s->nbytes_ = nbytes;
  s->capacity_ = rounded;
  s->owned_ = true;
  return s;
}

std::shared_ptr<Storage> Storage::wrap(void* data, size_t nbytes, std::shared_ptr<void> owner) {
  auto s = std::shared_ptr<Storage>(new Storage());
  s->data_ = data;
  s->nbytes_ = nbytes;
  s->owner_ = std::move(owner);
  return s;
}

Storage::~Storage() {
  if (owned_) block_cache().give(data_, capacity_);
}

// ---- Tensor -------------------------------------------------------------------------------------------

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  storage_ = Storage::allocate(nbytes(), /*zero=*/true);
  data_ = storage_->data();
}

Tensor Tensor::uninitialized(DType dtype, Shape shape) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.storage_ = Storage::allocate(t.nbytes(), /*zero=*/false);
  t.data_ = t.storage_->data();
  return t;
}

Tensor Tensor::from_bytes(DType dtype, Shape shape, const void* data, size_t nbytes) {
  Tensor t = uninitialized(dtype, std::move(shape));
  GRAFT_CHECK(nbytes == t.nbytes(), "Tensor::from_bytes: ", nbytes, " bytes given for ", dtype_name(dtype), " ",
              t.shape(), " which needs ", t.nbytes());
  if (nbytes) std::memcpy(t.data_, data, nbytes);
  return t;
}

Tensor Tensor::wrap(DType dtype, Shape shape, void* data, std::shared_ptr<void> owner) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.storage_ = Storage::wrap(data, t.nbytes(), std::move(owner));
  t.data_ = data;
  return t;
}

Tensor Tensor::full(DType dtype, Shape shape, double value) {
  Tensor t = uninitialized(dtype, std::move(shape));
  visit_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    T v;
    if constexpr (std::is_same_v<T, float16> || std::is_same_v<T, bfloat16>)
      v = T(float(value));
    else
      v = static_cast<T>(value);
    T* p = static_cast<T*>(t.data_);
    for (int64_t i = 0; i < t.size(); ++i) p[i] = v;
  });
  return t;
}

void Tensor::check_type(DType want) const {
  GRAFT_CHECK(storage_, "access to an undefined tensor");
  GRAFT_CHECK(want == dtype_, "tensor of dtype ", dtype_name(dtype_), " accessed as ", dtype_name(want));
}

int64_t Tensor::flat_index(std::initializer_list<int64_t> index) const {
  GRAFT_CHECK(int(index.size()) == rank(), "index of rank ", index.size(), " into tensor of shape ", shape_);
  int64_t flat = 0;
  int axis = 0;
  for (int64_t i : index) {
    int64_t d = shape_.dims()[axis];
    GRAFT_CHECK(i >= 0 && i < d, "index ", i, " out of range for axis ", axis, " of shape ", shape_);
    flat = flat * d + i;
    ++axis;
  }
  return flat;
}

double Tensor::value_as_double(int64_t i) const {
  return visit_dtype(dtype_, [&](auto tag) -> double {
    using T = decltype(tag);
    return double(to_compute(static_cast<const T*>(data_)[i]));
  });
}

Tensor Tensor::clone() const {
  if (!defined()) return {};
  return from_bytes(dtype_, shape_, data_, nbytes());
}

Tensor Tensor::reshape(Shape shape) const {
  GRAFT_CHECK(shape.size() == size(), "Tensor::reshape: ", shape_, " (", size(), " elements) to ", shape, " (",
              shape.size(), " elements)");
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::cast(DType dtype) const {
  if (dtype == dtype_) return *this;
  Tensor out = uninitialized(dtype, shape_);
  visit_dtype(dtype, [&](auto dtag) {
    using D = decltype(dtag);
    std::vector<D> v = to_vector<D>();
    if constexpr (std::is_same_v<D, bool>) {
      for (size_t i = 0; i < v.size(); ++i) out.data<bool>()[i] = v[i];
    } else if (!v.empty()) {
      std::memcpy(out.raw(), v.data(), v.size() * sizeof(D));
    }
  });
  return out;
}

// ---- printing -----------------------------------------------------------------------------------------

namespace {
void format_value(std::ostream& os, const Tensor& t, int64_t i) {
  if (t.dtype() == DType::Bool) {
    os << (t.data<bool>()[i] ? "true" : "false");
    return;
  }
  double v = t.value_as_double(i);
  if (is_floating(t.dtype())) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g", v);
    os << buf;
  } else if (is_unsigned_integer(t.dtype())) {
    visit_dtype(t.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_integral_v<T>) os << uint64_t(static_cast<const T*>(t.raw())[i]);
    });
  } else {
    visit_dtype(t.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_integral_v<T>) os << int64_t(static_cast<const T*>(t.raw())[i]);
    });
  }
}

void format_axis(std::ostream& os, const Tensor& t, int axis, int64_t offset, const std::vector<int64_t>& strides,
                 int64_t edge, bool elide) {
  int64_t n = t.shape().dims()[axis];
  os << '{';
  bool last_axis = axis == t.rank() - 1;
  for (int64_t i = 0; i < n; ++i) {
    if (elide && n > 2 * edge && i == edge) {
      os << ", ...";
      i = n - edge - 1;
      continue;
    }
    if (i) os << ", ";
    if (last_axis)
      format_value(os, t, offset + i);
    else
      format_axis(os, t, axis + 1, offset + i * strides[axis], strides, edge, elide);
  }
  os << '}';
}
}  // namespace

std::string Tensor::str(int edge_items) const {
  std::ostringstream os;
  if (!defined()) return "Tensor(undefined)";
  for (int64_t d : shape_.dims()) os << '[' << d << ']';
  os << dtype_name(dtype_);
  if (rank() == 0) {
    os << '(';
    format_value(os, *this, 0);
    os << ')';
    return os.str();
  }
  // Like NumPy: short tensors print whole, long ones keep `edge_items` at each end of every axis.
  bool elide = size() > 1000 || [&] {
    for (int64_t d : shape_.dims())
      if (d > 2 * edge_items + 4) return true;
    return false;
  }();
  os << "{ ";
  format_axis(os, *this, 0, 0, shape_.strides(), edge_items, elide);
  os << " }";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

// ---- comparison ---------------------------------------------------------------------------------------

double max_abs_diff(const Tensor& a, const Tensor& b) {
  GRAFT_CHECK(a.shape() == b.shape(), "max_abs_diff: shapes ", a.shape(), " and ", b.shape(), " differ");
  double m = 0;
  for (int64_t i = 0; i < a.size(); ++i) {
    double x = a.value_as_double(i), y = b.value_as_double(i);
    if (std::isnan(x) && std::isnan(y)) continue;
    double d = std::abs(x - y);
    if (std::isnan(d)) return d;
    m = std::max(m, d);
  }
  return m;
}

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  for (int64_t i = 0; i < a.size(); ++i) {
    double x = a.value_as_double(i), y = b.value_as_double(i);
    if (std::isnan(x) || std::isnan(y)) {
      if (std::isnan(x) != std::isnan(y)) return false;
      continue;
    }
    if (std::isinf(x) || std::isinf(y)) {
      if (x != y) return false;
      continue;
    }
    if (std::abs(x - y) > atol + rtol * std::abs(y)) return false;
  }
  return true;
}

}  // namespace graft
