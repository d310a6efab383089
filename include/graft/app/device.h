#pragma once
// Which backend runs a pipeline: `--device cpu|cuda[:N]` on the command line, GRAFT_DEVICE in the
// environment.
#include <memory>
#include <string>

#include "graft/backend/backend.h"

namespace graft::app {

// The backend for a device spec: "cpu", "cuda" or "cuda:N"; an empty spec reads GRAFT_DEVICE and means
// "cpu" when that is unset too. A spec that is none of these is an app::UsageError naming it (and where it
// came from: --device or GRAFT_DEVICE); a well-formed one is graft::backend_for_device's, whose errors
// (graft built without CUDA, no such GPU) are graft::Errors. The one place pipelines and the command line
// choose a backend.
std::shared_ptr<Backend> backend_for(const std::string& spec = {});

// The spec as given, or GRAFT_DEVICE's value, or "cpu": for messages and reports.
std::string device_name(const std::string& spec = {});

}  // namespace graft::app
