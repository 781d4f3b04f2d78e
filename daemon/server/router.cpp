#include "daemon/server/router.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>

#include <unistd.h>

#include "common/log.h"
#include "daemon/audit/audit_log.h"
#include "daemon/cache/refresh_policy.h"
#include "daemon/server/doctor_route.h"
#include "daemon/server/loopback_routes.h"
#include "daemon/server/pat_reap_route.h"
#include "daemon/server/peer_access.h"
#include "daemon/server/rate_limit.h"
#include "daemon/server/session_routes.h"

namespace dbx {

namespace json = boost::json;

namespace {

ApiResponse json_response(int status, const json::value& v) {
  return ApiResponse{status, json::serialize(v) + "\n"};
}

// Workspace names are plain words: a name with a separator, a dot-dot or a percent-escape is an
// attempt to reach something else and is refused before any lookup.
bool is_plain_name(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  if (s.find("..") != std::string_view::npos) return false;
  for (char c : s)
    if (c == '/' || c == '%' || c == '\\' || static_cast<unsigned char>(c) < 0x20) return false;
  return true;
}

// Reads min_valid=SECONDS from a query string; nullopt when absent (the workspace's default).
Result<std::optional<Seconds>> min_valid_from(std::string_view query) {
  std::optional<Seconds> value;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view kv = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    auto eq = kv.find('=');
    std::string_view key = kv.substr(0, eq);
    std::string_view val = eq == std::string_view::npos ? std::string_view() : kv.substr(eq + 1);
    if (key != "min_valid") continue;
    std::int64_t n = -1;
    auto [p, ec] = std::from_chars(val.data(), val.data() + val.size(), n);
    if (ec != std::errc() || p != val.data() + val.size() || n < 0 || n > 30LL * 86400)
      return make_error(ErrorCode::bad_request,
                        "min_valid must be a number of seconds, got \"" + std::string(val) + "\"");
    value = Seconds(n);
  }
  return value;
}

std::string endpoint_label(std::string_view path) {
  if (path.rfind("/v1/workspaces/", 0) == 0) {
    auto slash = path.rfind('/');
    if (slash > 14) return "/v1/workspaces/{ws}" + std::string(path.substr(slash));
  }
  if (path == "/healthz" || path == "/metrics" || path == "/v1/status" ||
      path == "/v1/workspaces" || path == "/v1/azure-env" || path == "/v1/doctor")
    return std::string(path);
  return "other";
}

// The audit kind of a request path: the action of a workspace call, else the path itself.
std::string_view kind_of_path(std::string_view path) {
  if (path.starts_with("/v1/workspaces/")) {
    const auto slash = path.rfind('/');
    if (slash > 14) return path.substr(slash + 1, 32);
  }
  if (path.starts_with("/v1/")) return path.substr(4, 32);
  return path.substr(0, 32);
}

}  // namespace

ApiResponse error_response(const Error& e) {
  json::object err{{"code", to_string(e.code)}, {"message", e.message}};
  ApiResponse r = json_response(http_status(e.code), json::object{{"error", std::move(err)}});
  if (e.code == ErrorCode::rate_limited && e.retry_after)
    r.retry_after = static_cast<int>(e.retry_after->count());
  return r;
}

std::string answer_reason(const ApiResponse& a) {
  if (a.status == 200) return {};
  boost::system::error_code ec;
  const json::value v = json::parse(a.body, ec);
  if (!ec && v.is_object()) {
    const json::object& o = v.get_object();
    if (const auto* e = o.if_contains("error"); e && e->is_object()) {
      const json::object& eo = e->get_object();
      std::string out;
      if (const auto* c = eo.if_contains("code"); c && c->is_string())
        out = std::string(c->get_string()) + ": ";
      if (const auto* m = eo.if_contains("message"); m && m->is_string()) out += m->get_string();
      return out;
    }
    std::string out;
    if (const auto* e = o.if_contains("error"); e && e->is_string())
      out = std::string(e->get_string()) + ": ";
    if (const auto* d = o.if_contains("error_description"); d && d->is_string())
      out += d->get_string();
    if (!out.empty()) return out;
  }
  return "HTTP " + std::to_string(a.status);
}

