// WorkspaceAuth: how a workspace is reached and authenticated — its host (static, or looked up in
// Azure Resource Manager once and kept for as long as the workspace is) and the header recipe over
// its credential's shared token caches. Owned by the Workspace and shared with its token API, which
// asks it for headers once per call: nothing here calls back into a parent.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/config.h"
#include "daemon/cache/waiters.h"
#include "daemon/databricks/databricks_token_api.h"
#include "daemon/runtime.h"
#include "daemon/upstream/transport.h"
#include "daemon/workspace/credential.h"

namespace dbx {

// The kinds of bearer token a workspace can be called with. Each kind names the credential cache
// its tokens come from (bearer_resource()):
//   aad              — the credential's Entra ID token for the Databricks resource (today's only).
//   databricks_oauth — a Databricks OAuth token (credential types databricks_oauth and
//                      databricks_federation), cached per credential and workspace host: its
//                      cache key is the workspace's host (which the config requires).
enum class TokenKind { aad, databricks_oauth };

class WorkspaceAuth : public std::enable_shared_from_this<WorkspaceAuth> {
 public:
  WorkspaceAuth(Runtime& runtime, Transport& transport, const Config& config,
                const WorkspaceConfig& ws, std::shared_ptr<Credential> credential);
  ~WorkspaceAuth();
  WorkspaceAuth(const WorkspaceAuth&) = delete;
  WorkspaceAuth& operator=(const WorkspaceAuth&) = delete;

  // The https:// host; empty while an ARM lookup has not answered. A view valid until the loop
  // runs again.
  std::string_view host() const;
  // The host, waiting (at most the request deadline) for the ARM lookup when there is only a
  // resource_id. The lookup runs once; its answer is kept for the life of this object.
  void with_host(std::function<void(Result<std::string>)> done);

  TokenKind kind() const { return kind_; }
  // The bearer token the workspace is called with (kind()).
  void bearer(Seconds min_valid, TokenCallback done);
  // min_valid for a client that does not say (default_min_valid of the bearer's lifetime).
  Seconds default_min_valid() const;
  // Every header one Databricks call needs: Authorization and, with management_token, the SP
  // management token and the workspace resource id. Waits for the host when it is looked up.
  void headers(Seconds min_valid, std::function<void(Result<WorkspaceHeaders>)> done);

  // Eager: warms the caches this workspace needs and starts the host lookup.
  void start();
  // At exit, once the loop has stopped: drops waiting callbacks unanswered.
  void abandon_waiters() { host_waiters_.abandon(); }

  const std::shared_ptr<Credential>& credential() const { return credential_; }

 private:
  // The cache key of kind()'s tokens: the Databricks resource (aad) or the host (OAuth).
  std::string bearer_resource() const;
  void start_host_lookup();
  void host_lookup_done(Result<std::string> host);
  void headers_at(std::string host, Seconds min_valid,
                  std::function<void(Result<WorkspaceHeaders>)> done);

  Runtime& runtime_;
  Transport& transport_;
  std::string name_;
  std::optional<std::string> static_host_;
  std::optional<std::string> resource_id_;
  bool management_token_;
  TokenKind kind_ = TokenKind::aad;
  Endpoints endpoints_;
  Seconds deadline_;
  std::shared_ptr<Credential> credential_;

  // The ARM lookup of a workspace configured with resource_id and no host (SPEC.md).
  std::optional<std::string> looked_up_host_;
  bool lookup_in_flight_ = false;
  std::optional<Error> lookup_error_;  // of the last failed lookup
  TimePoint lookup_failed_at_;
  Waiters<Result<std::string>> host_waiters_;
};

}  // namespace dbx
