#pragma once
// TensorProto <-> Tensor, and ONNX element types <-> DType.
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <onnx/onnx_pb.h>

#include "graft/core/tensor.h"

namespace graft::onnx {

// The graft dtype of an ONNX TensorProto.DataType, or nullopt (string, complex, float8, 4-bit types).
std::optional<DType> dtype_from_onnx(int32_t data_type);
int32_t dtype_to_onnx(DType t);
std::string onnx_elem_type_name(int32_t data_type);  // "float", "int64", "string", ...
// "tensor(float)", "seq(tensor(int64))", "optional(tensor(float))", "map(int64,tensor(float))"
std::string type_proto_str(const ::onnx::TypeProto& t);

// An external-data file opened once and read with pread.
struct DataFile {
  std::filesystem::path path;
  int fd = -1;
  ~DataFile();
};

// Resolves and reads external-data files below one folder. Locations must be relative and stay inside the
// folder by name; after following symlinks too (checked again on the opened file, so a symlink swapped in
// between cannot redirect the read) unless `allow_symlinks` (LoadOptions::allow_external_symlinks); and
// every offset/length must lie inside the file. The bytes are copied into
// the tensor rather than mapped: a file truncated or rewritten while the model is in use then gives an error
// naming it (a short read), never a SIGBUS in whatever touches the weights later.
class ExternalDataStore {
 public:
  explicit ExternalDataStore(std::filesystem::path base_dir, bool allow_symlinks = false)
      : base_dir_(std::move(base_dir)), allow_symlinks_(allow_symlinks) {}
  // The bytes of tensor `t` (whose data_location is EXTERNAL) for `dtype` and `shape`.
  Tensor load(const ::onnx::TensorProto& t, DType dtype, const Shape& shape);
  const std::filesystem::path& base_dir() const { return base_dir_; }

 private:
  std::shared_ptr<DataFile> open(const std::filesystem::path& resolved, const std::filesystem::path& base,
                                 const std::optional<std::filesystem::path>& blobs, const std::string& tensor);
  std::filesystem::path base_dir_;
  bool allow_symlinks_ = false;
  std::mutex mutex_;
  std::map<std::filesystem::path, std::shared_ptr<DataFile>> files_;
};

// The value of a TensorProto (raw_data, typed fields, or external data through `store`, which may be null
// for models without a folder). `what` says where it comes from for error messages.
Tensor tensor_from_proto(const ::onnx::TensorProto& t, ExternalDataStore* store, const std::string& what);
// Element count implied by the proto's dims.
int64_t proto_num_elements(const ::onnx::TensorProto& t);

}  // namespace graft::onnx
