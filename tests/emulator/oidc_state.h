// The emulated Databricks OAuth of every workspace host (PROTOCOLS.md "Databricks OAuth"):
// Databricks-managed service-principal secrets (M2M), federation policies for RFC 8693 token
// exchange, and the access tokens issued per workspace host. Plain data and decisions; `now` is
// always an argument.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"

namespace emu {

using dbx::TimePoint;

struct OAuthClient {
  std::string client_id;          // the service principal's application id
  std::set<std::string> secrets;  // Databricks-managed OAuth secrets (up to 5 at Databricks)
};

// A federation policy: a JWT whose iss, sub and aud match is exchanged for a token of `principal`.
// With client_id set it is a service-principal (workload identity) policy and the exchange must
// name that client_id; without, an account-wide policy (the request names no client_id).
struct FederationPolicy {
  std::string issuer;
  std::string subject;
  std::string audience;
  std::optional<std::string> client_id;
  std::string principal;  // whom the issued token is for (default: client_id, else subject)
};

struct OAuthToken {
  std::string value;
  std::string host;       // the workspace host it was issued by (lower-cased Host header)
  std::string principal;  // the caller the workspace APIs see
  TimePoint expiry;
};

struct OidcSettings {
  std::int64_t m2m_lifetime = 3600;        // seconds
  std::int64_t federated_lifetime = 3600;  // seconds; capped by the subject token's exp
};

// The claims of a JWT the emulator checks (signature not verified: the emulator has no JWKS of
// the issuers; PROTOCOLS.md requires RS256 or ES256, which is checked).
struct JwtClaims {
  std::string alg;
  std::string iss;
  std::string sub;
  std::vector<std::string> aud;
  std::optional<std::int64_t> exp;
  std::optional<std::int64_t> nbf;
};
std::optional<JwtClaims> parse_jwt_claims(std::string_view jwt);

class OidcState {
 public:
  void add_client_secret(const std::string& client_id, const std::string& secret);
  void remove_client(const std::string& client_id);
  const OAuthClient* find_client(std::string_view client_id) const;
  std::vector<const OAuthClient*> clients() const;

  void add_policy(FederationPolicy p) { policies_.push_back(std::move(p)); }
  const std::vector<FederationPolicy>& policies() const { return policies_; }
  // The first policy matching the claims and the requested client_id ("" for none).
  const FederationPolicy* match_policy(const JwtClaims& claims, std::string_view client_id) const;

  OidcSettings& settings() { return settings_; }

  const OAuthToken& issue(std::string_view host, std::string_view principal, TimePoint expiry);
  // The token if it was issued by `host` and has not expired.
  const OAuthToken* find_token(std::string_view host, std::string_view value, TimePoint now) const;
  std::size_t issued() const { return issued_count_; }
  std::vector<OAuthToken> tokens() const {
    std::vector<OAuthToken> out;
    for (const auto& [v, t] : tokens_) out.push_back(t);
    return out;
  }
  void purge_expired(TimePoint now);

 private:
  std::map<std::string, OAuthClient, std::less<>> clients_;
  std::vector<FederationPolicy> policies_;
  OidcSettings settings_;
  std::map<std::string, OAuthToken, std::less<>> tokens_;
  std::size_t issued_count_ = 0;
};

}  // namespace emu
