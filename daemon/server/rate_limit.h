// Per-uid request rate limit on the socket (SPEC.md `rate_limited`): one token bucket per uid,
// refilled at `rate` per second up to `burst`. A pure function of `now`, tested without a clock.
// Buckets that have refilled completely are dropped, so the map holds only the uids that asked
// recently.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>

#include "common/clock.h"

namespace dbx {

class UidRateLimiter {
 public:
  // rate 0: no limit.
  UidRateLimiter(std::uint32_t rate_per_second, std::uint32_t burst);

  // Takes one request's token: nullopt when allowed, else how long to wait (>= 1 s, Retry-After).
  std::optional<Seconds> take(uid_t uid, TimePoint now);

  std::size_t tracked() const { return buckets_.size(); }
  std::uint64_t limited() const { return limited_; }

 private:
  struct Bucket {
    double tokens;
    TimePoint at;
  };
  // Sweeping full buckets every this many requests keeps the map small without a timer.
  static constexpr std::uint32_t kSweepEvery = 4096;
  double rate_;
  double burst_;
  std::map<uid_t, Bucket> buckets_;
  std::uint32_t since_sweep_ = 0;
  std::uint64_t limited_ = 0;
};

}  // namespace dbx
