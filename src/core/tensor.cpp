#include "graft/core/tensor.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
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

// ---- devices and transfer counters ----------------------------------------------------------------

namespace {

struct Transfers {
  std::atomic<uint64_t> to_device{0}, to_device_bytes{0}, to_host{0}, to_host_bytes{0};
  // GRAFT_PROFILE: the totals are printed at exit, next to the executables' kernel profiles.
  ~Transfers() {
    const char* p = std::getenv("GRAFT_PROFILE");
    if (!p || !*p || std::string(p) == "0" || (to_device.load() == 0 && to_host.load() == 0)) return;
    std::fprintf(stderr, "graft transfers: %llu host->device (%.1f MB), %llu device->host (%.1f MB)\n",
                 (unsigned long long)to_device.load(), double(to_device_bytes.load()) / 1e6,
                 (unsigned long long)to_host.load(), double(to_host_bytes.load()) / 1e6);
  }
};

Transfers& transfers() {
  static Transfers t;
  return t;
}

struct DeviceTable {
  std::mutex mu;
  std::vector<std::shared_ptr<Device>> devices;
};

DeviceTable& device_table() {
  static DeviceTable* t = new DeviceTable();  // never destroyed: tensors may release device memory at exit
  return *t;
}

}  // namespace

void count_transfer(bool to_device, size_t nbytes) {
  Transfers& t = transfers();
  if (to_device) {
    t.to_device.fetch_add(1, std::memory_order_relaxed);
    t.to_device_bytes.fetch_add(nbytes, std::memory_order_relaxed);
  } else {
    t.to_host.fetch_add(1, std::memory_order_relaxed);
    t.to_host_bytes.fetch_add(nbytes, std::memory_order_relaxed);
  }
}

TransferCounters transfer_counters() {
  Transfers& t = transfers();
  return {t.to_device.load(), t.to_device_bytes.load(), t.to_host.load(), t.to_host_bytes.load()};
}

void register_device(std::shared_ptr<Device> device) {
  GRAFT_CHECK(device != nullptr, "register_device: null device");
  DeviceTable& t = device_table();
  std::lock_guard<std::mutex> lock(t.mu);
  std::string name = device->name();
  for (auto& d : t.devices)
    if (d->name() == name) {
      d = std::move(device);
      return;
    }
  t.devices.push_back(std::move(device));
}

std::shared_ptr<Device> find_device(std::string_view name) {
  std::string want(name);
  if (want.find(':') == std::string::npos) want += ":0";
  DeviceTable& t = device_table();
  std::lock_guard<std::mutex> lock(t.mu);
  for (auto& d : t.devices)
    if (d->name() == want) return d;
  return nullptr;
}

// ---- Storage ------------------------------------------------------------------------------------------

namespace {
void* allocate_host_block(size_t nbytes, size_t* capacity) {
  size_t rounded = LargeBlockCache::round(std::max<size_t>(nbytes, 1));
  void* p = block_cache().take(rounded);
  if (!p) p = std::aligned_alloc(64, rounded);
  GRAFT_CHECK(p != nullptr, "out of memory allocating ", nbytes, " bytes");
  *capacity = rounded;
  return p;
}
}  // namespace

std::shared_ptr<Storage> Storage::allocate(size_t nbytes, bool zero) {
  auto s = std::shared_ptr<Storage>(new Storage());
  s->host_ = allocate_host_block(nbytes, &s->capacity_);
  if (zero) std::memset(s->host_, 0, s->capacity_);
  s->nbytes_ = nbytes;
  s->owned_ = true;
  s->host_valid_.store(true, std::memory_order_release);
  return s;
}

std::shared_ptr<Storage> Storage::wrap(void* data, size_t nbytes, std::shared_ptr<void> owner) {
  auto s = std::shared_ptr<Storage>(new Storage());
  s->host_ = data;
  s->nbytes_ = nbytes;
  s->owner_ = std::move(owner);
  s->host_valid_.store(true, std::memory_order_release);
  return s;
}

