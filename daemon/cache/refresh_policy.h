// When to refresh a cached token and how long to back off after a failure: pure functions of time,
// tested with an injected clock (STYLE.md habits 1 and 4).
#pragma once

#include <optional>

#include "common/clock.h"
#include "daemon/credentials/credential_source.h"

namespace dbx {

// Databricks rejects AAD tokens that expire within 30 s ("Token is expiring within 30 seconds");
// 10 s more covers the trip from us to the client to Databricks. No token with less left is served.
inline constexpr Seconds kMinServeValidity{40};
// What a client gets when it does not say: enough for a build step's API calls to finish.
inline constexpr Seconds kDefaultMinValid{300};
// Refresh ahead of expiry by min(TTL/2, 20 min), the Databricks SDKs' rule: a 1 h token is renewed
// after ~40 min, leaving 20 min to ride out an Entra ID outage while still serving the cached
// token.
inline constexpr Seconds kMaxRefreshLead{1200};
// ±10% so that a fleet of agents started together does not refresh in step.
inline constexpr double kRefreshJitter = 0.10;
// Backoff after a failed refresh: 1 s doubling to 60 s — quick recovery from a blip, and at most
// one call a minute to an upstream that is down.
inline constexpr Millis kBackoffInitial{1000};
inline constexpr Millis kBackoffMax{60000};

// Tokens that live less than this get a shorter default (default_min_valid).
inline constexpr Seconds kShortLivedToken{600};

// What a client gets that does not say (SPEC.md): kDefaultMinValid, but for a credential whose
// tokens live less than 10 minutes (`lifetime`, as last received) half their lifetime, never below
// kMinServeValidity — a default is never a 400. Unknown lifetime (no token yet): kMinServeValidity,
// which the fresh token about to be fetched meets with its whole lifetime.
Seconds default_min_valid(std::optional<Seconds> lifetime);

// The effective min_valid: never below kMinServeValidity.
Seconds effective_min_valid(Seconds requested);

// True when `token` can be served to a client that needs it valid for `min_valid` more seconds.
bool satisfies(const AccessToken& token, TimePoint now, Seconds min_valid);

// When to start refreshing a token received at `received`. `jitter_unit` is uniform in [0,1).
// Honours the upstream's refresh_in when present (never later than the min(TTL/2, 20 min) rule).
TimePoint refresh_at(const AccessToken& token, TimePoint received, double jitter_unit);

// Delay before retry number `failures` (1 = after the first failure): exponential, capped, with
// jitter in [delay/2, delay] so retries of many agents spread out.
Millis backoff_delay(int failures, double jitter_unit);

// True when a failed upstream call is worth retrying for a waiting client (no answer, 408, 429,
// 5xx); other 4xx (invalid_client, …) will not fix themselves within a client's deadline.
bool is_transient(int upstream_status);

}  // namespace dbx
