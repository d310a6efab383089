// A hostile or broken server (or a proxy rewriting responses) in front of the Hub client: header values
// become path components of the cache, so they must never name a path outside it; every failure is a
// HubError naming the endpoint, never another exception type.
#include <gtest/gtest.h>

#include <mutex>

#include "hub/http_server.h"
#include "hub/test_util.h"

namespace {

namespace fs = std::filesystem;
using graft::hub::HubError;
using graft::hub::Repo;

// Serves `responses` in order (then 404), like the fuzz harness fuzz/hub_fuzzer.cpp.
struct ScriptedServer {
  std::mutex mu;
  std::vector<hubtest::Response> responses;
  size_t next = 0;
  hubtest::HttpServer server{[this](const hubtest::Request&) {
    std::lock_guard<std::mutex> lock(mu);
    if (next < responses.size()) return responses[next++];
    hubtest::Response r;
    r.status = 404;
    return r;
  }};
};

hubtest::Response head(const std::string& commit, const std::string& etag) {
  hubtest::Response r;
  r.headers = {{"X-Repo-Commit", commit}, {"ETag", "\"" + etag + "\""}, {"Content-Length", "2"}};
  r.body = "hi";
  return r;
}

// Nothing but the cache folder may appear in `root`.
void expect_only(const fs::path& root, const fs::path& cache) {
  for (const auto& e : fs::directory_iterator(root)) EXPECT_EQ(e.path(), cache) << "written outside the cache";
}

TEST(HubResponses, CommitAndEtagHeadersCannotEscapeTheCache) {
  // The X-Repo-Commit value names the snapshot folder: "../../../escape" wrote a symlink next to the cache.
  hubtest::TempDir root;
  fs::path cache = root.path() / "cache";
  for (const auto& [commit, etag, part] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"../../../escape", "abc123", "invalid X-Repo-Commit '../../../escape'"},
           {"0123456789abcdef0123456789abcdef0123456G", "abc123", "invalid X-Repo-Commit"},
           {"0123456789abcdef0123456789abcdef01234567", "../../../escape", "invalid ETag '../../../escape'"},
           {"0123456789abcdef0123456789abcdef01234567", std::string(300, 'e'), "invalid ETag"},
           {"0123456789abcdef0123456789abcdef01234567", "a b", "invalid ETag 'a b'"},
       }) {
    ScriptedServer s;
    s.responses = {head(commit, etag), head(commit, etag)};
    auto o = hubtest::test_options(s.server.base_url(), cache);
    HubError e = hubtest::expect_hub_error([&] { Repo("org/model", o).download("config.json"); });
    EXPECT_CONTAINS(e.what(), part);
    EXPECT_CONTAINS(e.what(), s.server.base_url());
    expect_only(root.path(), cache);
  }
  // A well-formed response still works.
  ScriptedServer s;
  s.responses = {head("0123456789abcdef0123456789abcdef01234567", "abc123"), head("", "")};
  s.responses[1] = hubtest::Response{};
  s.responses[1].body = "hi";
  auto o = hubtest::test_options(s.server.base_url(), cache);
  EXPECT_EQ(hubtest::read_file(Repo("org/model", o).download("config.json")), "hi");
}

TEST(HubResponses, FilesystemFailuresAreHubErrors) {
  // A cache the process cannot write (here: a regular file where the cache folder should be) gives a
  // HubError, not std::filesystem's own exception.
  hubtest::TempDir root;
  hubtest::write_file(root.path() / "cache", "not a folder");
  ScriptedServer s;
  s.responses = {head("0123456789abcdef0123456789abcdef01234567", "abc123")};
  auto o = hubtest::test_options(s.server.base_url(), root.path() / "cache");
  HubError e = hubtest::expect_hub_error([&] { Repo("org/model", o).download("config.json"); });
  EXPECT_CONTAINS(e.what(), "hub:");
}

TEST(HubResponses, RevisionCannotNameAPathOutsideRefs) {
  // The revision names refs/<revision> in the cache: "../../../x" would write the commit next to the cache.
  hubtest::TempDir root;
  auto o = hubtest::test_options("http://127.0.0.1:9", root.path() / "cache");
  for (const auto& [revision, part] : std::vector<std::pair<std::string, std::string>>{
           {"../../../escape", "invalid revision '../../../escape'"},
           {"main/../../x", "'..' path component"},
           {"/etc/passwd", "absolute"},
           {"a//b", "empty"},
           {"main\n", "control character"},
           {"", "empty"},
       }) {
    const std::string rev = revision;  // clang 14 cannot capture a structured binding
    HubError e = hubtest::expect_hub_error([&] { Repo("org/model", o).revision(rev); });
    EXPECT_CONTAINS(e.what(), part);
    EXPECT_CONTAINS(e.what(), "org/model");
  }
  // Branches, tags, pull-request refs and commits are accepted.
  for (const std::string ok : {"main", "v1.0", "refs/pr/1", "0123456789abcdef0123456789abcdef01234567"})
    EXPECT_NO_THROW(Repo("org/model", o).revision(ok)) << ok;
  EXPECT_FALSE(fs::exists(root.path() / "cache"));
}

}  // namespace
