// The Hub client's handling of responses (status, headers, redirects, partial content, bodies), against
// the HTTP server of the hub tests (tests/hub/http_server.h) on 127.0.0.1 serving responses taken from the
// input. Input (text): a first line naming the call, then responses separated by lines "@@@":
//
//   download main onnx/model.onnx            (or: commit REV | list REV | download_all REV)
//   @@@
//   200 ranges cut=10                        status, then optional flags
//   X-Repo-Commit: 0123...                   header lines ("$BASE" becomes the server's URL)
//                                            an empty line
//   body bytes...
//
// The n-th request gets the n-th response (404 after the last). Every call starts from an empty cache.
#include <cstdio>
#include <fstream>
#include <mutex>
#include <sstream>

#include "fuzz_util.h"
#include "graft/hub/hub.h"
#include "hub/http_server.h"

namespace {

struct Script {
  std::mutex mu;
  std::vector<hubtest::Response> responses;
  size_t next = 0;
};

Script& script() {
  static Script s;
  return s;
}

hubtest::HttpServer& server() {
  static hubtest::HttpServer s([](const hubtest::Request&) {
    Script& sc = script();
    std::lock_guard<std::mutex> lock(sc.mu);
    if (sc.next < sc.responses.size()) return sc.responses[sc.next++];
    hubtest::Response r;
    r.status = 404;
    return r;
  });
  return s;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
  return s;
}

hubtest::Response parse_response(std::string_view text, const std::string& base) {
  hubtest::Response r;
  auto [head, body] = graft::fuzz::split_once(text, "\n\n");
  r.body = std::string(body);
  std::istringstream lines{std::string(head)};
  std::string line;
  if (std::getline(lines, line)) {
    std::istringstream first(line);
    std::string word;
    first >> r.status;
    if (r.status < 100 || r.status > 999) r.status = 200;
    while (first >> word) {
      if (word == "ranges") r.ranges = true;
      if (word.rfind("cut=", 0) == 0) r.cut_after = size_t(std::strtoul(word.c_str() + 4, nullptr, 10));
    }
  }
  while (std::getline(lines, line)) {
    size_t colon = line.find(':');
    if (colon == std::string::npos || colon == 0) continue;
    std::string value = line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.erase(0, 1);
    r.headers.emplace_back(line.substr(0, colon), replace_all(value, "$BASE", base));
  }
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input = graft::fuzz::as_view(data, size);
  const std::string base = server().base_url();
  std::vector<hubtest::Response> responses;
  auto [call, rest] = graft::fuzz::split_once(input, "\n@@@\n");
  while (!rest.empty() && responses.size() < 16) {
    auto [one, more] = graft::fuzz::split_once(rest, "\n@@@\n");
    responses.push_back(parse_response(one, base));
    rest = more;
  }
  {
    std::lock_guard<std::mutex> lock(script().mu);
    script().responses = std::move(responses);
    script().next = 0;
  }
  std::istringstream words{std::string(call)};
  std::string op, revision = "main", path = "model.onnx";
  words >> op >> revision >> path;

  static int counter = 0;
  const std::filesystem::path cache = graft::fuzz::scratch_dir() / ("hub-" + std::to_string(counter++));
  graft::hub::Options o;
  o.endpoint = base;
  o.cache_dir = cache;
  o.token = "hf_fuzz";
  o.connect_timeout = std::chrono::milliseconds(300);
  o.metadata_timeout = std::chrono::milliseconds(2000);
  o.stall_timeout = std::chrono::milliseconds(1000);
  o.lock_timeout = std::chrono::milliseconds(100);
  o.max_retries = 1;
  o.progress = graft::hub::Progress::Never;
  try {
    graft::hub::Repo repo("org/model", o);
    repo.revision(revision);
    if (op == "commit") {
      (void)repo.commit();
    } else if (op == "list") {
      (void)repo.list_files();
    } else if (op == "download_all") {
      (void)repo.download_all();
    } else {
      std::filesystem::path p = repo.download(path);
      std::ifstream in(p, std::ios::binary);
      std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      // A second download of the same file is served from the cache or revalidated.
      (void)repo.download(path);
    }
  } catch (const graft::Error&) {
  }
  // The server's connection threads end once the client has closed its connections: joined here, so one
  // input's threads and allocations do not outlive it (libFuzzer would take them for a leak and run
  // LeakSanitizer after every input).
  server().wait_idle();
  // Whatever the server said, nothing may be written outside the cache folder (a header used as a path
  // component, "../x", would land next to it, in the scratch folder).
  for (const auto& e : std::filesystem::directory_iterator(graft::fuzz::scratch_dir()))
    if (e.path() != cache) {
      std::fprintf(stderr, "hub: a response made the client write %s outside the cache %s\n", e.path().c_str(),
                   cache.c_str());
      std::abort();
    }
  std::error_code ec;
  std::filesystem::remove_all(cache, ec);
  return 0;
}
