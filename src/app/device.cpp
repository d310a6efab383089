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
  bool known = name == "cpu" || name == "cuda";
  if (name.rfind("cuda:", 0) == 0) {
    std::string n = name.substr(5);
    known = !n.empty() && n.size() <= 4 && n.find_first_not_of("0123456789") == std::string::npos;
  }
  if (!known) usage_error(from, ": unknown device (expected cpu, cuda or cuda:N)");
  // A well-formed spec the build or machine cannot serve (no CUDA backend, no GPU N) is the backend
  // chooser's error, a graft::Error saying which; prefix it with where the spec came from.
  try {
    return backend_for_device(name);
  } catch (const Error& e) {
    fail(from, ": ", e.what());
  }
}

}  // namespace graft::app
