#pragma once
// Turning HTTP statuses and transport failures into HubErrors whose message says what to do: which repo,
// revision, file and endpoint were involved, and whether a token (HF_TOKEN) is the likely fix.
#include <string>

#include "graft/hub/hub.h"
#include "hub/http.h"

namespace graft::hub::detail {

struct ErrorContext {
  std::string repo_id;
  RepoType type = RepoType::Model;
  std::string revision;
  std::string path;  // empty for repo-level calls (API)
  std::string endpoint;
  bool token_set = false;

  std::string what() const;  // "'onnx/model.onnx' of model 'org/name' at revision 'main'"
};

[[noreturn]] void throw_http_error(const HttpResponse& resp, const std::string& url, const ErrorContext& ctx);
[[noreturn]] void throw_network_error(const TransportError& e, const ErrorContext& ctx);

}  // namespace graft::hub::detail
