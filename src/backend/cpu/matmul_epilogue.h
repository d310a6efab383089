#pragma once
// Folds a bias add, an activation and a residual add that follow a matrix product into the product itself,
// where oneDNN applies them while the result is still in registers (its post-ops): DotGeneral -> Add(bias)
// [-> gelu] [-> Add(residual)] becomes one cpu.product op (ProductEpilogue, backend/cpu/lowered.h). The residual
// add is a transformer's skip connection (x + attention(x)), which would otherwise re-read and rewrite the
// whole activation tensor between the product and the LayerNorm.
#include <optional>
#include <utility>

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

// The Add that is the single reader of op `producer`'s output 0 and adds another f32 value of exactly that
// output's shape (a residual): the Add and the other operand. Both product kernels take it as the last step of
// their epilogue.
std::optional<std::pair<int, ValueRef>> residual_after(const Graph& g, const Uses& u, int producer);

}  // namespace graft::cpu
