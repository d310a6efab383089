#pragma once
// The Hub's download protocol: a HEAD on .../resolve/<revision>/<path> (relative redirects followed,
// absolute ones kept as the download location) yields commit, etag and size; the blob is then fetched
// into blobs/<etag>.incomplete (resumed with Range when a partial file is there), checked for size and,
// for LFS files, sha256, and renamed into place, all under a flock so concurrent writers do not clash.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "graft/hub/hub.h"
#include "hub/errors.h"
#include "hub/http.h"

namespace graft::hub::detail {

namespace fs = std::filesystem;

// An exclusive flock(2) on `path` (created if needed), held for the object's lifetime. Waits up to
// `timeout`, then throws naming the lock file. Compatible with Python's filelock on the same file.
class FileLock {
 public:
  FileLock(const fs::path& path, std::chrono::milliseconds timeout);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

struct FileMetadata {
  std::string commit;                  // X-Repo-Commit
  std::string etag;                    // X-Linked-Etag or ETag, normalized
  std::optional<std::uint64_t> size;   // X-Linked-Size or Content-Length
  std::string location;                // where to GET the content
};

// HEAD request for `url`. Returns the final response (relative redirects followed) with its URL; the
// caller maps non-2xx/3xx statuses. Transport failures throw TransportError.
HttpResponse head_file(const std::string& url, const std::vector<std::string>& headers, const Options& opts,
                       std::string* final_url);
// Extracts FileMetadata from a successful HEAD response; `url` is the URL that produced it.
FileMetadata parse_metadata(const HttpResponse& resp, const std::string& url);

struct BlobJob {
  std::string url;                    // GET target (redirects are followed)
  std::vector<std::string> headers;   // e.g. Authorization (only for the endpoint's own host)
  fs::path blob;                      // blobs/<etag>
  fs::path incomplete;                // blobs/<etag>.incomplete
  std::string etag;
  std::optional<std::uint64_t> expected_size;
  std::string label;                  // progress bar label
  ErrorContext ctx;                   // for error messages
};

// Downloads job.url into job.blob unless it already exists. The caller holds the blob's FileLock.
void download_blob(const BlobJob& job, const Options& opts);

}  // namespace graft::hub::detail
