// NumPy .npy reader and writer. Format: magic "\x93NUMPY", version, header length, a Python-dict header
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }, padding to 64 bytes, then the data.
#include <fstream>
#include <cctype>
#include <climits>
#include <cstring>
#include <string_view>

#include "graft/core/tensor.h"
#include "core/atomic_file.h"
#include "core/bool_data.h"

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
    case DType::BF16: return "<u2";  // NumPy has no bfloat16: its bit patterns as uint16, as ONNX's test data
  }
  fail("write_npy: dtype ", dtype_name(t), " has no NumPy equivalent");
}

DType dtype_from_descr(const std::string& d, const std::string& what) {
  GRAFT_CHECK(d.size() >= 3 && (d[0] == '<' || d[0] == '>' || d[0] == '|' || d[0] == '='), what,
              ": bad dtype descriptor '", d, "'");
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

namespace {

// The header is a Python dict literal, {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }, read by
// a small scanner (no regex: a header is up to 4 GiB of attacker-chosen text in versions 2 and 3).
class HeaderScanner {
 public:
  HeaderScanner(std::string_view text, const std::string& what) : s_(text), what_(what) {}

  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool accept(char c) {
    skip_space();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void expect(char c, const char* where) {
    if (!accept(c)) fail(what_, ": malformed .npy header: expected '", std::string(1, c), "' ", where, " at byte ", i_,
                         " of: ", excerpt());
  }
  std::string string_literal(const char* where) {
    skip_space();
    GRAFT_CHECK(i_ < s_.size() && (s_[i_] == '\'' || s_[i_] == '"'), what_, ": malformed .npy header: expected a string ",
                where, " at byte ", i_, " of: ", excerpt());
    char quote = s_[i_++];
    size_t end = s_.find(quote, i_);
    GRAFT_CHECK(end != std::string_view::npos, what_, ": malformed .npy header: unterminated string ", where);
    std::string out(s_.substr(i_, end - i_));
    i_ = end + 1;
    return out;
  }
  std::string word() {
    skip_space();
    size_t b = i_;
    while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '_')) ++i_;
    return std::string(s_.substr(b, i_ - b));
  }
  // A non-negative integer (Python 2 headers may write 3L).
  int64_t integer(const char* where) {
    skip_space();
    size_t b = i_;
    int64_t v = 0;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
      GRAFT_CHECK(v <= (INT64_MAX - 9) / 10, what_, ": .npy header: extent ", where, " is too large");
      v = v * 10 + (s_[i_++] - '0');
    }
    GRAFT_CHECK(i_ > b, what_, ": malformed .npy header: expected a non-negative integer ", where, " at byte ", b,
                " of: ", excerpt());
    if (i_ < s_.size() && s_[i_] == 'L') ++i_;
    return v;
  }
  std::string excerpt() const { return std::string(s_.substr(0, 120)) + (s_.size() > 120 ? "..." : ""); }

 private:
  std::string_view s_;
  size_t i_ = 0;
  const std::string& what_;
};

struct NpyHeader {
  DType dtype = DType::F32;
  bool fortran = false;
  std::vector<int64_t> dims;
};

NpyHeader parse_header(std::string_view text, const std::string& what) {
  HeaderScanner in(text, what);
  NpyHeader h;
  bool have_descr = false, have_order = false, have_shape = false;
  in.expect('{', "at the start of the header");
  while (!in.accept('}')) {
    std::string key = in.string_literal("(a key)");
    in.expect(':', "after a key");
    if (key == "descr") {
      in.skip_space();
      std::string d = in.string_literal("for 'descr' (structured dtypes are not supported)");
      h.dtype = dtype_from_descr(d, what);
      have_descr = true;
    } else if (key == "fortran_order") {
      std::string v = in.word();
      GRAFT_CHECK(v == "True" || v == "False", what, ": .npy header: 'fortran_order' must be True or False, got '", v, "'");
      h.fortran = v == "True";
      have_order = true;
    } else if (key == "shape") {
      in.expect('(', "to open 'shape'");
      while (!in.accept(')')) {
        GRAFT_CHECK(h.dims.size() < 64, what, ": .npy header: 'shape' has more than 64 axes");
        h.dims.push_back(in.integer("in 'shape'"));
        if (!in.accept(',')) {
          in.expect(')', "to close 'shape'");
          break;
        }
      }
      have_shape = true;
    } else {
      fail(what, ": .npy header has an unknown key '", key, "'");
    }
    if (!in.accept(',')) {
      in.expect('}', "to close the header");
      break;
    }
  }
  GRAFT_CHECK(have_descr, what, ": .npy header has no 'descr': ", in.excerpt());
  GRAFT_CHECK(have_order, what, ": .npy header has no 'fortran_order': ", in.excerpt());
  GRAFT_CHECK(have_shape, what, ": .npy header has no 'shape': ", in.excerpt());
  return h;
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
  GRAFT_CHECK(header_len <= nbytes - header_start, what, ": truncated .npy header (", header_len,
              " bytes announced, the file has ", nbytes, ")");
  NpyHeader h = parse_header(std::string_view(reinterpret_cast<const char*>(p + header_start), header_len), what);
  Shape shape = [&] {
    try {
      return Shape(h.dims);
    } catch (const Error& e) {
      fail(what, ": .npy header: ", e.what());
    }
  }();
  size_t data_start = header_start + header_len;
  uint64_t need = uint64_t(shape.size()) * dtype_size(h.dtype);
  GRAFT_CHECK(nbytes - data_start >= need, what, ": truncated .npy data: shape ", shape, " ", dtype_name(h.dtype),
              " needs ", need, " bytes, file has ", nbytes - data_start);
  std::vector<int64_t> rev(h.dims.rbegin(), h.dims.rend());
  bool transpose = h.fortran && shape.rank() >= 2;
  Tensor t = Tensor::from_bytes(h.dtype, transpose ? Shape(rev) : shape, p + data_start, size_t(need));
  normalize_bool_bytes(t);
  return transpose ? fortran_to_c(t) : t;
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
