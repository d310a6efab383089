// .npy files from strangers: every malformed header, size or dtype gives a graft::Error naming the file;
// bfloat16 is written as NumPy stores it (uint16 bit patterns). Inputs a fuzzer once failed on live in
// fuzz_findings/npy and are replayed by the fuzz_replay_npy test.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "graft/core/tensor.h"

namespace graft {
namespace {

std::string npy(const std::string& header, const std::string& data = "", int version = 1) {
  std::string out = std::string("\x93NUMPY", 6) + char(version) + '\0';
  uint32_t n = uint32_t(header.size());
  out += char(n & 0xff);
  out += char((n >> 8) & 0xff);
  if (version > 1) {
    out += char((n >> 16) & 0xff);
    out += char(n >> 24);
  }
  return out + header + data;
}

std::string error_of(const std::string& bytes) {
  try {
    parse_npy(bytes.data(), bytes.size(), "input.npy");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_NPY_ERROR(bytes, part)                                          \
  do {                                                                         \
    std::string msg = error_of(bytes);                                         \
    EXPECT_NE(msg.find("input.npy"), std::string::npos) << msg;                \
    EXPECT_NE(msg.find(part), std::string::npos) << "'" << part << "' in: " << msg; \
  } while (0)

TEST(Npy, ReadsWhatNumPyWrites) {
  // Header exactly as numpy.save writes it (padded with spaces to 64 bytes, newline last).
  std::string h = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  h += std::string((64 - (10 + h.size() + 1) % 64) % 64, ' ') + "\n";
  float v[6] = {1, 2, 3, 4, 5, 6};
  std::string file = npy(h, std::string(reinterpret_cast<char*>(v), sizeof v));
  Tensor t = parse_npy(file.data(), file.size(), "input.npy");
  EXPECT_EQ(t.shape(), Shape({2, 3}));
  EXPECT_EQ(t.to_vector<float>(), std::vector<float>({1, 2, 3, 4, 5, 6}));
  // Scalars, 1-tuples, double quotes, Python 2 longs, version 2 headers.
  std::string scalar = npy("{'descr':'<i8','fortran_order':False,'shape':()}", std::string(8, '\0'));
  EXPECT_EQ(parse_npy(scalar.data(), scalar.size(), "x").rank(), 0);
  std::string one = npy("{\"descr\": \"|u1\", \"fortran_order\": False, \"shape\": (3L,)}", "abc", 2);
  EXPECT_EQ(parse_npy(one.data(), one.size(), "x").shape(), Shape({3}));
}

TEST(Npy, MalformedHeadersNameTheFile) {
  EXPECT_NPY_ERROR(std::string("not numpy at all"), "bad magic");
  EXPECT_NPY_ERROR(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}").substr(0, 20), "truncated .npy header");
  EXPECT_NPY_ERROR(npy("{'descr': '<f4', 'fortran_order': False}"), "no 'shape'");
  EXPECT_NPY_ERROR(npy("{'descr': '<f4', 'shape': (1,)}", "1234"), "no 'fortran_order'");
  EXPECT_NPY_ERROR(npy("{'descr': '<c8', 'fortran_order': False, 'shape': (1,)}", "12345678"), "unsupported dtype");
  EXPECT_NPY_ERROR(npy("{'descr': '>f4', 'fortran_order': False, 'shape': (1,)}", "1234"), "big-endian");
  EXPECT_NPY_ERROR(npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}", "1234"), "structured");
  EXPECT_NPY_ERROR(npy("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,)}", "1234"), "True or False");
  EXPECT_NPY_ERROR(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}"), "non-negative integer");
  EXPECT_NPY_ERROR(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3"), "to close 'shape'");
  EXPECT_NPY_ERROR(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}"), "unknown key 'extra'");
  // Sizes: truncated data, extents whose product overflows, more than 2^56 elements.
  EXPECT_NPY_ERROR(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (4,)}", "12345678"), "truncated .npy data");
  EXPECT_NPY_ERROR(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16)}"),
                   "more than 2^56 elements");
  EXPECT_NPY_ERROR(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}"), "too large");
  // A version-2 header that claims 4 GiB.
  std::string huge = std::string("\x93NUMPY\x02\x00\xff\xff\xff\xff", 12) + "{'descr'";
  EXPECT_NPY_ERROR(huge, "truncated .npy header");
}

TEST(Npy, LongHeadersDoNotExhaustTheStack) {
  // std::regex (used before) recursed per character and overflowed the stack on long headers.
  std::string h = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::string(200000, ' ') + "1,)}";
  std::string file = npy(h, "abcd", 2);
  Tensor t = parse_npy(file.data(), file.size(), "x");
  EXPECT_EQ(t.shape(), Shape({1}));
}

TEST(Npy, Bfloat16IsWrittenAsUint16BitPatterns) {
  std::filesystem::path p = std::filesystem::temp_directory_path() / ("graft_bf16_" + std::to_string(::getpid()) + ".npy");
  Tensor bf = Tensor::from_vector(std::vector<float>{1.f, -2.f, 0.5f}).cast(DType::BF16);
  write_npy(p, bf);
  Tensor back = read_npy(p);
  std::filesystem::remove(p);
  ASSERT_EQ(back.dtype(), DType::U16);  // what NumPy (and ONNX's test data) use for bfloat16
  // bfloat16 1, -2, 0.5: sign | 8-bit exponent | 7-bit mantissa.
  EXPECT_EQ(back.to_vector<uint16_t>(), std::vector<uint16_t>({0x3F80, 0xC000, 0x3F00}));
}

}  // namespace
}  // namespace graft
