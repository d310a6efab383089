// Device specs -> backends (graft/app/device.h).
#include "graft/app/device.h"

#include <cstdlib>

#include "graft/app/errors.h"

namespace graft::app {

std::string device_name(const std::string& spec) {
  if (!spec.empty()) return spec;
  const char* env = std::getenv("GRAFT_DEVICE");
  return env && *env ? std::string(env) : std::string("cpu");
}

std::shared_ptr<Backend> backend_for(const std::string& spec) {
  const std::string name = device_name(spec);
  const std::string from = spec.empty() ? "GRAFT_DEVICE=" + name : "--device " + name;
  if (name == "cpu") return cpu_backend();
  bool cuda = name == "cuda";
  if (name.rfind("cuda:", 0) == 0) {
    std::string n = name.substr(5);
    cuda = !n.empty() && n.find_first_not_of("0123456789") == std::string::npos;
  }
  if (!cuda) usage_error(from, ": unknown device (expected cpu, cuda or cuda:N)");
  // Wiring point for graft::backend_for_device(name) once the CUDA backend is on this branch.
  fail(from, ": this graft was built without the CUDA backend; use --device cpu");
}

}  // namespace graft::app
