#pragma once
// The huggingface_hub cache layout: where blobs, snapshots, refs, .no_exist markers and locks live, and
// the small filesystem operations on them (refs read/write, relative snapshot symlinks).
#include <filesystem>
#include <optional>
#include <string>

#include "graft/hub/hub.h"

namespace graft::hub::detail {

namespace fs = std::filesystem;

bool is_commit_hash(const std::string& s);  // exactly 40 lowercase hex digits
bool is_sha256_hex(const std::string& s);   // exactly 64 lowercase hex digits
// An ETag usable as a blob file name: 1-128 of [A-Za-z0-9._:+=-], not "." or "..".
bool is_safe_etag(const std::string& s);
// Strips a weak-validator prefix W/ and surrounding quotes: W/"abc" -> abc.
std::string normalize_etag(std::string etag);
// Rejects empty, absolute and ".." paths; the Hub uses '/' separators.
void validate_repo_path(const std::string& path);
// Rejects revisions that cannot be a branch, tag or commit and would name a path outside refs/ (the
// revision is a path under refs/): empty, absolute, a '.' / '..' / empty component, control characters.
void validate_revision(const std::string& revision);

class CacheLayout {
 public:
  CacheLayout(fs::path cache_dir, std::string repo_id, RepoType type);

  // "models--org--name" (datasets--, spaces--), as huggingface_hub's repo_folder_name().
  static std::string folder_name(const std::string& repo_id, RepoType type);

  const fs::path& storage() const { return storage_; }
  fs::path blob(const std::string& etag) const { return storage_ / "blobs" / etag; }
  fs::path incomplete(const std::string& etag) const { return storage_ / "blobs" / (etag + ".incomplete"); }
  fs::path snapshot_dir(const std::string& commit) const { return storage_ / "snapshots" / commit; }
  fs::path pointer(const std::string& commit, const std::string& path) const;
  fs::path ref_file(const std::string& revision) const { return storage_ / "refs" / revision; }
  fs::path no_exist(const std::string& commit, const std::string& path) const;
  fs::path lock_file(const std::string& etag) const { return locks_ / (etag + ".lock"); }

  // Commit recorded in refs/<revision>, if any.
  std::optional<std::string> read_ref(const std::string& revision) const;
  // Writes refs/<revision> when revision is not itself the commit and the content differs.
  void write_ref(const std::string& revision, const std::string& commit) const;
  // Commit for a revision without network: the revision itself if it is a commit, else refs/.
  std::optional<std::string> local_commit(const std::string& revision) const;
  // Snapshot file for a revision if it exists locally (following refs/).
  std::optional<fs::path> lookup(const std::string& revision, const std::string& path) const;
  bool marked_missing(const std::string& revision, const std::string& path) const;
  void mark_missing(const std::string& commit, const std::string& path) const;  // best effort

  // Makes `pointer` a relative symlink to `blob` (atomically replacing whatever is there); copies the
  // blob instead on filesystems without symlinks.
  static void link_pointer(const fs::path& blob, const fs::path& pointer);

 private:
  fs::path storage_;
  fs::path locks_;
};

}  // namespace graft::hub::detail
