#include "hub/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <memory>
#include <mutex>

namespace graft::hub::detail {
namespace {

constexpr std::size_t kMaxErrorBody = 1 << 20;

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

struct Transfer {
  BodySink* sink = nullptr;
  HttpResponse* resp = nullptr;
  bool started = false;
  bool to_sink = false;
  std::exception_ptr error;

  void start() {
    if (started) return;
    started = true;
    if (sink && sink->start) to_sink = sink->start(resp->status, resp->headers);
  }
};

size_t on_header(char* buffer, size_t size, size_t nitems, void* userdata) {
  auto* t = static_cast<Transfer*>(userdata);
  std::string line(buffer, size * nitems);
  if (line.rfind("HTTP/", 0) == 0) {  // status line: a new response (after a redirect or 100-continue)
    t->resp->headers.clear();
    std::size_t sp = line.find(' ');
    t->resp->status = sp == std::string::npos ? 0 : std::strtol(line.c_str() + sp + 1, nullptr, 10);
    return size * nitems;
  }
  std::size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    t->resp->headers[trim(name)] = trim(line.substr(colon + 1));
  }
  return size * nitems;
}

size_t on_write(char* ptr, size_t size, size_t nmemb, void* userdata) {
  auto* t = static_cast<Transfer*>(userdata);
  const size_t n = size * nmemb;
  try {
    t->start();
    if (t->to_sink) {
      t->sink->data(ptr, n);
    } else if (t->resp->body.size() < kMaxErrorBody) {
      t->resp->body.append(ptr, std::min(n, kMaxErrorBody - t->resp->body.size()));
    }
  } catch (...) {
    t->error = std::current_exception();
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  return n;
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};

}  // namespace

HttpResponse http_perform(const HttpRequest& req, BodySink* sink) {
  global_init();
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) throw TransportError(CURLE_FAILED_INIT, "hub: curl_easy_init failed");
  CURL* c = curl.get();

  HttpResponse resp;
  Transfer t;
  t.sink = sink;
  t.resp = &resp;
  char errbuf[CURL_ERROR_SIZE] = {0};

  std::unique_ptr<curl_slist, SlistDeleter> hdrs;
  for (const auto& h : req.headers) {
    curl_slist* next = curl_slist_append(hdrs.get(), h.c_str());
    if (!next) throw TransportError(CURLE_OUT_OF_MEMORY, "hub: out of memory building headers");
    hdrs.release();
    hdrs.reset(next);
  }

  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs.get());
  if (!req.user_agent.empty()) curl_easy_setopt(c, CURLOPT_USERAGENT, req.user_agent.c_str());
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, long(req.connect_timeout.count()));
  if (req.total_timeout.count() > 0) curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, long(req.total_timeout.count()));
  if (req.stall_timeout.count() > 0) {
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, std::max(1L, long((req.stall_timeout.count() + 999) / 1000)));
  }
  if (req.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (req.method != "GET") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  }
  if (req.follow_redirects) {
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  }
  std::string range;
  if (req.range_from) {
    range = std::to_string(*req.range_from) + "-";
    curl_easy_setopt(c, CURLOPT_RANGE, range.c_str());
  }

  CURLcode rc = curl_easy_perform(c);
  if (t.error) std::rethrow_exception(t.error);
  if (rc != CURLE_OK) {
    std::string detail = errbuf[0] ? std::string(errbuf) : std::string(curl_easy_strerror(rc));
    throw TransportError(int(rc), "request to " + req.url + " failed: " + detail);
  }
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  if (code) resp.status = code;
  char* eff = nullptr;
  curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &eff);
  resp.url = eff ? eff : req.url;
  if (!t.started) t.start();  // empty body: the sink still sees the response
  return resp;
}

std::string url_quote(const std::string& s, const std::string& safe) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : s) {
    if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~' || safe.find(char(ch)) != std::string::npos) {
      out += char(ch);
    } else {
      out += '%';
      out += kHex[ch >> 4];
      out += kHex[ch & 15];
    }
  }
  return out;
}

std::string resolve_url(const std::string& base, const std::string& location) {
  std::unique_ptr<CURLU, UrlDeleter> u(curl_url());
  if (!u || curl_url_set(u.get(), CURLUPART_URL, base.c_str(), 0) != CURLUE_OK) return location;
  if (curl_url_set(u.get(), CURLUPART_URL, location.c_str(), 0) != CURLUE_OK) return location;
  char* out = nullptr;
  if (curl_url_get(u.get(), CURLUPART_URL, &out, 0) != CURLUE_OK) return location;
  std::string result(out);
  curl_free(out);
  return result;
}

std::string url_origin(const std::string& url) {
  std::unique_ptr<CURLU, UrlDeleter> u(curl_url());
  if (!u || curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) return "";
  auto part = [&](CURLUPart p, unsigned flags) {
    char* s = nullptr;
    std::string r;
    if (curl_url_get(u.get(), p, &s, flags) == CURLUE_OK && s) r = s;
    curl_free(s);
    return r;
  };
  std::string host = part(CURLUPART_HOST, 0);
  std::transform(host.begin(), host.end(), host.begin(), [](unsigned char c) { return std::tolower(c); });
  return part(CURLUPART_SCHEME, 0) + "://" + host + ":" + part(CURLUPART_PORT, CURLU_DEFAULT_PORT);
}

}  // namespace graft::hub::detail
