// Metadata-service and managed-identity request handling; sdk-env and azure-env answers.
#include "daemon/server/loopback_routes.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <map>

#include "common/log.h"
#include "common/text.h"
#include "daemon/audit/audit_log.h"
#include "daemon/credentials/entra_token.h"
#include "daemon/upstream/url.h"

namespace dbx {

namespace json = boost::json;

namespace {

constexpr std::string_view kMetadataVersionHeader = "X-Databricks-Metadata-Version";
constexpr std::string_view kMetadataHostHeader = "X-Databricks-Host";
constexpr std::string_view kIdentityHeader = "X-IDENTITY-HEADER";
constexpr std::string_view kIdentityPath = "/msi/token";
constexpr std::string_view kIdentityApiVersion = "2019-08-01";

// Both protocols' clients read errors as {"error","error_description"} (PROTOCOLS.md).
ApiResponse protocol_error(int status, std::string_view error, std::string description) {
  json::object o{{"error", error}, {"error_description", std::move(description)}};
  return ApiResponse{status, json::serialize(o) + "\n"};
}

ApiResponse upstream_error(const Error& e) {
  return protocol_error(http_status(e.code), to_string(e.code), e.message);
}

ApiResponse json_ok(const json::object& o) {
  return ApiResponse{200, json::serialize(o) + "\n"};
}

// Query parameters, percent-decoded ('+' is a space, as HTML forms and URLSearchParams encode).
// The first occurrence of a name wins.
std::map<std::string, std::string> parse_query(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view kv = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    auto eq = kv.find('=');
    std::string key(kv.substr(0, eq));
    std::string val(eq == std::string_view::npos ? std::string_view() : kv.substr(eq + 1));
    std::replace(key.begin(), key.end(), '+', ' ');
    std::replace(val.begin(), val.end(), '+', ' ');
    out.emplace(percent_decode(key), percent_decode(val));
  }
  return out;
}

// DNS rebinding: a web page whose name resolves to 127.0.0.1 reaches us with its own name in Host.
// Clients of these protocols always name the loopback address they were given.
bool host_is_loopback(std::optional<std::string_view> host) {
  if (!host) return true;  // HTTP/1.0 without Host: not a browser
  std::string_view h = *host;
  if (!h.empty() && h.front() == '[') {
    const auto close = h.find(']');
    h = close == std::string_view::npos ? h : h.substr(1, close - 1);
  } else if (const auto colon = h.rfind(':'); colon != std::string_view::npos) {
    h = h.substr(0, colon);
  }
  return h == "127.0.0.1" || iequals(h, "localhost") || h == "::1";
}

ApiResponse not_loopback() {
  return protocol_error(403, "forbidden", "Host must be 127.0.0.1 or localhost");
}

std::string loopback_url(std::uint16_t port) {
  return "http://127.0.0.1:" + std::to_string(port);
}

}  // namespace

std::optional<std::string_view> LoopbackRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return std::string_view(v);
  return std::nullopt;
}

std::string normalize_host_url(std::string_view url) {
  while (!url.empty() && url.back() == '/') url.remove_suffix(1);
  auto parsed = parse_url(url);
  if (!parsed || (parsed->target != "/" && !parsed->target.empty())) return lower(url);
  // Url::host_header() leaves out the scheme's default port; the host is already lower case.
  return parsed->scheme + "://" + parsed->host_header();
}

LoopbackRoutes::LoopbackRoutes(std::function<std::shared_ptr<Broker>()> broker,
                               std::function<std::shared_ptr<const LoopbackState>()> state)
    : broker_(std::move(broker)), state_(std::move(state)) {}

