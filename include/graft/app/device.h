#pragma once
// Which backend runs a pipeline: `--device cpu|cuda[:N]` on the command line, GRAFT_DEVICE in the
// environment.
#include <memory>
#include <string>

#include "graft/backend/backend.h"

namespace graft::app {

// The backend for a device spec: "cpu", "cuda" or "cuda:N"; an empty spec reads GRAFT_DEVICE and means
// "cpu" when that is unset too. A spec that is none of these is an app::UsageError naming it; a device
// this build or machine cannot use is a graft::Error saying so.
//
// The one place pipelines and the command line choose a backend. The CUDA backend's chooser,
// graft::backend_for_device (graft/backend/backend.h, being added with src/backend/cuda), is not on this
// branch yet: until it is, "cuda" specs are refused here with a message saying so, and this function is
// where that call goes.
std::shared_ptr<Backend> backend_for(const std::string& spec = {});

// The spec as given, or GRAFT_DEVICE's value, or "cpu": for messages and reports.
std::string device_name(const std::string& spec = {});

}  // namespace graft::app
