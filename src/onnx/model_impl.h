#pragma once
// What a loaded Model holds: the ModelProto (kept whole for write-back), where it came from, the
// external-data store, and indexes built once at load. Internal to graft: the public API (graft/onnx/*.h)
// shows no protobuf type.
#include <memory>
#include <mutex>
#include <unordered_map>

#include <onnx/onnx_pb.h>

#include "graft/onnx/model.h"
#include "onnx/tensor_proto.h"

namespace graft::onnx {

struct Model::Impl {
  ::onnx::ModelProto proto;
  std::string source;
  std::filesystem::path base_dir;
  std::unique_ptr<ExternalDataStore> store;
  std::vector<ValueInfo> inputs, outputs;
  std::vector<OpsetImport> opsets;
  std::map<std::string, int64_t> opset_map;  // canonical domain -> version
  std::unordered_map<std::string, int> initializer_index;  // main graph
  std::map<std::string, const ::onnx::FunctionProto*> functions;  // "domain:name"
  mutable std::mutex mutex;
  mutable std::unordered_map<std::string, Tensor> initializer_cache;

  // The value of main-graph initializer `name` (read from external data on first use).
  Tensor initializer(const std::string& name) const;
};

ValueInfo value_info_from_proto(const ::onnx::ValueInfoProto& v);

// A Model around `impl` (Model's constructor is private to keep Impl out of the public API).
Model model_from_impl(std::shared_ptr<Model::Impl> impl);
// A Model of an already parsed (or built) ModelProto: checked and indexed as Model::load does. External
// data is looked up in `base_dir` (none when empty); `what` names it in errors.
Model model_from_proto(::onnx::ModelProto proto, std::filesystem::path base_dir, std::string what);
// The protobuf a Model holds, for code of the onnx layer and tests that read it.
inline const ::onnx::ModelProto& proto_of(const Model& m) { return m.impl()->proto; }

}  // namespace graft::onnx