std::function<void(ApiResponse)> LoopbackRoutes::finishing(const char* kind, std::uint16_t port,
                                                           std::shared_ptr<AuditRecord> record,
                                                           std::function<void(ApiResponse)> done) {
  return [this, kind, port, record, done = std::move(done)](ApiResponse r) {
    ++counters_.by_endpoint_status[{kind, r.status}];
    if (audit_ != nullptr) {
      record->kind = kind;
      record->endpoint = "127.0.0.1:" + std::to_string(port);
      record->outcome = r.status == 200   ? AuditOutcome::served
                        : r.status >= 500 ? AuditOutcome::failed
                                          : AuditOutcome::denied;
      if (record->outcome != AuditOutcome::served) {
        record->reason = answer_reason(r);
        record->fingerprint.clear();
        record->token_id.clear();
      }
      audit_->record(std::move(*record));
    }
    done(std::move(r));
  };
}

void LoopbackRoutes::metadata_service(const LoopbackRequest& request,
                                      std::function<void(ApiResponse)> done_raw) {
  const auto state = state_();
  auto record = std::make_shared<AuditRecord>();
  auto done = finishing("metadata_service", state ? state->metadata_service_port : 0, record,
                        std::move(done_raw));
  if (request.method != "GET")
    return done(protocol_error(405, "method_not_allowed", "only GET is supported"));
  if (!host_is_loopback(request.header("Host"))) return done(not_loopback());
  const std::string_view path = request.target.substr(0, request.target.find('?'));
  // /<secret>/<workspace>: a wrong secret and a wrong path look the same (404), so the answer
  // tells a prober nothing.
  const auto not_found = [] {
    return protocol_error(404, "not_found", "no such path; `dbxcred env --sdk` prints the URL");
  };
  if (path.size() < 2 || path[0] != '/') return done(not_found());
  const std::string_view rest = path.substr(1);
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos) return done(not_found());
  const std::string_view secret = rest.substr(0, slash);
  const std::string_view name = rest.substr(slash + 1);
  record->workspace = name.substr(0, 128);
  if (!state) return done(not_found());
  // The secret is per workspace (sdk-env hands it to those Workspace::authorize lets in): an
  // unknown workspace, another workspace's secret and a wrong one are the same 404.
  auto broker = broker_();
  Workspace* ws = broker->workspace(name);
  if (ws == nullptr || !ws->authorize_metadata_secret(secret, state->secrets.metadata_service))
    return done(not_found());
  const auto version = request.header(kMetadataVersionHeader);
  if (!version || *version != "1")
    return done(protocol_error(
        400, "bad_request", "X-Databricks-Metadata-Version must be 1 (the only version served)"));
  const std::string host(ws->host());
  if (host.empty())
    return done(protocol_error(503, "upstream_unavailable",
                               "the host of workspace " + ws->name() + " is not known yet"));
  const auto asked_host = request.header(kMetadataHostHeader);
  if (!asked_host || normalize_host_url(*asked_host) != normalize_host_url(host)) {
    // The SDK's DATABRICKS_HOST points elsewhere: a token of this workspace must not go there.
    spdlog::warn("metadata service: workspace {} asked for with another host", ws->name());
    return done(protocol_error(
        404, "not_found",
        "X-Databricks-Host does not match workspace " + ws->name() + " (" + host + ")"));
  }

  if (ws->pat_enabled()) {
    record->min_valid = kMetadataPatMinValid.count();
    ws->pat(kMetadataPatMinValid, std::nullopt, [done, record](Result<ServedPat> p) {
      if (!p) return done(upstream_error(p.error()));
      record->token_id = p->token_id;
      done(json_ok({{"access_token", p->token},
                    {"token_type", "Bearer"},
                    {"expires_on", to_unix_seconds(p->expires_at)}}));
    });
    return;
  }
  if (ws->kind() == TokenKind::databricks_oauth) {
    // The workspace's own OAuth token: no AAD cutoff applies.
    record->min_valid = kMetadataPatMinValid.count();
    ws->token(kMetadataPatMinValid, std::nullopt, [done, record](Result<WorkspaceBearer> t) {
      if (!t) return done(upstream_error(t.error()));
      record->fingerprint = fingerprint(t->token);
      done(json_ok({{"access_token", t->token},
                    {"token_type", "Bearer"},
                    {"expires_on", to_unix_seconds(t->expires_at)}}));
    });
    return;
  }
  record->min_valid = kMetadataAadMinValid.count();
  ws->aad(kMetadataAadMinValid, [done, record](Result<AccessToken> t) {
    if (!t) return done(upstream_error(t.error()));
    record->fingerprint = fingerprint(t->value);
    done(json_ok({{"access_token", t->value},
                  {"token_type", "Bearer"},
                  {"expires_on", to_unix_seconds(t->expires_at - kDatabricksAadCutoff)}}));
  });
}

