// Workspace: everything dbxcred knows and decides about one configured workspace.
//
//   authorize(peer)   THE one place that decides who may use the workspace. Every path that hands
//                     out anything of it asks here: the socket router (full path and the cached-PAT
//                     fast path), sdk-env (which hands out the workspace's own metadata-service
//                     secret) and, through that secret, the metadata-service endpoint.
//   auth()            its host (static or from ARM, kept while the workspace is) and the header
//                     recipe over its credential's shared token caches (WorkspaceAuth).
//   pat()/peek_pat()  its PatManager, over the process-wide PatLedger of (state_dir, workspace)
//                     and its own DatabricksTokenApi, which gets its headers from auth().
//
// Kept across a reload when reload_plan() says so (daemon/workspace/reload_plan.h): then only
// reconfigure() applies the new allow list, serve_entra_token and PAT policy; the host, tokens
// and PATs stay.
// Runs on the loop thread only.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/config.h"
#include "daemon/databricks/databricks_token_api.h"
#include "daemon/pat/pat_ledger.h"
#include "daemon/pat/pat_manager.h"
#include "daemon/runtime.h"
#include "daemon/server/peer.h"
#include "daemon/upstream/transport.h"
#include "daemon/workspace/credential.h"
#include "daemon/workspace/workspace_auth.h"

namespace dbx {

// Whether a peer may use a workspace, and why (static text, no allocation: the fast path asks on
// every request). Audit records and log lines quote `reason`.
struct AccessDecision {
  bool allowed = false;
  std::string_view reason;
  explicit operator bool() const { return allowed; }
};

struct WorkspaceBearer {
  std::string token;
  std::string_view kind;  // "pat" | "oauth" | "aad"
  TimePoint expires_at;
};

class Workspace {
 public:
  // `ledger`: the process-wide ledger of (state_dir, name) (PatLedgers); null when PATs are off.
  Workspace(Runtime& runtime, Transport& transport, const Config& config, WorkspaceConfig ws,
            std::shared_ptr<Credential> credential, std::shared_ptr<PatLedger> ledger);
  ~Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;

  const std::string& name() const { return config_.name; }
  const WorkspaceConfig& config() const { return config_; }

  // May `peer` use this workspace? uid 0 always; no `allow` list: whoever can open the socket;
  // else a listed uid, user name or group (SPEC.md "Access").
  AccessDecision authorize(const PeerIdentity& peer) const;
  // The metadata-service endpoint (TCP: no peer credentials): the caller proves itself with this
  // workspace's own secret, which sdk-env hands only to peers authorize() lets in. Another
  // workspace's secret, the stored one or a wrong one are all refused alike.
  AccessDecision authorize_metadata_secret(std::string_view given,
                                           std::string_view stored_secret) const;
  // This workspace's metadata-service secret, derived from the stored one (workspace_secret()).
  std::string metadata_secret(std::string_view stored_secret) const;
  // The one-line 403 message for a denied peer (names the uid and the setting to change).
  std::string denied_message(const PeerIdentity& peer) const;

  // The https:// host, "" while its ARM lookup has not answered (a view valid until the loop runs).
  std::string_view host() const { return auth_->host(); }
  void with_host(std::function<void(Result<std::string>)> done) {
    auth_->with_host(std::move(done));
  }
  // The workspace's AAD token (TokenKind::aad); bad_request on a Databricks OAuth workspace,
  // forbidden where serve_entra_token is false.
  void aad(Seconds min_valid, TokenCallback done);
  // min_valid for a client of `action` (aad, token, headers, pat) that does not say: half the
  // lifetime of short-lived bearer tokens (WorkspaceAuth::default_min_valid), 300 s for PATs.
  Seconds default_min_valid(std::string_view action) const;
  TokenKind kind() const { return auth_->kind(); }
  // The one bearer for a static-token client (SPEC.md /token): the PAT where `pat` is on, else
  // the Databricks OAuth token, else the Entra token.
  void token(Seconds min_valid, std::optional<std::uint32_t> uid,
             std::function<void(Result<WorkspaceBearer>)> done);
  // forbidden (entra_refused_message()) where the workspace does not serve Entra tokens.
  void headers(Seconds min_valid, std::function<void(Result<WorkspaceHeaders>)> done);
  // Whether aad, headers (and with them the managed-identity endpoint of its credential) serve
  // the Entra token here: an Entra credential and `serve_entra_token` not false.
  bool serves_entra_token() const;
  // The 403 message of an Entra path where serves_entra_token() is false (names the key).
  std::string entra_refused_message() const;

  bool pat_enabled() const { return pats_ != nullptr; }
  // A PAT (bad_request when the workspace has "pat": false).
  // `uid`: the caller (nullopt: a loopback client), for the per-uid limit on forced rotations.
  void pat(Seconds min_valid, std::optional<std::uint32_t> uid,
           std::function<void(Result<ServedPat>)> done);
  // Deletes another agent's PATs on the operator's request (PatManager::reap_agent; bad_request
  // when PATs are off). Who may ask is the caller's business (root and the service user only).
  void reap_pats(const std::string& agent, std::function<void(Result<ReapResult>)> done);
  // The current PAT when it serves `min_valid` now (PatManager::peek), else nullopt.
  std::optional<ServedPatView> peek_pat(Seconds min_valid) const;
  std::optional<PatStatus> pat_status() const;
  // The ledger (null when PATs are off); for tests and status.
  const PatLedger* ledger() const { return ledger_.get(); }

  // Starts the PAT manager and the eager fetches; a kept workspace is started once.
  void start();
  // Kept across a reload: the new allow list, serve_entra_token and PAT policy take effect now.
  void reconfigure(const WorkspaceConfig& ws);
  // Dropped or replaced by a reload: stops the PAT manager (waiting callers fail; answers still in
  // flight only update the shared ledger). Requests of the old configuration may still hold it.
  void retire();
  // At exit, once the loop has stopped: drops waiting callbacks unanswered.
  void abandon_waiters();
  // The wall clock stepped (ClockWatch): PAT rotation and reaping re-evaluated now.
  void reschedule(Millis step);

  const WorkspaceAuth& auth() const { return *auth_; }

 private:
  WorkspaceConfig config_;
  std::shared_ptr<WorkspaceAuth> auth_;
  std::shared_ptr<PatLedger> ledger_;
  std::unique_ptr<DatabricksTokenApi> api_;
  std::unique_ptr<PatManager> pats_;
  bool started_ = false;
  bool retired_ = false;
};

}  // namespace dbx
