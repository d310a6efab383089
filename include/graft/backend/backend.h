#pragma once
// Backend / Executable: a Backend compiles a Graph (its parameters in, its outputs out) into an
// Executable that runs it many times. Shapes are static in a compiled graph; see Exec for caching
// per input signature.
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "graft/graph/graph.h"
#include "graft/graph/passes.h"

namespace graft {

// The arithmetic of products (DotGeneral, Convolution) and attention. F32: as written. BF16 / F16
// (autocast): f32 operands of those ops are rounded to 16 bits and multiplied with f32 accumulation and
// f32 results; everything else (norms, softmax, reductions, losses, optimizer updates) stays f32.
// CUDA: both. CPU: BF16 on oneDNN's bf16 primitives where the CPU has AVX512-BF16 or AMX; F16, or BF16
// without them, runs f32 with a note on stderr (oneDNN's f16 products need AVX512-FP16).
enum class Precision : uint8_t { F32, BF16, F16 };

struct CompileOptions {
  bool fold_constants = true;
  bool eliminate_common_subexpressions = true;
  bool simplify = true;
  bool fuse_elementwise = true;
  bool fuse_matmul_epilogues = true;  // bias add and relu/gelu after a product run inside it
  bool fuse_conv_epilogues = true;  // bias add, residual add and relu/clip after a convolution run inside it
  bool conv_channels_last = true;  // values passed only between convolutions are stored channels-last (NHWC)
  bool fuse_attention = true;  // product -> scale -> mask -> softmax -> product chains run as one kernel
  // Integer products of 8-bit operands (ONNX MatMulInteger, with the Cast + scale Mul after it) run on
  // oneDNN's int8 matmul (CPU).
  bool int8_products = true;
  // MatMulNBits (2/4/8-bit weight-only) weights whose f32 form is at most this many bytes are dequantized
  // once at compile time and run as f32 products (fastest for small models); larger ones stay packed and are
  // dequantized panel by panel inside the product (CPU backend; 0: always packed).
  size_t nbits_dequantize_max_bytes = size_t(16) << 20;
  // Models stored in float16 (f16 weights, f16 ops between a Cast of the inputs and a Cast of the
  // outputs) compute in f32: f16 constants are widened once at compile time and the ops between them
  // run on f32 kernels, keeping the f16 rounding only where ONNX Runtime keeps it (CPU backend,
  // backend/cpu/widen_f16.h).
  bool widen_f16 = true;
  bool use_fused_composites = true;  // run softmax/layer_norm/... with fused kernels where the backend has them
  // f32 products may run on TF32 tensor cores (CUDA): ~10 bits of mantissa per operand, relative
  // errors near 1e-3 instead of 1e-6. Off by default so results match the CPU's.
  bool allow_tf32 = false;
  Precision precision = Precision::F32;
};

struct ExecutableStats {
  int num_kernels = 0;          // steps run per call
  int num_fused_groups = 0;     // element-wise chains fused into one kernel
  int num_fused_epilogues = 0;  // products that absorbed a bias add (and activation)
  int num_fused_attention = 0;  // attention chains run by the fused attention kernel
  int num_fused_conv_epilogues = 0;  // convolutions that absorbed a bias / residual add / relu or clip
  int num_quantized_products = 0;    // products and convolutions of 8-bit operands run on int8 kernels
  int num_bf16_kernels = 0;          // products, convolutions and attention run in bf16 (precision BF16)
  int num_f16_values_widened = 0;    // f16 values computed in f32 instead (CompileOptions::widen_f16)
  int num_channels_last_values = 0;  // values stored channels-last between convolutions (conv_channels_last)
  size_t arena_bytes = 0;       // intermediate memory, planned once
  size_t constant_bytes = 0;    // the compiled graph's constants (weights as stored; kernels' own copies apart)
  size_t naive_bytes = 0;       // what the intermediates would take without buffer reuse
  double compile_ms = 0;
};

class Executable {
 public:
  virtual ~Executable() = default;
  // Inputs in the order of the graph's parameters; their dtypes and shapes must match exactly.
  virtual std::vector<Tensor> run(std::span<const Tensor> inputs) = 0;
  std::vector<Tensor> run(std::initializer_list<Tensor> inputs) { return run(std::span<const Tensor>(inputs.begin(), inputs.size())); }
  // Writes the results into `outputs`, preallocated tensors of the output types that share no buffer
  // with the inputs: a training step double-buffers its variables this way and allocates nothing.
  virtual void run_into(std::span<const Tensor> inputs, std::span<Tensor> outputs) = 0;
  const std::vector<ValueType>& input_types() const { return input_types_; }
  const std::vector<ValueType>& output_types() const { return output_types_; }
  const ExecutableStats& stats() const { return stats_; }

 protected:
  std::vector<ValueType> input_types_, output_types_;
  ExecutableStats stats_;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual std::unique_ptr<Executable> compile(const Graph& graph, const CompileOptions& options = {}) = 0;
  // The device whose memory the executables' results live in (tensor.to_device(backend->device())), or
  // nullptr for a host backend.
  virtual std::shared_ptr<Device> device() const { return nullptr; }
};

// The CPU backend (oneDNN for products and convolutions, own vectorized kernels for the rest).
std::shared_ptr<Backend> cpu_backend();

// The backend for a device spec: "cpu", "cuda" (device 0) or "cuda:N". An empty spec reads the
// environment variable GRAFT_DEVICE, and means "cpu" when that is unset or empty. Unknown specs, and
// CUDA where graft was built without it or no GPU/driver is usable, are errors that say which.
// (Defined in graft_backend_device; see graft/backend/cuda.h for the CUDA backend itself.)
std::shared_ptr<Backend> backend_for_device(std::string_view spec = {});

// Evaluates single ops on host tensors with the CPU backend's kernels (nullopt for an op it has no
// kernel for). Constant folding, the ONNX importer's known values and staged tracing use it; any
// backend may fold constants with it, since folded values are host tensors anyway.
OpEvaluator host_evaluator();

// Threads used by graft's kernels and oneDNN alike (0: all cores). Process-wide.
void set_num_threads(int n);
int num_threads();

}  // namespace graft
