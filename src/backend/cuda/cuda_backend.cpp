// graft::cuda_backend(): one Backend per GPU, compiling graphs into CUDA executables (executable.cpp).
#include <map>
#include <mutex>

#include "backend/cuda/executable.h"
#include "backend/cuda/runtime.h"
#include "graft/backend/cuda.h"

namespace graft {

namespace {

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(std::shared_ptr<cuda::CudaDevice> device) : device_(std::move(device)) {}
  std::string name() const override { return device_->name(); }
  std::unique_ptr<Executable> compile(const Graph& graph, const CompileOptions& options) override {
    return cuda::compile_cuda(device_, graph, options);
  }
  std::shared_ptr<Device> device() const override { return device_; }

 private:
  std::shared_ptr<cuda::CudaDevice> device_;
};

}  // namespace

std::shared_ptr<Backend> cuda_backend(int device) {
  static std::mutex mu;
  static auto* backends = new std::map<int, std::shared_ptr<Backend>>();  // lives as long as the devices
  std::lock_guard<std::mutex> lock(mu);
  auto it = backends->find(device);
  if (it != backends->end()) return it->second;
  auto b = std::make_shared<CudaBackend>(cuda::cuda_device(device));
  (*backends)[device] = b;
  return b;
}

bool cuda_available(std::string* why) {
  try {
    cuda_backend(0);
    return true;
  } catch (const Error& e) {
    if (why) *why = e.what();
    return false;
  }
}

bool built_with_cuda() { return true; }

}  // namespace graft
