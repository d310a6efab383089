#include "hub/fake_hub.h"

#include <nlohmann/json.hpp>

#include "hub/sha256.h"

namespace hubtest {
namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t end = s.find(sep, start);
    if (end == std::string::npos) end = s.size();
    out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

Response error(int status, const std::string& code, const std::string& message) {
  Response r;
  r.status = status;
  r.headers = {{"X-Error-Code", code}, {"X-Error-Message", message}, {"Content-Type", "application/json"}};
  r.body = "{\"error\":\"" + message + "\"}";
  return r;
}

}  // namespace

FakeHub::FakeHub() { server_ = std::make_unique<HttpServer>([this](const Request& r) { return handle(r); }); }

std::string FakeHub::sha256(const std::string& s) { return graft::hub::detail::sha256_hex(s); }
std::string FakeHub::git_etag(const std::string& s) { return sha256("blob " + s).substr(0, 40); }

void FakeHub::add_file(const std::string& id, const std::string& commit, const std::string& path,
                       const std::string& content, bool lfs, const std::string& branch, const std::string& type) {
  std::lock_guard<std::mutex> lock(mu_);
  FakeRepo& repo = repos_[type + ":" + id];
  repo.type = type;
  if (!branch.empty()) repo.refs[branch] = commit;
  repo.files[commit][path] = FakeFile{content, lfs};
  if (lfs) cdn_[sha256(content)] = content;
}

void FakeHub::rename_repo(const std::string& old_id, const std::string& new_id) {
  std::lock_guard<std::mutex> lock(mu_);
  renamed_[old_id] = new_id;
}

void FakeHub::require_token(const std::string& token, bool gated) {
  std::lock_guard<std::mutex> lock(mu_);
  token_ = token;
  gated_ = gated;
}
void FakeHub::force_status(int status) {
  std::lock_guard<std::mutex> lock(mu_);
  forced_status_ = status;
}
void FakeHub::cut_next_downloads(int n, std::size_t after_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  cuts_left_ = n;
  cut_after_ = after_bytes;
}
void FakeHub::corrupt_content(bool on) {
  std::lock_guard<std::mutex> lock(mu_);
  corrupt_ = on;
}
void FakeHub::slow_downloads(int chunk_delay_ms, std::size_t chunk) {
  std::lock_guard<std::mutex> lock(mu_);
  chunk_delay_ms_ = chunk_delay_ms;
  chunk_ = chunk;
}

void FakeHub::set_cdn(const std::string& base_url) {
  std::lock_guard<std::mutex> lock(mu_);
  cdn_base_ = base_url;
}

void FakeHub::ignore_ranges(bool on) {
  std::lock_guard<std::mutex> lock(mu_);
  no_ranges_ = on;
}

std::vector<Request> FakeHub::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return log_;
}

int FakeHub::count(const std::string& method, const std::string& path_prefix) const {
  std::lock_guard<std::mutex> lock(mu_);
  int n = 0;
  for (const auto& r : log_)
    if ((method.empty() || r.method == method) && r.path.rfind(path_prefix, 0) == 0) ++n;
  return n;
}

void FakeHub::clear_log() {
  std::lock_guard<std::mutex> lock(mu_);
  log_.clear();
}

// Called with mu_ held.
Response FakeHub::serve_content(const Request& req, const std::string& content) {
  Response r;
  r.ranges = !no_ranges_;
  r.body = content;
  if (corrupt_ && !r.body.empty()) r.body[r.body.size() / 2] ^= 0x5a;  // same length, wrong bytes
  if (req.method == "GET" && cuts_left_ > 0) {
    --cuts_left_;
    r.cut_after = cut_after_;
  }
  r.chunk_delay_ms = chunk_delay_ms_;
  r.chunk = chunk_;
  return r;
}

