// The operator's reaping of another agent's PATs; see pat_reap_route.h.
#include "daemon/server/pat_reap_route.h"

#include <unistd.h>

#include <boost/json.hpp>
#include <string>

namespace dbx {
namespace {

constexpr std::string_view kPrefix = "/v1/workspaces/";
constexpr std::string_view kSuffix = "/pat/reap";

// agent=ID from the query ("" when absent).
std::string_view agent_from(std::string_view query) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view kv = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (kv.starts_with("agent=")) return kv.substr(6);
  }
  return {};
}

}  // namespace

std::string_view pat_reap_workspace(std::string_view path) {
  if (path.size() <= kPrefix.size() + kSuffix.size() || !path.starts_with(kPrefix) ||
      !path.ends_with(kSuffix))
    return {};
  return path.substr(kPrefix.size(), path.size() - kPrefix.size() - kSuffix.size());
}

void answer_pat_reap(const std::shared_ptr<Broker>& broker, std::string_view method,
                     std::string_view workspace, std::string_view query, const PeerIdentity& peer,
                     std::function<void(ApiResponse)> done) {
  if (method != "POST") {
    ApiResponse r = error_response(
        make_error(ErrorCode::bad_request, "pat/reap deletes PATs: send it as POST"));
    r.status = 405;
    return done(std::move(r));
  }
  if (peer.uid != 0 && peer.uid != ::geteuid())
    return done(error_response(
        make_error(ErrorCode::forbidden,
                   "reaping another agent's PATs is for root and the daemon's user only")));
  Workspace* ws = broker->workspace(workspace);
  if (ws == nullptr)
    return done(error_response(make_error(
        ErrorCode::not_found,
        "no workspace named \"" + std::string(workspace.substr(0, 128)) + "\" in this daemon")));
  const std::string agent(agent_from(query).substr(0, 64));
  const std::string name = ws->name();
  ws->reap_pats(agent, [broker, name, agent, done = std::move(done)](Result<ReapResult> r) {
    if (!r) return done(error_response(r.error()));
    boost::json::array deleted;
    for (const auto& id : r->deleted) deleted.emplace_back(id);
    const boost::json::object body{
        {"workspace", name}, {"agent", agent}, {"deleted", std::move(deleted)}, {"kept", r->kept}};
    done(ApiResponse{200, boost::json::serialize(body) + "\n"});
  });
}

}  // namespace dbx
