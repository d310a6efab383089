// Initializers back into an ONNX model: inline raw_data or patches in external-data files.
#include "graft/onnx/writeback.h"

#include <cstring>
#include <fstream>
#include <vector>

#include "core/atomic_file.h"
#include "onnx/model_impl.h"
#include "onnx/tensor_proto.h"

namespace graft::onnx {

namespace {
std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  GRAFT_CHECK(in, "ModelWriter: cannot read external data file ", p.string());
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
struct ExternalRef {
  std::string location;
  int64_t offset = 0, length = -1;
};
ExternalRef external_ref(const ::onnx::TensorProto& t) {
  ExternalRef r;
  for (const auto& kv : t.external_data()) {
    if (kv.key() == "location") r.location = kv.value();
    else if (kv.key() == "offset") r.offset = std::stoll(kv.value());
    else if (kv.key() == "length") r.length = std::stoll(kv.value());
  }
  return r;
}
void set_raw(::onnx::TensorProto& t, const Tensor& v) {
  t.clear_float_data();
  t.clear_double_data();
  t.clear_int32_data();
  t.clear_int64_data();
  t.clear_uint64_data();
  t.clear_external_data();
  t.set_data_location(::onnx::TensorProto::DEFAULT);
  t.set_raw_data(std::string(static_cast<const char*>(v.raw()), v.nbytes()));
}
}  // namespace

ModelWriter::ModelWriter(const Model& model) : model_(model) {}

void ModelWriter::set_initializer(const std::string& name, const Tensor& value) {
  Tensor cur = model_.initializer(name);  // throws for unknown names
  GRAFT_CHECK(value.dtype() == cur.dtype() && value.shape() == cur.shape(), "ModelWriter: initializer \"", name,
              "\" of ", model_.source(), " is ", dtype_name(cur.dtype()), cur.shape(), ", the new value ",
              dtype_name(value.dtype()), value.shape());
  values_[name] = value.clone();
}

void ModelWriter::save(const std::filesystem::path& path, const SaveOptions& options) const {
  const Model::Impl& m = *model_.impl();
  ::onnx::ModelProto proto = m.proto;
  std::filesystem::path out_dir = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
  std::map<std::string, std::string> files;  // location -> bytes (copied, then patched)
  auto* graph = proto.mutable_graph();
  for (int i = 0; i < graph->initializer_size(); ++i) {
    ::onnx::TensorProto& t = *graph->mutable_initializer(i);
    auto it = values_.find(t.name());
    bool external = t.data_location() == ::onnx::TensorProto::EXTERNAL;
    if (options.data == SaveOptions::Data::Inline) {
      if (external || it != values_.end()) set_raw(t, it != values_.end() ? it->second : model_.initializer(t.name()));
      continue;
    }
    if (external) {
      ExternalRef r = external_ref(t);
      if (!files.count(r.location)) files[r.location] = read_all(m.base_dir / r.location);
      if (it == values_.end()) continue;
      std::string& bytes = files[r.location];
      size_t n = it->second.nbytes();
      GRAFT_CHECK(r.offset >= 0 && size_t(r.offset) + n <= bytes.size() && (r.length < 0 || size_t(r.length) == n),
                  "ModelWriter: external data of \"", t.name(), "\" (", r.location, " at ", r.offset, ") does not fit ", n,
                  " bytes");
      std::memcpy(bytes.data() + r.offset, it->second.raw(), n);
    } else if (it != values_.end()) {
      set_raw(t, it->second);
    }
  }
  if (options.data == SaveOptions::Data::Inline) {
    GRAFT_CHECK(proto.ByteSizeLong() < options.inline_limit, "ModelWriter: ", path.string(),
                " would be over 2 GB inline; keep its external data");
  }
  // Move inline tensors into one external data file on request, or when the model is too big inline.
  bool externalize = options.data == SaveOptions::Data::External ||
                     (options.data == SaveOptions::Data::Keep && proto.ByteSizeLong() >= options.inline_limit);
  std::string data_name = options.external_file.empty() ? path.filename().string() + ".data" : options.external_file;
  std::vector<std::pair<size_t, Tensor>> moved;  // offset, value
  size_t data_size = 0;
  if (externalize) {
    GRAFT_CHECK(!files.count(data_name), "ModelWriter: external data file name ", data_name,
                " is already used by the model");
    for (int i = 0; i < graph->initializer_size(); ++i) {
      ::onnx::TensorProto& t = *graph->mutable_initializer(i);
      if (t.data_location() == ::onnx::TensorProto::EXTERNAL) continue;
      auto it = values_.find(t.name());
      Tensor v = it != values_.end() ? it->second : model_.initializer(t.name());
      if (v.nbytes() < options.external_min_bytes) continue;
      size_t offset = (data_size + 63) / 64 * 64;
      t.clear_raw_data();
      t.clear_float_data();
      t.clear_double_data();
      t.clear_int32_data();
      t.clear_int64_data();
      t.clear_uint64_data();
      t.clear_external_data();
      t.set_data_location(::onnx::TensorProto::EXTERNAL);
      auto add = [&](const char* k, const std::string& val) {
        auto* e = t.add_external_data();
        e->set_key(k);
        e->set_value(val);
      };
      add("location", data_name);
      add("offset", std::to_string(offset));
      add("length", std::to_string(v.nbytes()));
      moved.emplace_back(offset, v);
      data_size = offset + v.nbytes();
    }
    GRAFT_CHECK(proto.ByteSizeLong() < (size_t(2) << 30), "ModelWriter: ", path.string(),
                " is over 2 GB even with its large tensors external");
  }
  for (const auto& [loc, bytes] : files) {
    std::filesystem::path dst = out_dir / loc;
    std::filesystem::create_directories(dst.parent_path());
    write_file_atomically(dst, [&data = bytes](std::ostream& os) {  // (clang 14 cannot capture a structured binding)
      os.write(data.data(), std::streamsize(data.size()));
    });
  }
  std::filesystem::create_directories(out_dir);
  if (externalize) {
    write_file_atomically(out_dir / data_name, [&](std::ostream& os) {
      size_t at = 0;
      static const char zeros[64] = {};
      for (const auto& [offset, v] : moved) {
        os.write(zeros, std::streamsize(offset - at));
        os.write(static_cast<const char*>(v.raw()), std::streamsize(v.nbytes()));
        at = offset + v.nbytes();
      }
    });
  }
  std::string s;
  GRAFT_CHECK(proto.SerializeToString(&s), "ModelWriter: cannot serialize the model for ", path.string());
  write_file_atomically(path, [&](std::ostream& os) { os.write(s.data(), std::streamsize(s.size())); });
}

}  // namespace graft::onnx
