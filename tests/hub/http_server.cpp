#include "hub/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <iterator>
#include <stdexcept>

namespace hubtest {
namespace {

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 206: return "Partial Content";
    case 302: return "Found";
    case 307: return "Temporary Redirect";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 416: return "Range Not Satisfiable";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

bool send_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) {
      if (w < 0 && errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= std::size_t(w);
  }
  return true;
}

void set_timeouts(int fd, int seconds) {
  timeval tv{seconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

}  // namespace

std::string percent_decode(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += char(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

HttpServer::HttpServer(Handler handler) : handler_(std::move(handler)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error("test server: socket() failed");
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // 127.0.0.1 only
  addr.sin_port = 0;                              // ephemeral
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 64) != 0) {
    ::close(listen_fd_);
    throw std::runtime_error("test server: bind/listen on 127.0.0.1 failed");
  }
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

HttpServer::~HttpServer() {
  stop_ = true;
  acceptor_.join();
  ::close(listen_fd_);
  wait_idle();
}

void HttpServer::wait_idle() {
  std::vector<Worker> workers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    workers.swap(workers_);
  }
  for (auto& w : workers) w.thread.join();
}

void HttpServer::join_finished() {
  std::vector<Worker> finished;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto running = std::partition(workers_.begin(), workers_.end(), [](const Worker& w) { return !*w.done; });
    finished.assign(std::make_move_iterator(running), std::make_move_iterator(workers_.end()));
    workers_.erase(running, workers_.end());
  }
  for (auto& w : finished) w.thread.join();
}

void HttpServer::accept_loop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    join_finished();
    auto done = std::make_shared<std::atomic<bool>>(false);
    std::lock_guard<std::mutex> lock(mu_);
    workers_.push_back(Worker{std::thread([this, fd, done] {
                                serve(fd);
                                *done = true;
                              }),
                              done});
  }
}

void HttpServer::serve(int fd) {
  set_timeouts(fd, 5);
  std::string data;
  char buf[4096];
  while (data.find("\r\n\r\n") == std::string::npos && data.size() < 65536) {
    ssize_t r = ::recv(fd, buf, sizeof buf, 0);
    if (r <= 0) {
      ::close(fd);
      return;
    }
    data.append(buf, std::size_t(r));
  }
  Request req;
  std::size_t eol = data.find("\r\n");
  {
    std::string line = data.substr(0, eol);
    std::size_t a = line.find(' '), b = line.rfind(' ');
    req.method = line.substr(0, a);
    req.target = line.substr(a + 1, b - a - 1);
    req.path = percent_decode(req.target.substr(0, req.target.find('?')));
  }
  std::size_t pos = eol + 2, end = data.find("\r\n\r\n");
  while (pos < end) {
    std::size_t next = data.find("\r\n", pos);
    std::string line = data.substr(pos, next - pos);
    std::size_t colon = line.find(':');
    if (colon != std::string::npos) req.headers[lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
    pos = next + 2;
  }

  Response resp;
  try {
    resp = handler_(req);
  } catch (const std::exception& e) {
    resp = Response{};
    resp.status = 500;
    resp.body = std::string("handler threw: ") + e.what();
  }

  std::string body = resp.body;
  if (resp.ranges && resp.status == 200) {
    resp.headers.emplace_back("Accept-Ranges", "bytes");
    std::string range = req.header("range");
    if (range.rfind("bytes=", 0) == 0) {
      std::string spec = range.substr(6);
      std::size_t dash = spec.find('-');
      std::size_t first = std::stoull(spec.substr(0, dash));
      std::size_t last = body.empty() ? 0 : body.size() - 1;
      if (dash + 1 < spec.size()) last = std::min(last, std::size_t(std::stoull(spec.substr(dash + 1))));
      if (first >= body.size()) {
        resp.status = 416;
        resp.headers.emplace_back("Content-Range", "bytes */" + std::to_string(body.size()));
        body.clear();
      } else {
        resp.status = 206;
        resp.headers.emplace_back("Content-Range", "bytes " + std::to_string(first) + "-" + std::to_string(last) +
                                                       "/" + std::to_string(body.size()));
        body = body.substr(first, last - first + 1);
      }
    }
  }

  std::string head = "HTTP/1.1 " + std::to_string(resp.status) + " " + reason(resp.status) + "\r\n";
  bool has_length = false;
  for (const auto& [k, v] : resp.headers) {
    head += k + ": " + v + "\r\n";
    if (lower(k) == "content-length") has_length = true;
  }
  if (!has_length) head += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  head += "Connection: close\r\n\r\n";
  if (send_all(fd, head.data(), head.size()) && req.method != "HEAD") {
    std::size_t limit = std::min(body.size(), resp.cut_after.value_or(body.size()));
    for (std::size_t off = 0; off < limit && !stop_;) {
      std::size_t n = std::min(resp.chunk, limit - off);
      if (!send_all(fd, body.data() + off, n)) break;
      off += n;
      if (resp.chunk_delay_ms > 0 && off < limit)
        std::this_thread::sleep_for(std::chrono::milliseconds(resp.chunk_delay_ms));
    }
  }
  ::shutdown(fd, SHUT_WR);
  // Drain until the client closes so the last bytes are not lost to a reset.
  while (::recv(fd, buf, sizeof buf, 0) > 0) {
  }
  ::close(fd);
}

}  // namespace hubtest
