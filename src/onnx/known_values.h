#pragma once
// Computing values of a traced graph on the host while tracing (shape arithmetic, staged values), op by op,
// with the OpEvaluator the caller injected (TraceOptions::evaluate). The importer never compiles or calls a
// backend itself: whoever traces decides how single ops are evaluated (InferenceSession passes
// graft::host_evaluator()).
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "graft/graph/passes.h"

namespace graft::onnx {

// Outputs of ops already computed, by op index (of one graph).
using OpValues = std::map<int, std::vector<Tensor>>;
// The value of a Parameter op (by op index), or nullopt when it has none: evaluation then fails.
using ParameterValue = std::function<std::optional<Tensor>(int op_index)>;

// Computes `root` of `graph`, reusing and extending `memo`: only ops `root` depends on and that `memo` does
// not hold yet are evaluated, in order, each with `evaluate`. Composites the evaluator cannot run are
// computed through their decomposition. Returns nullopt when some op cannot be evaluated (no kernel, or a
// parameter without a value); errors of the evaluator itself (bad data) propagate.
std::optional<Tensor> evaluate_on_host(const Graph& graph, ValueRef root, const OpEvaluator& evaluate,
                                       OpValues& memo, const ParameterValue& parameter);

}  // namespace graft::onnx
