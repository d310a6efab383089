#pragma once
// Shared pieces of the libFuzzer harnesses (fuzz/*_fuzzer.cpp).
//
// Contract of every harness: whatever the bytes, graft either succeeds or throws graft::Error. Any other
// exception escapes LLVMFuzzerTestOneInput, so libFuzzer reports it ("deadly signal" after std::terminate)
// just like a crash, a sanitizer report, a leak, a timeout or an allocation above -malloc_limit_mb.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>

#include "graft/core/error.h"

namespace graft::fuzz {

inline std::string_view as_view(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Splits the input at the first `separator`: {before, after} (after is empty when there is none).
inline std::pair<std::string_view, std::string_view> split_once(std::string_view s, std::string_view separator) {
  size_t at = s.find(separator);
  if (at == std::string_view::npos) return {s, {}};
  return {s.substr(0, at), s.substr(at + separator.size())};
}

// A private scratch folder for harnesses that go through files, removed at exit.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    std::filesystem::path base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
    std::string tmpl = (base / "graft-fuzz-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) std::abort();
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch_dir(), ec);
    });
    return std::filesystem::path(tmpl);
  }();
  return dir;
}

// A small deterministic generator for input values.
struct Rng {
  uint64_t state;
  explicit Rng(uint64_t seed) : state(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t next() {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  }
};

}  // namespace graft::fuzz
