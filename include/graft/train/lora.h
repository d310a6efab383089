#pragma once
// LoRA: low-rank adapters on the weights of an imported ONNX model. A weight W [rows, cols] read by MatMul or
// Gemm gets two trainable variables, "<W's variable>.lora_A" [rows, r] and "<W's variable>.lora_B" [r, cols],
// and the model computes with W + (alpha / r) * A @ B, where W itself is frozen. As in PEFT, A starts
// uniform in +-1/sqrt(rows) (Kaiming-uniform with a = sqrt(5)) and B at zero, so training starts from the
// base model. Only the adapters (and whatever else is left trainable, a new head) get gradients and
// optimizer state.
//
//   Context ctx;  variables_to_context(model, ctx);
//   auto lora = train::add_lora(model, ctx, {.rank = 8, .alpha = 16, .targets = ".*attention.*"});
//   ... train with call_with_variables (it applies the adapters) ...
//   context_to_onnx(model, ctx).save("merged.onnx");   // W + (alpha / r) A B written in place of W
//   train::save_lora(ctx, "adapters.safetensors");      // or the adapters alone, keyed by initializer name
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "graft/context/context.h"
#include "graft/onnx/model.h"

namespace graft::train {

struct LoraOptions {
  int64_t rank = 8;
  double alpha = 16;
  // ECMAScript regex (full match) over initializer names; only 2-D float initializers read as the weight
  // of a MatMul (either operand) or Gemm (B) qualify.
  std::string targets = ".*";
  uint64_t seed = 0;
  // Freeze every imported variable (the adapters are what trains). false: leave the flags as they are
  // (the adapted weights themselves are frozen either way).
  bool freeze_base = true;
};

struct LoraInfo {
  std::vector<std::string> targets;  // initializer names that got adapters
  int64_t parameters = 0;            // elements of all adapters
};

// Adds adapters to the variables imported from `model` (variables_to_context) in `ctx` (any scope: its
// variables are found by origin). An error when nothing matches `targets` or rank < 1.
LoraInfo add_lora(const onnx::Model& model, Context& ctx, const LoraOptions& options = {});

// alpha / rank of the adapters in ctx (0 when it has none).
double lora_scale(const Context& ctx);
// The value of `base` with its adapters merged (W + scale * A @ B, computed in double), or its value when it
// has none.
Tensor lora_merged(const Context& ctx, const Variable& base);

// The adapters alone, as safetensors keyed "<initializer>.lora_A" / ".lora_B" (A [rows, r], B [r, cols]),
// with rank and alpha in the metadata.
void save_lora(const Context& ctx, const std::filesystem::path& path);
// Adds (or sets) the adapters of such a file to the variables of ctx with those initializer origins, for a
// base model imported into ctx; returns how many weights got adapters. Errors name the file and tensor.
int load_lora(Context& ctx, const std::filesystem::path& path);

}  // namespace graft::train
