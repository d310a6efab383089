#pragma once
// Node order and structure checks of a loaded ModelProto, done once at load.
//
// ONNX requires a graph's nodes in topological order, but files that break the rule exist and ONNX Runtime
// runs them (converters append nodes: a float16 conversion lists the Cast of the graph input last). Every
// graph, sub-graphs and function bodies included, is sorted here (stably: a well-ordered graph is left as
// it is), so the tracer can walk nodes in order. What cannot be ordered is refused with an error naming the
// node: a name no graph input, initializer, enclosing scope or node defines (truncated or corrupted files),
// a name defined twice, a cycle, sub-graphs nested deeper than kMaxGraphNesting, and model-local functions
// that call themselves.
#include <set>
#include <string>

#include <onnx/onnx_pb.h>

namespace graft::onnx {

// Sorts and checks every graph of `model` in place; `what` names the file in errors.
void order_model_graphs(::onnx::ModelProto& model, const std::string& what);

// Adds to `names` every name `graph` reads: its nodes' inputs and its outputs, sub-graphs at any depth
// included (so a value read only inside an If branch counts as read).
void collect_names_read(const ::onnx::GraphProto& graph, std::set<std::string>& names);

}  // namespace graft::onnx
