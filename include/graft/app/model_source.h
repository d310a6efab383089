#pragma once
// Where the files of a model come from: a local folder laid out like a Hugging Face Hub repository, or the
// Hub itself (through graft::hub and its cache). Pipelines (sentence embeddings, tokenizers) read their
// files through a ModelSource so that both work alike.
//
//   auto src = graft::app::open_model_source("sentence-transformers/all-MiniLM-L6-v2");   // or "./folder"
//   std::optional<std::filesystem::path> tok = src.fetch("tokenizer.json");
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace graft::app {

// Returns a local path for a file of the repository (path relative to its root, '/'-separated), or
// nullopt when the file cannot be had. Throws for failures that make the whole source unusable.
using RepoFileFetcher = std::function<std::optional<std::filesystem::path>(const std::string& relative)>;

struct ModelSource {
  // A file of the source, or nullopt when it has no such file, or (a Hub repo) when the file is not in the
  // cache and cannot be downloaded now: HF_HUB_OFFLINE is set, or the Hub cannot be reached. That is how
  // huggingface_hub and sentence-transformers treat optional files, so a fully cached repo works without
  // network; for a required file, missing_reason() says why it is missing.
  RepoFileFetcher fetch;
  std::string what;  // names the source in messages: "model folder X", "Hub repo org/name@main"
  std::optional<std::filesystem::path> folder;  // set for a local folder

  // Why `fetch(relative)` last found nothing when that was not simply the file's absence from the
  // repository ("; it is not in the cache <folder> and HF_HUB_OFFLINE is set"), else "". For messages.
  std::string missing_reason(const std::string& relative) const;
  std::shared_ptr<std::map<std::string, std::string>> reasons = std::make_shared<std::map<std::string, std::string>>();
};

// True when `spec` can only be meant as a path (absolute, starting with '.' or '~', with more than one '/'
// or a backslash), so that a missing folder is reported as such instead of being looked up on the Hub.
bool looks_like_path(const std::string& spec);

// A local folder laid out like a Hub repository.
ModelSource folder_source(const std::filesystem::path& folder);
// A Hub repository at `revision`, through the standard cache (HF_HOME, HF_HUB_CACHE, HF_TOKEN, HF_ENDPOINT,
// HF_HUB_OFFLINE are honoured as huggingface_hub does). With HF_HUB_OFFLINE set, a repo the cache has no
// trace of is an error right away ("not in the cache <folder>, and offline").
ModelSource hub_source(const std::string& repo_id, const std::string& revision = "main");
// `spec` is a local folder when one exists at that path; a path that cannot be a repo id (looks_like_path)
// and does not exist is an error; anything else is a Hub repo id.
ModelSource open_model_source(const std::string& spec, const std::string& revision = "main");

}  // namespace graft::app
