#include "daemon/server/rate_limit.h"

#include <algorithm>
#include <cmath>

namespace dbx {

UidRateLimiter::UidRateLimiter(std::uint32_t rate_per_second, std::uint32_t burst)
    : rate_(rate_per_second), burst_(std::max<double>(burst, 1)) {}

std::optional<Seconds> UidRateLimiter::take(uid_t uid, TimePoint now) {
  if (rate_ <= 0) return std::nullopt;
  const auto refill = [&](Bucket& b) {
    if (now > b.at) {
      const double elapsed = std::chrono::duration<double>(now - b.at).count();
      b.tokens = std::min(burst_, b.tokens + elapsed * rate_);
    }
    b.at = std::max(b.at, now);  // a clock stepping back neither refills nor drains
  };
  if (++since_sweep_ >= kSweepEvery) {
    since_sweep_ = 0;
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      refill(it->second);
      it = it->second.tokens >= burst_ ? buckets_.erase(it) : std::next(it);
    }
  }
  auto [it, inserted] = buckets_.try_emplace(uid, Bucket{burst_, now});
  Bucket& b = it->second;
  if (!inserted) refill(b);
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return std::nullopt;
  }
  ++limited_;
  const double wait = (1 - b.tokens) / rate_;
  return Seconds(std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(wait))));
}

}  // namespace dbx
