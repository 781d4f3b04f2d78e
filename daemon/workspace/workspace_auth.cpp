// A workspace's host (static or from ARM) and the headers its Databricks calls carry.
#include "daemon/workspace/workspace_auth.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "daemon/cache/refresh_policy.h"
#include "daemon/credentials/arm_lookup.h"

namespace dbx {

namespace {
// A failed ARM lookup is answered from memory for this long before the next request tries again,
// so a broken resource_id does not send every client request to ARM.
constexpr Seconds kArmRetryAfterFailure{10};
// Validity the management token used for the ARM call needs: one ARM round trip.
constexpr Seconds kArmTokenValidity{60};
}  // namespace

WorkspaceAuth::WorkspaceAuth(Runtime& runtime, Transport& transport, const Config& config,
                             const WorkspaceConfig& ws, std::shared_ptr<Credential> credential)
    : runtime_(runtime),
      transport_(transport),
      name_(ws.name),
      static_host_(ws.host),
      resource_id_(ws.resource_id),
      management_token_(ws.management_token),
      endpoints_(config.endpoints),
      deadline_(config.request_deadline),
      credential_(std::move(credential)),
      host_waiters_(runtime, [name = ws.name](const std::monostate&) -> Result<std::string> {
        return make_error(ErrorCode::upstream_unavailable,
                          "the host of workspace " + name +
                              " is still being looked up in Azure Resource Manager; try again "
                              "shortly");
      }) {
  if (auto it = config.credentials.find(ws.credential);
      it != config.credentials.end() && is_databricks_oauth(it->second.type)) {
    kind_ = TokenKind::databricks_oauth;
  }
}

WorkspaceAuth::~WorkspaceAuth() = default;

std::string_view WorkspaceAuth::host() const {
  if (static_host_) return *static_host_;
  if (looked_up_host_) return *looked_up_host_;
  return {};
}

void WorkspaceAuth::start() {
  credential_->warm(bearer_resource());
  if (management_token_) credential_->warm(endpoints_.management_resource);
  if (!static_host_ && resource_id_ && !looked_up_host_)
    with_host([](Result<std::string>) {});  // eager: the first client need not wait
}

void WorkspaceAuth::with_host(std::function<void(Result<std::string>)> done) {
  if (static_host_) return done(*static_host_);
  if (looked_up_host_) return done(*looked_up_host_);
  if (!resource_id_)
    return done(make_error(ErrorCode::internal,
                           "workspace " + name_ + " has neither host nor resource_id"));
  if (!lookup_in_flight_ && lookup_error_ &&
      runtime_.now() - lookup_failed_at_ < kArmRetryAfterFailure)
    return done(*lookup_error_);
  host_waiters_.add(deadline_, {}, std::move(done));
  if (!lookup_in_flight_) start_host_lookup();
}

void WorkspaceAuth::start_host_lookup() {
  lookup_in_flight_ = true;
  credential_->token(
      endpoints_.management_resource, kArmTokenValidity,
      [self = shared_from_this()](Result<AccessToken> t) {
        if (!t) {
          Error e = t.error();
          e.message = "looking up the host of workspace " + self->name_ +
                      " in Azure Resource Manager needs a management token: " + e.message;
          return self->host_lookup_done(std::move(e));
        }
        lookup_workspace_host(
            self->transport_, self->endpoints_.resource_manager, *self->resource_id_, t->value,
            [self](Result<std::string> host) { self->host_lookup_done(std::move(host)); });
      });
}

void WorkspaceAuth::host_lookup_done(Result<std::string> host) {
  lookup_in_flight_ = false;
  if (host) {
    spdlog::info("workspace {}: host {} (from Azure Resource Manager)", name_, *host);
    looked_up_host_ = *host;
    lookup_error_.reset();
  } else {
    spdlog::error("workspace {}: {}", name_, host.error().message);
    lookup_error_ = host.error();
    lookup_failed_at_ = runtime_.now();
  }
  host_waiters_.settle_all(host);
}

std::string WorkspaceAuth::bearer_resource() const {
  // A Databricks OAuth workspace always has a static host (the config requires it).
  return kind_ == TokenKind::databricks_oauth ? static_host_.value_or("")
                                              : endpoints_.databricks_resource;
}

void WorkspaceAuth::bearer(Seconds min_valid, TokenCallback done) {
  credential_->token(bearer_resource(), min_valid, std::move(done));
}

Seconds WorkspaceAuth::default_min_valid() const {
  return dbx::default_min_valid(credential_->lifetime(bearer_resource()));
}

void WorkspaceAuth::headers(Seconds min_valid, std::function<void(Result<WorkspaceHeaders>)> done) {
  if (const auto h = host(); !h.empty())
    return headers_at(std::string(h), min_valid, std::move(done));
  with_host([self = shared_from_this(), min_valid,
             done = std::move(done)](Result<std::string> host) mutable {
    if (!host) return done(host.error());
    self->headers_at(std::move(*host), min_valid, std::move(done));
  });
}

void WorkspaceAuth::headers_at(std::string host, Seconds min_valid,
                               std::function<void(Result<WorkspaceHeaders>)> done) {
  bearer(min_valid, [self = shared_from_this(), host = std::move(host), min_valid,
                     done = std::move(done)](Result<AccessToken> aad) mutable {
    if (!aad) return done(aad.error());
    WorkspaceHeaders h{
        std::move(host), aad->expires_at, {{"Authorization", "Bearer " + aad->value}}};
    if (!self->management_token_) return done(std::move(h));
    self->credential_->token(
        self->endpoints_.management_resource, min_valid,
        [resource_id = self->resource_id_.value_or(""), h = std::move(h),
         done = std::move(done)](Result<AccessToken> mgmt) mutable {
          if (!mgmt) return done(mgmt.error());
          h.expires_at = std::min(h.expires_at, mgmt->expires_at);
          h.headers.emplace_back("X-Databricks-Azure-SP-Management-Token", mgmt->value);
          h.headers.emplace_back("X-Databricks-Azure-Workspace-Resource-Id", resource_id);
          done(std::move(h));
        });
  });
}

}  // namespace dbx
