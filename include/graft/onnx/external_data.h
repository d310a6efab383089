#pragma once
// ONNX external data: initializer bytes stored in files beside the model (`location`, `offset`, `length`
// entries of a TensorProto) instead of inside it, which protobuf needs past 2 GB.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace graft::onnx {

// An external-data file that initializers of a model name (Model::external_data_files()).
struct ExternalDataFile {
  std::string location;        // as the model names it, relative to the model's folder
  std::filesystem::path path;  // where it is looked up (empty for a model from memory without a folder)
  int tensors = 0;             // initializers stored in it
  uint64_t bytes_needed = 0;   // the end of the furthest tensor in it (offset + length)
  bool present = false;        // a regular file (or a symlink to one) exists at `path`
  uint64_t size = 0;           // its size in bytes when present
};

// Where initializer data goes when a model is written: by save_graph (ExportOptions::data) and by
// ModelWriter::save. One data file at most is written, beside the model, tensors 64-byte aligned; files
// are written to a temporary name and renamed.
struct ExternalDataOptions {
  enum class Placement {
    // Inline, unless the model would reach inline_limit (protobuf's 2 GB): then every inline tensor of at
    // least min_bytes moves to the data file. ModelWriter keeps tensors that were external external.
    Auto,
    Inline,    // every tensor inline (an error past inline_limit); ModelWriter brings external ones in
    External,  // every tensor of at least min_bytes goes to the data file
  };
  Placement placement = Placement::Auto;
  size_t min_bytes = 1024;
  std::string file;                       // the data file's name; default "<model file name>.data"
  size_t inline_limit = size_t(2) << 30;  // bytes
};

}  // namespace graft::onnx
