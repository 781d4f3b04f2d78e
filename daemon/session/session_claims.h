// The claims of a CI job's OIDC token (GitHub Actions, Azure DevOps) that decide whether it may
// open or keep a session (config workspaces.W.sessions), and when a fetched token is too old to
// exchange. Pure: no I/O, `now` is an argument. The signature is not checked here — the daemon has
// no JWKS of the issuers; Entra ID or Databricks, which exchange it, check it (docs/SECURITY.md).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/config.h"
#include "common/result.h"

namespace dbx {

struct OidcClaims {
  std::string iss;
  std::string sub;
  std::string aud;         // the first audience
  std::string repository;  // GitHub's `repository` claim ("" when absent)
  std::string pipeline;    // Azure DevOps: the pipeline claim, if any ("" when absent)
  std::optional<TimePoint> exp;
  std::optional<TimePoint> iat;
};

// The payload of a JWT; bad_request naming what is wrong (never quoting the token).
Result<OidcClaims> parse_oidc_claims(std::string_view jwt);

// '*' matches any run of characters (also none); everything else literally.
bool subject_matches(std::string_view pattern, std::string_view subject);

// Whether `claims` may use a session of a workspace with `sessions`: iss one of the issuers, sub
// matching one of the subjects. The error (forbidden) names the claim and the config key.
Status check_session_claims(const OidcClaims& claims, const SessionsConfig& sessions,
                            std::string_view workspace);

// An OIDC token is exchanged only while this much of it is left: the exchange takes a round trip
// and the exchanger's clock may run ahead, and a token refused as expired (AADSTS700024) is the
// failure sessions exist to avoid. A minute for the usual 5–10 minute tokens; half the lifetime
// for shorter ones (else no fresh token would ever qualify).
Seconds oidc_reuse_margin(std::optional<TimePoint> iat, TimePoint exp);
// True when `claims` can still be exchanged at `now`.
bool oidc_usable(const OidcClaims& claims, TimePoint now);

// The exp of a request token that is itself a JWT (GitHub's and Azure DevOps' are); nullopt else.
std::optional<TimePoint> request_token_expiry(std::string_view request_token);

}  // namespace dbx
