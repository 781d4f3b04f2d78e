// Router: the socket API of SPEC.md as plain functions — path and peer in, status and JSON out.
// No Beast here, so it is unit-tested and fuzzed without sockets.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "daemon/audit/audit_record.h"
#include "daemon/broker.h"
#include "daemon/runtime.h"
#include "daemon/server/peer.h"

namespace dbx {

class AuditLog;          // daemon/audit/audit_log.h
class SessionRegistry;   // daemon/session/session_registry.h
class UidRateLimiter;    // daemon/server/rate_limit.h
struct LoopbackState;    // daemon/server/loopback_routes.h
struct UpstreamMetrics;  // daemon/upstream/metered_transport.h

struct ApiRequest {
  std::string_view method;
  std::string_view target;        // path and query, as sent
  std::string_view session = {};  // X-Dbxcred-Session: a CI session's secret (session_routes.h)
  std::string_view body = {};     // POST /v1/sessions
};

struct ApiResponse {
  int status = 200;
  std::string body;
  std::string_view content_type = "application/json";
  int retry_after = 0;  // seconds; > 0 adds a Retry-After header (429 rate_limited)
};

ApiResponse error_response(const Error& e);
// The error of a refused or failed answer as one line ("code: message"), for its audit record.
std::string answer_reason(const ApiResponse& a);

// Per-endpoint request counters for /metrics.
struct RequestCounters {
  std::map<std::pair<std::string, int>, std::uint64_t> by_endpoint_status;
};

class Router {
 public:
  // `broker` is re-read on every request so a reload takes effect at once.
  Router(Runtime& runtime, std::function<std::shared_ptr<Broker>()> broker, TimePoint started_at);

  // Calls `done` exactly once, inline when the answer is at hand (cache hit) or later.
  void handle(const ApiRequest& request, const PeerIdentity& peer,
              std::function<void(ApiResponse)> done);

  const RequestCounters& counters() const { return counters_; }

  // The loopback listeners (sdk-env, azure-env; unset: both answer 404) and their request counts.
  void set_loopback(std::function<std::shared_ptr<const LoopbackState>()> state,
                    const RequestCounters* requests) {
    loopback_ = std::move(state);
    loopback_requests_ = requests;
  }
  // Audit records (unset: none) and the per-uid rate limit (unset: none).
  void set_accountability(AuditLog* audit, UidRateLimiter* limiter) {
    audit_ = audit;
    limiter_ = limiter;
  }
  // POST /v1/loopback-secrets/rotate (`dbxcred rotate-secrets`, root and the daemon's user only):
  // replaces the loopback secrets and returns the names of the listeners whose secret it replaced
  // (unset: 404).
  void set_secret_rotation(std::function<Result<std::vector<std::string>>()> rotate) {
    rotate_secrets_ = std::move(rotate);
  }
  // CI sessions (unset: /v1/sessions answers 404).
  void set_sessions(SessionRegistry* sessions) { sessions_ = sessions; }
  // Upstream call counts and latencies for /metrics (unset: not reported).
  void set_upstream_metrics(const UpstreamMetrics* metrics) { upstream_metrics_ = metrics; }

 private:
  void workspace_call(const std::shared_ptr<Broker>& broker, std::string_view name,
                      std::string_view action, std::string_view query, const PeerIdentity& peer,
                      std::string_view session, std::function<void(ApiResponse)> done);
  // The cache-hit path of GET /v1/workspaces/{ws}/pat: answers inline from a body serialized once
  // per PAT and returns true, or returns false (having done nothing) for the full path to run.
  bool answer_cached_pat(const Broker& broker, std::string_view path, std::string_view query,
                         const PeerIdentity& peer, const std::function<void(ApiResponse)>& done);
  std::string status_json(const Broker& broker) const;
  // An audit record of this peer (uid, gid, pid, executable); call only when audit_ is set.
  AuditRecord audit_record(const PeerIdentity& peer, std::string_view workspace,
                           std::string_view kind) const;
  // Records `r` with the outcome of answer `a` (served on 200, failed on 5xx, denied otherwise).
  void audit(AuditRecord r, const ApiResponse& a);
  ApiResponse audit_answer(std::string_view query, const PeerIdentity& peer);
  ApiResponse rotate_answer(std::string_view method, const PeerIdentity& peer);
  std::string metrics_text(const Broker& broker) const;

  Runtime& runtime_;
  std::function<std::shared_ptr<Broker>()> broker_;
  TimePoint started_at_;
  RequestCounters counters_;
  std::uint64_t* pat_hits_ = nullptr;  // counters_' entry for cache hits (map nodes do not move)
  std::function<std::shared_ptr<const LoopbackState>()> loopback_;
  const RequestCounters* loopback_requests_ = nullptr;
  std::function<Result<std::vector<std::string>>()> rotate_secrets_;
  const UpstreamMetrics* upstream_metrics_ = nullptr;
  AuditLog* audit_ = nullptr;
  UidRateLimiter* limiter_ = nullptr;
  SessionRegistry* sessions_ = nullptr;
};

}  // namespace dbx
