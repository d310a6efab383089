#include "backend/cuda/runtime.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstring>

#include "backend/cuda/check.h"
#include "backend/cuda/kernels/launch.h"

namespace graft::cuda {

// ---- errors -------------------------------------------------------------------------------------------

void fail_cuda(cudaError_t e, const char* call, const std::string& context) {
  fail(context.empty() ? "" : context + ": ", "CUDA error ", cudaGetErrorName(e), " (", cudaGetErrorString(e),
       ") in ", call);
}

void fail_cublas(cublasStatus_t s, const char* call, const std::string& context) {
  fail(context.empty() ? "" : context + ": ", "cuBLASLt error ", cublasLtGetStatusName(s), " (",
       cublasLtGetStatusString(s), ") in ", call);
}

void fail_nvrtc(nvrtcResult r, const char* call, const std::string& context) {
  fail(context.empty() ? "" : context + ": ", "NVRTC error ", nvrtcGetErrorString(r), " in ", call);
}

// ---- DeviceGuard --------------------------------------------------------------------------------------

DeviceGuard::DeviceGuard(int device) {
  GRAFT_CUDA(cudaGetDevice(&previous_), "querying the current GPU");
  if (previous_ != device) {
    GRAFT_CUDA(cudaSetDevice(device), "selecting GPU ", device);
    changed_ = true;
  }
}

DeviceGuard::~DeviceGuard() {
  if (changed_) cudaSetDevice(previous_);
}

// ---- CudaDevice ---------------------------------------------------------------------------------------

namespace {

// Small blocks are rounded to 512 bytes, large ones to 2 MiB, so that blocks freed by one run of a
// model fit the same requests of the next run.
size_t round_block(size_t n) {
  constexpr size_t kSmall = 512, kLarge = size_t(2) << 20;
  if (n == 0) n = 1;
  return n < (size_t(1) << 20) ? (n + kSmall - 1) / kSmall * kSmall : (n + kLarge - 1) / kLarge * kLarge;
}

std::string mib(size_t n) { return std::to_string((n + (1 << 19)) >> 20) + " MiB"; }

}  // namespace

CudaDevice::CudaDevice(int index) : index_(index) {
  DeviceGuard g(index);
  GRAFT_CUDA(cudaGetDeviceProperties(&props_, index), "reading the properties of GPU ", index);
  GRAFT_CUBLAS(cublasLtCreate(&blas_), "creating a cuBLASLt handle for cuda:", index);
}

CudaDevice::~CudaDevice() {
  // Devices live until the process ends (see cuda_device); the driver reclaims everything then.
}

void* CudaDevice::allocate(size_t nbytes) {
  const size_t rounded = round_block(nbytes);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = free_.find(rounded);
  if (it != free_.end()) {
    void* p = it->second;
    free_.erase(it);
    cached_ -= rounded;
    in_use_ += rounded;
    return p;
  }
  DeviceGuard g(index_);
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, rounded);
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // clear it, give the cached blocks back and try once more
    release_cache();
    e = cudaMalloc(&p, rounded);
  }
  if (e != cudaSuccess) {
    cudaGetLastError();
    size_t free_bytes = 0, total = 0;
    cudaMemGetInfo(&free_bytes, &total);
    fail("out of GPU memory on ", name(), " (", props_.name, ") allocating ", mib(nbytes), ": graft holds ",
         mib(in_use_), " in tensors and executables, the device has ", mib(free_bytes), " free of ", mib(total),
         " (", cudaGetErrorString(e), ")");
  }
  in_use_ += rounded;
  return p;
}

void CudaDevice::deallocate(void* p, size_t nbytes) noexcept {
  if (!p) return;
  const size_t rounded = round_block(nbytes);
  std::lock_guard<std::mutex> lock(mu_);
  in_use_ -= rounded;
  cached_ += rounded;
  free_.emplace(rounded, p);
}

void CudaDevice::release_cache() {
  DeviceGuard g(index_);
  for (auto& [n, p] : free_) cudaFree(p);
  free_.clear();
  cached_ = 0;
}

size_t CudaDevice::bytes_in_use() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_use_;
}

size_t CudaDevice::bytes_cached() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cached_;
}

// Device::copy_* complete before they return. Executables finish their stream's work before they return
// too, so nothing queued on the device can still be writing what these copies read. cudaMemcpy from
// pageable host memory returns once the data is staged, and device-to-device cudaMemcpy returns at
// once, so those wait for the default stream before returning.
void CudaDevice::copy_to_host(void* dst, const void* src, size_t nbytes) {
  if (!nbytes) return;
  DeviceGuard g(index_);
  GRAFT_CUDA(cudaMemcpy(dst, src, nbytes, cudaMemcpyDeviceToHost), "copying ", nbytes, " bytes from ", name(),
             " to the host");
}

void CudaDevice::copy_from_host(void* dst, const void* src, size_t nbytes) {
  if (!nbytes) return;
  DeviceGuard g(index_);
  GRAFT_CUDA(cudaMemcpy(dst, src, nbytes, cudaMemcpyHostToDevice), "copying ", nbytes, " bytes from the host to ",
             name());
  GRAFT_CUDA(cudaStreamSynchronize(cudaStreamLegacy), "waiting for a copy to ", name());
}

