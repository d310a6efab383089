// backend_for_device(): the one place that turns a device spec ("cpu", "cuda", "cuda:1", or
// GRAFT_DEVICE) into a backend, for the command line and the library alike.
#include <cstdlib>
#include <string>

#include "graft/backend/backend.h"
#include "graft/backend/cuda.h"

namespace graft {

#if !GRAFT_HAS_CUDA
// This graft was built without the CUDA toolkit: CUDA exists only as a clear error.
std::shared_ptr<Backend> cuda_backend(int device) {
  fail("cuda:", device, " asked for, but this graft was built without CUDA (the CUDA toolkit was not found when it was "
       "configured, or GRAFT_WITH_CUDA=OFF)");
}

bool cuda_available(std::string* why) {
  if (why) *why = "this graft was built without CUDA";
  return false;
}

bool built_with_cuda() { return false; }
#endif

std::shared_ptr<Backend> backend_for_device(std::string_view spec) {
  std::string s(spec);
  std::string from = "device spec";
  if (s.empty()) {
    const char* env = std::getenv("GRAFT_DEVICE");
    s = env ? env : "";
    from = "GRAFT_DEVICE";
    if (s.empty()) return cpu_backend();
  }
  if (s == "cpu") return cpu_backend();
  if (s == "cuda" || s == "gpu") return cuda_backend(0);
  if (s.rfind("cuda:", 0) == 0) {
    const std::string n = s.substr(5);
    GRAFT_CHECK(!n.empty() && n.size() <= 4 && n.find_first_not_of("0123456789") == std::string::npos, from, " '", s,
                "': expected cuda:N with N a GPU number");
    return cuda_backend(std::stoi(n));
  }
  fail(from, " '", s, "' is not a device: expected cpu, cuda or cuda:N");
}

}  // namespace graft
