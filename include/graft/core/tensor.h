#pragma once
// Tensor: a dense, row-major, ref-counted array. Copies of a Tensor share storage (like a shared_ptr);
// clone() makes a deep copy. Host tensors are what users create, print and save; a tensor may also hold
// a copy of its data on a device (an accelerator's memory, graft/core/device.h), next to or instead of
// the host copy. Host access (raw(), data<T>(), ...) brings a stale host copy up to date first, and
// mutable host access drops the device copy, so host code never sees anything but current values.
#include <atomic>
#include <cstddef>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "graft/core/device.h"
#include "graft/core/dtype.h"
#include "graft/core/error.h"
#include "graft/core/shape.h"

namespace graft {

// A block of bytes on the host, on a device, or on both. Host storage is 64-byte aligned so kernels
// can use aligned vector loads; foreign memory (an mmapped external-data file, a user's buffer, a
// device buffer owned elsewhere) is wrapped with its own owner and never copied.
//
// Each copy is valid (up to date) or not; at least one is. Reading one that is stale copies the other
// into it; writing one makes the other stale (the device copy is then released). Transitions take a
// lock, so tensors sharing a storage may be read from several threads.
class Storage {
 public:
  static std::shared_ptr<Storage> allocate(size_t nbytes, bool zero = true);
  static std::shared_ptr<Storage> wrap(void* data, size_t nbytes, std::shared_ptr<void> owner);
  // Device-only storage: uninitialized device memory, or device memory owned by `owner`.
  static std::shared_ptr<Storage> allocate_on(std::shared_ptr<Device> device, size_t nbytes);
  static std::shared_ptr<Storage> wrap_device(std::shared_ptr<Device> device, void* data, size_t nbytes,
                                              std::shared_ptr<void> owner);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  size_t nbytes() const { return nbytes_; }
  // The host copy for reading (brought up to date from the device when stale) or for writing (the
  // device copy is dropped). data() is mutable_host().
  const void* host() const {
    if (host_valid_.load(std::memory_order_acquire)) return host_;
    return const_cast<Storage*>(this)->sync_host();
  }
  void* mutable_host();
  void* data() { return mutable_host(); }

  // The copy on `device`, for backends: for reading (uploaded when stale), for writing (uploaded when
  // stale, the host copy becomes stale), or to be overwritten whole (nothing uploaded). A storage lives
  // on one device at a time: asking for another moves it there through the host.
  const void* device_data(const std::shared_ptr<Device>& device) const;
  void* mutable_device_data(const std::shared_ptr<Device>& device);
  void* device_data_for_overwrite(const std::shared_ptr<Device>& device);

  bool host_valid() const { return host_valid_.load(std::memory_order_acquire); }
  bool device_valid() const { return device_valid_.load(std::memory_order_acquire); }
  // The device holding the device copy (null when there is none).
  std::shared_ptr<Device> device_ptr() const;
  // Where the data lives: the device when only the device copy is current, else the host.
  DeviceKind device() const;

 private:
  Storage() = default;
  void* sync_host();                                      // takes mu_
  void ensure_host_block();                               // mu_ held
  void ensure_device(const std::shared_ptr<Device>& d, bool upload);  // mu_ held
  void release_device();                                  // mu_ held

  // Host copy.
  void* host_ = nullptr;
  size_t nbytes_ = 0;
  size_t capacity_ = 0;  // bytes actually allocated (owned host storage)
  bool owned_ = false;
  std::shared_ptr<void> owner_;
  // Device copy.
  std::shared_ptr<Device> device_;
  void* device_data_ = nullptr;
  bool device_owned_ = false;
  std::shared_ptr<void> device_owner_;
  std::atomic<bool> host_valid_{false}, device_valid_{false};
  mutable std::mutex mu_;
};

namespace detail {
template <typename T, typename L>
void flatten_nested(const L& list, std::vector<T>& out, std::vector<int64_t>& dims, size_t depth);
}

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor; defined() is false
  Tensor(DType dtype, Shape shape);  // zero-filled

