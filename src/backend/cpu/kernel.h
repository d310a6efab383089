#pragma once
// The CPU kernel interface. A kernel is built once per op at compile time, with everything that
// depends only on shapes (strides, oneDNN primitives, index tables) precomputed, and then run on raw
// buffers many times.
#include <memory>
#include <span>
#include <vector>

#include "graft/backend/backend.h"
#include "graft/graph/graph.h"
#include "graft/graph/op_table.h"

namespace graft::cpu {

class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual void run(std::span<const void* const> inputs, std::span<void* const> outputs) = 0;
  // True when output 0 may share its buffer with input `i` (an element-wise op reading each input
  // element exactly once before writing the same position).
  virtual bool can_run_in_place(int input) const { return false; }
  // True when the kernel multiplies in bf16 (CompileOptions::precision; counted in ExecutableStats).
  virtual bool runs_bf16() const { return false; }
};

// What a kernel factory gets: the op (kind, attrs, name) with its operand and result types.
struct KernelArgs {
  const Op& op;
  std::vector<ValueType> inputs;
  std::vector<ValueType> outputs;
  const CompileOptions& options;
  // Per operand, its data when it is a compile-time constant of the executable (alive as long as the
  // kernel), else null; may be empty (nothing known constant, e.g. when constant folding). A kernel may
  // precompute from these once (e.g. reorder convolution weights) instead of on every run.
  std::vector<const void*> constant_inputs = {};
  const void* constant_input(size_t i) const { return i < constant_inputs.size() ? constant_inputs[i] : nullptr; }
  // Operands (bit i: input i) and output 0 stored channels-last ([N, spatial..., C]) instead of the
  // graph's [N, C, spatial...]. Set by the executable only between kernels that take it (convolutions,
  // 2-d poolings, element-wise kernels, global reductions; cpu_backend.cpp, channels_last_values).
  uint32_t channels_last_inputs = 0;
  bool channels_last_output = false;
  std::string describe() const;  // `Add "name"` for error messages
};

using KernelFactory = std::unique_ptr<Kernel> (*)(const KernelArgs&);

// One table from op kind to factory; each kernel family registers its ops in register_*().
class KernelRegistry {
 public:
  static KernelRegistry& get();
  void add(OpKind kind, KernelFactory f) { table_.add(kind, f); }
  // Fused kernels for composites, by composite kind (user composites by their name); a composite
  // without one is expanded into primitives before kernels are built.
  void add(CompositeKind kind, KernelFactory f) { table_.add(kind, f); }
  void add_custom_composite(const std::string& name, KernelFactory f) { table_.add_custom(name, f); }
  // The factory for `op` (a composite's fused kernel), or null.
  KernelFactory find(const Op& op) const {
    const KernelFactory* f = table_.find(op);
    return f ? *f : nullptr;
  }
  KernelFactory find(OpKind kind) const {
    const KernelFactory* f = table_.find(kind);
    return f ? *f : nullptr;
  }

 private:
  KernelRegistry();
  OpTable<KernelFactory> table_;
};

// Builds the kernel for an op, or throws naming the op when the CPU backend lacks one.
std::unique_ptr<Kernel> make_kernel(const KernelArgs& args);

// Families (kernels/<family>.cpp, named as the family's builders, gradient rules, converters and
// exporters are).
void register_elementwise_kernels(KernelRegistry& r);
// An element-wise op on the EwProgram engine (a cpu.elementwise group or a single op) with one result of
// rank 3-5: its kernel reads operands and writes its result in either layout (channels-last or NCHW), so it
// may sit between channels-last convolutions (a squeeze-excitation Mul, an activation the convolution did
// not absorb).
bool elementwise_takes_channels_last(const Op& op, std::span<const ValueType> inputs);
void register_layout_kernels(KernelRegistry& r);
void register_indexing_kernels(KernelRegistry& r);
void register_reduction_kernels(KernelRegistry& r);     // Reduce, ArgMinMax, Cumulative
// A Reduce over every spatial axis of a rank 3-5 value (global pooling): its kernel can read the operand
// channels-last, summing rows of channels; the result ([N, C], or with ones) is the same either way.
bool reduce_takes_channels_last(const Op& op, const ValueType& input);
void register_sort_kernels(KernelRegistry& r);          // Sort, TopK
void register_pooling_kernels(KernelRegistry& r);       // ReduceWindow
// A ReduceWindow that pools only the spatial axes of an f32 [N, C, H, W] value: its kernel can read and
// write channels-last ([N, H, W, C]), so it may sit between channels-last convolutions.
bool pooling_takes_channels_last(const Op& op);
void register_linalg_kernels(KernelRegistry& r);        // DotGeneral, cpu.product
void register_convolution_kernels(KernelRegistry& r);   // Convolution, cpu.convolution
void register_control_kernels(KernelRegistry& r);       // If, While
void register_activation_kernels(KernelRegistry& r);    // softmax, log_softmax, gelu, silu
void register_normalization_kernels(KernelRegistry& r); // layer_norm, rms_norm
void register_attention_kernels(KernelRegistry& r);     // cpu.attention
void register_recurrent_kernels(KernelRegistry& r);     // rnn_scan
void register_quantized_kernels(KernelRegistry& r);     // cpu.quantized_product

// Adapts a lambda into a Kernel. `in_place_inputs` is a bit mask of the operands output 0 may overwrite.
inline constexpr uint32_t kAllInputs = ~0u;
template <typename F>
class LambdaKernel final : public Kernel {
 public:
  LambdaKernel(F f, uint32_t in_place_inputs) : f_(std::move(f)), in_place_(in_place_inputs) {}
  void run(std::span<const void* const> in, std::span<void* const> out) override { f_(in, out); }
  bool can_run_in_place(int input) const override { return input < 32 && ((in_place_ >> input) & 1u); }

 private:
  F f_;
  uint32_t in_place_;
};
template <typename F>
std::unique_ptr<Kernel> lambda_kernel(F f, uint32_t in_place_inputs = 0) {
  return std::make_unique<LambdaKernel<F>>(std::move(f), in_place_inputs);
}

}  // namespace graft::cpu
