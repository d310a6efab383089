#pragma once
// graft::hub: a Hugging Face Hub client that downloads repository files into the same cache as the
// Python `huggingface_hub` library, so files fetched by either side are found and reused by the other.
//
//   auto onnx = graft::hub::Repo("sentence-transformers/all-MiniLM-L6-v2").revision("main")
//                   .download("onnx/model.onnx");   // -> .../snapshots/<commit>/onnx/model.onnx
//
// Cache layout ($HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub):
//   models--org--name/blobs/<etag>                    file contents (etag = sha256 for LFS files)
//   models--org--name/snapshots/<commit>/<path>       relative symlink to ../../blobs/<etag>
//   models--org--name/refs/<revision>                 commit hash the branch/tag pointed to
//   models--org--name/.no_exist/<commit>/<path>       empty marker: file known not to exist
//   .locks/models--org--name/<etag>.lock              flock held while a blob is written
// Every failure throws graft::hub::HubError (a graft::Error) whose message names the repo, revision,
// file and endpoint concerned.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "graft/core/error.h"

namespace graft::hub {

enum class RepoType { Model, Dataset, Space };

// "model" / "dataset" / "space"; parse_repo_type throws on anything else.
const char* to_string(RepoType t);
RepoType parse_repo_type(const std::string& s);

enum class Progress { Auto, Always, Never };  // Auto: a bar on stderr when it is a TTY

// Client settings. Options::from_env() reads the same variables as huggingface_hub.
struct Options {
  std::string endpoint = "https://huggingface.co";  // HF_ENDPOINT
  std::optional<std::string> token;                 // HF_TOKEN, else the file HF_TOKEN_PATH / $HF_HOME/token
  std::filesystem::path cache_dir;                  // HF_HUB_CACHE, else $HF_HOME/hub
  bool offline = false;                             // HF_HUB_OFFLINE=1: serve from the cache only
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds metadata_timeout{10000};  // HEAD and API calls (HF_HUB_ETAG_TIMEOUT)
  std::chrono::milliseconds stall_timeout{30000};     // a download making no progress this long fails
  int max_retries = 5;                                // resumptions of an interrupted download
  std::chrono::milliseconds lock_timeout{std::chrono::minutes(30)};  // waiting for another writer
  Progress progress = Progress::Auto;
  std::uint64_t progress_min_bytes = 10u << 20;  // no bar for smaller files
  std::string user_agent = "graft-hub/0.1";

  static Options from_env();
};

// Default cache root and token, as Options::from_env() computes them.
std::filesystem::path default_cache_dir();
std::optional<std::string> default_token();

// Thrown for every hub failure; kind() lets callers react without parsing the message.
class HubError : public graft::Error {
 public:
  enum class Kind { Network, Unauthorized, NotFound, Server, Corrupt, OfflineMiss, Http, Local };
  HubError(Kind kind, int http_status, const std::string& what)
      : graft::Error(what), kind_(kind), status_(http_status) {}
  Kind kind() const { return kind_; }
  int http_status() const { return status_; }  // 0 when no HTTP response was involved

 private:
  Kind kind_;
  int status_;
};

class Repo {
 public:
  explicit Repo(std::string repo_id, Options options = Options::from_env());

  Repo& revision(std::string rev);  // branch, tag, "refs/pr/N" or a 40-hex commit (default "main")
  Repo& repo_type(RepoType type);
  Repo& options(Options options);

  const std::string& id() const { return id_; }
  const std::string& revision() const { return revision_; }
  RepoType repo_type() const { return type_; }
  const Options& options() const { return opts_; }

  // Path of one file of the repo inside the cache (snapshots/<commit>/<path>), downloading it first if
  // needed. With a branch revision one HEAD request checks for a newer commit; with a commit revision a
  // cached file costs no request at all. If the Hub cannot be reached the cached copy is used.
  std::filesystem::path download(const std::string& path) const;
  // Downloads every file of the revision (list_files()) and returns the snapshot folder.
  std::filesystem::path download_all() const;

  // The commit the revision resolves to: the revision itself when it is a commit, else the API (online)
  // or refs/<revision> (offline). Online, refs/<revision> is updated.
  std::string commit() const;
  // cache_dir/models--org--name/snapshots/<commit> (not necessarily populated).
  std::filesystem::path snapshot_path() const;
  // Files of the revision: from the API online, from the local snapshot folder offline.
  std::vector<std::string> list_files() const;

  // cache_dir/models--org--name
  std::filesystem::path storage_folder() const;
  // The cached file for the revision without any network access, if present.
  std::optional<std::filesystem::path> cached(const std::string& path) const;

 private:
  std::string id_;
  std::string revision_ = "main";
  RepoType type_ = RepoType::Model;
  Options opts_;
};

}  // namespace graft::hub