  static Tensor zeros(DType dtype, Shape shape) { return Tensor(dtype, std::move(shape)); }
  static Tensor uninitialized(DType dtype, Shape shape);
  // Copies `nbytes` bytes from `data`; nbytes must equal shape.size() * dtype_size(dtype).
  static Tensor from_bytes(DType dtype, Shape shape, const void* data, size_t nbytes);
  // Shares `data` without copying; `owner` keeps it alive.
  static Tensor wrap(DType dtype, Shape shape, void* data, std::shared_ptr<void> owner);
  template <typename T>
  static Tensor from_vector(const std::vector<T>& values, Shape shape);
  template <typename T>
  static Tensor from_vector(const std::vector<T>& values) {
    return from_vector(values, Shape{int64_t(values.size())});
  }
  template <typename T>
  static Tensor scalar(T value) { return from_vector(std::vector<T>{value}, Shape{}); }
  // A tensor of `shape` filled with `value` converted to `dtype`.
  static Tensor full(DType dtype, Shape shape, double value);

  // Nested initializer lists: Tensor({{1.f, 2.f}, {3.f, 4.f}}) is a [2][2]float32.
  template <typename T> Tensor(std::initializer_list<T> l) { init_nested<T>(l); }
  template <typename T> Tensor(std::initializer_list<std::initializer_list<T>> l) { init_nested<T>(l); }
  template <typename T>
  Tensor(std::initializer_list<std::initializer_list<std::initializer_list<T>>> l) { init_nested<T>(l); }
  template <typename T>
  Tensor(std::initializer_list<std::initializer_list<std::initializer_list<std::initializer_list<T>>>> l) {
    init_nested<T>(l);
  }

  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank(); }
  int64_t size() const { return shape_.size(); }
  size_t nbytes() const { return size_t(shape_.size()) * dtype_size(dtype_); }
  const std::shared_ptr<Storage>& storage() const { return storage_; }

  // Host data. The const accessors read (a stale host copy is first brought up to date from the
  // device); the others may write, so they also drop the device copy.
  void* raw() { return storage_ ? storage_->mutable_host() : nullptr; }
  const void* raw() const { return storage_ ? storage_->host() : nullptr; }
  template <typename T> T* data() { check_type(dtype_v<T>); return static_cast<T*>(storage_->mutable_host()); }
  template <typename T> const T* data() const { check_type(dtype_v<T>); return static_cast<const T*>(storage_->host()); }
  template <typename T> std::span<T> span() { return {data<T>(), size_t(size())}; }
  template <typename T> std::span<const T> span() const { return {data<T>(), size_t(size())}; }

  // Element access by multi-index (bounds-checked; for tests and small host work, not for kernels).
  template <typename T> T& at(std::initializer_list<int64_t> index) { return data<T>()[flat_index(index)]; }
  template <typename T> T at(std::initializer_list<int64_t> index) const { return data<T>()[flat_index(index)]; }
  template <typename T> T item() const {
    GRAFT_CHECK(size() == 1, "item(): tensor of shape ", shape_, " has ", size(), " elements, not 1");
    return data<T>()[0];
  }
  // All elements converted to T (any source dtype).
  template <typename T> std::vector<T> to_vector() const;
  // Element i converted to double, whatever the dtype.
  double value_as_double(int64_t flat_index) const;

  Tensor clone() const;
  // Same storage, new shape of the same element count.
  Tensor reshape(Shape shape) const;
  // Element-wise conversion with C++ static_cast semantics (for host-side convenience).
  Tensor cast(DType dtype) const;

  // ---- devices ----
  // A tensor of `shape` in uninitialized memory of `device` only (no host copy until one is asked for).
  static Tensor empty_on(std::shared_ptr<Device> device, DType dtype, Shape shape);
  // Shares device memory without copying; `owner` keeps it alive.
  static Tensor wrap_device(std::shared_ptr<Device> device, DType dtype, Shape shape, void* data,
                            std::shared_ptr<void> owner);
  // Where the tensor lives: DeviceKind::CUDA when only its device copy is current, else CPU.
  DeviceKind device() const { return storage_ ? storage_->device() : DeviceKind::CPU; }
  bool is_on_device() const { return storage_ && storage_->device_valid(); }  // has a current device copy
  bool is_on_host() const { return storage_ && storage_->host_valid(); }      // has a current host copy
  std::string device_name() const;  // "cpu", or the device's name ("cuda:0") when it has a current copy there
  // Makes sure a current copy exists on `device` (uploading the host copy when needed; the host copy
  // stays) and returns this tensor (same storage). By name: a device registered by its backend
  // ("cuda", "cuda:1"); "cpu" is to_host().
  Tensor to_device(const std::shared_ptr<Device>& device) const;
  Tensor to_device(std::string_view device) const;
  // Makes sure a current host copy exists (downloading it when needed; the device copy stays).
  Tensor to_host() const;
  // Device data for backends: see Storage::device_data and friends.
  const void* device_data(const std::shared_ptr<Device>& device) const;
  void* mutable_device_data(const std::shared_ptr<Device>& device);
  void* device_data_for_overwrite(const std::shared_ptr<Device>& device);

  // "[2][3]float32{ {{1, 2, 3}, {4, 5, 6}} }", eliding long axes with "...".
  std::string str(int edge_items = 3) const;

 private:
  template <typename T, typename L> void init_nested(const L& l) {
    std::vector<T> values;
    std::vector<int64_t> dims;
    detail::flatten_nested<T>(l, values, dims, 0);
    *this = from_vector(values, Shape(dims));
  }
  void check_type(DType want) const;
  int64_t flat_index(std::initializer_list<int64_t> index) const;

  std::shared_ptr<Storage> storage_;
  DType dtype_ = DType::F32;
  Shape shape_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// True when both have the same dtype, shape and every element within atol + rtol * |b| (NaNs equal).
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8);
// Largest |a - b| over all elements (as double); shapes must match.
double max_abs_diff(const Tensor& a, const Tensor& b);