namespace {

// The managed-identity endpoint's token opens every workspace of its credential, so it is served
// only while every workspace using that credential serves Entra tokens. Returns one that does not
// (one `peer` is allowed on, when there is such and a peer is given), else null.
const Workspace* entra_refusing_workspace(const Broker& broker, const std::string& credential,
                                          const PeerIdentity* peer) {
  const Workspace* refusing = nullptr;
  for (const auto& [name, cfg] : broker.config().workspaces) {
    if (cfg.credential != credential) continue;
    const Workspace* ws = broker.workspace(name);
    if (ws == nullptr || ws->serves_entra_token()) continue;
    if (peer == nullptr || ws->authorize(*peer)) return ws;
    if (refusing == nullptr) refusing = ws;
  }
  return refusing;
}

std::string managed_identity_refused(const Workspace& ws) {
  return "the managed-identity endpoint serves Entra tokens of credential " +
         ws.config().credential + ", which workspace " + ws.name() + " does not serve (" +
         "workspaces." + ws.name() + ".serve_entra_token is false); use `dbxcred token -w " +
         ws.name() + "`";
}

}  // namespace

void LoopbackRoutes::managed_identity(const LoopbackRequest& request,
                                      std::function<void(ApiResponse)> done_raw) {
  const auto state = state_();
  auto record = std::make_shared<AuditRecord>();
  auto done = finishing("managed_identity", state ? state->managed_identity_port : 0, record,
                        std::move(done_raw));
  if (request.method != "GET")
    return done(protocol_error(405, "method_not_allowed", "only GET is supported"));
  if (!host_is_loopback(request.header("Host"))) return done(not_loopback());
  const auto q = request.target.find('?');
  const std::string_view path = request.target.substr(0, q);
  if (path != kIdentityPath)
    return done(protocol_error(404, "not_found", "the managed-identity endpoint is /msi/token"));
  const auto given = request.header(kIdentityHeader);
  if (!state || !given || !secret_matches(*given, state->secrets.managed_identity))
    return done(protocol_error(
        401, "unauthorized",
        "X-IDENTITY-HEADER is missing or wrong; `dbxcred env --azure` prints the current one"));

  const auto query =
      parse_query(q == std::string_view::npos ? std::string_view() : request.target.substr(q + 1));
  auto param = [&](const char* name) -> const std::string* {
    auto it = query.find(name);
    return it == query.end() || it->second.empty() ? nullptr : &it->second;
  };
  const std::string* api_version = param("api-version");
  if (api_version == nullptr || *api_version != kIdentityApiVersion)
    return done(protocol_error(400, "invalid_request",
                               "api-version must be " + std::string(kIdentityApiVersion)));
  const std::string* resource = param("resource");
  if (resource == nullptr)
    return done(protocol_error(400, "invalid_request", "resource is required"));

  auto broker = broker_();
  const auto& listen = broker->config().listen.managed_identity;
  if (!listen) return done(protocol_error(404, "not_found", "listen.managed_identity is off"));
  const std::string wanted = normalize_resource(*resource);
  auto allowed =
      std::find_if(listen->resources.begin(), listen->resources.end(),
                   [&](const std::string& r) { return normalize_resource(r) == wanted; });
  if (allowed == listen->resources.end()) {
    std::string list;
    for (const auto& r : listen->resources) list += (list.empty() ? "" : ", ") + r;
    return done(protocol_error(400, "invalid_resource",
                               "resource " + resource->substr(0, 200) +
                                   " is not served here; allowed: " + list +
                                   " (listen.managed_identity.resources)"));
  }
  // Checked at every request: a secret handed out before a reload turned the key off is refused.
  if (const Workspace* ws = entra_refusing_workspace(*broker, listen->credential, nullptr))
    return done(protocol_error(403, "forbidden", managed_identity_refused(*ws)));
  auto cred = broker->config().credentials.find(listen->credential);
  const std::string client_id =
      cred == broker->config().credentials.end() ? "" : cred->second.client_id;
  if (const std::string* asked = param("client_id");
      asked != nullptr && !client_id.empty() && !iequals(*asked, client_id))
    return done(protocol_error(400, "invalid_request",
                               "this endpoint serves client_id " + client_id + " only"));

  record->min_valid = kManagedIdentityMinValid.count();
  broker->token(listen->credential, *allowed, kManagedIdentityMinValid,
                [done, record, resource = *resource, client_id](Result<AccessToken> t) {
                  if (!t) return done(upstream_error(t.error()));
                  record->fingerprint = fingerprint(t->value);
                  // App Service sends expires_on as a string; some clients insist on that.
                  done(json_ok({{"access_token", t->value},
                                {"expires_on", std::to_string(to_unix_seconds(t->expires_at))},
                                {"resource", resource},
                                {"token_type", "Bearer"},
                                {"client_id", client_id}}));
                });
}

