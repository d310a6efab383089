#include "hub/download.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include <curl/curl.h>

#include "hub/cache.h"
#include "hub/progress.h"
#include "hub/sha256.h"

namespace graft::hub::detail {

// ---- lock -----------------------------------------------------------------------------------------

FileLock::FileLock(const fs::path& path, std::chrono::milliseconds timeout) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw HubError(HubError::Kind::Local, 0, "hub: cannot open lock file " + path.string() + ": " + std::strerror(errno));
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto wait = std::chrono::milliseconds(5);
  while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      int err = errno;
      ::close(fd_);
      throw HubError(HubError::Kind::Local, 0, "hub: cannot lock " + path.string() + ": " + std::strerror(err));
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      ::close(fd_);
      throw HubError(HubError::Kind::Local, 0,
                     "hub: timed out waiting for lock " + path.string() +
                         " (another process is downloading the same file; remove the lock file if it is stale)");
    }
    std::this_thread::sleep_for(wait);
    wait = std::min(wait * 2, std::chrono::milliseconds(200));
  }
}

FileLock::~FileLock() {
  if (fd_ >= 0) {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }
}

// ---- metadata -------------------------------------------------------------------------------------

namespace {

bool is_relative_location(const std::string& loc) {
  return loc.find("://") == std::string::npos && loc.rfind("//", 0) != 0;
}

std::optional<std::uint64_t> parse_size(const std::string& s) {
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (errno || end == s.c_str() || *end != '\0') return std::nullopt;
  return std::uint64_t(v);
}

}  // namespace

HttpResponse head_file(const std::string& url, const std::vector<std::string>& headers, const Options& opts,
                       std::string* final_url) {
  HttpRequest req;
  req.method = "HEAD";
  req.url = url;
  req.headers = headers;
  req.headers.push_back("Accept-Encoding: identity");  // the real size, not a compressed one
  req.connect_timeout = opts.connect_timeout;
  req.total_timeout = opts.metadata_timeout;
  req.user_agent = opts.user_agent;
  for (int hop = 0;; ++hop) {
    HttpResponse resp = http_perform(req);
    const std::string loc = resp.header("location");
    // Relative redirects stay on the Hub (renamed repos); absolute ones point to the CDN and are where
    // the content will be fetched from, so they are not followed here.
    if (resp.status >= 300 && resp.status < 400 && !loc.empty() && is_relative_location(loc) && hop < 10) {
      req.url = resolve_url(req.url, loc);
      continue;
    }
    if (final_url) *final_url = req.url;
    return resp;
  }
}

FileMetadata parse_metadata(const HttpResponse& resp, const std::string& url) {
  FileMetadata m;
  m.commit = resp.header("x-repo-commit");
  std::string etag = resp.header("x-linked-etag");
  if (etag.empty()) etag = resp.header("etag");
  m.etag = normalize_etag(etag);
  m.size = parse_size(resp.header("x-linked-size"));
  if (!m.size) m.size = parse_size(resp.header("content-length"));
  const std::string loc = resp.header("location");
  m.location = loc.empty() ? url : resolve_url(url, loc);
  return m;
}

// ---- blob download --------------------------------------------------------------------------------

namespace {

bool retryable(int curl_code) {
  switch (curl_code) {
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_COULDNT_CONNECT:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

void write_all(int fd, const char* p, std::size_t n, const fs::path& file) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw HubError(HubError::Kind::Local, 0, "hub: cannot write " + file.string() + ": " + std::strerror(errno));
    }
    p += w;
    n -= std::size_t(w);
  }
}

std::uint64_t file_size_or_zero(const fs::path& p) {
  std::error_code ec;
  auto s = fs::file_size(p, ec);
  return ec ? 0 : std::uint64_t(s);
}

// Start offset of a "bytes a-b/total" Content-Range value.
std::optional<std::uint64_t> content_range_start(const std::string& v) {
  std::size_t i = v.find("bytes");
  if (i == std::string::npos) return std::nullopt;
  i += 5;
  while (i < v.size() && v[i] == ' ') ++i;
  return parse_size(v.substr(i, v.find('-', i) - i));
}

}  // namespace

