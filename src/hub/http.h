#pragma once
// A small blocking HTTP client over libcurl: one request per call, headers of the final response parsed
// into lowercase keys, optional streaming of the body into a sink. Transport failures (DNS, connect,
// TLS, timeouts, a connection cut mid-body) throw HubError(Kind::Network); HTTP statuses are returned.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "graft/hub/hub.h"

namespace graft::hub::detail {

using Headers = std::map<std::string, std::string>;  // lowercase name -> value (last one wins)

struct HttpRequest {
  std::string method = "GET";  // "GET" or "HEAD"
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  bool follow_redirects = false;
  std::optional<std::uint64_t> range_from;  // sends Range: bytes=N-
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds total_timeout{0};  // 0: none
  std::chrono::milliseconds stall_timeout{0};  // 0: none; else abort below 1 byte/s for this long
  std::string user_agent;
};

struct HttpResponse {
  long status = 0;
  Headers headers;
  std::string body;  // the body when no sink took it (capped at 1 MiB for error bodies)
  std::string url;   // effective URL after redirects

  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// Receives the body of the final response. start() sees the status and headers first and returns true
// to take the body through data(), false to leave it in HttpResponse::body. Both may throw.
struct BodySink {
  std::function<bool(long status, const Headers& headers)> start;
  std::function<void(const char* data, std::size_t n)> data;
};

class TransportError : public HubError {
 public:
  TransportError(int curl_code, const std::string& what)
      : HubError(HubError::Kind::Network, 0, what), curl_code_(curl_code) {}
  int curl_code() const { return curl_code_; }

 private:
  int curl_code_;
};

HttpResponse http_perform(const HttpRequest& req, BodySink* sink = nullptr);

// Percent-encodes everything but unreserved characters and those in `safe` (as Python's quote()).
std::string url_quote(const std::string& s, const std::string& safe = "/");
// Resolves a Location header against the URL that returned it.
std::string resolve_url(const std::string& base, const std::string& location);
// scheme://host:port of a URL ("" when it does not parse).
std::string url_origin(const std::string& url);

}  // namespace graft::hub::detail
