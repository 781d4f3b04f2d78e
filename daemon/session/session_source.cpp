// One CI session's token source (see session_source.h).
#include "daemon/session/session_source.h"

#include "daemon/credentials/databricks_oauth_source.h"
#include "daemon/credentials/entra_source.h"
#include "daemon/credentials/secret_file.h"

namespace dbx {

namespace {
constexpr const char* kJwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
}

SessionSource::SessionSource(Runtime& runtime, Transport& transport, OidcRequest request,
                             SessionExchange exchange, OidcClaims pinned)
    : runtime_(runtime),
      transport_(transport),
      request_(std::move(request)),
      exchange_(std::move(exchange)),
      pinned_(std::move(pinned)) {
  const CredentialConfig& c = exchange_.credential;
  std::shared_ptr<std::string> slot = assertion_;
  if (c.type == CredentialType::databricks_federation) {
    DatabricksOAuthClient client;
    client.credential = c.name;
    client.federation = true;
    client.client_id = c.client_id;
    client.subject_token = [slot]() -> Result<std::string> { return *slot; };
    exchanger_ = std::make_unique<DatabricksOAuthSource>(runtime_, transport_, std::move(client));
  } else {
    EntraClient client{c.name, "ci_session", exchange_.authority, c.tenant_id, c.client_id};
    ClientAuth auth = [slot](const std::string&) -> Result<FormFields> {
      return FormFields{{"client_assertion_type", kJwtBearer}, {"client_assertion", *slot}};
    };
    exchanger_ =
        std::make_unique<EntraSource>(runtime_, transport_, std::move(client), std::move(auth));
  }
}

SessionSource::~SessionSource() {
  wipe(request_.request_token);
  wipe(*assertion_);
  if (primed_) wipe(*primed_);
}

void SessionSource::prime(std::string jwt, OidcClaims claims) {
  primed_ = std::move(jwt);
  primed_claims_ = std::move(claims);
}

void SessionSource::fetch(const std::string& resource, TokenCallback done) {
  if (primed_) {
    std::string jwt = std::move(*primed_);
    const bool usable = oidc_usable(*primed_claims_, runtime_.now());
    primed_.reset();
    primed_claims_.reset();
    if (usable) return exchange(resource, std::move(jwt), std::move(done));
  }
  ++oidc_fetches_;
  std::weak_ptr<int> alive = alive_;
  fetch_oidc_token(transport_, request_,
                   [this, alive, resource, done = std::move(done)](Result<std::string> jwt) {
                     if (alive.expired()) return;
                     if (!jwt) return done(jwt.error());
                     exchange(resource, std::move(jwt.value()), done);
                   });
}

void SessionSource::exchange(const std::string& resource, std::string jwt, TokenCallback done) {
  auto claims = parse_oidc_claims(jwt);
  if (!claims) {
    Error e = claims.error();
    e.code = ErrorCode::upstream_unavailable;
    e.message = "the CI job's OIDC endpoint answered a token dbxcred cannot read: " + e.message;
    return runtime_.post([done = std::move(done), e = std::move(e)] { done(e); });
  }
  // The session is the job that opened it: a token of another identity (a changed request URL
  // answer) is refused, and the workspace's rules are checked again (a reload may have narrowed).
  Status allowed = claims->iss == pinned_.iss && claims->sub == pinned_.sub
                       ? check_session_claims(*claims, exchange_.sessions, exchange_.workspace)
                       : Status(make_error(ErrorCode::forbidden,
                                           "the CI job's OIDC token names another issuer or "
                                           "subject than the session was opened with"));
  if (allowed && !oidc_usable(*claims, runtime_.now()))
    allowed = make_error(ErrorCode::upstream_unavailable,
                         "the CI job's OIDC endpoint answered a token that expires too soon to "
                         "exchange (check the agent's clock)");
  if (!allowed) {
    return runtime_.post([done = std::move(done), e = allowed.error()] { done(e); });
  }
  ++exchanges_;
  *assertion_ = std::move(jwt);
  std::weak_ptr<int> alive = alive_;
  exchanger_->fetch(resource, [this, alive, done = std::move(done)](Result<AccessToken> t) {
    if (!alive.expired()) wipe(*assertion_);
    done(std::move(t));
  });
}

}  // namespace dbx