Response FakeHub::handle(const Request& req) {
  std::lock_guard<std::mutex> lock(mu_);
  log_.push_back(req);
  if (forced_status_) return error(forced_status_, "", "forced failure");

  std::vector<std::string> seg = split(req.path.substr(1), '/');
  // /cdn/<sha256>
  if (seg.size() == 2 && seg[0] == "cdn") {
    auto it = cdn_.find(seg[1]);
    if (it == cdn_.end()) return error(404, "", "no such object");
    return serve_content(req, it->second);
  }

  bool api = !seg.empty() && seg[0] == "api";
  std::string type = "model";
  std::size_t i = 0;
  if (api) {
    if (seg.size() < 2) return error(404, "", "bad api path");
    type = seg[1].substr(0, seg[1].size() - 1);
    i = 2;
  } else if (!seg.empty() && (seg[0] == "datasets" || seg[0] == "spaces")) {
    type = seg[0].substr(0, seg[0].size() - 1);
    i = 1;
  }
  // Revisions arrive percent-encoded in one segment; the decoded path may split them, so re-split the raw
  // target for the revision.
  std::vector<std::string> raw = split(req.target.substr(1, req.target.find('?') - 1), '/');
  if (seg.size() < i + 4) return error(404, "", "bad path");
  std::string id = seg[i] + "/" + seg[i + 1];
  const std::string verb = seg[i + 2];
  if (api ? verb != "revision" : verb != "resolve") return error(404, "", "bad path");
  const std::string rev = percent_decode(raw[i + 3]);
  std::string file;
  for (std::size_t k = i + 4; k < raw.size(); ++k) file += (file.empty() ? "" : "/") + percent_decode(raw[k]);

  if (auto rn = renamed_.find(id); rn != renamed_.end() && !api) {
    Response r;
    r.status = 307;
    std::string prefix = type == "model" ? "" : type + "s/";
    r.headers = {{"Location", "/" + prefix + rn->second + "/resolve/" + raw[i + 3] + "/" + file}};
    return r;
  }

  auto repo_it = repos_.find(type + ":" + id);
  const std::string auth = req.header("authorization");
  const bool authorized = token_.empty() || auth == "Bearer " + token_;
  if (repo_it == repos_.end() || (!authorized && !gated_))
    return error(401, "RepoNotFound", "Repository Not Found for url: " + req.target + ".");
  if (!authorized) return error(403, "GatedRepo", "Access to model " + id + " is restricted.");
  FakeRepo& repo = repo_it->second;

  std::string commit = rev;
  if (auto r = repo.refs.find(rev); r != repo.refs.end()) commit = r->second;
  auto files_it = repo.files.find(commit);
  if (files_it == repo.files.end()) return error(404, "RevisionNotFound", "Invalid rev id: " + rev);

  if (api) {
    nlohmann::json j;
    j["id"] = id;
    j["sha"] = commit;
    j["siblings"] = nlohmann::json::array();
    for (const auto& [p, f] : files_it->second) j["siblings"].push_back({{"rfilename", p}});
    Response r;
    r.headers = {{"Content-Type", "application/json"}};
    r.body = j.dump();
    return r;
  }

  auto f = files_it->second.find(file);
  if (f == files_it->second.end()) {
    Response r = error(404, "EntryNotFound", file + " does not exist on \"" + rev + "\"");
    r.headers.emplace_back("X-Repo-Commit", commit);
    return r;
  }
  if (f->second.lfs) {
    const std::string sha = sha256(f->second.content);
    const std::string cdn = cdn_base_.empty() ? endpoint() : cdn_base_;
    Response r;
    r.status = 302;
    r.body = "Found. Redirecting to " + cdn + "/cdn/" + sha;
    r.headers = {{"Location", cdn + "/cdn/" + sha},
                 {"X-Repo-Commit", commit},
                 {"X-Linked-Etag", "\"" + sha + "\""},
                 {"X-Linked-Size", std::to_string(f->second.content.size())},
                 {"ETag", "W/\"" + git_etag("pointer:" + f->second.content) + "\""}};
    return r;
  }
  Response r = serve_content(req, f->second.content);
  r.headers = {{"X-Repo-Commit", commit}, {"ETag", "\"" + git_etag(f->second.content) + "\""}};
  return r;
}

}  // namespace hubtest
