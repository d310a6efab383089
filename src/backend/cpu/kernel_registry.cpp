#include "backend/cpu/kernel.h"
#include "backend/cpu/kernels/matmul_nbits.h"
#include "backend/cpu/kernels/resize.h"
#include "backend/cpu/quantized_conv.h"

namespace graft::cpu {

KernelRegistry::KernelRegistry() {
  register_elementwise_kernels(*this);
  register_layout_kernels(*this);
  register_indexing_kernels(*this);
  register_reduction_kernels(*this);
  register_sort_kernels(*this);
  register_pooling_kernels(*this);
  register_linalg_kernels(*this);
  register_convolution_kernels(*this);
  register_control_kernels(*this);
  register_activation_kernels(*this);
  register_normalization_kernels(*this);
  register_attention_kernels(*this);
  register_recurrent_kernels(*this);
  register_quantized_kernels(*this);
  register_resize_kernels(*this);
  register_matmul_nbits_kernels(*this);
  register_quantized_conv_kernels(*this);
}

KernelRegistry& KernelRegistry::get() {
  static KernelRegistry registry;
  return registry;
}

std::string KernelArgs::describe() const {
  std::string s(op_name(op.kind));
  if (op.kind == OpKind::Composite) s += "(" + std::string(std::get<CompositeAttrs>(op.attrs).name()) + ")";
  if (!op.name.empty()) s += " \"" + op.name + "\"";
  return s;
}

std::unique_ptr<Kernel> make_kernel(const KernelArgs& args) {
  const KernelRegistry& r = KernelRegistry::get();
  KernelFactory f = r.find(args.op);
  GRAFT_CHECK(f, "the CPU backend has no kernel for ", args.describe());
  std::unique_ptr<Kernel> k = f(args);
  GRAFT_CHECK(k, "the CPU backend has no kernel for ", args.describe(), " with operands of types ", [&] {
    std::string s;
    for (const ValueType& t : args.inputs) s += (s.empty() ? "" : ", ") + t.str();
    return s;
  }());
  return k;
}

}  // namespace graft::cpu
