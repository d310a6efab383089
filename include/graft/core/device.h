#pragma once
// Device: the memory of an accelerator as the core layer sees it. Core knows nothing of CUDA; a backend
// that owns a device (the CUDA backend, graft/backend/cuda.h) implements this interface and registers
// it, and tensors then keep a copy of their data there (see Storage in graft/core/tensor.h).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace graft {

enum class DeviceKind : uint8_t { CPU, CUDA };

class Device {
 public:
  virtual ~Device() = default;
  virtual std::string name() const = 0;  // "cuda:0": what register_device/find_device key it by
  virtual DeviceKind kind() const = 0;
  // Device memory of at least nbytes (nbytes may be 0); throws graft::Error naming the device and the
  // size when it cannot. deallocate() gets the same size back.
  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* p, size_t nbytes) noexcept = 0;
  // Copies that have completed when they return (work queued on the device that writes `src` has
  // finished before the copy reads it).
  virtual void copy_to_host(void* host_dst, const void* device_src, size_t nbytes) = 0;
  virtual void copy_from_host(void* device_dst, const void* host_src, size_t nbytes) = 0;
  virtual void copy_on_device(void* device_dst, const void* device_src, size_t nbytes) = 0;
};

// The process-wide table of devices, filled by backends (the CUDA backend registers "cuda:N" when
// created). Registering a name again replaces the entry.
void register_device(std::shared_ptr<Device> device);
// The registered device of that name ("cuda" means "cuda:0"), or nullptr.
std::shared_ptr<Device> find_device(std::string_view name);

// Host <-> device copies made so far in this process, by tensors (first host access of a device tensor,
// to_device()) and by executables (their inputs and outputs). GRAFT_PROFILE prints them at exit.
struct TransferCounters {
  uint64_t to_device = 0, to_device_bytes = 0;
  uint64_t to_host = 0, to_host_bytes = 0;
};
TransferCounters transfer_counters();
// For backends that copy between host and device memory themselves.
void count_transfer(bool to_device, size_t nbytes);

}  // namespace graft