// NumPy .npy files (format 1.0/2.0/3.0, little-endian, C or Fortran order).
Tensor read_npy(const std::filesystem::path& path);
Tensor parse_npy(const void* data, size_t nbytes, const std::string& what = "npy buffer");
// Written to a temporary file and renamed, so an existing file is never left half-written.
void write_npy(const std::filesystem::path& path, const Tensor& t);

// ---- implementation of the templates ----------------------------------------------------------------

template <typename T>
Tensor Tensor::from_vector(const std::vector<T>& values, Shape shape) {
  GRAFT_CHECK(int64_t(values.size()) == shape.size(), "Tensor::from_vector: ", values.size(),
              " values for shape ", shape, " (", shape.size(), " elements)");
  Tensor t = uninitialized(dtype_v<T>, std::move(shape));
  if constexpr (std::is_same_v<T, bool>) {
    for (size_t i = 0; i < values.size(); ++i) t.data<bool>()[i] = values[i];
  } else {
    if (!values.empty()) std::memcpy(t.raw(), values.data(), values.size() * sizeof(T));
  }
  return t;
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  std::vector<T> out(static_cast<size_t>(this->size()));
  if (dtype_ == dtype_v<T>) {
    const T* p = static_cast<const T*>(raw());
    for (size_t i = 0; i < out.size(); ++i) out[i] = p[i];
    return out;
  }
  visit_dtype(dtype_, [&](auto tag) {
    using S = decltype(tag);
    const S* p = static_cast<const S*>(raw());
    for (size_t i = 0; i < out.size(); ++i) {
      if constexpr (std::is_same_v<T, float16> || std::is_same_v<T, bfloat16>)
        out[i] = T(float(to_compute(p[i])));
      else
        out[i] = static_cast<T>(to_compute(p[i]));
    }
  });
  return out;
}

namespace detail {
template <typename T, typename L>
void flatten_nested(const L& list, std::vector<T>& out, std::vector<int64_t>& dims, size_t depth) {
  if (dims.size() <= depth) dims.push_back(int64_t(list.size()));
  GRAFT_CHECK(dims[depth] == int64_t(list.size()), "Tensor: ragged nested initializer list at depth ", depth,
              " (", list.size(), " vs ", dims[depth], " elements)");
  for (const auto& e : list) {
    if constexpr (std::is_convertible_v<decltype(e), T>)
      out.push_back(static_cast<T>(e));
    else
      flatten_nested<T>(e, out, dims, depth + 1);
  }
}
}  // namespace detail

}  // namespace graft