AuditOutcome outcome_of(int status) {
  if (status == 200) return AuditOutcome::served;
  return status >= 500 ? AuditOutcome::failed : AuditOutcome::denied;
}

Router::Router(Runtime& runtime, std::function<std::shared_ptr<Broker>()> broker,
               TimePoint started_at)
    : runtime_(runtime), broker_(std::move(broker)), started_at_(started_at) {}

void Router::handle(const ApiRequest& request, const PeerIdentity& peer,
                    std::function<void(ApiResponse)> done) {
  std::string_view target = request.target;
  const auto q = target.find('?');
  const std::string_view path = target.substr(0, q);
  const std::string_view query = q == std::string_view::npos ? "" : target.substr(q + 1);
  auto broker = broker_();
  if (limiter_ != nullptr && path != "/healthz") {
    if (auto wait = limiter_->take(peer.uid, runtime_.now())) {
      Error e = make_error(ErrorCode::rate_limited,
                           "uid " + std::to_string(peer.uid) +
                               " asked too often; retry after the Retry-After seconds "
                               "(limits.requests_per_second_per_uid)");
      e.retry_after = *wait;
      ApiResponse r = error_response(e);
      if (audit_ != nullptr) {
        std::string_view ws;
        if (path.starts_with("/v1/workspaces/")) {
          ws = path.substr(15);
          ws = ws.substr(0, ws.find('/'));
        }
        audit(audit_record(peer, ws.substr(0, 128), kind_of_path(path)), r);
      }
      ++counters_.by_endpoint_status[{endpoint_label(path), r.status}];
      return done(std::move(r));
    }
  }
  if (request.method == "GET" && answer_cached_pat(*broker, path, query, peer, done)) return;
  auto counted = [this, label = endpoint_label(path), done = std::move(done)](ApiResponse r) {
    ++counters_.by_endpoint_status[{label, r.status}];
    done(std::move(r));
  };

  if (path == "/v1/loopback-secrets/rotate") {
    ApiResponse r = rotate_answer(request.method, peer);
    if (audit_ != nullptr) audit(audit_record(peer, "", "rotate-secrets"), r);
    return counted(std::move(r));
  }
  // The one request that is not a GET: an operator's (daemon/server/pat_reap_route.h).
  if (const auto reap = pat_reap_workspace(path); !reap.empty()) {
    AuditRecord record;
    if (audit_ != nullptr) record = audit_record(peer, reap.substr(0, 128), "pat-reap");
    auto audited = [this, record = std::move(record),
                    counted = std::move(counted)](ApiResponse r) mutable {
      if (audit_ != nullptr) audit(std::move(record), r);
      counted(std::move(r));
    };
    return answer_pat_reap(broker, request.method, reap, query, peer, std::move(audited));
  }
  if (is_sessions_path(path)) {
    auto record = std::make_shared<AuditRecord>();
    if (audit_ != nullptr) *record = audit_record(peer, "", "session");
    auto audited = [this, record, counted = std::move(counted)](ApiResponse r) mutable {
      if (audit_ != nullptr) audit(std::move(*record), r);
      counted(std::move(r));
    };
    return answer_sessions(sessions_, broker, request, path, peer, record, std::move(audited));
  }
  if (request.method != "GET") {
    ApiResponse r = error_response(make_error(ErrorCode::bad_request, "only GET is supported"));
    r.status = 405;
    return counted(std::move(r));
  }
  if (path == "/healthz") return counted(json_response(200, json::object{{"status", "ok"}}));
  if (path == "/v1/status") return counted(ApiResponse{200, status_json(*broker)});
  if (path == "/v1/audit") return counted(audit_answer(query, peer));
  if (path == "/v1/doctor") return answer_doctor(broker, runtime_, query, peer, std::move(counted));
  if (path == "/metrics")
    return counted(ApiResponse{200, metrics_text(*broker), "text/plain; version=0.0.4"});
  if (path == "/v1/azure-env") {
    const auto state = loopback_ ? loopback_() : nullptr;
    ApiResponse r = azure_env_response(state.get(), *broker, peer);
    if (audit_ != nullptr) audit(audit_record(peer, "", "azure-env"), r);
    return counted(std::move(r));
  }
  if (path == "/v1/workspaces") {
    json::array list;
    for (const auto& [name, cfg] : broker->config().workspaces) {
      const Workspace* ws = broker->workspace(name);
      if (ws == nullptr || !ws->authorize(peer)) continue;
      list.push_back(
          json::object{{"name", name}, {"host", ws->host()}, {"pat", ws->pat_enabled()}});
    }
    return counted(json_response(200, json::object{{"workspaces", std::move(list)}}));
  }
  constexpr std::string_view kWs = "/v1/workspaces/";
  if (path.rfind(kWs, 0) == 0) {
    std::string_view rest = path.substr(kWs.size());
    auto slash = rest.find('/');
    if (slash != std::string_view::npos) {
      return workspace_call(broker, rest.substr(0, slash), rest.substr(slash + 1), query, peer,
                            request.session, std::move(counted));
    }
  }
  counted(error_response(
      make_error(ErrorCode::not_found, "no such path: " + std::string(path.substr(0, 200)))));
}

