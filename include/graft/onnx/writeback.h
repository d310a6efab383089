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
#include <filesystem>
#include <map>
#include <string>

#include "graft/onnx/external_data.h"
#include "graft/onnx/model.h"

namespace graft::onnx {

class ModelWriter {
 public:
  explicit ModelWriter(const Model& model);
  // The value must have the initializer's dtype and shape.
  void set_initializer(const std::string& name, const Tensor& value);
  const std::map<std::string, Tensor>& pending() const { return values_; }
  // Writes the model to `path`; external-data files go beside it under their original relative names.
  // `data` says where inline tensors go (Placement::Auto keeps inline ones inline and external ones
  // external unless the model would reach 2 GB).
  void save(const std::filesystem::path& path, const ExternalDataOptions& data = {}) const;

 private:
  Model model_;
  std::map<std::string, Tensor> values_;
};

}  // namespace graft::onnx
