// Initializers back into an ONNX model: inline raw_data or patches in external-data files.
#include "graft/onnx/writeback.h"

#include <cstring>
#include <fstream>
#include <set>
#include <vector>

#include "core/atomic_file.h"
#include "onnx/external_data_writer.h"
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
}  // namespace

ModelWriter::ModelWriter(const Model& model) : model_(model) {}

void ModelWriter::set_initializer(const std::string& name, const Tensor& value) {
  Tensor cur = model_.initializer(name);  // throws for unknown names
  GRAFT_CHECK(value.dtype() == cur.dtype() && value.shape() == cur.shape(), "ModelWriter: initializer \"", name,
              "\" of ", model_.source(), " is ", dtype_name(cur.dtype()), cur.shape(), ", the new value ",
              dtype_name(value.dtype()), value.shape());
  values_[name] = value.clone();
}

void ModelWriter::save(const std::filesystem::path& path, const ExternalDataOptions& options) const {
  using Placement = ExternalDataOptions::Placement;
  const Model::Impl& m = *model_.impl();
  ::onnx::ModelProto proto = m.proto;
  std::filesystem::path out_dir = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
  std::map<std::string, std::string> files;  // location -> bytes (copied, then patched)
  std::vector<InlineTensor> inline_tensors;   // after the pass below: every tensor that is inline
  auto* graph = proto.mutable_graph();
  for (int i = 0; i < graph->initializer_size(); ++i) {
    ::onnx::TensorProto& t = *graph->mutable_initializer(i);
    auto it = values_.find(t.name());
    bool external = t.data_location() == ::onnx::TensorProto::EXTERNAL;
    if (external && options.placement != Placement::Inline) {
      // Stays external: a copy of its file, patched at its offset when the value changed.
      ExternalRef r = external_ref(t);
      if (!files.count(r.location)) files[r.location] = read_all(m.base_dir / r.location);
      if (it == values_.end()) continue;
      std::string& bytes = files[r.location];
      size_t n = it->second.nbytes();
      GRAFT_CHECK(r.offset >= 0 && size_t(r.offset) + n <= bytes.size() && (r.length < 0 || size_t(r.length) == n),
                  "ModelWriter: external data of \"", t.name(), "\" (", r.location, " at ", r.offset, ") does not fit ", n,
                  " bytes");
      std::memcpy(bytes.data() + r.offset, it->second.raw(), n);
      continue;
    }
    InlineTensor entry{&t, {}, true, [this, name = t.name()] { return model_.initializer(name); }};
    if (it != values_.end()) entry.value = it->second;
    else if (external) entry.value = model_.initializer(t.name());
    if (entry.value.defined()) set_inline_data(t, entry.value);  // changed, or brought inline
    inline_tensors.push_back(std::move(entry));
  }
  std::set<std::string> taken;
  for (const auto& [loc, bytes] : files) taken.insert(loc);
  place_tensor_data(proto, inline_tensors, path, options, "ModelWriter", taken);
  for (const auto& [loc, bytes] : files) {
    std::filesystem::path dst = out_dir / loc;
    std::filesystem::create_directories(dst.parent_path());
    write_file_atomically(dst, [&data = bytes](std::ostream& os) {  // (clang 14 cannot capture a structured binding)
      os.write(data.data(), std::streamsize(data.size()));
    });
  }
  std::string s;
  GRAFT_CHECK(proto.SerializeToString(&s), "ModelWriter: cannot serialize the model for ", path.string());
  write_file_atomically(path, [&](std::ostream& os) { os.write(s.data(), std::streamsize(s.size())); });
}

}  // namespace graft::onnx
