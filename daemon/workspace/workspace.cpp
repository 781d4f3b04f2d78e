// One workspace: access decision, host and headers, PATs.
#include "daemon/workspace/workspace.h"

#include <algorithm>

#include "daemon/cache/refresh_policy.h"
#include "daemon/loopback_secrets.h"
#include "daemon/server/executable_check.h"
#include "daemon/server/peer_access.h"

namespace dbx {

namespace {
// Databricks rejects AAD tokens within 30 s of expiry; a minute covers a slow token/create.
constexpr Seconds kDatabricksCallValidity{60};
}  // namespace

Workspace::Workspace(Runtime& runtime, Transport& transport, const Config& config,
                     WorkspaceConfig ws, std::shared_ptr<Credential> credential,
                     std::shared_ptr<PatLedger> ledger)
    : config_(std::move(ws)),
      auth_(std::make_shared<WorkspaceAuth>(runtime, transport, config, config_,
                                            std::move(credential))),
      ledger_(std::move(ledger)) {
  if (!config_.pat.enabled || !ledger_) return;
  // The token API holds the header recipe, not the workspace: no callback into a parent.
  api_ = std::make_unique<DatabricksTokenApi>(
      transport, [auth = auth_](std::function<void(Result<WorkspaceHeaders>)> done) {
        auth->headers(kDatabricksCallValidity, std::move(done));
      });
  pats_ = std::make_unique<PatManager>(runtime, *api_, *ledger_, config_.pat, config.instance,
                                       config_.name, config.request_deadline);
}

Workspace::~Workspace() {
  if (pats_) pats_->stop();
}

namespace {

// The users/groups/uids part of `allow` (SPEC.md "Access"). With executables listed and all three
// empty, the executable alone decides.
AccessDecision identity_allowed(const std::optional<AllowList>& list, const PeerIdentity& peer) {
  const AllowList& allow = *list;
  if (std::find(allow.uids.begin(), allow.uids.end(), peer.uid) != allow.uids.end())
    return {true, "allow.uids"};
  if (!peer.user.empty() &&
      std::find(allow.users.begin(), allow.users.end(), peer.user) != allow.users.end())
    return {true, "allow.users"};
  if (!allow.groups.empty() && is_allowed(list, peer)) return {true, "allow.groups"};
  if (allow.uids.empty() && allow.users.empty() && allow.groups.empty() &&
      !allow.executables.empty())
    return {true, "allow.executables only"};
  // Fail closed, and say so: a lookup that failed is not taken for "not a member".
  if (!lookup_failure(allow, peer).empty())
    return {false, "a user or group lookup of the allow list failed (name service)"};
  return {false, "not in the workspace's allow list"};
}

}  // namespace

AccessDecision Workspace::authorize(const PeerIdentity& peer) const {
  const auto& allow = config_.allow;
  if (peer.uid == 0) return {true, "uid 0"};
  if (!allow) return {true, "no allow list: whoever may open the socket"};
  const AccessDecision identity = identity_allowed(allow, peer);
  if (!identity || allow->executables.empty()) return identity;
  // The program that sent the request (read once per sender per connection; docs/AUDIT.md).
  if (!check_executables(allow->executables, peer_process(peer), exe_hash_cache()).allowed)
    return {false, "not a program in allow.executables"};
  return identity;
}

AccessDecision Workspace::authorize_metadata_secret(std::string_view given,
                                                    std::string_view stored_secret) const {
  if (secret_matches(given, metadata_secret(stored_secret)))
    return {true, "the workspace's metadata-service secret"};
  return {false, "not the workspace's metadata-service secret"};
}

std::string Workspace::metadata_secret(std::string_view stored_secret) const {
  return workspace_secret(stored_secret, name());
}

std::string Workspace::denied_message(const PeerIdentity& peer) const {
  const auto& allow = config_.allow;
  if (allow && !allow->executables.empty() && identity_allowed(allow, peer)) {
    const ExecutableVerdict v =
        check_executables(allow->executables, peer_process(peer), exe_hash_cache());
    return v.reason + "; workspace " + name() + " admits only the programs in workspaces." +
           name() + ".allow.executables";
  }
  if (allow) {
    if (const std::string failure = lookup_failure(*allow, peer); !failure.empty())
      return "uid " + std::to_string(peer.uid) + " may not use workspace " + name() +
             " for now: looking up its user and groups failed (" + failure +
             "); retry, and if it persists check the name service (LDAP, SSSD)";
  }
  return "uid " + std::to_string(peer.uid) + " may not use workspace " + name() +
         "; ask the operator to add it to workspaces." + name() + ".allow";
}

Seconds Workspace::default_min_valid(std::string_view action) const {
  if (action == "pat" || (action == "token" && pats_ != nullptr)) return kDefaultMinValid;
  return auth_->default_min_valid();
}

bool Workspace::serves_entra_token() const {
  return kind() == TokenKind::aad && config_.serve_entra_token;
}

std::string Workspace::entra_refused_message() const {
  return "workspace " + name() + " does not serve Entra tokens (workspaces." + name() +
         ".serve_entra_token is false: one of credential " + config_.credential +
         " opens every workspace of that principal); use `dbxcred token` or `dbxcred pat`";
}

void Workspace::aad(Seconds min_valid, TokenCallback done) {
  if (kind() != TokenKind::aad) {
    return done(make_error(ErrorCode::bad_request,
                           "workspace " + name() + " uses Databricks OAuth (credential " +
                               config_.credential + "), which has no Entra token; use `dbxcred " +
                               "token` (GET /v1/workspaces/" + name() + "/token)"));
  }
  if (!serves_entra_token()) return done(make_error(ErrorCode::forbidden, entra_refused_message()));
  auth_->bearer(min_valid, std::move(done));
}

void Workspace::headers(Seconds min_valid, std::function<void(Result<WorkspaceHeaders>)> done) {
  // A Databricks OAuth workspace's headers carry its own, workspace-bound token.
  if (kind() == TokenKind::aad && !serves_entra_token())
    return done(make_error(ErrorCode::forbidden, entra_refused_message()));
  auth_->headers(min_valid, std::move(done));
}

void Workspace::token(Seconds min_valid, std::optional<std::uint32_t> uid,
                      std::function<void(Result<WorkspaceBearer>)> done) {
  if (pat_enabled()) {
    return pat(min_valid, uid, [done = std::move(done)](Result<ServedPat> p) {
      if (!p) return done(p.error());
      done(WorkspaceBearer{p->token, "pat", p->expires_at});
    });
  }
  // The config refuses serve_entra_token false with "pat": false; a check, not a path.
  if (this->kind() == TokenKind::aad && !serves_entra_token())
    return done(make_error(ErrorCode::forbidden, entra_refused_message()));
  const std::string_view kind = this->kind() == TokenKind::aad ? "aad" : "oauth";
  auth_->bearer(min_valid, [kind, done = std::move(done)](Result<AccessToken> t) {
    if (!t) return done(t.error());
    done(WorkspaceBearer{t->value, kind, t->expires_at});
  });
}

void Workspace::pat(Seconds min_valid, std::optional<std::uint32_t> uid,
                    std::function<void(Result<ServedPat>)> done) {
  if (!pats_)
    return done(make_error(ErrorCode::bad_request,
                           "PATs are turned off for workspace " + name() +
                               " (\"pat\": false); use `dbxcred aad` or `dbxcred headers`"));
  pats_->get(min_valid, uid, std::move(done));
}

void Workspace::reap_pats(const std::string& agent, std::function<void(Result<ReapResult>)> done) {
  if (!pats_)
    return done(make_error(ErrorCode::bad_request,
                           "PATs are turned off for workspace " + name() +
                               " (\"pat\": false): this daemon cannot list its PATs"));
  pats_->reap_agent(agent, std::move(done));
}

std::optional<ServedPatView> Workspace::peek_pat(Seconds min_valid) const {
  if (!pats_) return std::nullopt;
  return pats_->peek(min_valid);
}

std::optional<PatStatus> Workspace::pat_status() const {
  if (!pats_) return std::nullopt;
  return pats_->status();
}

void Workspace::start() {
  // A sessions workspace has no token of its own to warm: each CI session brings its own.
  if (config_.sessions) return;
  auth_->start();
  if (started_ || retired_) return;
  started_ = true;
  if (pats_) pats_->start();
}

void Workspace::reconfigure(const WorkspaceConfig& ws) {
  config_.allow = ws.allow;
  config_.serve_entra_token = ws.serve_entra_token;
  config_.pat = ws.pat;
  if (pats_) pats_->reconfigure(ws.pat);
}

void Workspace::retire() {
  if (retired_) return;
  retired_ = true;
  if (pats_) pats_->stop();
}

void Workspace::reschedule(Millis step) {
  if (pats_) pats_->reschedule(step);
}

void Workspace::abandon_waiters() {
  auth_->abandon_waiters();
  if (pats_) pats_->abandon_waiters();
}

}  // namespace dbx
