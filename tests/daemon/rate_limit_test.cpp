// The per-uid token bucket (daemon/server/rate_limit.h), as a function of `now`.
#include "daemon/server/rate_limit.h"

#include <gtest/gtest.h>

namespace dbx {
namespace {

const TimePoint kStart = from_unix_seconds(1'800'000'000);

TEST(UidRateLimiter, BurstThenSustainedRate) {
  UidRateLimiter limiter(10, 50);
  for (int i = 0; i < 50; ++i) EXPECT_FALSE(limiter.take(1000, kStart)) << i;
  const auto wait = limiter.take(1000, kStart);
  ASSERT_TRUE(wait);
  EXPECT_EQ(*wait, Seconds(1));
  // 10 per second come back.
  const TimePoint later = kStart + Millis(1000);
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(limiter.take(1000, later)) << i;
  EXPECT_TRUE(limiter.take(1000, later));
  EXPECT_EQ(limiter.limited(), 2u);
}

TEST(UidRateLimiter, OneRunawayUidDoesNotLimitAnother) {
  UidRateLimiter limiter(10, 5);
  for (int i = 0; i < 100; ++i) (void)limiter.take(1000, kStart);
  EXPECT_TRUE(limiter.take(1000, kStart));
  EXPECT_FALSE(limiter.take(1001, kStart));
}

TEST(UidRateLimiter, RetryAfterCoversTheWaitAtLowRates) {
  UidRateLimiter limiter(1, 1);
  EXPECT_FALSE(limiter.take(5, kStart));
  limiter = UidRateLimiter(0, 1);  // 0: off
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(limiter.take(5, kStart));
}

TEST(UidRateLimiter, ClockSteppingBackNeitherRefillsNorBreaks) {
  UidRateLimiter limiter(1, 2);
  EXPECT_FALSE(limiter.take(5, kStart));
  EXPECT_FALSE(limiter.take(5, kStart));
  EXPECT_TRUE(limiter.take(5, kStart - Seconds(3600)));
  EXPECT_FALSE(limiter.take(5, kStart + Seconds(1)));
}

TEST(UidRateLimiter, FullBucketsAreForgotten) {
  UidRateLimiter limiter(1000, 10000);
  for (uid_t u = 0; u < 100; ++u) (void)limiter.take(u, kStart);
  EXPECT_EQ(limiter.tracked(), 100u);
  // Ten seconds later the 100 buckets are full again; the periodic sweep drops them.
  for (int i = 0; i < 4096; ++i) (void)limiter.take(9999, kStart + Seconds(10));
  EXPECT_EQ(limiter.tracked(), 1u);
}

}  // namespace
}  // namespace dbx
