// Local folders and Hub repositories as sources of model files (graft/app/model_source.h).
#include "graft/app/model_source.h"

#include <algorithm>

#include "graft/app/errors.h"
#include "graft/hub/hub.h"

namespace graft::app {

namespace fs = std::filesystem;

bool looks_like_path(const std::string& s) {
  if (s.empty()) return true;
  if (s[0] == '/' || s[0] == '.' || s[0] == '~') return true;
  return std::count(s.begin(), s.end(), '/') > 1 || s.find('\\') != std::string::npos;
}

ModelSource folder_source(const fs::path& folder) {
  std::error_code ec;
  GRAFT_CHECK(fs::is_directory(folder, ec), "model folder ", folder.string(), " does not exist or is not a folder");
  ModelSource src;
  src.folder = folder;
  src.what = "model folder " + folder.string();
  src.fetch = [folder](const std::string& rel) -> std::optional<fs::path> {
    fs::path p = folder / fs::path(rel);
    std::error_code e;
    if (fs::is_regular_file(p, e)) return p;
    return std::nullopt;
  };
  return src;
}

std::string ModelSource::missing_reason(const std::string& relative) const {
  auto it = reasons->find(relative);
  return it == reasons->end() ? std::string() : it->second;
}

ModelSource hub_source(const std::string& repo_id, const std::string& revision) {
  using Kind = hub::HubError::Kind;
  hub::Repo repo(repo_id);
  repo.revision(revision);
  ModelSource src;
  src.what = "Hub repo " + repo_id + "@" + revision;
  if (repo.options().offline) {
    src.what += " (offline: HF_HUB_OFFLINE is set, so only cached files are used)";
    std::error_code ec;
    fs::path storage = repo.storage_folder();
    bool resolvable = true;
    try {
      fs::path snapshot = repo.snapshot_path();  // refs/<revision> -> commit, no network
      resolvable = fs::is_directory(snapshot, ec);
    } catch (const hub::HubError&) {
      resolvable = false;
    }
    if (!resolvable)
      fail("Hub repo ", repo_id, "@", revision, " is not in the cache ", storage.string(),
           ", and graft is offline (HF_HUB_OFFLINE is set), so it cannot be downloaded; download it once with "
           "network access, or give a local folder");
  }
  src.fetch = [repo, repo_id, reasons = src.reasons](const std::string& rel) -> std::optional<fs::path> {
    reasons->erase(rel);
    try {
      return repo.download(rel);
    } catch (const hub::HubError& e) {
      switch (e.kind()) {
        case Kind::NotFound:
          return std::nullopt;
        case Kind::OfflineMiss:
          (*reasons)[rel] = "; it is not in the cache " + repo.storage_folder().string() + " and HF_HUB_OFFLINE is set";
          return std::nullopt;
        case Kind::Network:
        case Kind::Server:
          // Not cached and the Hub cannot be reached now: absent, as huggingface_hub treats optional files.
          (*reasons)[rel] = std::string("; it is not in the cache, and ") + e.what();
          return std::nullopt;
        default:
          fail("'", repo_id, "' is not a local folder, and fetching it from the Hub failed: ", e.what());
      }
    }
  };
  return src;
}

ModelSource open_model_source(const std::string& spec, const std::string& revision) {
  std::error_code ec;
  if (fs::exists(spec, ec)) {
    if (!fs::is_directory(spec, ec))
      usage_error(spec, " is a file; give the folder that holds it (laid out like the Hub repo: onnx/model.onnx or "
                        "model.onnx, tokenizer.json, 1_Pooling/config.json)");
    return folder_source(spec);
  }
  if (looks_like_path(spec)) usage_error("model folder ", spec, " does not exist");
  return hub_source(spec, revision);
}

}  // namespace graft::app
