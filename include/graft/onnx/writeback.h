#pragma once
// Writing new initializer values back into an ONNX model and saving it.
//
//   graft::onnx::ModelWriter w(model);
//   w.set_initializer("classifier.weight", new_weight);
//   w.save("out/model.onnx");
//
// Only the initializers you set change: inline ones get new raw_data, external ones are patched at their
// offsets in a copy of their external-data file; every other byte (graph, metadata, other tensors, the
// rest of the data files) stays as it was. Files are written atomically (temp file + rename).
//
// The main graph can also grow: new initializers, new nodes after the existing ones, new graph outputs
// replacing the old ones, and symbolic input extents. That is how an imported encoder gets a pooling layer
// and a classification head appended while keeping its dynamic batch and sequence axes (graft/app/finetune.h).
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "graft/onnx/external_data.h"
#include "graft/onnx/model.h"

namespace graft::onnx {

// An attribute value of a node added with ModelWriter::add_node.
using NodeAttribute = std::variant<int64_t, float, std::vector<int64_t>, std::string>;
struct NodeSpec {
  std::string op_type;  // default domain (ai.onnx), at the model's opset
  std::vector<std::string> inputs, outputs;
  std::map<std::string, NodeAttribute> attributes;
  std::string name;  // default: the first output's name
};
// A graph output (or a new declaration of an input): a tensor of `dtype` with these axes (Dim::symbol for
// named dynamic axes, value >= 0 for fixed ones).
struct TensorDeclaration {
  std::string name;
  DType dtype = DType::F32;
  std::vector<Dim> dims;
};

class ModelWriter {
 public:
  explicit ModelWriter(const Model& model);
  // The value must have the initializer's dtype and shape.
  void set_initializer(const std::string& name, const Tensor& value);
  const std::map<std::string, Tensor>& pending() const { return values_; }
  // A new value for the tensor of the main-graph Constant node that outputs `output` (weights some exporters
  // keep in Constant nodes, lifted into variables by graft/train/onnx_bridge.h): written into the node's
  // `value` attribute in place, inline. The value must have the constant's dtype and shape.
  void set_constant(const std::string& output, const Tensor& value);
  const std::map<std::string, Tensor>& pending_constants() const { return constants_; }

  // Graph edits, applied in this order by save(): new initializers (the name must be new), nodes appended
  // after the existing ones (they may read any value of the graph), the graph's outputs replaced by
  // `outputs` when set_outputs was called, input declarations replaced.
  void add_initializer(const std::string& name, const Tensor& value);
  void add_node(NodeSpec node);
  void set_outputs(std::vector<TensorDeclaration> outputs);
  void declare_input(TensorDeclaration input);  // an existing graph input's new dtype and axes
  // Writes the model to `path`; external-data files go beside it under their original relative names.
  // `data` says where inline tensors go (Placement::Auto keeps inline ones inline and external ones
  // external unless the model would reach 2 GB).
  void save(const std::filesystem::path& path, const ExternalDataOptions& data = {}) const;

 private:
  Model model_;
  std::map<std::string, Tensor> values_;
  std::map<std::string, Tensor> constants_;  // Constant node output -> new value
  std::vector<std::pair<std::string, Tensor>> added_;
  std::vector<NodeSpec> nodes_;
  std::optional<std::vector<TensorDeclaration>> outputs_;
  std::vector<TensorDeclaration> inputs_;
};

}  // namespace graft::onnx
