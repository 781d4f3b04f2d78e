// The emulated CI identity providers (issue 23): GitHub Actions' and Azure DevOps' OIDC token
// request endpoints. A registered job has a request token (what the runner puts into
// ACTIONS_ID_TOKEN_REQUEST_TOKEN or SYSTEM_ACCESSTOKEN, itself a JWT with the job's end as exp);
// presenting it mints a short-lived RS256 JWT signed with this emulator's own CI key, with the
// job's issuer, subject and repository/pipeline claims. Entra federated credentials and Databricks
// federation policies check those JWTs (signature, issuer, subject, audience, expiry) and record
// each use, so tests can see that every exchange used a fresh token. `now` is always an argument.
#pragma once

#include <openssl/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"

namespace emu {

using dbx::TimePoint;

// Entra's audience for federated credentials (what Azure DevOps always sends, and what GitHub
// workflows ask for when they log in to Azure).
inline constexpr std::string_view kEntraExchangeAudience = "api://AzureADTokenExchange";

// An Entra app's federated identity credential: a JWT with this iss, sub and aud is accepted as
// the app's client assertion.
struct FederatedCredential {
  std::string issuer;
  std::string subject;
  std::string audience{kEntraExchangeAudience};
};

enum class CiKind { github, azure_devops };

struct CiJob {
  CiKind kind = CiKind::github;
  std::string request_token;  // a JWT; its exp is ends_at
  std::string issuer;
  std::string subject;
  std::string repository;             // GitHub: "owner/repo"
  std::string pipeline;               // Azure DevOps: "org/project/definition"
  std::string service_connection_id;  // Azure DevOps: the only id this job may ask for
  TimePoint ends_at;
};

struct CiCounters {
  std::uint64_t github_fetches = 0;
  std::uint64_t azure_devops_fetches = 0;
  std::uint64_t exchanges = 0;  // OIDC tokens accepted by Entra or Databricks
  std::uint64_t reused = 0;     // accepted although already used in an earlier exchange
};

class CiOidc {
 public:
  CiOidc();  // generates the signing key (RSA 2048, in memory only)

  const CiJob& add_job(CiJob job, TimePoint now);  // fills request_token
  // The live job of that request token (kind checked), else nullptr.
  const CiJob* find_job(std::string_view request_token, CiKind kind, TimePoint now) const;
  void end_job(std::string_view request_token);

  // Mints an OIDC token of `job` for `audience`, valid for lifetime() from now.
  std::string mint(const CiJob& job, std::string_view audience, TimePoint now);

  // Checks a JWT as an identity provider's consumer would: signed by this key, not expired, and
  // (when `credentials` is non-empty) matching one of them. nullopt when it is fine, else
  // (AADSTS code, text). Records the use of an accepted token.
  std::optional<std::pair<long, std::string>> check(std::string_view jwt,
                                                    const std::vector<FederatedCredential>& creds,
                                                    TimePoint now);
  // Whether `issuer` is one this emulator mints for (then its signature is checked).
  bool signs_for(std::string_view issuer) const;
  // A JWT signed by this key (the signature verifies)?
  bool verify(std::string_view jwt) const;

  std::int64_t lifetime() const { return lifetime_; }
  void set_lifetime(std::int64_t seconds) { lifetime_ = seconds; }
  const CiCounters& counters() const { return counters_; }
  CiCounters& counters() { return counters_; }

 private:
  std::string sign(const std::string& header_json, const std::string& payload_json) const;

  std::shared_ptr<EVP_PKEY> key_;
  std::int64_t lifetime_ = 300;                     // GitHub's 5 minutes
  std::map<std::string, CiJob, std::less<>> jobs_;  // by request token
  std::map<std::string, int, std::less<>> uses_;    // jti -> accepted exchanges
  CiCounters counters_;
};

}  // namespace emu