void download_blob(const BlobJob& job, const Options& opts) {
  if (fs::exists(job.blob)) return;  // another process finished it while we waited for the lock
  fs::create_directories(job.incomplete.parent_path());
  const bool verify_sha = is_sha256_hex(job.etag);
  const std::string what = job.ctx.what();

  int attempt = 0;
  auto retry_or_throw = [&](const std::string& why) {
    if (attempt++ >= opts.max_retries) return false;
    (void)why;
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(200 * attempt, 2000)));
    return true;
  };

  ProgressBar bar(job.label, job.expected_size.value_or(0), opts);
  Sha256 hasher;
  for (;;) {
    std::uint64_t have = file_size_or_zero(job.incomplete);
    if (job.expected_size && have > *job.expected_size) {  // stale leftover of another version
      fs::remove(job.incomplete);
      have = 0;
    }
    Fd out;
    out.fd = ::open(job.incomplete.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (out.fd < 0)
      throw HubError(HubError::Kind::Local, 0,
                     "hub: cannot create " + job.incomplete.string() + ": " + std::strerror(errno));
    hasher.reset();
    if (verify_sha && have > 0) sha256_update_from_file(hasher, job.incomplete, have);
    if (job.expected_size && have == *job.expected_size && have > 0) break;  // complete already

    std::uint64_t written = have;
    bool restart = false;  // server cannot serve the range: drop the partial file
    BodySink sink;
    sink.start = [&](long status, const Headers& h) {
      if (status == 206 && have > 0) {
        auto cr = h.find("content-range");
        if (cr == h.end() || content_range_start(cr->second) != have) {
          restart = true;
          return false;
        }
        if (::lseek(out.fd, off_t(have), SEEK_SET) < 0 || ::ftruncate(out.fd, off_t(have)) != 0)
          throw HubError(HubError::Kind::Local, 0, "hub: cannot seek in " + job.incomplete.string());
        return true;
      }
      if (status == 200 || status == 206) {  // full body: start over
        if (::ftruncate(out.fd, 0) != 0 || ::lseek(out.fd, 0, SEEK_SET) < 0)
          throw HubError(HubError::Kind::Local, 0, "hub: cannot truncate " + job.incomplete.string());
        written = 0;
        hasher.reset();
        return true;
      }
      if (status == 416 && have > 0) restart = true;
      return false;
    };
    sink.data = [&](const char* p, std::size_t n) {
      write_all(out.fd, p, n, job.incomplete);
      if (verify_sha) hasher.update(p, n);
      written += n;
      bar.update(written);
    };

    HttpRequest req;
    req.url = job.url;
    req.headers = job.headers;
    req.follow_redirects = true;
    if (have > 0) req.range_from = have;
    req.connect_timeout = opts.connect_timeout;
    req.stall_timeout = opts.stall_timeout;
    req.user_agent = opts.user_agent;

    HttpResponse resp;
    try {
      resp = http_perform(req, &sink);
    } catch (const TransportError& e) {
      if (retryable(e.curl_code()) && retry_or_throw(e.what())) continue;
      throw HubError(HubError::Kind::Network, 0,
                     "hub: download of " + what + " from " + url_origin(job.url) + " failed after " +
                         std::to_string(written) + " bytes: " + e.what() +
                         (written > 0 ? "; the partial file " + job.incomplete.string() + " is kept and the next attempt resumes it"
                                      : std::string()));
    }
    if (restart) {
      ::ftruncate(out.fd, 0);
      if (retry_or_throw("range")) continue;
      throw HubError(HubError::Kind::Http, int(resp.status),
                     "hub: " + url_origin(job.url) + " cannot resume the download of " + what);
    }
    if (resp.status != 200 && resp.status != 206) {
      if (resp.status >= 500 && retry_or_throw("server")) continue;
      throw_http_error(resp, job.url, job.ctx);
    }
    if (job.expected_size && written < *job.expected_size) {  // cut short without a transport error
      if (retry_or_throw("short")) continue;
      throw HubError(HubError::Kind::Network, 0,
                     "hub: download of " + what + " ended after " + std::to_string(written) + " of " +
                         std::to_string(*job.expected_size) + " bytes; the partial file is kept for resuming");
    }
    break;
  }

  const std::uint64_t size = file_size_or_zero(job.incomplete);
  if (job.expected_size && size != *job.expected_size) {
    fs::remove(job.incomplete);
    throw HubError(HubError::Kind::Corrupt, 0,
                   "hub: size mismatch for " + what + ": expected " + std::to_string(*job.expected_size) +
                       " bytes, got " + std::to_string(size) + "; the download was deleted");
  }
  if (verify_sha) {
    const std::string actual = hasher.hex_digest();
    if (actual != job.etag) {
      fs::remove(job.incomplete);
      throw HubError(HubError::Kind::Corrupt, 0,
                     "hub: sha256 mismatch for " + what + ": expected " + job.etag + ", got " + actual +
                         "; the corrupt download was deleted");
    }
  }
  fs::rename(job.incomplete, job.blob);
}

}  // namespace graft::hub::detail
