// cuBLASLt and NVRTC, loaded when the CUDA backend first calls them, not when a program starts.
//
// Why: libcublasLt is a 600 MB library whose start-up relocations alone take about a second and 250 MB
// of memory in every process that links it — every `graft` command (`graft --version` included) and
// every test binary paid that, GPU or not. The backend instead defines the few entry points it uses
// (below, with the toolkit's own declarations from <cublasLt.h> and <nvrtc.h>, so the compiler checks
// every signature) and forwards each call to the real library, opened with dlopen on first use.
//
// Where the libraries are looked for: the dynamic loader's usual search (LD_LIBRARY_PATH, the loader
// cache), then the CUDA toolkit graft was built against (GRAFT_CUDA_LIBRARY_DIR), then
// /usr/local/cuda/lib64. A library that cannot be loaded is a graft::Error naming it and the loader's
// reason, raised by the call that needed it.
#include <cublasLt.h>
#include <dlfcn.h>
#include <nvrtc.h>

#include <mutex>
#include <string>

#include "graft/core/error.h"

#ifndef GRAFT_CUDA_LIBRARY_DIR
#define GRAFT_CUDA_LIBRARY_DIR "/usr/local/cuda/lib64"
#endif
#ifndef GRAFT_CUDA_MAJOR
#define GRAFT_CUDA_MAJOR "13"
#endif

namespace graft::cuda {
namespace {

class Library {
 public:
  explicit Library(std::string stem) : soname_(stem + ".so." GRAFT_CUDA_MAJOR) {}

  // The address of `symbol`, loading the library on the first call; a graft::Error when either fails.
  void* symbol(const char* name) {
    std::call_once(once_, [this] { open(); });
    if (!handle_)
      fail("CUDA backend: cannot load ", soname_, " (", reason_,
           "); install the CUDA ", GRAFT_CUDA_MAJOR, " libraries or add their folder to LD_LIBRARY_PATH");
    void* f = dlsym(handle_, name);
    if (!f) fail("CUDA backend: ", soname_, " has no ", name, " (", dlerror(), "): an older CUDA ", GRAFT_CUDA_MAJOR, "?");
    return f;
  }

  bool loadable() {
    std::call_once(once_, [this] { open(); });
    return handle_ != nullptr;
  }

 private:
  void open() {
    for (const std::string& path : {soname_, std::string(GRAFT_CUDA_LIBRARY_DIR) + "/" + soname_,
                                    std::string("/usr/local/cuda/lib64/") + soname_}) {
      handle_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (handle_) return;
      if (reason_.empty()) reason_ = dlerror();
    }
  }

  std::string soname_, reason_;
  std::once_flag once_;
  void* handle_ = nullptr;
};

Library& cublas_lt() {
  static Library lib("libcublasLt");
  return lib;
}
Library& nvrtc() {
  static Library lib("libnvrtc");
  return lib;
}

// The library's function `name`, typed as the header declares it; resolved once per entry point.
#define GRAFT_LAZY(lib, name) \
  static const auto real = reinterpret_cast<decltype(&::name)>(lib().symbol(#name))

}  // namespace
}  // namespace graft::cuda

using graft::cuda::cublas_lt;
using graft::cuda::nvrtc;

extern "C" {

// ---- cuBLASLt ----------------------------------------------------------------------------------------

cublasStatus_t cublasLtCreate(cublasLtHandle_t* handle) {
  GRAFT_LAZY(cublas_lt, cublasLtCreate);
  return real(handle);
}

// Names of statuses are wanted while reporting another failure: never fail here.
const char* cublasLtGetStatusName(cublasStatus_t status) {
  if (!cublas_lt().loadable()) return "CUBLAS_STATUS_(libcublasLt not loaded)";
  GRAFT_LAZY(cublas_lt, cublasLtGetStatusName);
  return real(status);
}

const char* cublasLtGetStatusString(cublasStatus_t status) {
  if (!cublas_lt().loadable()) return "libcublasLt could not be loaded";
  GRAFT_LAZY(cublas_lt, cublasLtGetStatusString);
  return real(status);
}

cublasStatus_t cublasLtMatmul(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc, const void* alpha, const void* a,
                              cublasLtMatrixLayout_t a_desc, const void* b, cublasLtMatrixLayout_t b_desc,
                              const void* beta, const void* c, cublasLtMatrixLayout_t c_desc, void* d,
                              cublasLtMatrixLayout_t d_desc, const cublasLtMatmulAlgo_t* algo, void* workspace,
                              size_t workspace_bytes, cudaStream_t stream) {
  GRAFT_LAZY(cublas_lt, cublasLtMatmul);
  return real(handle, desc, alpha, a, a_desc, b, b_desc, beta, c, c_desc, d, d_desc, algo, workspace, workspace_bytes,
              stream);
}

cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc,
                                              cublasLtMatrixLayout_t a_desc, cublasLtMatrixLayout_t b_desc,
                                              cublasLtMatrixLayout_t c_desc, cublasLtMatrixLayout_t d_desc,
                                              cublasLtMatmulPreference_t preference, int requested,
                                              cublasLtMatmulHeuristicResult_t results[], int* returned) {
  GRAFT_LAZY(cublas_lt, cublasLtMatmulAlgoGetHeuristic);
  return real(handle, desc, a_desc, b_desc, c_desc, d_desc, preference, requested, results, returned);
}

cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t* desc, cublasComputeType_t compute,
                                        cudaDataType_t scale) {
  GRAFT_LAZY(cublas_lt, cublasLtMatmulDescCreate);
  return real(desc, compute, scale);
}

cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t desc) {
  GRAFT_LAZY(cublas_lt, cublasLtMatmulDescDestroy);
  return real(desc);
}

cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attr,
                                              const void* buf, size_t bytes) {
  GRAFT_LAZY(cublas_lt, cublasLtMatmulDescSetAttribute);
  return real(desc, attr, buf, bytes);
}

cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t* pref) {
  GRAFT_LAZY(cublas_lt, cublasLtMatmulPreferenceCreate);
  return real(pref);
}

cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t pref) {
  GRAFT_LAZY(cublas_lt, cublasLtMatmulPreferenceDestroy);
  return real(pref);
}

cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t pref,
                                                    cublasLtMatmulPreferenceAttributes_t attr, const void* buf,
                                                    size_t bytes) {
  GRAFT_LAZY(cublas_lt, cublasLtMatmulPreferenceSetAttribute);
  return real(pref, attr, buf, bytes);
}

cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t* layout, cudaDataType type, uint64_t rows,
                                          uint64_t cols, int64_t ld) {
  GRAFT_LAZY(cublas_lt, cublasLtMatrixLayoutCreate);
  return real(layout, type, rows, cols, ld);
}

cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t layout) {
  GRAFT_LAZY(cublas_lt, cublasLtMatrixLayoutDestroy);
  return real(layout);
}

cublasStatus_t cublasLtMatrixLayoutSetAttribute(cublasLtMatrixLayout_t layout, cublasLtMatrixLayoutAttribute_t attr,
                                                const void* buf, size_t bytes) {
  GRAFT_LAZY(cublas_lt, cublasLtMatrixLayoutSetAttribute);
  return real(layout, attr, buf, bytes);
}

// ---- NVRTC -------------------------------------------------------------------------------------------

nvrtcResult nvrtcVersion(int* major, int* minor) {
  GRAFT_LAZY(nvrtc, nvrtcVersion);
  return real(major, minor);
}

const char* nvrtcGetErrorString(nvrtcResult result) {
  if (!nvrtc().loadable()) return "NVRTC_ERROR_(libnvrtc not loaded)";
  GRAFT_LAZY(nvrtc, nvrtcGetErrorString);
  return real(result);
}

nvrtcResult nvrtcCreateProgram(nvrtcProgram* prog, const char* src, const char* name, int num_headers,
                               const char* const* headers, const char* const* include_names) {
  GRAFT_LAZY(nvrtc, nvrtcCreateProgram);
  return real(prog, src, name, num_headers, headers, include_names);
}

nvrtcResult nvrtcDestroyProgram(nvrtcProgram* prog) {
  GRAFT_LAZY(nvrtc, nvrtcDestroyProgram);
  return real(prog);
}

nvrtcResult nvrtcCompileProgram(nvrtcProgram prog, int num_options, const char* const* options) {
  GRAFT_LAZY(nvrtc, nvrtcCompileProgram);
  return real(prog, num_options, options);
}

nvrtcResult nvrtcGetProgramLogSize(nvrtcProgram prog, size_t* size) {
  GRAFT_LAZY(nvrtc, nvrtcGetProgramLogSize);
  return real(prog, size);
}

nvrtcResult nvrtcGetProgramLog(nvrtcProgram prog, char* log) {
  GRAFT_LAZY(nvrtc, nvrtcGetProgramLog);
  return real(prog, log);
}

nvrtcResult nvrtcGetCUBINSize(nvrtcProgram prog, size_t* size) {
  GRAFT_LAZY(nvrtc, nvrtcGetCUBINSize);
  return real(prog, size);
}

nvrtcResult nvrtcGetCUBIN(nvrtcProgram prog, char* cubin) {
  GRAFT_LAZY(nvrtc, nvrtcGetCUBIN);
  return real(prog, cubin);
}

}  // extern "C"