bool Router::answer_cached_pat(const Broker& broker, std::string_view path, std::string_view query,
                               const PeerIdentity& peer,
                               const std::function<void(ApiResponse)>& done) {
  constexpr std::string_view kWs = "/v1/workspaces/";
  constexpr std::string_view kPat = "/pat";
  if (path.size() <= kWs.size() + kPat.size() || !path.starts_with(kWs) || !path.ends_with(kPat))
    return false;
  const std::string_view name = path.substr(kWs.size(), path.size() - kWs.size() - kPat.size());
  // Anything unusual (bad name, unknown workspace, denied, bad min_valid, no PAT at hand) takes the
  // full path, which answers and logs it.
  if (!is_plain_name(name)) return false;
  const Workspace* ws = broker.workspace(name);
  // The same decision as the full path's (Workspace::authorize); a denied peer gets its 403 there.
  if (ws == nullptr || !ws->authorize(peer)) return false;
  const auto asked = min_valid_from(query);
  if (!asked) return false;
  const Seconds min_valid = asked->value_or(kDefaultMinValid);
  const auto pat = ws->peek_pat(min_valid);
  if (!pat) return false;
  if (audit_ != nullptr) {
    // Appended to a buffer: no syscall here (the flush timer writes it out).
    AuditRecord r = audit_record(peer, ws->name(), "pat");
    r.token_id = pat->token_id;
    r.min_valid = min_valid.count();
    audit_->record(std::move(r));
  }
  const std::string_view host = ws->host();
  // Kept by the PAT manager with this PAT (dropped with it); serialised again when the host moves.
  ServedPatAnswer& cached = *pat->answer;
  if (cached.body.empty() || cached.host != host) {
    cached.host = host;
    cached.body = json_response(200, json::object{{"token", pat->token},
                                                  {"token_id", pat->token_id},
                                                  {"expires_at", to_unix_seconds(pat->expires_at)},
                                                  {"host", host}})
                      .body;
  }
  if (pat_hits_ == nullptr)
    pat_hits_ = &counters_.by_endpoint_status[{"/v1/workspaces/{ws}/pat", 200}];
  ++*pat_hits_;
  done(ApiResponse{200, cached.body});
  return true;
}

