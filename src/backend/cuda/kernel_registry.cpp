#include "backend/cuda/check.h"
#include "backend/cuda/kernel.h"

namespace graft::cuda {

KernelRegistry::KernelRegistry() {
  register_layout_kernels(*this);
  register_reduce_kernels(*this);
  register_indexing_kernels(*this);
  register_sort_kernels(*this);
  register_linalg_kernels(*this);
  register_convolution_kernels(*this);
  register_control_kernels(*this);
}

KernelRegistry& KernelRegistry::get() {
  static KernelRegistry r;
  return r;
}

std::string KernelArgs::describe() const {
  std::string s(op_name(op.kind));
  if (!op.name.empty()) s += " \"" + op.name + "\"";
  return s;
}

std::unique_ptr<Kernel> make_kernel(const KernelArgs& args) {
  KernelFactory f = KernelRegistry::get().find(args.op.kind);
  GRAFT_CHECK(f != nullptr, args.describe(), ": the CUDA backend has no kernel for ", op_name(args.op.kind));
  std::unique_ptr<Kernel> k = f(args);
  GRAFT_CHECK(k != nullptr, args.describe(), ": the CUDA backend has no kernel for ", op_name(args.op.kind), " on ",
              args.inputs.empty() ? args.outputs[0].str() : args.inputs[0].str());
  return k;
}

std::string Kernel::describe_error(const gs::ErrorRecord& e) const {
  switch (e.code) {
    case gs::kDivisionByZero: return "integer division by zero";
    case gs::kIndexOutOfRange: return "index " + std::to_string(e.a) + " is out of range";
    default: return "error " + std::to_string(e.code) + " reported by the kernel";
  }
}

const int64_t* BuildContext::upload(const std::vector<int64_t>& values) {
  auto buf = device_->buffer(values.size() * sizeof(int64_t));
  device_->copy_from_host(buf->data(), values.data(), values.size() * sizeof(int64_t));
  owned_.push_back(buf);
  return static_cast<const int64_t*>(buf->data());
}

void* BuildContext::allocate(size_t nbytes) {
  auto buf = device_->buffer(nbytes);
  owned_.push_back(buf);
  return buf->data();
}

std::vector<int64_t> strides_of(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (int i = int(dims.size()) - 2; i >= 0; --i) s[size_t(i)] = s[size_t(i + 1)] * dims[size_t(i + 1)];
  return s;
}

void check_launch(cudaError_t e, const std::string& op, const char* what) {
  if (e == cudaSuccess) return;
  cudaGetLastError();
  fail(op, ": launching the CUDA kernel for ", what, " failed: ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ")");
}

void check_launch(cudaError_t e, const KernelArgs& a, const char* what) { check_launch(e, a.describe(), what); }

}  // namespace graft::cuda
