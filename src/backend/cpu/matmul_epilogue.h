#pragma once
// Folds a bias add and an activation that follow a matrix product into the product itself, where
// oneDNN applies them while the result is still in registers (its post-ops): DotGeneral -> Add(bias)
// [-> gelu] becomes one cpu.product op (ProductEpilogue, backend/cpu/lowered.h).
#include <optional>

#include "backend/cpu/graph_rewrite.h"
#include "backend/cpu/lowered.h"
#include "graft/graph/graph.h"

namespace graft::cpu {

Graph fuse_matmul_epilogues(const Graph& g, int* fused);

// What follows a product's f32 result [..., N] that a product kernel can apply as its epilogue: Add(result,
// bias) with a bias of N values, then optionally a GELU composite, each the single reader of what comes
// before. The int8 products (quantized_product.cpp) take the same epilogue through this matcher.
struct BiasEpilogue {
  int add = -1, act = -1;  // the ops folded in (act: -1 without an activation)
  int bias_input = 0;      // operand index of the bias in the Add
  ProductEpilogue::Activation activation = ProductEpilogue::Activation::None;
  int last() const { return act >= 0 ? act : add; }
};
// `product` is the op whose (single-use, f32) output 0 is the product's result.
std::optional<BiasEpilogue> match_bias_epilogue(const Graph& g, const Uses& u, int product);

}  // namespace graft::cpu