std::shared_ptr<Storage> Storage::allocate_on(std::shared_ptr<Device> device, size_t nbytes) {
  GRAFT_CHECK(device != nullptr, "Storage::allocate_on: null device");
  auto s = std::shared_ptr<Storage>(new Storage());
  s->nbytes_ = nbytes;
  s->device_data_ = device->allocate(nbytes);
  s->device_owned_ = true;
  s->device_ = std::move(device);
  s->device_valid_.store(true, std::memory_order_release);
  return s;
}

std::shared_ptr<Storage> Storage::wrap_device(std::shared_ptr<Device> device, void* data, size_t nbytes,
                                              std::shared_ptr<void> owner) {
  GRAFT_CHECK(device != nullptr, "Storage::wrap_device: null device");
  auto s = std::shared_ptr<Storage>(new Storage());
  s->nbytes_ = nbytes;
  s->device_data_ = data;
  s->device_owner_ = std::move(owner);
  s->device_ = std::move(device);
  s->device_valid_.store(true, std::memory_order_release);
  return s;
}

Storage::~Storage() {
  if (owned_) block_cache().give(host_, capacity_);
  if (device_data_ && device_owned_) device_->deallocate(device_data_, nbytes_);
}

void Storage::ensure_host_block() {
  if (host_) return;
  host_ = allocate_host_block(nbytes_, &capacity_);
  owned_ = true;
}

void Storage::release_device() {
  device_valid_.store(false, std::memory_order_release);
  if (device_data_ && device_owned_) device_->deallocate(device_data_, nbytes_);
  device_data_ = nullptr;
  device_owned_ = false;
  device_owner_.reset();
  device_.reset();
}

void* Storage::sync_host() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!host_valid_.load(std::memory_order_acquire)) {
    ensure_host_block();
    if (nbytes_) {
      device_->copy_to_host(host_, device_data_, nbytes_);
      count_transfer(false, nbytes_);
    }
    host_valid_.store(true, std::memory_order_release);
  }
  return host_;
}

void* Storage::mutable_host() {
  if (host_valid_.load(std::memory_order_acquire) && !device_valid_.load(std::memory_order_acquire)) return host_;
  sync_host();
  std::lock_guard<std::mutex> lock(mu_);
  if (device_data_) release_device();
  return host_;
}

// Makes the device copy exist on `d` (moving off another device through the host), uploading the host
// copy into it when `upload` and it is stale.
void Storage::ensure_device(const std::shared_ptr<Device>& d, bool upload) {
  GRAFT_CHECK(d != nullptr, "tensor storage: null device");
  if (device_ && device_.get() != d.get()) {
    if (!host_valid_.load(std::memory_order_acquire)) {
      ensure_host_block();
      if (nbytes_) {
        device_->copy_to_host(host_, device_data_, nbytes_);
        count_transfer(false, nbytes_);
      }
      host_valid_.store(true, std::memory_order_release);
    }
    release_device();
  }
  if (!device_data_) {
    device_data_ = d->allocate(nbytes_);
    device_owned_ = true;
    device_ = d;
  }
  if (!device_valid_.load(std::memory_order_acquire)) {
    if (upload && nbytes_) {
      d->copy_from_host(device_data_, host_, nbytes_);
      count_transfer(true, nbytes_);
    }
    device_valid_.store(true, std::memory_order_release);
  }
}

const void* Storage::device_data(const std::shared_ptr<Device>& d) const {
  if (device_valid_.load(std::memory_order_acquire) && device_.get() == d.get()) return device_data_;
  auto* self = const_cast<Storage*>(this);
  std::lock_guard<std::mutex> lock(mu_);
  self->ensure_device(d, /*upload=*/true);
  return device_data_;
}

void* Storage::mutable_device_data(const std::shared_ptr<Device>& d) {
  std::lock_guard<std::mutex> lock(mu_);
  ensure_device(d, /*upload=*/true);
  host_valid_.store(false, std::memory_order_release);
  return device_data_;
}

void* Storage::device_data_for_overwrite(const std::shared_ptr<Device>& d) {
  std::lock_guard<std::mutex> lock(mu_);
  if (device_ && device_.get() != d.get()) release_device();  // about to be overwritten: nothing to keep
  if (!device_data_) {
    device_data_ = d->allocate(nbytes_);
    device_owned_ = true;
    device_ = d;
  }
  device_valid_.store(true, std::memory_order_release);
  host_valid_.store(false, std::memory_order_release);
  return device_data_;
}

