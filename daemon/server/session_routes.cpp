// CI session requests of the socket API (see session_routes.h).
#include "daemon/server/session_routes.h"

#include <boost/json.hpp>

#include "common/log.h"
#include "daemon/cache/refresh_policy.h"
#include "daemon/credentials/secret_file.h"
#include "daemon/upstream/url.h"

namespace dbx {

namespace json = boost::json;

namespace {

constexpr std::size_t kMaxRequestToken = 8192;

ApiResponse reply(const json::value& v) {
  return ApiResponse{200, json::serialize(v) + "\n"};
}

ApiResponse fail(ErrorCode code, std::string message) {
  return error_response(make_error(code, std::move(message)));
}

std::string field(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

// The cache key of the session's bearer: the workspace host (Databricks federation) or the
// Databricks resource (Entra).
std::string bearer_resource(const Broker& broker, const WorkspaceConfig& ws,
                            const CredentialConfig& cred) {
  return cred.type == CredentialType::databricks_federation
             ? ws.host.value_or("")
             : broker.config().endpoints.databricks_resource;
}

const CredentialConfig* credential_of(const Broker& broker, const WorkspaceConfig& ws) {
  auto it = broker.config().credentials.find(ws.credential);
  return it == broker.config().credentials.end() ? nullptr : &it->second;
}

void start_session(SessionRegistry& sessions, const std::shared_ptr<Broker>& broker,
                   std::string_view body, const PeerIdentity& peer,
                   const std::shared_ptr<AuditRecord>& record,
                   std::function<void(ApiResponse)> done) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object())
    return done(fail(ErrorCode::bad_request, "POST /v1/sessions takes a JSON object"));
  const json::object& o = v.as_object();
  for (const auto& [k, _] : o) {
    if (k != "kind" && k != "workspace" && k != "request_url" && k != "request_token" &&
        k != "audience" && k != "service_connection_id")
      return done(fail(ErrorCode::bad_request,
                       "unknown key \"" + std::string(std::string_view(k).substr(0, 64)) + "\""));
  }
  const std::string kind = field(o, "kind");
  const std::string name = field(o, "workspace");
  record->workspace = name.substr(0, 128);
  OidcRequest oidc;
  if (kind == "github") {
    oidc.kind = SessionKind::github;
  } else if (kind == "azure-devops") {
    oidc.kind = SessionKind::azure_devops;
  } else {
    return done(fail(ErrorCode::bad_request, "kind: github or azure-devops"));
  }
  oidc.request_url = field(o, "request_url");
  oidc.request_token = field(o, "request_token");
  oidc.service_connection_id = field(o, "service_connection_id");
  const auto url = parse_url(oidc.request_url);
  if (!url || url->scheme != "https")
    return done(
        fail(ErrorCode::bad_request, "request_url: expected the job's https:// OIDC request URL"));
  if (oidc.request_token.empty() || oidc.request_token.size() > kMaxRequestToken)
    return done(fail(ErrorCode::bad_request, "request_token: the job's request token is required"));
  if (oidc.kind == SessionKind::azure_devops && oidc.service_connection_id.empty())
    return done(fail(ErrorCode::bad_request,
                     "service_connection_id: required for Azure DevOps (--service-connection)"));
  const Workspace* ws = broker->workspace(name);
  if (ws == nullptr)
    return done(fail(ErrorCode::not_found,
                     "no workspace named \"" + name.substr(0, 128) + "\" in this daemon"));
  if (const AccessDecision access = ws->authorize(peer); !access)
    return done(fail(ErrorCode::forbidden, ws->denied_message(peer)));
  const WorkspaceConfig& wc = ws->config();
  const CredentialConfig* cred = credential_of(*broker, wc);
  if (!wc.sessions || cred == nullptr)
    return done(fail(ErrorCode::bad_request, "workspace " + wc.name +
                                                 " does not accept CI sessions (workspaces." +
                                                 wc.name + ".sessions)"));
  oidc.audience = field(o, "audience");
  if (oidc.audience.empty()) oidc.audience = wc.sessions->audience;
  SessionOpen open;
  open.request = std::move(oidc);
  open.exchange =
      SessionExchange{wc.name, *wc.sessions, *cred, broker->config().endpoints.authority};
  open.uid = peer.uid;
  open.resource = bearer_resource(*broker, wc, *cred);
  sessions.open(std::move(open), [record, done = std::move(done)](Result<OpenedSession> s) {
    if (!s) return done(error_response(s.error()));
    const SessionInfo& info = s->info;
    record->session = info.describe();
    json::object answer{
        {"session", s->secret},        {"id", info.id},
        {"workspace", info.workspace}, {"issuer", info.claims.iss},
        {"subject", info.claims.sub},  {"expires_at", to_unix_seconds(info.expires_at)}};
    if (!info.claims.repository.empty()) answer["repository"] = info.claims.repository;
    ApiResponse r = reply(answer);
    wipe(s->secret);
    done(std::move(r));
  });
}

}  // namespace

bool is_sessions_path(std::string_view path) {
  return path == "/v1/sessions" || path.starts_with("/v1/sessions/");
}

Error session_required(const Workspace& ws) {
  return make_error(ErrorCode::forbidden,
                    "workspace " + ws.name() +
                        " serves CI sessions only: run `dbxcred session start` in the job and "
                        "pass its DBXCRED_SESSION");
}

