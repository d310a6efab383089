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

#include "graft/onnx/model.h"

namespace graft::onnx {

struct SaveOptions {
  // Keep: inline stays inline, external stays external, unless the inline part would exceed inline_limit
  // (protobuf's 2 GB), in which case large inline tensors move out as with External.
  // Inline: every tensor inline. External: every tensor of at least external_min_bytes goes to one data
  // file beside the model, 64-byte aligned.
  enum class Data { Keep, Inline, External } data = Data::Keep;
  size_t external_min_bytes = 1024;
  std::string external_file;                 // default: "<model file name>.data"
  size_t inline_limit = size_t(2) << 30;     // bytes
};

class ModelWriter {
 public:
  explicit ModelWriter(const Model& model);
  // The value must have the initializer's dtype and shape.
  void set_initializer(const std::string& name, const Tensor& value);
  const std::map<std::string, Tensor>& pending() const { return values_; }
  // Writes the model to `path`; external-data files go beside it under their original relative names.
  void save(const std::filesystem::path& path, const SaveOptions& options = {}) const;

 private:
  Model model_;
  std::map<std::string, Tensor> values_;
};

}  // namespace graft::onnx
