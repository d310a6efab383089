// NumPy .npy reader and writer. Format: magic "\x93NUMPY", version, header length, a Python-dict header
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }, padding to 64 bytes, then the data.
#include <fstream>
#include <regex>

#include "graft/core/tensor.h"
#include "core/atomic_file.h"

namespace graft {

namespace {
std::string npy_descr(DType t) {
  switch (t) {
    case DType::Bool: return "|b1";
    case DType::I8: return "|i1";
    case DType::I16: return "<i2";
    case DType::I32: return "<i4";
    case DType::I64: return "<i8";
    case DType::U8: return "|u1";
    case DType::U16: return "<u2";
    case DType::U32: return "<u4";
    case DType::U64: return "<u8";
    case DType::F16: return "<f2";
    case DType::F32: return "<f4";
    case DType::F64: return "<f8";
    case DType::BF16: break;
  }
  fail("write_npy: dtype ", dtype_name(t), " has no NumPy equivalent");
}

DType dtype_from_descr(const std::string& d, const std::string& what) {
  GRAFT_CHECK(d.size() >= 3, what, ": bad dtype descriptor '", d, "'");
  GRAFT_CHECK(d[0] != '>' || d.substr(1) == "i1" || d.substr(1) == "u1" || d.substr(1) == "b1", what,
              ": big-endian dtype '", d, "' is not supported");
  std::string k = d.substr(1);
  if (k == "b1") return DType::Bool;
  if (k == "i1") return DType::I8;
  if (k == "i2") return DType::I16;
  if (k == "i4") return DType::I32;
  if (k == "i8") return DType::I64;
  if (k == "u1") return DType::U8;
  if (k == "u2") return DType::U16;
  if (k == "u4") return DType::U32;
  if (k == "u8") return DType::U64;
  if (k == "f2") return DType::F16;
  if (k == "f4") return DType::F32;
  if (k == "f8") return DType::F64;
  fail(what, ": unsupported dtype descriptor '", d, "'");
}

// Reverses the axis order of a Fortran-ordered buffer into C order.
Tensor fortran_to_c(const Tensor& f_as_reversed) {
  // The bytes of a Fortran array of shape S are the C array of shape reversed(S); transpose it back.
  const Shape& rs = f_as_reversed.shape();
  int r = rs.rank();
  std::vector<int64_t> dims(rs.dims().rbegin(), rs.dims().rend());
  Tensor out = Tensor::uninitialized(f_as_reversed.dtype(), Shape(dims));
  size_t es = dtype_size(out.dtype());
  std::vector<int64_t> rstrides = rs.strides();
  std::vector<int64_t> idx(r, 0);
  const char* src = static_cast<const char*>(f_as_reversed.raw());
  char* dst = static_cast<char*>(out.raw());
  for (int64_t i = 0; i < out.size(); ++i) {
    int64_t s = 0;
    for (int a = 0; a < r; ++a) s += idx[a] * rstrides[r - 1 - a];
    std::memcpy(dst + i * es, src + s * es, es);
    for (int a = r - 1; a >= 0; --a) {
      if (++idx[a] < dims[a]) break;
      idx[a] = 0;
    }
  }
  return out;
}
}  // namespace

Tensor parse_npy(const void* data, size_t nbytes, const std::string& what) {
  const auto* p = static_cast<const unsigned char*>(data);
  GRAFT_CHECK(nbytes >= 10 && std::memcmp(p, "\x93NUMPY", 6) == 0, what, ": not a .npy file (bad magic)");
  int major = p[6];
  size_t header_len, header_start;
  if (major == 1) {
    header_len = p[8] | (size_t(p[9]) << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    GRAFT_CHECK(nbytes >= 12, what, ": truncated .npy header");
    header_len = p[8] | (size_t(p[9]) << 8) | (size_t(p[10]) << 16) | (size_t(p[11]) << 24);
    header_start = 12;
  } else {
    fail(what, ": unsupported .npy version ", major);
  }
  GRAFT_CHECK(header_start + header_len <= nbytes, what, ": truncated .npy header");
  std::string header(reinterpret_cast<const char*>(p + header_start), header_len);

  std::smatch m;
  static const std::regex descr_re(R"('descr'\s*:\s*'([^']*)')");
  static const std::regex fortran_re(R"('fortran_order'\s*:\s*(True|False))");
  static const std::regex shape_re(R"('shape'\s*:\s*\(([^)]*)\))");
  GRAFT_CHECK(std::regex_search(header, m, descr_re), what, ": .npy header has no 'descr': ", header);
  DType dtype = dtype_from_descr(m[1].str(), what);
  GRAFT_CHECK(std::regex_search(header, m, fortran_re), what, ": .npy header has no 'fortran_order'");
  bool fortran = m[1].str() == "True";
  GRAFT_CHECK(std::regex_search(header, m, shape_re), what, ": .npy header has no 'shape'");
  std::vector<int64_t> dims;
  std::string shape_text = m[1].str();
  static const std::regex int_re(R"(\d+)");
  for (auto it = std::sregex_iterator(shape_text.begin(), shape_text.end(), int_re); it != std::sregex_iterator(); ++it)
    dims.push_back(std::stoll(it->str()));

  Shape shape(dims);
  size_t data_start = header_start + header_len;
  size_t need = size_t(shape.size()) * dtype_size(dtype);
  GRAFT_CHECK(nbytes - data_start >= need, what, ": truncated .npy data: shape ", shape, " ", dtype_name(dtype),
              " needs ", need, " bytes, file has ", nbytes - data_start);
  if (!fortran || shape.rank() < 2) return Tensor::from_bytes(dtype, shape, p + data_start, need);
  std::vector<int64_t> rev(dims.rbegin(), dims.rend());
  return fortran_to_c(Tensor::from_bytes(dtype, Shape(rev), p + data_start, need));
}

Tensor read_npy(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  GRAFT_CHECK(in, "read_npy: cannot open ", path);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse_npy(bytes.data(), bytes.size(), path.string());
}

void write_npy(const std::filesystem::path& path, const Tensor& t) {
  GRAFT_CHECK(t.defined(), "write_npy: undefined tensor for ", path);
  std::string shape = "(";
  for (int i = 0; i < t.rank(); ++i) shape += (i ? ", " : "") + std::to_string(t.shape()[i]);
  shape += t.rank() == 1 ? ",)" : ")";  // NumPy spells a 1-tuple "(3,)"
  std::string header = "{'descr': '" + npy_descr(t.dtype()) + "', 'fortran_order': False, 'shape': " + shape + ", }";
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string prefix = std::string("\x93NUMPY\x01\x00", 8);
  prefix += char(header.size() & 0xff);
  prefix += char(header.size() >> 8);
  write_file_atomically(path, [&](std::ostream& os) {
    os.write(prefix.data(), std::streamsize(prefix.size()));
    os.write(header.data(), std::streamsize(header.size()));
    os.write(static_cast<const char*>(t.raw()), std::streamsize(t.nbytes()));
  });
}

}  // namespace graft
