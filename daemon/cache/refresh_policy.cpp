#include "daemon/cache/refresh_policy.h"

#include <algorithm>
#include <cmath>

namespace dbx {

Seconds default_min_valid(std::optional<Seconds> lifetime) {
  if (!lifetime) return kMinServeValidity;
  if (*lifetime >= kShortLivedToken) return kDefaultMinValid;
  return std::max(*lifetime / 2, kMinServeValidity);
}

Seconds effective_min_valid(Seconds requested) {
  return std::max(requested, kMinServeValidity);
}

bool satisfies(const AccessToken& token, TimePoint now, Seconds min_valid) {
  return token.expires_at - now >= effective_min_valid(min_valid);
}

TimePoint refresh_at(const AccessToken& token, TimePoint received, double jitter_unit) {
  const auto ttl = std::chrono::duration_cast<Millis>(token.expires_at - received);
  Millis lead = std::min<Millis>(ttl / 2, kMaxRefreshLead);
  const double factor = 1.0 + kRefreshJitter * (2.0 * jitter_unit - 1.0);
  lead = Millis(static_cast<Millis::rep>(static_cast<double>(lead.count()) * factor));
  TimePoint at = token.expires_at - lead;
  if (token.refresh_in) at = std::min(at, received + *token.refresh_in);
  return std::max(at, received);
}

Millis backoff_delay(int failures, double jitter_unit) {
  if (failures < 1) failures = 1;
  const int shift = std::min(failures - 1, 16);
  Millis d = std::min<Millis>(kBackoffInitial * (1LL << shift), kBackoffMax);
  return Millis(d.count() / 2 +
                static_cast<Millis::rep>(static_cast<double>(d.count()) / 2.0 * jitter_unit));
}

bool is_transient(int upstream_status) {
  return upstream_status == 0 || upstream_status == 408 || upstream_status == 429 ||
         upstream_status >= 500;
}

}  // namespace dbx
