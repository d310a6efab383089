#include "hub/cache.h"

#include <unistd.h>

#include <atomic>
#include <cctype>
#include <fstream>
#include <sstream>
#include <thread>

namespace graft::hub::detail {
namespace {

bool is_lower_hex(const std::string& s, std::size_t n) {
  if (s.size() != n) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// Joins a '/'-separated repo path onto a local directory component by component.
fs::path join_repo_path(fs::path base, const std::string& path) {
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (end > start) base /= path.substr(start, end - start);
    start = end + 1;
  }
  return base;
}

std::string unique_suffix() {
  static std::atomic<unsigned> counter{0};
  std::ostringstream os;
  os << ".tmp-" << ::getpid() << "-" << std::hash<std::thread::id>()(std::this_thread::get_id()) << "-"
     << counter++;
  return os.str();
}

}  // namespace

bool is_commit_hash(const std::string& s) { return is_lower_hex(s, 40); }

bool is_safe_etag(const std::string& s) {
  if (s.empty() || s.size() > 128 || s == "." || s == "..") return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == ':' || c == '+' ||
          c == '='))
      return false;
  return true;
}
bool is_sha256_hex(const std::string& s) { return is_lower_hex(s, 64); }

std::string normalize_etag(std::string etag) {
  if (etag.rfind("W/", 0) == 0) etag.erase(0, 2);
  while (!etag.empty() && (etag.front() == '"' || etag.front() == ' ')) etag.erase(0, 1);
  while (!etag.empty() && (etag.back() == '"' || etag.back() == ' ')) etag.pop_back();
  return etag;
}

void validate_repo_path(const std::string& path) {
  if (path.empty()) throw HubError(HubError::Kind::Local, 0, "hub: empty file path");
  if (path.front() == '/')
    throw HubError(HubError::Kind::Local, 0, "hub: file path must be relative to the repo root: '" + path + "'");
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (path.compare(start, end - start, "..") == 0 && end - start == 2)
      throw HubError(HubError::Kind::Local, 0, "hub: file path must not contain '..': '" + path + "'");
    start = end + 1;
  }
}

void validate_revision(const std::string& revision) {
  auto bad = [&](const char* why) {
    std::string shown;
    for (char c : revision.substr(0, 80)) shown += std::iscntrl(static_cast<unsigned char>(c)) ? '?' : c;
    throw HubError(HubError::Kind::Local, 0, "hub: invalid revision '" + shown + "': " + why);
  };
  if (revision.empty()) bad("empty");
  if (revision.front() == '/') bad("absolute");
  for (char c : revision)
    if (std::iscntrl(static_cast<unsigned char>(c))) bad("control character");
  std::size_t start = 0;
  while (start <= revision.size()) {
    std::size_t end = revision.find('/', start);
    if (end == std::string::npos) end = revision.size();
    const std::string part = revision.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") bad("empty, '.' or '..' path component");
    start = end + 1;
  }
}

CacheLayout::CacheLayout(fs::path cache_dir, std::string repo_id, RepoType type) {
  cache_dir = fs::absolute(cache_dir);
  storage_ = cache_dir / folder_name(repo_id, type);
  locks_ = cache_dir / ".locks" / folder_name(repo_id, type);
}

std::string CacheLayout::folder_name(const std::string& repo_id, RepoType type) {
  std::string out = std::string(to_string(type)) + "s";
  std::size_t start = 0;
  while (start <= repo_id.size()) {
    std::size_t end = repo_id.find('/', start);
    if (end == std::string::npos) end = repo_id.size();
    out += "--";
    out += repo_id.substr(start, end - start);
    start = end + 1;
  }
  return out;
}

fs::path CacheLayout::pointer(const std::string& commit, const std::string& path) const {
  return join_repo_path(snapshot_dir(commit), path);
}

fs::path CacheLayout::no_exist(const std::string& commit, const std::string& path) const {
  return join_repo_path(storage_ / ".no_exist" / commit, path);
}

std::optional<std::string> CacheLayout::read_ref(const std::string& revision) const {
  std::ifstream in(ref_file(revision));
  if (!in) return std::nullopt;
  std::string s;
  std::getline(in, s);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  if (s.empty()) return std::nullopt;
  return s;
}

void CacheLayout::write_ref(const std::string& revision, const std::string& commit) const {
  if (revision == commit) return;
  if (read_ref(revision) == commit) return;
  fs::path ref = ref_file(revision);
  fs::create_directories(ref.parent_path());
  fs::path tmp = ref;
  tmp += unique_suffix();
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << commit;  // no newline, as huggingface_hub writes it
    if (!out) throw HubError(HubError::Kind::Local, 0, "hub: cannot write " + ref.string());
  }
  fs::rename(tmp, ref);
}

std::optional<std::string> CacheLayout::local_commit(const std::string& revision) const {
  if (is_commit_hash(revision)) return revision;
  return read_ref(revision);
}

std::optional<fs::path> CacheLayout::lookup(const std::string& revision, const std::string& path) const {
  auto commit = local_commit(revision);
  if (!commit) return std::nullopt;
  fs::path p = pointer(*commit, path);
  std::error_code ec;
  if (fs::is_regular_file(p, ec)) return p;  // follows the symlink: a dangling link is a miss
  return std::nullopt;
}

bool CacheLayout::marked_missing(const std::string& revision, const std::string& path) const {
  auto commit = local_commit(revision);
  if (!commit) return false;
  std::error_code ec;
  return fs::is_regular_file(no_exist(*commit, path), ec);
}

void CacheLayout::mark_missing(const std::string& commit, const std::string& path) const {
  std::error_code ec;
  fs::path marker = no_exist(commit, path);
  fs::create_directories(marker.parent_path(), ec);
  if (ec) return;
  std::ofstream touch(marker, std::ios::app);
}

void CacheLayout::link_pointer(const fs::path& blob, const fs::path& pointer) {
  fs::create_directories(pointer.parent_path());
  fs::path target = blob.lexically_relative(pointer.parent_path());
  fs::path tmp = pointer;
  tmp += unique_suffix();
  std::error_code ec;
  fs::create_symlink(target, tmp, ec);
  if (ec) {
    // No symlinks here (some network or Windows filesystems): keep a full copy instead.
    fs::copy_file(blob, tmp, fs::copy_options::overwrite_existing);
  }
  fs::rename(tmp, pointer);
}

}  // namespace graft::hub::detail