ApiResponse sdk_env_response(const LoopbackState* state, const Workspace& ws) {
  if (state == nullptr || state->metadata_service_port == 0)
    return error_response(make_error(ErrorCode::not_found,
                                     "the metadata-service endpoint is off; set "
                                     "listen.metadata_service.port in the configuration"));
  const std::string host(ws.host());
  if (host.empty())
    return error_response(make_error(ErrorCode::upstream_unavailable,
                                     "the host of workspace " + ws.name() + " is not known yet"));
  json::object env{{"DATABRICKS_HOST", host},
                   {"DATABRICKS_AUTH_TYPE", "metadata-service"},
                   {"DATABRICKS_METADATA_SERVICE_URL",
                    loopback_url(state->metadata_service_port) + "/" +
                        ws.metadata_secret(state->secrets.metadata_service) + "/" + ws.name()}};
  return ApiResponse{200, json::serialize(env) + "\n"};
}

ApiResponse azure_env_response(const LoopbackState* state, const Broker& broker,
                               const PeerIdentity& peer) {
  const auto& listen = broker.config().listen.managed_identity;
  if (state == nullptr || state->managed_identity_port == 0 || !listen)
    return error_response(make_error(ErrorCode::not_found,
                                     "the managed-identity endpoint is off; set "
                                     "listen.managed_identity in the configuration"));
  if (const Workspace* ws = entra_refusing_workspace(broker, listen->credential, &peer)) {
    spdlog::warn(
        "denied uid {} (pid {}) the managed-identity endpoint: workspace {} does not "
        "serve Entra tokens",
        peer.uid, peer.pid, ws->name());
    return error_response(make_error(ErrorCode::forbidden, managed_identity_refused(*ws)));
  }
  bool used = false;
  bool allowed = false;
  for (const auto& [name, cfg] : broker.config().workspaces) {
    if (cfg.credential != listen->credential) continue;
    used = true;
    const Workspace* ws = broker.workspace(name);
    allowed = allowed || (ws != nullptr && ws->authorize(peer));
  }
  if (used && !allowed) {
    spdlog::warn("denied uid {} (pid {}) the managed-identity endpoint", peer.uid, peer.pid);
    return error_response(make_error(
        ErrorCode::forbidden,
        "uid " + std::to_string(peer.uid) + " may not use credential " + listen->credential +
            ": it is allowed on no workspace that uses it (workspaces.*.allow)"));
  }
  json::object env{{"IDENTITY_ENDPOINT",
                    loopback_url(state->managed_identity_port) + std::string(kIdentityPath)},
                   {"IDENTITY_HEADER", state->secrets.managed_identity}};
  return ApiResponse{200, json::serialize(env) + "\n"};
}

}  // namespace dbx
