// Cache layout and environment handling, without any network.
#include <gtest/gtest.h>

#include <cstdlib>

#include "hub/cache.h"
#include "hub/http.h"
#include "hub/test_util.h"

namespace fs = std::filesystem;
using graft::hub::HubError;
using graft::hub::Options;
using graft::hub::Repo;
using graft::hub::RepoType;
using graft::hub::detail::CacheLayout;
using hubtest::TempDir;

namespace {

const std::string kCommit = "0123456789abcdef0123456789abcdef01234567";

// Sets environment variables for one test and restores them afterwards.
class ScopedEnv {
 public:
  void set(const char* name, const std::string& value) {
    save(name);
    ::setenv(name, value.c_str(), 1);
  }
  void unset(const char* name) {
    save(name);
    ::unsetenv(name);
  }
  ~ScopedEnv() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->second) ::setenv(it->first.c_str(), it->second->c_str(), 1);
      else ::unsetenv(it->first.c_str());
    }
  }

 private:
  void save(const char* name) {
    const char* v = std::getenv(name);
    saved_.emplace_back(name, v ? std::optional<std::string>(v) : std::nullopt);
  }
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

void clear_hf_env(ScopedEnv& env) {
  for (const char* n : {"HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN",
                        "HF_TOKEN_PATH", "HF_ENDPOINT", "HF_HUB_OFFLINE", "XDG_CACHE_HOME", "HF_HUB_ETAG_TIMEOUT",
                        "HF_HUB_DOWNLOAD_TIMEOUT", "HF_HUB_DISABLE_PROGRESS_BARS"})
    env.unset(n);
}

}  // namespace

TEST(HubCache, FolderNamesAsHuggingfaceHub) {
  EXPECT_EQ(CacheLayout::folder_name("sentence-transformers/all-MiniLM-L6-v2", RepoType::Model),
            "models--sentence-transformers--all-MiniLM-L6-v2");
  EXPECT_EQ(CacheLayout::folder_name("gpt2", RepoType::Model), "models--gpt2");
  EXPECT_EQ(CacheLayout::folder_name("org/data", RepoType::Dataset), "datasets--org--data");
  EXPECT_EQ(CacheLayout::folder_name("org/app", RepoType::Space), "spaces--org--app");
}

TEST(HubCache, Paths) {
  TempDir dir;
  CacheLayout c(dir.path(), "org/name", RepoType::Model);
  const fs::path s = dir.path() / "models--org--name";
  EXPECT_EQ(c.storage(), s);
  EXPECT_EQ(c.blob("abc"), s / "blobs" / "abc");
  EXPECT_EQ(c.incomplete("abc"), s / "blobs" / "abc.incomplete");
  EXPECT_EQ(c.pointer(kCommit, "onnx/model.onnx"), s / "snapshots" / kCommit / "onnx" / "model.onnx");
  EXPECT_EQ(c.ref_file("refs/pr/1"), s / "refs" / "refs" / "pr" / "1");
  EXPECT_EQ(c.no_exist(kCommit, "a/b.txt"), s / ".no_exist" / kCommit / "a" / "b.txt");
  EXPECT_EQ(c.lock_file("abc"), dir.path() / ".locks" / "models--org--name" / "abc.lock");
}

TEST(HubCache, HelpersAndValidation) {
  using namespace graft::hub::detail;
  EXPECT_TRUE(is_commit_hash(kCommit));
  EXPECT_FALSE(is_commit_hash("main"));
  EXPECT_FALSE(is_commit_hash("0123456789ABCDEF0123456789abcdef01234567"));
  EXPECT_TRUE(is_sha256_hex(std::string(64, 'a')));
  EXPECT_FALSE(is_sha256_hex(std::string(40, 'a')));
  EXPECT_EQ(normalize_etag("W/\"abc\""), "abc");
  EXPECT_EQ(normalize_etag("\"abc\""), "abc");
  EXPECT_EQ(normalize_etag("abc"), "abc");
  EXPECT_NO_THROW(validate_repo_path("a/b..c/d.txt"));
  EXPECT_THROW(validate_repo_path("../x"), HubError);
  EXPECT_THROW(validate_repo_path("a/../x"), HubError);
  EXPECT_THROW(validate_repo_path("/etc/passwd"), HubError);
  EXPECT_THROW(validate_repo_path(""), HubError);
  EXPECT_EQ(url_quote("refs/pr/1", ""), "refs%2Fpr%2F1");
  EXPECT_EQ(url_quote("dir/a b+c.txt"), "dir/a%20b%2Bc.txt");
  EXPECT_EQ(url_origin("https://HuggingFace.co/x/y"), "https://huggingface.co:443");
  EXPECT_EQ(url_origin("http://127.0.0.1:8080/a"), "http://127.0.0.1:8080");
  EXPECT_EQ(resolve_url("http://h:1/a/b/c", "/x/y"), "http://h:1/x/y");
  EXPECT_THROW(Repo("a/b/c", Options{}), HubError);
  EXPECT_THROW(Repo("a--b/c", Options{}), HubError);
  EXPECT_THROW(graft::hub::parse_repo_type("modle"), HubError);
  EXPECT_EQ(graft::hub::parse_repo_type("datasets"), RepoType::Dataset);
}