std::shared_ptr<Device> Storage::device_ptr() const {
  std::lock_guard<std::mutex> lock(mu_);
  return device_;
}

DeviceKind Storage::device() const {
  if (host_valid_.load(std::memory_order_acquire)) return DeviceKind::CPU;
  std::lock_guard<std::mutex> lock(mu_);
  return device_ ? device_->kind() : DeviceKind::CPU;
}

// ---- Tensor -------------------------------------------------------------------------------------------

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  storage_ = Storage::allocate(nbytes(), /*zero=*/true);
}

Tensor Tensor::uninitialized(DType dtype, Shape shape) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.storage_ = Storage::allocate(t.nbytes(), /*zero=*/false);
  return t;
}

Tensor Tensor::from_bytes(DType dtype, Shape shape, const void* data, size_t nbytes) {
  Tensor t = uninitialized(dtype, std::move(shape));
  GRAFT_CHECK(nbytes == t.nbytes(), "Tensor::from_bytes: ", nbytes, " bytes given for ", dtype_name(dtype), " ",
              t.shape(), " which needs ", t.nbytes());
  if (nbytes) std::memcpy(t.raw(), data, nbytes);
  return t;
}

Tensor Tensor::wrap(DType dtype, Shape shape, void* data, std::shared_ptr<void> owner) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.storage_ = Storage::wrap(data, t.nbytes(), std::move(owner));
  return t;
}

Tensor Tensor::empty_on(std::shared_ptr<Device> device, DType dtype, Shape shape) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.storage_ = Storage::allocate_on(std::move(device), t.nbytes());
  return t;
}

Tensor Tensor::wrap_device(std::shared_ptr<Device> device, DType dtype, Shape shape, void* data,
                           std::shared_ptr<void> owner) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.storage_ = Storage::wrap_device(std::move(device), data, t.nbytes(), std::move(owner));
  return t;
}

std::string Tensor::device_name() const {
  if (!storage_ || !storage_->device_valid()) return "cpu";
  auto d = storage_->device_ptr();
  return d ? d->name() : "cpu";
}

Tensor Tensor::to_device(const std::shared_ptr<Device>& device) const {
  GRAFT_CHECK(defined(), "to_device: undefined tensor");
  GRAFT_CHECK(device != nullptr, "to_device: null device");
  storage_->device_data(device);
  return *this;
}

Tensor Tensor::to_device(std::string_view name) const {
  if (name == "cpu") return to_host();
  std::shared_ptr<Device> d = find_device(name);
  GRAFT_CHECK(d != nullptr, "to_device: no device '", name,
              "' in this process (create its backend first, e.g. graft::cuda_backend() or "
              "graft::backend_for_device(\"", name, "\"))");
  return to_device(d);
}

Tensor Tensor::to_host() const {
  GRAFT_CHECK(defined(), "to_host: undefined tensor");
  storage_->host();
  return *this;
}

const void* Tensor::device_data(const std::shared_ptr<Device>& device) const {
  GRAFT_CHECK(defined(), "device_data: undefined tensor");
  return storage_->device_data(device);
}

void* Tensor::mutable_device_data(const std::shared_ptr<Device>& device) {
  GRAFT_CHECK(defined(), "mutable_device_data: undefined tensor");
  return storage_->mutable_device_data(device);
}

void* Tensor::device_data_for_overwrite(const std::shared_ptr<Device>& device) {
  GRAFT_CHECK(defined(), "device_data_for_overwrite: undefined tensor");
  return storage_->device_data_for_overwrite(device);
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
    T* p = static_cast<T*>(t.raw());
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
    return double(to_compute(static_cast<const T*>(raw())[i]));
  });
}

Tensor Tensor::clone() const {
  if (!defined()) return {};
  if (!storage_->host_valid()) {  // a device tensor: the copy stays on the device
    std::shared_ptr<Device> d = storage_->device_ptr();
    if (d) {
      Tensor t = empty_on(d, dtype_, shape_);
      if (nbytes()) d->copy_on_device(t.storage_->mutable_device_data(d), storage_->device_data(d), nbytes());
      return t;
    }
  }
  return from_bytes(dtype_, shape_, raw(), nbytes());
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
