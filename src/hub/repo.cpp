// graft::hub::Repo: options from the environment, file download through the cache, revision resolution
// and file listing through the Hub API (/api/{models,datasets,spaces}/<id>/revision/<rev>).
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>

#include "graft/hub/hub.h"
#include "hub/cache.h"
#include "hub/download.h"
#include "hub/errors.h"
#include "hub/http.h"

namespace graft::hub {

namespace fs = std::filesystem;
using namespace detail;

// ---- names and environment ------------------------------------------------------------------------

const char* to_string(RepoType t) {
  switch (t) {
    case RepoType::Model: return "model";
    case RepoType::Dataset: return "dataset";
    case RepoType::Space: return "space";
  }
  return "model";
}

RepoType parse_repo_type(const std::string& s) {
  if (s == "model" || s == "models") return RepoType::Model;
  if (s == "dataset" || s == "datasets") return RepoType::Dataset;
  if (s == "space" || s == "spaces") return RepoType::Space;
  throw HubError(HubError::Kind::Local, 0, "hub: unknown repo type '" + s + "' (expected model, dataset or space)");
}

namespace {

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

fs::path expand_user(const std::string& p) {
  if (p == "~" || p.rfind("~/", 0) == 0) {
    const char* home = std::getenv("HOME");
    if (home) return fs::path(home) / p.substr(p.size() > 1 ? 2 : 1);
  }
  return fs::path(p);
}

fs::path hf_home() {
  if (auto h = env("HF_HOME")) return expand_user(*h);
  if (auto x = env("XDG_CACHE_HOME")) return expand_user(*x) / "huggingface";
  return expand_user("~/.cache/huggingface");
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

bool truthy(const std::string& v) {
  std::string u = v;
  std::transform(u.begin(), u.end(), u.begin(), [](unsigned char c) { return std::toupper(c); });
  return u == "1" || u == "ON" || u == "YES" || u == "TRUE";
}

std::optional<std::chrono::milliseconds> env_seconds(const char* name) {
  auto v = env(name);
  if (!v) return std::nullopt;
  char* end = nullptr;
  double s = std::strtod(v->c_str(), &end);
  if (end == v->c_str() || s <= 0) return std::nullopt;
  return std::chrono::milliseconds(static_cast<long long>(s * 1000));
}

}  // namespace

fs::path default_cache_dir() {
  if (auto c = env("HF_HUB_CACHE")) return expand_user(*c);
  if (auto c = env("HUGGINGFACE_HUB_CACHE")) return expand_user(*c);
  return hf_home() / "hub";
}

std::optional<std::string> default_token() {
  for (const char* name : {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"}) {
    if (auto t = env(name)) {
      std::string s = trim(*t);
      if (!s.empty()) return s;
    }
  }
  fs::path file = env("HF_TOKEN_PATH") ? expand_user(*env("HF_TOKEN_PATH")) : hf_home() / "token";
  std::ifstream in(file);
  if (!in) return std::nullopt;
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  s = trim(s);
  if (s.empty()) return std::nullopt;
  return s;
}

Options Options::from_env() {
  Options o;
  if (auto e = env("HF_ENDPOINT")) o.endpoint = *e;
  while (!o.endpoint.empty() && o.endpoint.back() == '/') o.endpoint.pop_back();
  o.token = default_token();
  o.cache_dir = default_cache_dir();
  if (auto v = env("HF_HUB_OFFLINE")) o.offline = truthy(*v);
  if (auto t = env_seconds("HF_HUB_ETAG_TIMEOUT")) o.metadata_timeout = *t;
  if (auto t = env_seconds("HF_HUB_DOWNLOAD_TIMEOUT")) o.stall_timeout = *t;
  if (auto v = env("HF_HUB_DISABLE_PROGRESS_BARS"); v && truthy(*v)) o.progress = Progress::Never;
  return o;
}

// ---- Repo -----------------------------------------------------------------------------------------

namespace {

std::string url_prefix(RepoType t) {
  switch (t) {
    case RepoType::Dataset: return "datasets/";
    case RepoType::Space: return "spaces/";
    default: return "";
  }
}

std::string endpoint_of(const Options& o) {
  std::string e = o.endpoint.empty() ? std::string("https://huggingface.co") : o.endpoint;
  while (!e.empty() && e.back() == '/') e.pop_back();
  return e;
}

std::vector<std::string> auth_headers(const Options& o) {
  std::vector<std::string> h;
  if (o.token && !o.token->empty()) h.push_back("Authorization: Bearer " + *o.token);
  return h;
}

// Filesystem failures in the cache (disk full, a name too long, permissions) are HubErrors like every other
// failure of the client (std::filesystem would otherwise throw its own exception type out of the API).
HubError local_error(const fs::filesystem_error& e) {
  return HubError(HubError::Kind::Local, 0, std::string("hub: cache: ") + e.what());
}

struct RevisionInfo {
  std::string sha;
  std::vector<std::string> files;
};

}  // namespace

Repo::Repo(std::string repo_id, Options options) : id_(std::move(repo_id)), opts_(std::move(options)) {
  if (id_.empty() || id_.front() == '/' || id_.back() == '/' || id_.find("..") != std::string::npos ||
      id_.find("--") != std::string::npos || std::count(id_.begin(), id_.end(), '/') > 1)
    throw HubError(HubError::Kind::Local, 0,
                   "hub: invalid repo id '" + id_ + "' (expected 'name' or 'namespace/name')");
  if (opts_.cache_dir.empty()) opts_.cache_dir = default_cache_dir();
}

Repo& Repo::revision(std::string rev) {
  try {
    validate_revision(rev);
  } catch (const HubError& e) {
    throw HubError(HubError::Kind::Local, 0, std::string(e.what()) + " (repo '" + id_ + "')");
  }
  revision_ = std::move(rev);
  return *this;
}

Repo& Repo::repo_type(RepoType type) {
  type_ = type;
  return *this;
}

Repo& Repo::options(Options options) {
  opts_ = std::move(options);
  if (opts_.cache_dir.empty()) opts_.cache_dir = default_cache_dir();
  return *this;
}

fs::path Repo::storage_folder() const { return CacheLayout(opts_.cache_dir, id_, type_).storage(); }

std::optional<fs::path> Repo::cached(const std::string& path) const try {
  validate_repo_path(path);
  return CacheLayout(opts_.cache_dir, id_, type_).lookup(revision_, path);
} catch (const fs::filesystem_error& e) {
  throw local_error(e);
}

namespace {

// GET /api/<type>s/<id>/revision/<rev>: the commit and the file list.
RevisionInfo fetch_revision_info(const Repo& repo) {
  const Options& o = repo.options();
  ErrorContext ctx{repo.id(), repo.repo_type(), repo.revision(), "", endpoint_of(o), bool(o.token)};
  HttpRequest req;
  req.url = endpoint_of(o) + "/api/" + to_string(repo.repo_type()) + "s/" + repo.id() + "/revision/" +
            url_quote(repo.revision(), "");
  req.headers = auth_headers(o);
  req.follow_redirects = true;
  req.connect_timeout = o.connect_timeout;
  req.total_timeout = o.metadata_timeout;
  req.user_agent = o.user_agent;
  HttpResponse resp;
  try {
    resp = http_perform(req);
  } catch (const TransportError& e) {
    throw_network_error(e, ctx);
  }
  if (resp.status != 200) throw_http_error(resp, req.url, ctx);
  RevisionInfo info;
  try {
    auto j = nlohmann::json::parse(resp.body);
    info.sha = j.at("sha").get<std::string>();
    if (j.contains("siblings"))
      for (const auto& s : j.at("siblings")) info.files.push_back(s.at("rfilename").get<std::string>());
  } catch (const nlohmann::json::exception& e) {
    throw HubError(HubError::Kind::Http, int(resp.status),
                   "hub: unexpected API response from " + req.url + " for " + ctx.what() + ": " + e.what());
  }
  if (!is_commit_hash(info.sha))
    throw HubError(HubError::Kind::Http, int(resp.status),
                   "hub: API response from " + req.url + " has no valid commit sha ('" + info.sha + "')");
  return info;
}

[[noreturn]] void throw_offline_miss(const Repo& repo, const CacheLayout& cache, const std::string& path) {
  std::string msg = "hub: offline mode (HF_HUB_OFFLINE=1): ";
  msg += path.empty() ? std::string("revision") : "'" + path + "' of";
  msg += std::string(" ") + to_string(repo.repo_type()) + " '" + repo.id() + "' at revision '" + repo.revision() +
         "' is not in the cache " + cache.storage().string();
  if (!is_commit_hash(repo.revision()) && !cache.read_ref(repo.revision()))
    msg += " (no refs/" + repo.revision() + " recorded)";
  msg += "; download it once with network access";
  throw HubError(HubError::Kind::OfflineMiss, 0, msg);
}

}  // namespace

std::string Repo::commit() const try {
  CacheLayout cache(opts_.cache_dir, id_, type_);
  if (is_commit_hash(revision_)) return revision_;
  if (opts_.offline) {
    if (auto c = cache.read_ref(revision_)) return *c;
    throw_offline_miss(*this, cache, "");
  }
  try {
    RevisionInfo info = fetch_revision_info(*this);
    cache.write_ref(revision_, info.sha);
    return info.sha;
  } catch (const HubError& e) {
    // Hub unreachable or down: fall back to the last commit seen for this revision.
    if (e.kind() == HubError::Kind::Network || e.kind() == HubError::Kind::Server)
      if (auto c = cache.read_ref(revision_)) return *c;
    throw;
  }
} catch (const fs::filesystem_error& e) {
  throw local_error(e);
}

fs::path Repo::snapshot_path() const { return CacheLayout(opts_.cache_dir, id_, type_).snapshot_dir(commit()); }

std::vector<std::string> Repo::list_files() const try {
  CacheLayout cache(opts_.cache_dir, id_, type_);
  if (!opts_.offline) {
    RevisionInfo info = fetch_revision_info(*this);
    if (!is_commit_hash(revision_)) cache.write_ref(revision_, info.sha);
    std::sort(info.files.begin(), info.files.end());
    return info.files;
  }
  auto c = cache.local_commit(revision_);
  fs::path dir = c ? cache.snapshot_dir(*c) : fs::path();
  std::error_code ec;
  if (!c || !fs::is_directory(dir, ec)) throw_offline_miss(*this, cache, "");
  std::vector<std::string> files;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it)
    if (it->is_regular_file()) files.push_back(it->path().lexically_relative(dir).generic_string());
  std::sort(files.begin(), files.end());
  return files;
} catch (const fs::filesystem_error& e) {
  throw local_error(e);
}

fs::path Repo::download_all() const try {
  if (opts_.offline) {
    fs::path dir = snapshot_path();
    for (const auto& f : list_files()) download(f);
    return dir;
  }
  RevisionInfo info = fetch_revision_info(*this);
  CacheLayout cache(opts_.cache_dir, id_, type_);
  cache.write_ref(revision_, info.sha);
  Repo pinned = *this;
  pinned.revision(info.sha);  // every file from the same commit, even if the branch moves meanwhile
  for (const auto& f : info.files) pinned.download(f);
  fs::path dir = cache.snapshot_dir(info.sha);
  fs::create_directories(dir);
  return dir;
} catch (const fs::filesystem_error& e) {
  throw local_error(e);
}

fs::path Repo::download(const std::string& path) const try {
  validate_repo_path(path);
  CacheLayout cache(opts_.cache_dir, id_, type_);
  const std::string endpoint = endpoint_of(opts_);
  ErrorContext ctx{id_, type_, revision_, path, endpoint, bool(opts_.token)};

  if (opts_.offline) {
    if (auto hit = cache.lookup(revision_, path)) return *hit;
    if (cache.marked_missing(revision_, path))
      throw HubError(HubError::Kind::NotFound, 0,
                     "hub: file not found: '" + path + "' does not exist in " + to_string(type_) + " '" + id_ +
                         "' at revision '" + revision_ + "' (recorded in the cache's .no_exist)");
    throw_offline_miss(*this, cache, path);
  }
  // A commit is immutable: a cached file needs no request at all.
  if (is_commit_hash(revision_))
    if (auto hit = cache.lookup(revision_, path)) return *hit;

  const std::string url =
      endpoint + "/" + url_prefix(type_) + id_ + "/resolve/" + url_quote(revision_, "") + "/" + url_quote(path, "/");
  const std::vector<std::string> auth = auth_headers(opts_);

  FileMetadata meta;
  {
    // Errors that leave the file possibly valid in the cache (Hub down, network, auth) fall back to it.
    auto fallback_or_rethrow = [&](const HubError& err) -> fs::path {
      if (auto hit = cache.lookup(revision_, path)) return *hit;
      throw err;
    };
    HttpResponse resp;
    std::string final_url = url;
    try {
      resp = head_file(url, auth, opts_, &final_url);
    } catch (const TransportError& e) {
      try {
        throw_network_error(e, ctx);
      } catch (const HubError& err) {
        return fallback_or_rethrow(err);
      }
    }
    if (resp.status >= 400) {
      if (resp.status == 404 || resp.header("x-error-code") == "EntryNotFound" ||
          resp.header("x-error-code") == "RevisionNotFound") {
        const std::string commit = resp.header("x-repo-commit");
        if (resp.header("x-error-code") == "EntryNotFound" && is_commit_hash(commit)) {
          cache.mark_missing(commit, path);
          cache.write_ref(revision_, commit);
        }
        throw_http_error(resp, final_url, ctx);
      }
      try {
        throw_http_error(resp, final_url, ctx);
      } catch (const HubError& err) {
        return fallback_or_rethrow(err);
      }
    }
    meta = parse_metadata(resp, final_url);
    std::string missing;
    if (meta.commit.empty()) missing = "X-Repo-Commit";
    else if (meta.etag.empty()) missing = "ETag";
    else if (!meta.size) missing = "a size (X-Linked-Size / Content-Length)";
    if (!missing.empty()) {
      HubError err(HubError::Kind::Http, int(resp.status),
                   "hub: the response of " + endpoint + " for " + ctx.what() + " lacks " + missing +
                       ": is HF_ENDPOINT a Hugging Face Hub, or is a proxy rewriting responses?");
      return fallback_or_rethrow(err);
    }
    // Both become path components in the cache (snapshots/<commit>/..., blobs/<etag>): a hostile or broken
    // server must not be able to name a path outside it ("../../..") or one the filesystem refuses.
    if (!is_commit_hash(meta.commit))
      throw HubError(HubError::Kind::Http, int(resp.status),
                     "hub: invalid X-Repo-Commit '" + meta.commit.substr(0, 80) + "' from " + endpoint + " for " +
                         ctx.what() + " (expected 40 lowercase hex digits)");
    if (!is_safe_etag(meta.etag))
      throw HubError(HubError::Kind::Http, int(resp.status),
                     "hub: invalid ETag '" + meta.etag.substr(0, 80) + "' from " + endpoint + " for " + ctx.what());
  }

  cache.write_ref(revision_, meta.commit);
  const fs::path blob = cache.blob(meta.etag);
  const fs::path pointer = cache.pointer(meta.commit, path);
  std::error_code ec;
  if (fs::exists(pointer, ec)) return pointer;

  fs::create_directories(blob.parent_path());
  FileLock lock(cache.lock_file(meta.etag), opts_.lock_timeout);
  if (!fs::exists(blob)) {
    BlobJob job;
    job.url = meta.location;
    // The token goes to the Hub itself, never to a CDN on another host (its URL is signed).
    if (url_origin(meta.location) == url_origin(url)) job.headers = auth;
    job.blob = blob;
    job.incomplete = cache.incomplete(meta.etag);
    job.etag = meta.etag;
    job.expected_size = meta.size;
    job.label = path;
    job.ctx = ctx;
    download_blob(job, opts_);
  }
  if (!fs::exists(pointer, ec)) CacheLayout::link_pointer(blob, pointer);
  return pointer;
} catch (const fs::filesystem_error& e) {
  throw local_error(e);
}

}  // namespace graft::hub
