#pragma once
// Shared helpers for the hub tests: a temporary HF_HOME-like folder and client options with short
// timeouts pointing at a FakeHub.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "graft/hub/hub.h"

namespace hubtest {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "graft-hub-test-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline graft::hub::Options test_options(const std::string& endpoint, const fs::path& cache) {
  graft::hub::Options o;
  o.endpoint = endpoint;
  o.cache_dir = cache;
  o.token.reset();
  o.offline = false;
  o.connect_timeout = std::chrono::milliseconds(2000);
  o.metadata_timeout = std::chrono::milliseconds(5000);
  o.stall_timeout = std::chrono::milliseconds(3000);
  o.lock_timeout = std::chrono::milliseconds(20000);
  o.max_retries = 3;
  o.progress = graft::hub::Progress::Never;
  return o;
}

inline std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_file(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << content;
}

// A deterministic pseudo-random payload of n bytes.
inline std::string payload(std::size_t n, unsigned seed = 1) {
  std::string s(n, '\0');
  unsigned x = seed * 2654435761u + 1;
  for (auto& c : s) {
    x = x * 1103515245u + 12345u;
    c = char(x >> 16);
  }
  return s;
}

inline ::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\"\n  does not contain \"" << part << "\"";
}
#define EXPECT_CONTAINS(text, part) EXPECT_TRUE(::hubtest::Contains(std::string(text), std::string(part)))

// Runs fn and returns the HubError it throws (fails the test when nothing is thrown).
template <typename Fn>
graft::hub::HubError expect_hub_error(Fn&& fn) {
  try {
    fn();
  } catch (const graft::hub::HubError& e) {
    return e;
  }
  ADD_FAILURE() << "expected a graft::hub::HubError";
  return graft::hub::HubError(graft::hub::HubError::Kind::Local, 0, "<none>");
}

}  // namespace hubtest
