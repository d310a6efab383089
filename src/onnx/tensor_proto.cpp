// TensorProto decoding and external data: files mapped lazily, with paths confined to the model's folder.
#include "onnx/tensor_proto.h"

#include <optional>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/bool_data.h"
#include "graft/core/limits.h"

namespace graft::onnx {

namespace fs = std::filesystem;
using ::onnx::TensorProto;

std::optional<DType> dtype_from_onnx(int32_t dt) {
  switch (dt) {
    case TensorProto::FLOAT: return DType::F32;
    case TensorProto::UINT8: return DType::U8;
    case TensorProto::INT8: return DType::I8;
    case TensorProto::UINT16: return DType::U16;
    case TensorProto::INT16: return DType::I16;
    case TensorProto::INT32: return DType::I32;
    case TensorProto::INT64: return DType::I64;
    case TensorProto::BOOL: return DType::Bool;
    case TensorProto::FLOAT16: return DType::F16;
    case TensorProto::DOUBLE: return DType::F64;
    case TensorProto::UINT32: return DType::U32;
    case TensorProto::UINT64: return DType::U64;
    case TensorProto::BFLOAT16: return DType::BF16;
    default: return std::nullopt;
  }
}

int32_t dtype_to_onnx(DType t) {
  switch (t) {
    case DType::F32: return TensorProto::FLOAT;
    case DType::U8: return TensorProto::UINT8;
    case DType::I8: return TensorProto::INT8;
    case DType::U16: return TensorProto::UINT16;
    case DType::I16: return TensorProto::INT16;
    case DType::I32: return TensorProto::INT32;
    case DType::I64: return TensorProto::INT64;
    case DType::Bool: return TensorProto::BOOL;
    case DType::F16: return TensorProto::FLOAT16;
    case DType::F64: return TensorProto::DOUBLE;
    case DType::U32: return TensorProto::UINT32;
    case DType::U64: return TensorProto::UINT64;
    case DType::BF16: return TensorProto::BFLOAT16;
  }
  return TensorProto::UNDEFINED;
}

std::string onnx_elem_type_name(int32_t dt) {
  if (auto d = dtype_from_onnx(dt)) {
    switch (*d) {
      case DType::F32: return "float";
      case DType::F64: return "double";
      case DType::F16: return "float16";
      case DType::BF16: return "bfloat16";
      default: return std::string(dtype_name(*d));
    }
  }
  switch (dt) {
    case TensorProto::STRING: return "string";
    case TensorProto::COMPLEX64: return "complex64";
    case TensorProto::COMPLEX128: return "complex128";
    case 17: return "float8e4m3fn";
    case 18: return "float8e4m3fnuz";
    case 19: return "float8e5m2";
    case 20: return "float8e5m2fnuz";
    case 21: return "uint4";
    case 22: return "int4";
    case 23: return "float4e2m1";
    default: return "type#" + std::to_string(dt);
  }
}

std::string type_proto_str(const ::onnx::TypeProto& t) {
  switch (t.value_case()) {
    case ::onnx::TypeProto::kTensorType: return "tensor(" + onnx_elem_type_name(t.tensor_type().elem_type()) + ")";
    case ::onnx::TypeProto::kSequenceType: return "seq(" + type_proto_str(t.sequence_type().elem_type()) + ")";
    case ::onnx::TypeProto::kOptionalType: return "optional(" + type_proto_str(t.optional_type().elem_type()) + ")";
    case ::onnx::TypeProto::kMapType:
      return "map(" + onnx_elem_type_name(t.map_type().key_type()) + "," + type_proto_str(t.map_type().value_type()) +
             ")";
    case ::onnx::TypeProto::kSparseTensorType:
      return "sparse_tensor(" + onnx_elem_type_name(t.sparse_tensor_type().elem_type()) + ")";
    default: return "unknown";
  }
}

DataFile::~DataFile() {
  if (fd >= 0) ::close(fd);
}

namespace {

// The lexically normalized form of a path, used to compare after canonicalization.
bool is_inside(const fs::path& child, const fs::path& dir) {
  auto c = child.lexically_normal(), d = dir.lexically_normal();
  auto ci = c.begin();
  for (auto di = d.begin(); di != d.end(); ++di, ++ci) {
    if (di->empty()) continue;  // trailing separator
    if (ci == c.end() || *ci != *di) return false;
  }
  return true;
}

// A model inside a Hugging Face cache snapshot (<repo>/snapshots/<commit>/...) has its files as symlinks
// into <repo>/blobs; that folder is the only other place external data may resolve to.
std::optional<fs::path> hub_blobs_dir(const fs::path& model_dir) {
  for (fs::path p = model_dir; p.has_parent_path() && p != p.parent_path(); p = p.parent_path()) {
    if (p.filename() == "snapshots") {
      fs::path blobs = p.parent_path() / "blobs";
      std::error_code ec;
      if (fs::is_directory(blobs, ec)) return fs::canonical(blobs, ec);
      return std::nullopt;
    }
  }
  return std::nullopt;
}

}  // namespace

std::shared_ptr<DataFile> ExternalDataStore::open(const fs::path& resolved, const fs::path& base,
                                                  const std::optional<fs::path>& blobs, const std::string& tensor) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = files_.find(resolved);
  if (it != files_.end()) return it->second;
  auto f = std::make_shared<DataFile>();
  f->path = resolved;
  f->fd = ::open(resolved.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (f->fd < 0)
    fail("external data of tensor '", tensor, "': cannot open ", resolved.string(), ": ", std::strerror(errno));
  struct stat st{};
  if (fstat(f->fd, &st) != 0 || !S_ISREG(st.st_mode))
    fail("external data of tensor '", tensor, "': ", resolved.string(), " is not a regular file");
  // The file actually opened must still be inside the allowed folders (a path component may have been
  // swapped for a symlink since it was resolved).
  std::error_code ec;
  fs::path opened = fs::read_symlink("/proc/self/fd/" + std::to_string(f->fd), ec);
  GRAFT_CHECK(ec || allow_symlinks_ || is_inside(opened, base) || (blobs && is_inside(opened, *blobs)),
              "external data of tensor '", tensor, "': ", resolved.string(), " resolves to ", opened.string(),
              ", outside the model's folder ", base.string());
  files_[resolved] = f;
  return f;
}

Tensor ExternalDataStore::load(const TensorProto& t, DType dtype, const Shape& shape) {
  const std::string& name = t.name();
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& kv : t.external_data()) {
    auto number = [&](const std::string& v) {
      size_t used = 0;
      long long x = -1;
      try {
        x = std::stoll(v, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      GRAFT_CHECK(used == v.size() && x >= 0, "external data of tensor '", name, "': ", kv.key(), " ", v,
                  " is not a non-negative integer");
      return int64_t(x);
    };
    if (kv.key() == "location")
      location = kv.value();
    else if (kv.key() == "offset")
      offset = number(kv.value());
    else if (kv.key() == "length")
      length = number(kv.value());
  }
  GRAFT_CHECK(!location.empty(), "external data of tensor '", name, "': no location given");
  GRAFT_CHECK(location.find('\0') == std::string::npos, "external data of tensor '", name,
              "': the location holds a NUL character");
  GRAFT_CHECK(!base_dir_.empty(), "external data of tensor '", name, "' (", location,
              "): the model was loaded from memory without a folder to resolve it against");
  fs::path loc(location);
  GRAFT_CHECK(!loc.is_absolute() && !loc.has_root_name() && !loc.has_root_directory(), "external data of tensor '",
              name, "': location '", location, "' is an absolute path; it must be relative to the model's folder");
  std::error_code ec;
  fs::path base = fs::canonical(base_dir_, ec);
  GRAFT_CHECK(!ec, "external data of tensor '", name, "': model folder ", base_dir_.string(), ": ", ec.message());
  // Lexical check first (catches `..` escapes even when the target does not exist), then after
  // following symlinks.
  GRAFT_CHECK(is_inside(base / loc, base), "external data of tensor '", name, "': location '", location,
              "' escapes the model's folder ", base.string());
  fs::path full = base / loc;
  GRAFT_CHECK(fs::exists(full, ec), "external data of tensor '", name, "': file ", full.string(), " (location '",
              location, "') does not exist");
  fs::path resolved = fs::canonical(full, ec);
  GRAFT_CHECK(!ec, "external data of tensor '", name, "': cannot resolve ", full.string(), ": ", ec.message());
  std::optional<fs::path> blobs = hub_blobs_dir(base);
  GRAFT_CHECK(allow_symlinks_ || is_inside(resolved, base) || (blobs && is_inside(resolved, *blobs)),
              "external data of tensor '", name, "': location '", location, "' resolves (through a symlink) to ",
              resolved.string(), ", outside the model's folder ", base.string(),
              "; allow that with LoadOptions::allow_external_symlinks (graft: --allow-external-symlinks)");
  auto file = open(resolved, base, blobs, name);
  struct stat st{};
  GRAFT_CHECK(fstat(file->fd, &st) == 0, "external data of tensor '", name, "': cannot stat ", resolved.string());
  const uint64_t size = uint64_t(st.st_size);
  const uint64_t need = uint64_t(shape.size()) * dtype_size(dtype);
  if (length < 0) length = uint64_t(offset) <= size ? int64_t(size - uint64_t(offset)) : -1;
  GRAFT_CHECK(uint64_t(offset) <= size && length >= 0 && uint64_t(length) <= size - uint64_t(offset),
              "external data of tensor '", name, "': offset ", offset, " + length ", length, " is outside ",
              resolved.string(), " (", size, " bytes)");
  GRAFT_CHECK(uint64_t(length) == need, "external data of tensor '", name, "' in ", resolved.string(), ": length ",
              length, " bytes, but ", dtype_name(dtype), shape, " needs ", need);
  check_memory(need, "external data of tensor '" + name + "'");
  Tensor out = Tensor::uninitialized(dtype, shape);
  char* dst = static_cast<char*>(out.raw());
  for (uint64_t done = 0; done < need;) {
    ssize_t r = ::pread(file->fd, dst + done, size_t(std::min<uint64_t>(need - done, 1u << 30)), off_t(offset + done));
    if (r < 0 && errno == EINTR) continue;
    GRAFT_CHECK(r > 0, "external data of tensor '", name, "': reading ", resolved.string(), " at offset ",
                offset + done, " failed: ", r < 0 ? std::strerror(errno) : "the file is shorter than when it was "
                "checked (changed while the model was loaded?)");
    done += uint64_t(r);
  }
  normalize_bool_bytes(out);
  return out;
}

int64_t proto_num_elements(const TensorProto& t) {
  int64_t n = 1;
  for (int64_t d : t.dims())
    if (d < 0 || __builtin_mul_overflow(n, d, &n)) return 0;  // invalid; reading the tensor reports why
  return n;
}

namespace {

template <typename T, typename Field>
Tensor from_field(DType dtype, const Shape& shape, const Field& f, const std::string& what, const char* field) {
  GRAFT_CHECK(int64_t(f.size()) == shape.size(), what, ": ", field, " holds ", f.size(), " values for shape ", shape);
  Tensor out = Tensor::uninitialized(dtype, shape);
  T* p = static_cast<T*>(out.raw());
  for (int i = 0; i < f.size(); ++i) p[i] = static_cast<T>(f.Get(i));
  return out;
}

}  // namespace

Tensor tensor_from_proto(const TensorProto& t, ExternalDataStore* store, const std::string& what) {
  auto dtype = dtype_from_onnx(t.data_type());
  GRAFT_CHECK(dtype.has_value(), what, ": element type ", onnx_elem_type_name(t.data_type()),
              " is not supported by graft");
  std::vector<int64_t> dims(t.dims().begin(), t.dims().end());
  for (int64_t d : dims) GRAFT_CHECK(d >= 0, what, ": negative dimension ", d);
  Shape shape = [&] {
    try {
      return Shape(dims);
    } catch (const Error& e) {
      fail(what, ": ", e.what());
    }
  }();
  size_t need = size_t(shape.size()) * dtype_size(*dtype);
  if (t.data_location() == TensorProto::EXTERNAL) {
    GRAFT_CHECK(store != nullptr, what, ": external data of tensor '", t.name(),
                "' cannot be read: the model was loaded from memory without a folder to resolve it against");
    return store->load(t, *dtype, shape);
  }
  if (t.has_raw_data()) {
    GRAFT_CHECK(t.raw_data().size() == need, what, ": raw_data holds ", t.raw_data().size(), " bytes, but ",
                dtype_name(*dtype), shape, " needs ", need);
    Tensor out = Tensor::from_bytes(*dtype, shape, t.raw_data().data(), need);
    normalize_bool_bytes(out);
    return out;
  }
  switch (*dtype) {
    case DType::F32: return from_field<float>(*dtype, shape, t.float_data(), what, "float_data");
    case DType::F64: return from_field<double>(*dtype, shape, t.double_data(), what, "double_data");
    case DType::I64: return from_field<int64_t>(*dtype, shape, t.int64_data(), what, "int64_data");
    case DType::U32: return from_field<uint32_t>(*dtype, shape, t.uint64_data(), what, "uint64_data");
    case DType::U64: return from_field<uint64_t>(*dtype, shape, t.uint64_data(), what, "uint64_data");
    case DType::I32: return from_field<int32_t>(*dtype, shape, t.int32_data(), what, "int32_data");
    case DType::I16: return from_field<int16_t>(*dtype, shape, t.int32_data(), what, "int32_data");
    case DType::I8: return from_field<int8_t>(*dtype, shape, t.int32_data(), what, "int32_data");
    case DType::U16: return from_field<uint16_t>(*dtype, shape, t.int32_data(), what, "int32_data");
    case DType::U8: return from_field<uint8_t>(*dtype, shape, t.int32_data(), what, "int32_data");
    case DType::Bool: return from_field<bool>(*dtype, shape, t.int32_data(), what, "int32_data");
    case DType::F16:
    case DType::BF16: return from_field<uint16_t>(*dtype, shape, t.int32_data(), what, "int32_data");  // bit patterns
  }
  fail(what, ": unsupported element type");
}

}  // namespace graft::onnx