TEST(HubCache, RefsWrittenWithoutNewlineAndNested) {
  TempDir dir;
  CacheLayout c(dir.path(), "org/name", RepoType::Model);
  c.write_ref("main", kCommit);
  EXPECT_EQ(hubtest::read_file(c.ref_file("main")), kCommit);
  c.write_ref("refs/pr/1", kCommit);
  EXPECT_EQ(*c.read_ref("refs/pr/1"), kCommit);
  c.write_ref(kCommit, kCommit);  // a commit gets no ref
  EXPECT_FALSE(fs::exists(c.ref_file(kCommit)));
  hubtest::write_file(c.ref_file("v1"), kCommit + "\n");  // tolerant reading
  EXPECT_EQ(*c.read_ref("v1"), kCommit);
  EXPECT_FALSE(c.read_ref("nope"));
}

TEST(HubCache, PointerIsRelativeSymlinkIntoBlobs) {
  TempDir dir;
  CacheLayout c(dir.path(), "org/name", RepoType::Model);
  hubtest::write_file(c.blob("etag1"), "hello");
  CacheLayout::link_pointer(c.blob("etag1"), c.pointer(kCommit, "config.json"));
  CacheLayout::link_pointer(c.blob("etag1"), c.pointer(kCommit, "onnx/sub/model.onnx"));
  EXPECT_TRUE(fs::is_symlink(c.pointer(kCommit, "config.json")));
  EXPECT_EQ(fs::read_symlink(c.pointer(kCommit, "config.json")), fs::path("../../blobs/etag1"));
  EXPECT_EQ(fs::read_symlink(c.pointer(kCommit, "onnx/sub/model.onnx")), fs::path("../../../../blobs/etag1"));
  EXPECT_EQ(hubtest::read_file(c.pointer(kCommit, "onnx/sub/model.onnx")), "hello");
  // Replacing an existing pointer is atomic and leaves no temporaries.
  hubtest::write_file(c.blob("etag2"), "bye");
  CacheLayout::link_pointer(c.blob("etag2"), c.pointer(kCommit, "config.json"));
  EXPECT_EQ(hubtest::read_file(c.pointer(kCommit, "config.json")), "bye");
  int entries = 0;
  for (auto& e : fs::directory_iterator(c.snapshot_dir(kCommit))) entries += e.path().filename() != "onnx";
  EXPECT_EQ(entries, 1);
}

// A cache written by Python's huggingface_hub (same layout, built by hand here) is served offline and,
// for a commit revision, online without a single request.
TEST(HubCache, PythonMadeCacheIsReused) {
  TempDir dir;
  const fs::path s = dir.path() / "models--sentence-transformers--all-MiniLM-L6-v2";
  const std::string etag = std::string(64, 'e');
  hubtest::write_file(s / "blobs" / etag, "onnx bytes");
  hubtest::write_file(s / "refs" / "main", kCommit);
  fs::create_directories(s / "snapshots" / kCommit / "onnx");
  fs::create_symlink("../../../blobs/" + etag, s / "snapshots" / kCommit / "onnx" / "model.onnx");

  Options o = hubtest::test_options("http://127.0.0.1:1", dir.path());  // nothing listens there
  o.offline = true;
  auto p = Repo("sentence-transformers/all-MiniLM-L6-v2", o).revision("main").download("onnx/model.onnx");
  EXPECT_EQ(p, s / "snapshots" / kCommit / "onnx" / "model.onnx");
  EXPECT_EQ(hubtest::read_file(p), "onnx bytes");
  EXPECT_EQ(Repo("sentence-transformers/all-MiniLM-L6-v2", o).snapshot_path(), s / "snapshots" / kCommit);
  EXPECT_EQ(Repo("sentence-transformers/all-MiniLM-L6-v2", o).list_files(), std::vector<std::string>{"onnx/model.onnx"});

  o.offline = false;
  auto q = Repo("sentence-transformers/all-MiniLM-L6-v2", o).revision(kCommit).download("onnx/model.onnx");
  EXPECT_EQ(q, p);
  // Branch revision with the Hub unreachable: falls back to the cached copy, as huggingface_hub does.
  auto r = Repo("sentence-transformers/all-MiniLM-L6-v2", o).download("onnx/model.onnx");
  EXPECT_EQ(r, p);
}

TEST(HubCache, OptionsFromEnvironment) {
  ScopedEnv env;
  clear_hf_env(env);
  TempDir dir;
  env.set("HOME", dir.path().string());
  Options d = Options::from_env();
  EXPECT_EQ(d.endpoint, "https://huggingface.co");
  EXPECT_EQ(d.cache_dir, dir.path() / ".cache" / "huggingface" / "hub");
  EXPECT_FALSE(d.token);
  EXPECT_FALSE(d.offline);

  env.set("HF_HOME", (dir.path() / "hfhome").string());
  hubtest::write_file(dir.path() / "hfhome" / "token", "hf_fromfile\n");
  env.set("HF_ENDPOINT", "http://127.0.0.1:9/");
  env.set("HF_HUB_OFFLINE", "1");
  Options e = Options::from_env();
  EXPECT_EQ(e.cache_dir, dir.path() / "hfhome" / "hub");
  EXPECT_EQ(e.token.value_or(""), "hf_fromfile");
  EXPECT_EQ(e.endpoint, "http://127.0.0.1:9");
  EXPECT_TRUE(e.offline);

  env.set("HF_HUB_CACHE", (dir.path() / "elsewhere").string());
  env.set("HF_TOKEN", "hf_fromenv");
  env.set("HF_HUB_OFFLINE", "0");
  Options f = Options::from_env();
  EXPECT_EQ(f.cache_dir, dir.path() / "elsewhere");
  EXPECT_EQ(f.token.value_or(""), "hf_fromenv");
  EXPECT_FALSE(f.offline);

  env.set("HF_HUB_CACHE", "~/tilde");
  EXPECT_EQ(Options::from_env().cache_dir, dir.path() / "tilde");
}
