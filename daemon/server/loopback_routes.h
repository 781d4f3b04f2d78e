// The loopback endpoints' protocols as plain functions (no Beast): the Databricks SDKs'
// metadata-service auth and the App Service managed-identity protocol (SPEC.md "Loopback
// endpoints", PROTOCOLS.md for the clients' side), plus the socket API answers that hand their
// URLs and secrets out (sdk-env, azure-env). Unit-tested without sockets.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "daemon/broker.h"
#include "daemon/loopback_secrets.h"
#include "daemon/server/peer.h"
#include "daemon/server/router.h"
#include "daemon/upstream/transport.h"

namespace dbx {

// The loopback listeners as they run: the ports actually bound (0: off) and their secrets.
// Replaced as a whole on reload.
struct LoopbackState {
  std::uint16_t metadata_service_port = 0;
  std::uint16_t managed_identity_port = 0;
  std::uint16_t metrics_port = 0;
  LoopbackSecrets secrets;
};

struct LoopbackRequest {
  std::string_view method;
  std::string_view target;  // path and query, as sent
  HttpHeaders headers;
  // Case-insensitive (the JS SDK sends lower-case names); nullopt when absent.
  std::optional<std::string_view> header(std::string_view name) const;
};

// The SDKs refresh this long before `expires_on` (PROTOCOLS.md).
inline constexpr Seconds kSdkRefreshLead{40};
// Least a client may use a token before its SDK asks again: below this it would come back on every
// call. The caches' own leads (pat.rotate_before, min(TTL/2, 20 min)) normally give far more.
inline constexpr Seconds kLeastUse{30};
// Databricks refuses AAD tokens in their last 30 s, so the metadata service announces AAD tokens
// as expiring that much early: the SDK refreshes before Databricks would refuse.
inline constexpr Seconds kDatabricksAadCutoff{30};
// What the metadata service asks the PAT manager and the AAD cache for.
inline constexpr Seconds kMetadataPatMinValid = kSdkRefreshLead + kLeastUse;
inline constexpr Seconds kMetadataAadMinValid = kSdkRefreshLead + kLeastUse + kDatabricksAadCutoff;
// Azure SDKs refresh 2-5 min ahead but keep using a valid token meanwhile; a minute is enough for
// the request at hand, and the cache's refresh lead serves fresher tokens in normal operation.
inline constexpr Seconds kManagedIdentityMinValid{60};

// "https://Host:443/" and "https://host" compare equal: scheme and host lower-cased, default
// port and trailing slashes dropped.
std::string normalize_host_url(std::string_view url);

class LoopbackRoutes {
 public:
  LoopbackRoutes(std::function<std::shared_ptr<Broker>()> broker,
                 std::function<std::shared_ptr<const LoopbackState>()> state);

  // GET /<secret>/<ws> — calls `done` exactly once, inline or later.
  void metadata_service(const LoopbackRequest& request, std::function<void(ApiResponse)> done);
  // GET /msi/token?resource=R&api-version=2019-08-01 — calls `done` exactly once.
  void managed_identity(const LoopbackRequest& request, std::function<void(ApiResponse)> done);

  // By endpoint ("metadata_service", "managed_identity") and status, for /metrics.
  const RequestCounters& counters() const { return counters_; }
  // Every answer is an audit record (unset: none): no peer credentials (uid, pid and exe null),
  // the workspace and endpoint, the token's fingerprint when served.
  void set_audit(AuditLog* audit) { audit_ = audit; }

 private:
  // The record that `done` completes, and `done` wrapped to count and record the answer.
  std::function<void(ApiResponse)> finishing(const char* kind, std::uint16_t port,
                                             std::shared_ptr<AuditRecord> record,
                                             std::function<void(ApiResponse)> done);
  AuditLog* audit_ = nullptr;
  std::function<std::shared_ptr<Broker>()> broker_;
  std::function<std::shared_ptr<const LoopbackState>()> state_;
  RequestCounters counters_;
};

// GET /v1/workspaces/{ws}/sdk-env (the caller is allowed on `ws`).
ApiResponse sdk_env_response(const LoopbackState* state, const Workspace& ws);
// GET /v1/azure-env. The managed-identity credential is not tied to one workspace: a caller may
// have it when it is allowed on at least one workspace using that credential; when no workspace
// uses it, whoever may open the socket (the socket's mode and group are then the boundary). Its
// token opens every workspace of the credential: refused (403, naming the key) while any of them
// has serve_entra_token false; the endpoint itself checks the same at every request.
ApiResponse azure_env_response(const LoopbackState* state, const Broker& broker,
                               const PeerIdentity& peer);

}  // namespace dbx
