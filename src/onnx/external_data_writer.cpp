// The one external-data writer (external_data_writer.h).
#include "onnx/external_data_writer.h"

#include "core/atomic_file.h"
#include "onnx/tensor_proto.h"

namespace graft::onnx {

namespace {

void clear_data(::onnx::TensorProto& t) {
  t.clear_raw_data();
  t.clear_float_data();
  t.clear_double_data();
  t.clear_int32_data();
  t.clear_int64_data();
  t.clear_uint64_data();
  t.clear_external_data();
}

std::string raw_bytes(const Tensor& v) { return std::string(static_cast<const char*>(v.raw()), v.nbytes()); }

size_t nbytes(const InlineTensor& t) {
  if (t.value.defined()) return t.value.nbytes();
  auto dtype = dtype_from_onnx(t.proto->data_type());
  return dtype ? size_t(proto_num_elements(*t.proto)) * dtype_size(*dtype) : 0;
}

}  // namespace

void set_inline_data(::onnx::TensorProto& t, const Tensor& value) {
  clear_data(t);
  t.set_data_location(::onnx::TensorProto::DEFAULT);
  t.set_raw_data(raw_bytes(value));
}

void place_tensor_data(::onnx::ModelProto& model, std::vector<InlineTensor>& tensors,
                       const std::filesystem::path& model_path, const ExternalDataOptions& o, const std::string& who,
                       const std::set<std::string>& taken) {
  using Placement = ExternalDataOptions::Placement;
  // The model's size with everything inline (16 bytes of field overhead per tensor still without data).
  size_t inline_bytes = model.ByteSizeLong();
  for (const InlineTensor& t : tensors)
    if (!t.has_data) inline_bytes += nbytes(t) + 16;
  GRAFT_CHECK(!(o.placement == Placement::Inline && inline_bytes >= o.inline_limit), who, ": ", model_path.string(),
              " would be ", inline_bytes, " bytes inline, over the limit of ", o.inline_limit,
              "; use external data");
  const bool external = o.placement == Placement::External ||
                        (o.placement == Placement::Auto && inline_bytes >= o.inline_limit);
  const std::string data_name = o.file.empty() ? model_path.filename().string() + ".data" : o.file;
  std::vector<std::pair<size_t, Tensor>> moved;  // offset in the data file, value
  size_t data_size = 0;
  for (InlineTensor& t : tensors) {
    // Tensors of a type graft cannot hold (strings) count as 0 bytes and stay inline.
    size_t size = nbytes(t);
    if (!external || size == 0 || size < o.min_bytes) {
      if (!t.has_data) t.proto->set_raw_data(raw_bytes(t.value));
      continue;
    }
    Tensor value = t.value.defined() ? t.value : t.load();
    size_t offset = (data_size + 63) / 64 * 64;
    clear_data(*t.proto);
    t.proto->set_data_location(::onnx::TensorProto::EXTERNAL);
    auto add = [&](const char* key, const std::string& value) {
      auto* e = t.proto->add_external_data();
      e->set_key(key);
      e->set_value(value);
    };
    add("location", data_name);
    add("offset", std::to_string(offset));
    add("length", std::to_string(value.nbytes()));
    moved.emplace_back(offset, value);
    data_size = offset + value.nbytes();
  }
  GRAFT_CHECK(moved.empty() || !taken.count(data_name), who, ": external data file name ", data_name,
              " is already used by the model");
  GRAFT_CHECK(model.ByteSizeLong() < (size_t(2) << 30), who, ": ", model_path.string(),
              " is over 2 GB even with its large tensors external");
  std::filesystem::path dir = model_path.parent_path().empty() ? std::filesystem::path(".") : model_path.parent_path();
  std::filesystem::create_directories(dir);
  if (moved.empty()) return;
  write_file_atomically(dir / data_name, [&](std::ostream& os) {
    static const char zeros[64] = {};
    size_t at = 0;
    for (const auto& [offset, v] : moved) {
      os.write(zeros, std::streamsize(offset - at));
      os.write(static_cast<const char*>(v.raw()), std::streamsize(v.nbytes()));
      at = offset + v.nbytes();
    }
  });
}

}  // namespace graft::onnx