void Router::workspace_call(const std::shared_ptr<Broker>& broker, std::string_view name,
                            std::string_view action, std::string_view query,
                            const PeerIdentity& peer, std::string_view session,
                            std::function<void(ApiResponse)> done_raw) {
  // Every answer of a workspace call is one audit record; the serving branches add the token's
  // id or fingerprint and the effective min_valid before answering.
  auto record = std::make_shared<AuditRecord>();
  if (audit_ != nullptr) *record = audit_record(peer, name.substr(0, 128), action.substr(0, 32));
  auto done = [this, record, done = std::move(done_raw)](ApiResponse r) {
    if (audit_ != nullptr) audit(std::move(*record), r);
    done(std::move(r));
  };
  if (!is_plain_name(name))
    return done(error_response(make_error(ErrorCode::bad_request, "invalid workspace name")));
  Workspace* ws = broker->workspace(name);
  if (ws == nullptr)
    return done(error_response(make_error(
        ErrorCode::not_found,
        "no workspace named \"" + std::string(name) + "\"; `dbxcred workspaces` lists yours")));
  if (const AccessDecision access = ws->authorize(peer); !access) {
    spdlog::warn("denied uid {} (pid {}) access to workspace {}: {}", peer.uid, peer.pid,
                 ws->name(), access.reason);
    return done(error_response(make_error(ErrorCode::forbidden, ws->denied_message(peer))));
  }
  if (ws->config().sessions) {
    // A CI session's request (daemon/server/session_routes.h); a sessions-only workspace serves
    // nothing without one. (Other workspaces ignore a session header: a job may use both.)
    if (session.empty()) return done(error_response(session_required(*ws)));
    const auto asked = min_valid_from(query);
    if (!asked) return done(error_response(asked.error()));
    return answer_session_call(sessions_, broker, *ws, action, *asked, session, peer, record,
                               std::move(done));
  }
  if (action == "sdk-env") {
    const auto state = loopback_ ? loopback_() : nullptr;
    return done(sdk_env_response(state.get(), *ws));
  }
  const auto asked = min_valid_from(query);
  if (!asked) return done(error_response(asked.error()));
  const Seconds min_valid = asked->value_or(ws->default_min_valid(action));
  record->min_valid = min_valid.count();

  if (action == "aad") {
    const std::string resource = broker->config().endpoints.databricks_resource;
    ws->aad(min_valid, [resource, record, done = std::move(done)](Result<AccessToken> t) {
      if (!t) return done(error_response(t.error()));
      record->fingerprint = fingerprint(t->value);
      done(json_response(200, json::object{{"access_token", t->value},
                                           {"token_type", "Bearer"},
                                           {"expires_at", to_unix_seconds(t->expires_at)},
                                           {"resource", resource}}));
    });
    return;
  }
  if (action == "token") {
    ws->token(min_valid, peer.uid,
              [broker, ws, record, done = std::move(done)](Result<WorkspaceBearer> b) {
                if (!b) return done(error_response(b.error()));
                record->fingerprint = fingerprint(b->token);
                done(json_response(200, json::object{{"token", b->token},
                                                     {"kind", b->kind},
                                                     {"expires_at", to_unix_seconds(b->expires_at)},
                                                     {"host", ws->host()}}));
              });
    return;
  }
  if (action == "headers") {
    ws->headers(min_valid, [record, done = std::move(done)](Result<WorkspaceHeaders> h) {
      if (!h) return done(error_response(h.error()));
      for (const auto& [k, v] : h->headers)
        if (k == "Authorization")
          record->fingerprint = fingerprint(std::string_view(v).substr(v.find(' ') + 1));
      json::object headers;
      for (const auto& [k, v] : h->headers) headers[k] = v;
      done(json_response(200, json::object{{"host", h->host},
                                           {"expires_at", to_unix_seconds(h->expires_at)},
                                           {"headers", std::move(headers)}}));
    });
    return;
  }
  if (action == "pat") {
    ws->pat(min_valid, peer.uid, [broker, ws, record, done = std::move(done)](Result<ServedPat> p) {
      if (!p) return done(error_response(p.error()));
      record->token_id = p->token_id;
      // Asked after the PAT: an ARM-looked-up host is known by then.
      done(json_response(200, json::object{{"token", p->token},
                                           {"token_id", p->token_id},
                                           {"expires_at", to_unix_seconds(p->expires_at)},
                                           {"host", ws->host()}}));
    });
    return;
  }
  done(error_response(make_error(ErrorCode::not_found, "no such path: /v1/workspaces/{ws}/" +
                                                           std::string(action.substr(0, 100)))));
}

