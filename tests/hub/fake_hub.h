#pragma once
// An in-process imitation of the Hugging Face Hub's download endpoints on top of HttpServer:
//   HEAD/GET /<id>/resolve/<rev>/<path>      (datasets/<id>, spaces/<id> likewise)
//     regular file: 200, ETag "<40-hex>", X-Repo-Commit, body
//     LFS file:     302 to <base>/cdn/<sha256>, X-Linked-Etag "<sha256>", X-Linked-Size, X-Repo-Commit
//   GET /cdn/<sha256>                        LFS content, Range supported
//   GET /api/<type>s/<id>/revision/<rev>     {"sha": ..., "siblings": [{"rfilename": ...}]}
// Errors as the Hub sends them (X-Error-Code RepoNotFound / RevisionNotFound / EntryNotFound /
// GatedRepo), plus knobs to inject failures. Every request is logged.
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "hub/http_server.h"

namespace hubtest {

struct FakeFile {
  std::string content;
  bool lfs = false;
};

struct FakeRepo {
  std::string type = "model";  // model, dataset, space
  std::map<std::string, std::string> refs;  // revision -> commit
  std::map<std::string, std::map<std::string, FakeFile>> files;  // commit -> path -> file
};

class FakeHub {
 public:
  FakeHub();
  std::string endpoint() const { return server_->base_url(); }

  // Adds (or extends) a repo; `commit` becomes the target of `branch`.
  void add_file(const std::string& id, const std::string& commit, const std::string& path, const std::string& content,
                bool lfs = false, const std::string& branch = "main", const std::string& type = "model");
  void rename_repo(const std::string& old_id, const std::string& new_id);  // old id 307-redirects (relative)

  // Failure injection (apply to resolve/API/cdn requests; thread safe).
  void require_token(const std::string& token, bool gated = false);  // 401 (or 403 gated) without it
  void force_status(int status);           // every request answers this status (0: off)
  void cut_next_downloads(int n, std::size_t after_bytes);  // next n content GETs end early
  void corrupt_content(bool on);           // content GETs serve bytes that differ from the etag
  void slow_downloads(int chunk_delay_ms, std::size_t chunk);
  void ignore_ranges(bool on);
  void set_cdn(const std::string& base_url);  // LFS redirects point there instead of this server             // answer Range requests with the full body (200)

  std::vector<Request> requests() const;
  int count(const std::string& method, const std::string& path_prefix = "/") const;
  void clear_log();

  static std::string sha256(const std::string& s);
  static std::string git_etag(const std::string& s);  // 40 hex, stands in for the git blob sha1

 private:
  Response handle(const Request& req);
  Response serve_content(const Request& req, const std::string& content);

  mutable std::mutex mu_;
  std::map<std::string, FakeRepo> repos_;
  std::map<std::string, std::string> renamed_;
  std::map<std::string, std::string> cdn_;  // sha256 -> content
  std::vector<Request> log_;
  std::string token_;
  bool gated_ = false;
  int forced_status_ = 0;
  int cuts_left_ = 0;
  std::size_t cut_after_ = 0;
  bool corrupt_ = false;
  bool no_ranges_ = false;
  std::string cdn_base_;
  int chunk_delay_ms_ = 0;
  std::size_t chunk_ = 16 * 1024;
  std::unique_ptr<HttpServer> server_;  // last: stops before the state above goes away
};

}  // namespace hubtest
