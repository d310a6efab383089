#include "hub/errors.h"

namespace graft::hub::detail {
namespace {

std::string token_hint(const ErrorContext& ctx) {
  if (ctx.token_set)
    return "the token that was sent was refused: check that HF_TOKEN (or the token file) belongs to an "
           "account with access to '" + ctx.repo_id + "'";
  return "if it is private or gated, set HF_TOKEN to an access token (or store one in $HF_HOME/token)";
}

}  // namespace

std::string ErrorContext::what() const {
  std::string s;
  if (!path.empty()) s = "'" + path + "' of ";
  s += std::string(to_string(type)) + " '" + repo_id + "'";
  if (!revision.empty()) s += " at revision '" + revision + "'";
  return s;
}

void throw_http_error(const HttpResponse& resp, const std::string& url, const ErrorContext& ctx) {
  const long st = resp.status;
  const std::string code = resp.header("x-error-code");
  std::string server_msg = resp.header("x-error-message");
  const std::string says = server_msg.empty() ? std::string() : " (server says: " + server_msg + ")";
  const std::string status = "HTTP " + std::to_string(st);
  const std::string repo = std::string(to_string(ctx.type)) + " '" + ctx.repo_id + "'";
  using K = HubError::Kind;

  if (code == "RepoNotFound")
    throw HubError(st == 401 || st == 403 ? K::Unauthorized : K::NotFound, int(st),
                   "hub: repository not found: " + repo + " at " + ctx.endpoint + " (" + status + "); check the id, and " +
                       token_hint(ctx) + says);
  if (code == "GatedRepo")
    throw HubError(K::Unauthorized, int(st),
                   "hub: " + repo + " is gated (" + status + "): accept its conditions at " + ctx.endpoint + "/" +
                       ctx.repo_id + " and set HF_TOKEN to a token of that account" + says);
  if (code == "RevisionNotFound")
    throw HubError(K::NotFound, int(st),
                   "hub: revision not found: '" + ctx.revision + "' in " + repo + " (" + ctx.endpoint + ", " + status +
                       ")" + says);
  if (code == "EntryNotFound" || (st == 404 && !ctx.path.empty()))
    throw HubError(K::NotFound, int(st),
                   "hub: file not found: '" + ctx.path + "' in " + repo + " at revision '" + ctx.revision + "' (" +
                       status + " from " + url + ")" + says);
  if (st == 401 || st == 403)
    throw HubError(K::Unauthorized, int(st),
                   "hub: access denied (" + status + ") to " + ctx.what() + " by " + ctx.endpoint +
                       ": the repository is private or gated; " + token_hint(ctx) + says);
  if (st == 404)
    throw HubError(K::NotFound, int(st),
                   "hub: not found (" + status + "): " + ctx.what() + " at " + ctx.endpoint + says);
  if (st >= 500)
    throw HubError(K::Server, int(st),
                   "hub: server error " + status + " from " + ctx.endpoint + " while fetching " + ctx.what() +
                       "; the Hub may be down, retry later" + says);
  throw HubError(K::Http, int(st),
                 "hub: unexpected " + status + " from " + url + " while fetching " + ctx.what() + says);
}

void throw_network_error(const TransportError& e, const ErrorContext& ctx) {
  throw HubError(HubError::Kind::Network, 0,
                 "hub: cannot reach " + ctx.endpoint + " to fetch " + ctx.what() + ": " + e.what() +
                     ". Check the network or HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use cached files only");
}

}  // namespace graft::hub::detail