AuditRecord Router::audit_record(const PeerIdentity& peer, std::string_view workspace,
                                 std::string_view kind) const {
  AuditRecord r;
  r.time = runtime_.now();
  r.uid = peer.uid;
  r.gid = peer.gid;
  r.pid = peer.pid;
  r.exe = peer_process(peer).exe;
  r.workspace = workspace;
  r.kind = kind;
  return r;
}

void Router::audit(AuditRecord r, const ApiResponse& a) {
  r.outcome = outcome_of(a.status);
  if (r.outcome != AuditOutcome::served) {
    r.reason = answer_reason(a);
    r.token_id.clear();
    r.fingerprint.clear();
  }
  audit_->record(std::move(r));
}

ApiResponse Router::audit_answer(std::string_view query, const PeerIdentity& peer) {
  // Root and the daemon's own user: the records name every caller and program on the host.
  if (peer.uid != 0 && peer.uid != ::geteuid())
    return error_response(make_error(ErrorCode::forbidden,
                                     "the audit records are for root and the daemon's user only"));
  if (audit_ == nullptr)
    return error_response(make_error(ErrorCode::not_found, "auditing is off in this daemon"));
  std::int64_t since = AuditLog::kRingAge.count();
  for (std::string_view rest = query; !rest.empty();) {
    const auto amp = rest.find('&');
    const std::string_view kv = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (!kv.starts_with("since=")) continue;
    const std::string_view v = kv.substr(6);
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), since);
    if (ec != std::errc() || p != v.data() + v.size() || since < 0)
      return error_response(make_error(
          ErrorCode::bad_request,
          "since must be a number of seconds, got \"" + std::string(v.substr(0, 32)) + "\""));
  }
  since = std::min<std::int64_t>(since, AuditLog::kRingAge.count());  // all memory holds
  std::string body;
  body.reserve(4096);
  body += "{\"records\":[";
  bool first = true;
  for (const AuditRecord& r : audit_->since(runtime_.now() - Seconds(since))) {
    std::string line = audit_json_line(r);
    line.pop_back();  // the newline
    if (!first) body += ",";
    body += line;
    first = false;
  }
  body += "]}\n";
  return ApiResponse{200, std::move(body)};
}

ApiResponse Router::rotate_answer(std::string_view method, const PeerIdentity& peer) {
  if (method != "POST") {
    ApiResponse r = error_response(make_error(
        ErrorCode::bad_request, "POST /v1/loopback-secrets/rotate (dbxcred rotate-secrets)"));
    r.status = 405;
    return r;
  }
  // Root and the daemon's own user, like the audit records: anyone else could cut every SDK off.
  if (peer.uid != 0 && peer.uid != ::geteuid())
    return error_response(
        make_error(ErrorCode::forbidden,
                   "rotating the loopback secrets is for root and the daemon's user only"));
  if (!rotate_secrets_)
    return error_response(make_error(ErrorCode::not_found, "no loopback listeners in this daemon"));
  auto rotated = rotate_secrets_();
  if (!rotated) return error_response(rotated.error());
  if (rotated->empty())
    return error_response(
        make_error(ErrorCode::not_found,
                   "no loopback secret to rotate: neither listen.metadata_service "
                   "nor listen.managed_identity is configured"));
  json::array names;
  for (const auto& n : *rotated) names.emplace_back(n);
  return json_response(200, json::object{{"rotated", std::move(names)}});
}

}  // namespace dbx
