#pragma once
// The CUDA backend: runs graphs on an NVIDIA GPU (docs/gpu.md).
//
//   auto gpu = graft::cuda_backend();          // device 0; throws graft::Error when unusable
//   auto exe = gpu->compile(graph);
//   std::vector<Tensor> out = exe->run({x});  // x on the host or the device; results on the device
//   float v = out[0].data<float>()[0];         // host access copies the result back
//
// Executables take host or device tensors and return device tensors (graft/core/tensor.h): a training
// loop keeps its variables on the GPU and moves only the batch and the loss. graft is linked against
// the CUDA runtime statically and loads the driver (libcuda.so.1) when a CUDA backend is first asked
// for, so binaries run on machines without a GPU, where asking for one is an error that says what is
// missing. A graft built without the CUDA toolkit has these functions too; they report that.
#include <memory>
#include <string>

#include "graft/backend/backend.h"

namespace graft {

// The backend for GPU `device` (one shared instance per device). Throws graft::Error naming what is
// missing: the driver library, a usable GPU (device N of M), or CUDA support in this build.
std::shared_ptr<Backend> cuda_backend(int device = 0);

// Whether cuda_backend(0) would succeed; when not and `why` is given, the reason.
bool cuda_available(std::string* why = nullptr);

// Whether this graft was built with the CUDA backend.
bool built_with_cuda();

}  // namespace graft
