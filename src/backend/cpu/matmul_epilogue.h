#pragma once
// Folds a bias add and an activation that follow a matrix product into the product itself, where
// oneDNN applies them while the result is still in registers (its post-ops): DotGeneral -> Add(bias)
// [-> gelu] becomes one cpu.product op (ProductEpilogue, backend/cpu/lowered.h).
#include "graft/graph/graph.h"

namespace graft::cpu {

Graph fuse_matmul_epilogues(const Graph& g, int* fused);

}  // namespace graft::cpu
