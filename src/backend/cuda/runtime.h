#pragma once
// One GPU as the CUDA backend uses it: its properties, a caching allocator for device memory (the
// graft::Device that tensors keep their device copies in), a cuBLASLt handle, and the device copies of
// constants shared by the executables compiled for it.
#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "graft/core/tensor.h"

namespace graft::cuda {

// Makes `device` the calling thread's current device for the guard's lifetime.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
  bool changed_ = false;
};

// Device memory released to the caching allocator when the last reference goes.
class DeviceBuffer;

class CudaDevice final : public Device, public std::enable_shared_from_this<CudaDevice> {
 public:
  explicit CudaDevice(int index);
  ~CudaDevice() override;

  std::string name() const override { return "cuda:" + std::to_string(index_); }
  DeviceKind kind() const override { return DeviceKind::CUDA; }
  void* allocate(size_t nbytes) override;
  void deallocate(void* p, size_t nbytes) noexcept override;
  void copy_to_host(void* dst, const void* src, size_t nbytes) override;
  void copy_from_host(void* dst, const void* src, size_t nbytes) override;
  void copy_on_device(void* dst, const void* src, size_t nbytes) override;

  int index() const { return index_; }
  const cudaDeviceProp& props() const { return props_; }
  int sm_count() const { return props_.multiProcessorCount; }
  int arch() const { return props_.major * 10 + props_.minor; }  // 90 for an H100
  cublasLtHandle_t blas() const { return blas_; }

  // A buffer of `nbytes` from the caching allocator, freed when the last shared_ptr goes.
  std::shared_ptr<DeviceBuffer> buffer(size_t nbytes);
  // The device copy of a constant tensor's data, uploaded once and shared by every executable that
  // uses the same tensor (the same storage) while it is alive.
  std::shared_ptr<DeviceBuffer> constant(const Tensor& value);

  size_t bytes_in_use() const;
  size_t bytes_cached() const;

 private:
  void release_cache();  // mu_ held

  int index_;
  cudaDeviceProp props_{};
  cublasLtHandle_t blas_ = nullptr;
  mutable std::mutex mu_;
  std::multimap<size_t, void*> free_;  // cached blocks by rounded size
  size_t in_use_ = 0, cached_ = 0;
  struct ConstantEntry {
    std::weak_ptr<Storage> storage;
    std::weak_ptr<DeviceBuffer> buffer;
  };
  std::map<const Storage*, ConstantEntry> constants_;
};

class DeviceBuffer {
 public:
  DeviceBuffer(std::shared_ptr<CudaDevice> device, size_t nbytes);
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }

 private:
  std::shared_ptr<CudaDevice> device_;
  void* data_ = nullptr;
  size_t nbytes_ = 0;
};

// The device for GPU `index`, created (and registered with graft::register_device) on first use.
// Throws graft::Error naming what is missing: the driver library, a GPU, device N of M.
std::shared_ptr<CudaDevice> cuda_device(int index);

}  // namespace graft::cuda
