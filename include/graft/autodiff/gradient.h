#pragma once
// Reverse-mode automatic differentiation over a graft Graph.
//
//   Graph g;
//   Node w = g.parameter("w", DType::F32, {3, 4});
//   Node x = g.parameter("x", DType::F32, {8, 3});
//   Node loss = ReduceMean(Square(MatMul(x, w)));
//   Node dw = Gradient(loss, w);            // a node of w's type, recorded in the same graph
//   g.set_outputs({loss, dw});
//
// The backward ops are recorded into the graph the outputs live in, with the same builder functions as
// the forward graph, so every backend runs them and the graph passes (CSE, DCE, fusion) see both halves.
// One gradient rule exists per primitive (src/autodiff/rules_*.cpp) and efficient custom rules exist for
// the common composites; other composites are differentiated through their decomposition.
//
// Non-differentiable values get no gradient and are not errors: integer and bool tensors, index operands
// (of Gather, Scatter, DynamicSlice, ...), shapes, and anything behind StopGradient. A `wrt` node the
// outputs do not depend on (or that is not floating point) gets a zero tensor of its own type.
//
// `wrt` may name any node, not only parameters; its gradient is the total derivative of the outputs
// with respect to that value (all paths from it to the outputs).
#include <vector>

#include "graft/graph/graph.h"

namespace graft {

// d loss / d wrt[i] for a floating-point scalar `loss` (rank 0, or a single element).
std::vector<Node> Gradient(Node loss, const std::vector<Node>& wrt);
Node Gradient(Node loss, Node wrt);

// Vector-Jacobian product: sum_j cotangents[j] . d outputs[j] / d wrt[i], for each i. Each cotangent must
// have the type of its output; an invalid (default-constructed) cotangent counts as zero.
std::vector<Node> VJP(std::vector<Node> outputs, std::vector<Node> cotangents, std::vector<Node> wrt);

}  // namespace graft