void answer_sessions(SessionRegistry* sessions, const std::shared_ptr<Broker>& broker,
                     const ApiRequest& request, std::string_view path, const PeerIdentity& peer,
                     const std::shared_ptr<AuditRecord>& record,
                     std::function<void(ApiResponse)> done) {
  if (sessions == nullptr)
    return done(fail(ErrorCode::not_found, "CI sessions are not available in this daemon"));
  if (path == "/v1/sessions" && request.method == "POST") {
    record->kind = "session-start";
    return start_session(*sessions, broker, request.body, peer, record, std::move(done));
  }
  if (path == "/v1/sessions/current" && request.method == "DELETE") {
    record->kind = "session-end";
    auto ended = sessions->end(request.session, peer.uid);
    if (!ended) return done(error_response(ended.error()));
    record->workspace = ended->workspace;
    record->session = ended->describe();
    return done(reply(json::object{{"ended", ended->id}}));
  }
  ApiResponse r = fail(ErrorCode::bad_request,
                       "POST /v1/sessions (dbxcred session start) or DELETE /v1/sessions/current "
                       "(dbxcred session end)");
  r.status = 405;
  done(std::move(r));
}

void answer_session_call(SessionRegistry* sessions, const std::shared_ptr<Broker>& broker,
                         const Workspace& ws, std::string_view action,
                         std::optional<Seconds> min_valid, std::string_view secret,
                         const PeerIdentity& peer, const std::shared_ptr<AuditRecord>& record,
                         std::function<void(ApiResponse)> done) {
  if (sessions == nullptr)
    return done(fail(ErrorCode::not_found, "CI sessions are not available in this daemon"));
  const WorkspaceConfig& wc = ws.config();
  const CredentialConfig* cred = credential_of(*broker, wc);
  if (!wc.sessions || cred == nullptr)
    return done(fail(ErrorCode::bad_request, "workspace " + wc.name +
                                                 " does not accept CI sessions; unset "
                                                 "DBXCRED_SESSION for it"));
  auto found = sessions->find(secret, peer.uid, wc.name);
  if (!found) return done(error_response(found.error()));
  Session* session = *found;
  record->session = session->info().describe();
  const bool federation = cred->type == CredentialType::databricks_federation;
  const std::string resource = bearer_resource(*broker, wc, *cred);
  const Seconds mv = min_valid.value_or(session->default_min_valid(resource));
  record->min_valid = mv.count();
  const std::string host = wc.host.value_or("");
  if (action == "token" || (action == "aad" && !federation)) {
    const std::string kind = federation ? "oauth" : "aad";
    const bool aad = action == "aad";
    session->token(
        resource, mv,
        [record, kind, aad, host, resource, done = std::move(done)](Result<AccessToken> t) {
          if (!t) return done(error_response(t.error()));
          record->fingerprint = fingerprint(t->value);
          if (aad)
            return done(reply(json::object{{"access_token", t->value},
                                           {"token_type", "Bearer"},
                                           {"expires_at", to_unix_seconds(t->expires_at)},
                                           {"resource", resource}}));
          done(reply(json::object{{"token", t->value},
                                  {"kind", kind},
                                  {"expires_at", to_unix_seconds(t->expires_at)},
                                  {"host", host}}));
        });
    return;
  }
  if (action == "aad")
    return done(fail(ErrorCode::bad_request, "workspace " + wc.name +
                                                 " exchanges CI tokens at Databricks: it has no "
                                                 "Entra token; use `dbxcred token`"));
  if (action == "headers") {
    const bool management = wc.management_token && !federation;
    const std::string mgmt = broker->config().endpoints.management_resource;
    const std::string resource_id = wc.resource_id.value_or("");
    session->token(resource, mv,
                   [session, record, management, mgmt, mv, host, resource_id,
                    done = std::move(done)](Result<AccessToken> t) mutable {
                     if (!t) return done(error_response(t.error()));
                     record->fingerprint = fingerprint(t->value);
                     auto answer = [host, record](const AccessToken& bearer, const AccessToken* m,
                                                  const std::string& rid) {
                       json::object headers{{"Authorization", "Bearer " + bearer.value}};
                       TimePoint exp = bearer.expires_at;
                       if (m != nullptr) {
                         headers["X-Databricks-Azure-SP-Management-Token"] = m->value;
                         headers["X-Databricks-Azure-Workspace-Resource-Id"] = rid;
                         exp = std::min(exp, m->expires_at);
                       }
                       return reply(json::object{{"host", host},
                                                 {"expires_at", to_unix_seconds(exp)},
                                                 {"headers", std::move(headers)}});
                     };
                     if (!management) return done(answer(*t, nullptr, resource_id));
                     // Note: `session` stays valid here: an ended session is kept for
                     // SessionRegistry::kGrace.
                     session->token(mgmt, mv,
                                    [bearer = *t, answer, resource_id,
                                     done = std::move(done)](Result<AccessToken> m) {
                                      if (!m) return done(error_response(m.error()));
                                      done(answer(bearer, &*m, resource_id));
                                    });
                   });
    return;
  }
  done(fail(ErrorCode::bad_request, "a CI session serves token, aad and headers, not " +
                                        std::string(action.substr(0, 32)) +
                                        " (sdk-env and pat are not available in sessions)"));
}

}  // namespace dbx
