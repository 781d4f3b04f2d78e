// SessionSource: the CredentialSource of one CI session. Every fetch() first asks the job's OIDC
// endpoint for a fresh token (oidc_request.h), checks that it is still the session's job (same iss
// and sub, still allowed by the workspace's sessions config, far enough from its exp), then
// exchanges it through the workspace's credential: at Entra ID as the client assertion of the
// credential's app (workload_identity) or at the workspace's token endpoint
// (databricks_federation). The token cache above it (TokenCache) decides when to fetch; the OIDC
// token is never reused, except the one fetched when the session opened, for the first exchange,
// while still usable. Runs on the loop thread only.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "common/config.h"
#include "daemon/credentials/credential_source.h"
#include "daemon/runtime.h"
#include "daemon/session/oidc_request.h"
#include "daemon/session/session_claims.h"
#include "daemon/upstream/transport.h"

namespace dbx {

struct SessionExchange {
  std::string workspace;
  SessionsConfig sessions;      // the workspace's rules, checked after each fetch
  CredentialConfig credential;  // workload_identity (Entra) or databricks_federation
  std::string authority;        // Entra ID: config.endpoints.authority
};

class SessionSource : public CredentialSource {
 public:
  SessionSource(Runtime& runtime, Transport& transport, OidcRequest request,
                SessionExchange exchange, OidcClaims pinned);
  ~SessionSource() override;
  SessionSource(const SessionSource&) = delete;
  SessionSource& operator=(const SessionSource&) = delete;

  // The token fetched when the session opened; the first fetch() exchanges it if still usable.
  void prime(std::string jwt, OidcClaims claims);
  void fetch(const std::string& resource, TokenCallback done) override;
  std::string type() const override { return "ci_session"; }

  std::uint64_t oidc_fetches() const { return oidc_fetches_; }
  std::uint64_t exchanges() const { return exchanges_; }

 private:
  void exchange(const std::string& resource, std::string jwt, TokenCallback done);

  Runtime& runtime_;
  Transport& transport_;
  OidcRequest request_;
  SessionExchange exchange_;
  OidcClaims pinned_;
  std::optional<std::string> primed_;
  std::optional<OidcClaims> primed_claims_;
  // The OIDC token of the exchange under way, read by the exchanger's ClientAuth / subject_token.
  std::shared_ptr<std::string> assertion_ = std::make_shared<std::string>();
  std::unique_ptr<CredentialSource> exchanger_;
  std::uint64_t oidc_fetches_ = 0;
  std::uint64_t exchanges_ = 0;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace dbx
