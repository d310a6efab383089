#pragma once
// What a loaded Model holds: the ModelProto (kept whole for write-back), where it came from, the
// external-data store, and indexes built once at load.
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

}  // namespace graft::onnx
