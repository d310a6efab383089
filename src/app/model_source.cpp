// Local folders and Hub repositories as sources of model files (graft/app/model_source.h).
#include "graft/app/model_source.h"

#include <algorithm>

#include "graft/core/error.h"
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

ModelSource hub_source(const std::string& repo_id, const std::string& revision) {
  hub::Repo repo(repo_id);
  repo.revision(revision);
  ModelSource src;
  src.what = "Hub repo " + repo_id + "@" + revision;
  if (repo.options().offline) src.what += " (offline: HF_HUB_OFFLINE is set, so only cached files are used)";
  src.fetch = [repo, repo_id](const std::string& rel) -> std::optional<fs::path> {
    try {
      return repo.download(rel);
    } catch (const hub::HubError& e) {
      if (e.kind() == hub::HubError::Kind::NotFound || e.kind() == hub::HubError::Kind::OfflineMiss)
        return std::nullopt;
      fail("'", repo_id, "' is not a local folder, and fetching it from the Hub failed: ", e.what());
    }
  };
  return src;
}

ModelSource open_model_source(const std::string& spec, const std::string& revision) {
  std::error_code ec;
  if (fs::exists(spec, ec)) {
    GRAFT_CHECK(fs::is_directory(spec, ec), spec,
                " is a file; give the folder that holds it (laid out like the Hub repo: onnx/model.onnx or "
                "model.onnx, tokenizer.json, 1_Pooling/config.json)");
    return folder_source(spec);
  }
  GRAFT_CHECK(!looks_like_path(spec), "model folder ", spec, " does not exist");
  return hub_source(spec, revision);
}

}  // namespace graft::app