void CudaDevice::copy_on_device(void* dst, const void* src, size_t nbytes) {
  if (!nbytes) return;
  DeviceGuard g(index_);
  GRAFT_CUDA(cudaMemcpy(dst, src, nbytes, cudaMemcpyDeviceToDevice), "copying ", nbytes, " bytes on ", name());
  GRAFT_CUDA(cudaStreamSynchronize(cudaStreamLegacy), "waiting for a copy on ", name());
}

std::shared_ptr<DeviceBuffer> CudaDevice::buffer(size_t nbytes) {
  return std::make_shared<DeviceBuffer>(shared_from_this(), nbytes);
}

std::shared_ptr<DeviceBuffer> CudaDevice::constant(const Tensor& value) {
  const Storage* key = value.storage().get();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = constants_.begin(); it != constants_.end();) {  // forget constants that are gone
      if (it->second.storage.expired() || it->second.buffer.expired())
        it = constants_.erase(it);
      else
        ++it;
    }
    auto it = constants_.find(key);
    if (it != constants_.end()) {
      auto s = it->second.storage.lock();
      auto b = it->second.buffer.lock();
      if (s.get() == key && b && b->nbytes() >= value.nbytes()) return b;
    }
  }
  auto buf = buffer(value.nbytes());
  copy_from_host(buf->data(), value.raw(), value.nbytes());
  count_transfer(true, value.nbytes());
  std::lock_guard<std::mutex> lock(mu_);
  constants_[key] = ConstantEntry{value.storage(), buf};
  return buf;
}

DeviceBuffer::DeviceBuffer(std::shared_ptr<CudaDevice> device, size_t nbytes)
    : device_(std::move(device)), nbytes_(nbytes) {
  data_ = device_->allocate(nbytes);
}

DeviceBuffer::~DeviceBuffer() { device_->deallocate(data_, nbytes_); }

// ---- finding the driver and the GPU -------------------------------------------------------------------

namespace {

// The CUDA runtime is linked statically and loads the driver itself; looking for it first gives a
// message that names the missing piece instead of "insufficient driver".
void require_driver() {
  static std::string missing = [] {
    void* h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (h) return std::string();  // kept loaded: the runtime uses it
    const char* err = dlerror();
    return std::string(err ? err : "not found");
  }();
  GRAFT_CHECK(missing.empty(), "CUDA is not usable: the NVIDIA driver library libcuda.so.1 could not be loaded (",
              missing, "); this machine has no NVIDIA driver (or it is not on the library path)");
}

std::shared_ptr<CudaDevice> make_device(int index) {
  require_driver();
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();
    int driver = 0;
    cudaDriverGetVersion(&driver);
    if (e == cudaErrorInsufficientDriver)
      fail("CUDA is not usable: the NVIDIA driver supports CUDA ", driver / 1000, ".", (driver % 1000) / 10,
           ", older than the CUDA ", CUDART_VERSION / 1000, ".", (CUDART_VERSION % 1000) / 10,
           " runtime graft was built with");
    if (e == cudaErrorNoDevice) fail("CUDA is not usable: the NVIDIA driver reports no GPU (cuda:", index, " asked for)");
    fail("CUDA is not usable: cudaGetDeviceCount failed with ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ")");
  }
  GRAFT_CHECK(count > 0, "CUDA is not usable: the NVIDIA driver reports no GPU (cuda:", index, " asked for)");
  GRAFT_CHECK(index >= 0 && index < count, "GPU cuda:", index, " asked for, but ", count,
              count == 1 ? " GPU is" : " GPUs are", " visible (cuda:0", count > 1 ? " to cuda:" + std::to_string(count - 1) : std::string(),
              ")");
  auto d = std::make_shared<CudaDevice>(index);
  // The backend's kernels are compiled for CMAKE_CUDA_ARCHITECTURES (sm_90 + PTX by default): on an older
  // GPU nothing could run, so say so now rather than at the first kernel.
  {
    DeviceGuard g(index);
    cudaError_t k = check_kernel_image();
    if (k != cudaSuccess) {
      cudaGetLastError();
      fail("GPU cuda:", index, " (", d->props().name, ", compute capability ", d->props().major, ".",
           d->props().minor, ") cannot run graft's CUDA kernels: ", cudaGetErrorString(k),
           " (rebuild with CMAKE_CUDA_ARCHITECTURES naming it)");
    }
  }
  return d;
}

}  // namespace

std::shared_ptr<CudaDevice> cuda_device(int index) {
  static std::mutex mu;
  static auto* devices = new std::map<int, std::shared_ptr<CudaDevice>>();  // never destroyed: see ~CudaDevice
  std::lock_guard<std::mutex> lock(mu);
  auto it = devices->find(index);
  if (it != devices->end()) return it->second;
  auto d = make_device(index);
  register_device(d);
  (*devices)[index] = d;
  return d;
}

}  // namespace graft::cuda
