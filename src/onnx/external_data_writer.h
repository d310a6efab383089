#pragma once
// The one external-data writer: decides which tensors of a model being saved stay inline and which move
// to the data file, under ExternalDataOptions, and writes that file. save_graph (export/exporter.cpp) and
// ModelWriter::save (writeback.cpp) both end here.
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "graft/core/tensor.h"
#include "graft/onnx/external_data.h"

namespace graft::onnx {

// An inline tensor of the model being saved. When `has_data` is false its proto holds no data yet (an
// exported initializer): it gets `value` as raw_data unless it moves out. When true its proto already
// holds its value and is left byte for byte as it is unless it moves out; `value` may then be left
// undefined and `load` gives it only if it does (so a large model is not decoded just to be saved).
struct InlineTensor {
  ::onnx::TensorProto* proto = nullptr;
  Tensor value;
  bool has_data = false;
  std::function<Tensor()> load;
};

// Places every tensor of `tensors` (inline or in the data file) and writes the data file beside
// `model_path` when any tensor moved; the caller serializes `model` afterwards. `who` prefixes errors
// ("export", "ModelWriter"); `taken` lists data-file names the model already uses (an error to reuse).
void place_tensor_data(::onnx::ModelProto& model, std::vector<InlineTensor>& tensors,
                       const std::filesystem::path& model_path, const ExternalDataOptions& options,
                       const std::string& who, const std::set<std::string>& taken = {});

// Clears every data field of `t` (raw_data, the typed fields, external entries) and sets `value` as its
// raw_data, inline.
void set_inline_data(::onnx::TensorProto& t, const Tensor& value);

}  // namespace graft::onnx
