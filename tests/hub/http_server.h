#pragma once
// A small threaded HTTP/1.1 server for the hub tests: listens on 127.0.0.1 with an ephemeral port, one
// thread per connection, every response closes the connection. The handler builds responses; the
// server adds Content-Length, honours Range (bytes=N- / bytes=N-M) when asked, omits bodies for HEAD,
// and can cut a body short or send it slowly to simulate bad networks.
#include <atomic>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace hubtest {

struct Request {
  std::string method;
  std::string target;  // as sent, e.g. /org/name/resolve/main/a%20b.txt
  std::string path;    // target without the query, percent-decoded
  std::map<std::string, std::string> headers;  // lowercase names

  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool ranges = false;               // serve Range requests with 206 / 416
  std::optional<std::size_t> cut_after;  // close the connection after this many body bytes
  int chunk_delay_ms = 0;            // pause between body chunks
  std::size_t chunk = 16 * 1024;
};

using Handler = std::function<Response(const Request&)>;

std::string percent_decode(const std::string& s);

class HttpServer {
 public:
  explicit HttpServer(Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // Waits for the connections accepted so far to finish and joins their threads. A long-lived server (the
  // fuzz harness keeps one for the whole run) calls it after each client call: a thread left unjoined keeps
  // its stack and its allocations, which libFuzzer counts as a possible leak (and then runs LeakSanitizer on
  // every input), and thousands of them exhaust the process's mappings.
  void wait_idle();

 private:
  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  void accept_loop();
  void serve(int fd);
  void join_finished();  // joins the workers whose connection is over (keeps the list short)

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<Worker> workers_;
};

}  // namespace hubtest
