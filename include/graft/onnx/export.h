#pragma once
// Graph -> ONNX: writes any graft graph (an imported model with a new head, merged adapters, an ensemble,
// a graph built with the builders) as a new ONNX model.
//
//   graft::Graph g;
//   graft::Node x = g.parameter("x", graft::DType::F32, {1, 384});
//   graft::Node w = g.parameter("head.weight", graft::DType::F32, {384, 2});
//   g.set_outputs({graft::Softmax(graft::MatMul(x, w))});
//   graft::onnx::save_graph(g, "head.onnx", {.output_names = {"probs"}, .weights = {{"head.weight", w_value}}});
//
// Parameters become graph inputs under their names, except those named in `weights`, which become
// initializers holding the given values. Every primitive maps to standard ONNX ops (domain "" only) at the
// chosen opset; composites become their ONNX counterpart where the opset has one (Softmax, LayerNormalization,
// Gelu, ...) and their decomposition otherwise. Shapes are static, as in graft. See docs/export.md.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "graft/core/tensor.h"
#include "graft/graph/graph.h"
#include "graft/onnx/external_data.h"
#include "graft/onnx/model.h"

namespace graft {
class GraphVariables;
}

namespace graft::onnx {

struct ExportOptions {
  int64_t opset = 17;  // default-domain opset, 13..23
  // Names of the graph's outputs, in order; default "output_0", "output_1", ... Missing trailing names
  // take the default.
  std::vector<std::string> output_names;
  // Parameter name -> value: these parameters are stored as initializers (weights) instead of inputs.
  // Each value must have its parameter's dtype and shape; a name that is no parameter is an error.
  std::map<std::string, Tensor> weights;
  // Also list the weights as graph inputs (ONNX's way to let a caller override an initializer).
  bool weights_as_inputs = false;
  std::string graph_name;  // default: the graph's name
  std::string producer_name = "graft", producer_version = "0.1.0";
  std::string doc_string;
  std::map<std::string, std::string> metadata;  // metadata_props
  int64_t ir_version = 0;                       // 0: the lowest IR version the opset needs

  // save_graph only: where initializer data goes (inline unless the model would reach 2 GB, by default).
  ExternalDataOptions data;
};

// The graph as an in-memory ONNX model with every initializer inline (< 2 GB; use save_graph for larger
// models): inspect it, run it with InferenceSession, or serialize() it. Throws graft::Error naming the op
// for anything that cannot be exported.
Model export_graph(const Graph& graph, const ExportOptions& options = {});
// Writes the model (and its external data file, if any) atomically: temp file + rename.
void save_graph(const Graph& graph, const std::filesystem::path& path, const ExportOptions& options = {});

// The weights of a graph built with context variables (a ContextExec/GraphVariables graph): each bound
// variable's parameter name -> the Context's current value. Defined inline: needs graft_context only
// where it is used.
template <typename Vars = GraphVariables>
std::map<std::string, Tensor> variable_weights(const Vars& vars) {
  std::map<std::string, Tensor> out;
  std::vector<Tensor> values = vars.values();
  for (size_t i = 0; i < vars.names().size(); ++i) out[vars.names()[i]] = values[i];
  return out;
}
// export_graph / save_graph with the variables' current values added to options.weights.
template <typename Vars = GraphVariables>
Model export_graph(const Graph& graph, const Vars& vars, ExportOptions options) {
  for (auto& [k, v] : variable_weights(vars)) options.weights.emplace(k, v);
  return export_graph(graph, options);
}
template <typename Vars = GraphVariables>
void save_graph(const Graph& graph, const Vars& vars, const std::filesystem::path& path, ExportOptions options) {
  for (auto& [k, v] : variable_weights(vars)) options.weights.emplace(k, v);
  save_graph(graph, path, options);
}

}  // namespace graft::onnx
