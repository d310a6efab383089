#pragma once
// What every backend's Executable::run_into checks before it writes: one output buffer per graph output,
// each of the output's exact dtype and shape, none shared with an input (a training step double-buffers
// its variables through run_into; an aliased buffer would be read after it was overwritten).
#include <span>
#include <string_view>
#include <vector>

#include "graft/core/tensor.h"
#include "graft/graph/graph.h"

namespace graft {

void check_run_into_outputs(std::string_view graph_name, const std::vector<ValueType>& output_types,
                            std::span<const Tensor> inputs, std::span<const Tensor> outputs);

}  // namespace graft
