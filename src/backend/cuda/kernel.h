#pragma once
// The CUDA kernel interface. A kernel is built once per op when an executable is compiled, with
// everything shape-dependent precomputed (launch parameters, cuBLASLt plans, device tables), and then
// enqueued on the executable's stream on every run, with device pointers that stay fixed for the
// executable's life (so a run can be captured as a CUDA graph and replayed).
//
// Adding a kernel family: write the factories in a kernels/<family>.cpp (host code; device code in a .cu
// declared in kernels/launch.h), register them by op kind in a register_<family>_kernels function, and
// call that from KernelRegistry's constructor (kernel_registry.cpp).
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backend/cuda/kernels/scalar.cuh"
#include "backend/cuda/runtime.h"
#include "graft/backend/backend.h"
#include "graft/graph/graph.h"

namespace graft::cuda {

// What a launch gets: the stream, device pointers of the operands and results (results never alias
// operands), scratch memory of workspace_bytes() (valid during this launch only), and the executable's
// error record for data-dependent errors (out-of-range indices, integer division by zero).
struct LaunchArgs {
  cudaStream_t stream = nullptr;
  std::span<const void* const> in;
  std::span<void* const> out;
  void* workspace = nullptr;
  gs::ErrorRecord* errors = nullptr;
};

class Kernel {
 public:
  virtual ~Kernel() = default;
  // Enqueues the work on a.stream; throws graft::Error (naming the op) when a launch fails.
  virtual void launch(const LaunchArgs& a) = 0;
  virtual size_t workspace_bytes() const { return 0; }
  // False when a launch waits for the device and reads values on the host (If/While read their
  // predicate): such an executable is not captured as a CUDA graph.
  virtual bool capturable() const { return true; }
  // The message for an error this kernel recorded (the executable prefixes the op's kind and name).
  virtual std::string describe_error(const gs::ErrorRecord& e) const;
  // For GRAFT_PROFILE: what ran ("cuBLASLt", "direct", ...), empty when there is nothing to add.
  virtual std::string variant() const { return {}; }
};

// Device memory and services a kernel factory may use; what it allocates lives as long as the executable.
class BuildContext {
 public:
  BuildContext(std::shared_ptr<CudaDevice> device, const CompileOptions& options) : device_(std::move(device)), options_(options) {}
  CudaDevice& device() const { return *device_; }
  const std::shared_ptr<CudaDevice>& device_ptr() const { return device_; }
  const CompileOptions& options() const { return options_; }
  // A device copy of `values`, owned by the executable.
  const int64_t* upload(const std::vector<int64_t>& values);
  // Device memory of `nbytes` owned by the executable (e.g. constant weights converted once).
  void* allocate(size_t nbytes);
  std::vector<std::shared_ptr<DeviceBuffer>>& owned() { return owned_; }

 private:
  std::shared_ptr<CudaDevice> device_;
  const CompileOptions& options_;
  std::vector<std::shared_ptr<DeviceBuffer>> owned_;
};

struct KernelArgs {
  const Op& op;
  int op_id = 0;
  std::vector<ValueType> inputs;
  std::vector<ValueType> outputs;
  BuildContext& ctx;
  // Per operand, its value when it is a compile-time constant (alive as long as the executable), else null.
  std::vector<const Tensor*> constants;
  std::string describe() const;  // `Add "name"` for error messages
  const Tensor* constant(size_t i) const { return i < constants.size() ? constants[i] : nullptr; }
};

using KernelFactory = std::unique_ptr<Kernel> (*)(const KernelArgs&);

// The factory of a kernel class constructible from KernelArgs: r.add(OpKind::Pad, factory<Pad>).
template <class K>
std::unique_ptr<Kernel> factory(const KernelArgs& a) {
  return std::make_unique<K>(a);
}

class KernelRegistry {
 public:
  static KernelRegistry& get();
  void add(OpKind kind, KernelFactory f) { table_[size_t(kind)] = f; }
  KernelFactory find(OpKind kind) const { return table_[size_t(kind)]; }

 private:
  KernelRegistry();
  KernelFactory table_[size_t(OpKind::kCount)] = {};
};

// Builds the kernel for an op, or throws naming the op when there is none.
std::unique_ptr<Kernel> make_kernel(const KernelArgs& args);

// Families (kernels/*.cpp).
void register_layout_kernels(KernelRegistry& r);
void register_reduce_kernels(KernelRegistry& r);
void register_indexing_kernels(KernelRegistry& r);
void register_sort_kernels(KernelRegistry& r);
void register_linalg_kernels(KernelRegistry& r);
void register_convolution_kernels(KernelRegistry& r);
void register_control_kernels(KernelRegistry& r);

// ---- helpers for factories ------------------------------------------------------------------------------

// Row-major element strides of dims.
std::vector<int64_t> strides_of(const std::vector<int64_t>& dims);
// Throws (naming the op) unless `e` is cudaSuccess.
void check_launch(cudaError_t e, const KernelArgs& a, const char* what);
void check_launch(cudaError_t e, const std::string& op, const char* what);

}  // namespace graft::cuda
