#pragma once
// Element-wise fusion: chains of floating-point element-wise ops over one output shape become a single
// cpu.elementwise op (ElementwiseGroup, backend/cpu/lowered.h) holding an EwProgram, so intermediates never
// travel through memory.
#include "graft/graph/graph.h"

namespace graft::cpu {

// Returns the rewritten graph; *groups is the number of fused ops created.
Graph fuse_elementwise(const Graph& g, int* groups);

}  // namespace graft::cpu
