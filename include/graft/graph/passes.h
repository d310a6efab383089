#pragma once
// Graph-to-graph passes run before compilation. Each rebuilds the graph in topological order, so a
// rewrite may emit any number of new ops for one old op; unreachable ops vanish on the way (dead-code
// elimination), while parameters always stay so the graph keeps its signature.
#include <functional>
#include <optional>

#include "graft/graph/graph.h"

namespace graft {

// Runs one op on host tensors whose operands are all known, or returns nullopt when it cannot: how passes
// fold constants and how the ONNX importer evaluates values known while tracing. Backends provide one
// (graft::host_evaluator() in graft/backend/backend.h); the graph layer only calls it.
using OpEvaluator = std::function<std::optional<std::vector<Tensor>>(
    const Op& op, const std::vector<ValueType>& input_types, const std::vector<Tensor>& inputs)>;

struct PassOptions {
  bool simplify = true;  // algebraic identities: transpose/reshape chains, x*1, x+0, double negation
  bool cse = true;       // common-subexpression elimination
  // Expands composite ops for which this returns false (all, when unset).
  std::function<bool(const Op& composite)> keep_composite;
  // Evaluates an op whose operands are all constants; nullopt leaves it in place. Unset: no folding.
  OpEvaluator fold;
  bool drop_stop_gradient = true;  // StopGradient is the identity once gradients are built
};

// Runs the passes above until nothing changes (at most a few rounds). The result has the same
// parameters (same order and types) and outputs as `g`.
Graph optimize(const Graph& g, const PassOptions& options);

// Removes ops that no output depends on (parameters are kept).
Graph eliminate_dead_code(const Graph& g);

}  // namespace graft
