// ManagedIdentitySource: tokens of the VM's managed identity from IMDS (PROTOCOLS.md "Managed
// identity"): GET {imds}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=R
// [&client_id=C] with `Metadata: true`, never through a proxy (the transport knows the IMDS
// address). IMDS answers 404/410/429/5xx while it starts or updates and throttles beyond 5
// concurrent calls: we retry those a few times inside one fetch (imds_retry_decision) and queue
// calls beyond kImdsMaxConcurrent (ConcurrencyLimit shared by all managed-identity credentials).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "daemon/credentials/concurrency_limit.h"
#include "daemon/credentials/credential_source.h"
#include "daemon/runtime.h"
#include "daemon/upstream/transport.h"

namespace dbx {

// IMDS serves 5 concurrent requests per VM and answers 429 beyond (PROTOCOLS.md).
inline constexpr int kImdsMaxConcurrent = 5;
// Attempts per fetch. With the backoff below the retries take ~3.5 s, well inside the 15 s a
// client waits; after that the token cache's own backoff takes over.
inline constexpr int kImdsMaxAttempts = 4;
// Wait before the 2nd attempt; doubles for each further attempt (0.5 s, 1 s, 2 s), +-20 % jitter so
// the agents of a scale set do not retry in step.
inline constexpr Millis kImdsFirstBackoff{500};
// A Retry-After longer than this ends the fetch instead of waiting inside it: the error carries
// the Retry-After and the token cache honours it.
inline constexpr Millis kImdsMaxInlineWait{4000};
// One IMDS call. IMDS answers in milliseconds; off Azure the address does not answer at all, and a
// short timeout gives the user the "is this an Azure VM?" error quickly.
inline constexpr Millis kImdsAttemptTimeout{5000};

struct ImdsRetryDecision {
  bool retry = false;
  Millis delay{0};  // wait before the next attempt
};

// What to do after attempt number `attempt` (1-based) answered `status` (0: no HTTP answer).
// Retries 404, 410, 429 and 5xx with exponential backoff; never other 4xx or a missing answer
// (connection refused or timed out: not on Azure, or IMDS blocked — retrying would only delay the
// error). `jitter` is uniform in [0, 1).
ImdsRetryDecision imds_retry_decision(int status, int attempt, std::optional<Seconds> retry_after,
                                      double jitter);

struct ManagedIdentity {
  std::string credential;                // config name, for messages
  std::string imds;                      // endpoints.imds, e.g. http://169.254.169.254
  std::optional<std::string> client_id;  // a user-assigned identity; none: the system-assigned one
};

class ManagedIdentitySource : public CredentialSource {
 public:
  ManagedIdentitySource(Runtime& runtime, Transport& transport, ConcurrencyLimit& limit,
                        ManagedIdentity identity);
  void fetch(const std::string& resource, TokenCallback done) override;
  std::string type() const override { return "managed_identity"; }

  // The IMDS URL for `resource` (no secret in it: the query may be logged by proxies anyway).
  std::string token_url(const std::string& resource) const;

 private:
  struct Call;
  void attempt(std::shared_ptr<Call> call);
  void answered(std::shared_ptr<Call> call, Result<HttpResponse> r);

  Runtime& runtime_;
  Transport& transport_;
  ConcurrencyLimit& limit_;
  ManagedIdentity identity_;
  std::string what_;  // "managed identity (credential vm, IMDS http://…)"
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace dbx
