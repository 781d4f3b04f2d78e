#include "daemon/cache/refresh_policy.h"

#include <gtest/gtest.h>

namespace dbx {
namespace {

const TimePoint kNow = from_unix_seconds(1'800'000'000);

AccessToken token_expiring_in(Seconds s) {
  return AccessToken{"t", kNow + s, std::nullopt};
}

TEST(RefreshPolicy, NeverServesWithinFortySeconds) {
  EXPECT_EQ(effective_min_valid(Seconds(0)), Seconds(40));
  EXPECT_EQ(effective_min_valid(Seconds(300)), Seconds(300));
  EXPECT_TRUE(satisfies(token_expiring_in(Seconds(40)), kNow, Seconds(0)));
  EXPECT_FALSE(satisfies(token_expiring_in(Seconds(39)), kNow, Seconds(0)));
  EXPECT_TRUE(satisfies(token_expiring_in(Seconds(300)), kNow, Seconds(300)));
  EXPECT_FALSE(satisfies(token_expiring_in(Seconds(299)), kNow, Seconds(300)));
}

TEST(RefreshPolicy, DefaultMinValidIsHalfTheLifetimeOfShortLivedTokens) {
  EXPECT_EQ(default_min_valid(Seconds(3599)), kDefaultMinValid);
  EXPECT_EQ(default_min_valid(Seconds(600)), kDefaultMinValid);
  EXPECT_EQ(default_min_valid(Seconds(599)), Seconds(299));
  EXPECT_EQ(default_min_valid(Seconds(120)), Seconds(60));
  EXPECT_EQ(default_min_valid(Seconds(60)), kMinServeValidity);
  EXPECT_EQ(default_min_valid(std::nullopt), kMinServeValidity);
}

TEST(RefreshPolicy, HourTokenRefreshesTwentyMinutesAheadWithinJitter) {
  auto t = token_expiring_in(Seconds(3600));
  EXPECT_EQ(refresh_at(t, kNow, 0.5), kNow + Seconds(2400));
  // ±10% of the 20 min lead: 18..22 min before expiry.
  EXPECT_EQ(refresh_at(t, kNow, 0.0), kNow + Seconds(3600 - 1080));
  EXPECT_EQ(refresh_at(t, kNow, 1.0), kNow + Seconds(3600 - 1320));
  for (double u : {0.0, 0.1, 0.37, 0.5, 0.9, 0.999}) {
    auto at = refresh_at(t, kNow, u);
    EXPECT_GE(at, kNow + Seconds(3600 - 1320));
    EXPECT_LE(at, kNow + Seconds(3600 - 1080));
  }
}

TEST(RefreshPolicy, ShortTokenRefreshesAtHalfLife) {
  EXPECT_EQ(refresh_at(token_expiring_in(Seconds(600)), kNow, 0.5), kNow + Seconds(300));
}

TEST(RefreshPolicy, RefreshInFromUpstreamIsHonoured) {
  auto t = token_expiring_in(Seconds(3600));
  t.refresh_in = Seconds(1000);
  EXPECT_EQ(refresh_at(t, kNow, 0.5), kNow + Seconds(1000));
  t.refresh_in = Seconds(3000);  // later than our own rule: ours wins
  EXPECT_EQ(refresh_at(t, kNow, 0.5), kNow + Seconds(2400));
}

TEST(RefreshPolicy, BackoffDoublesWithJitterAndCaps) {
  EXPECT_EQ(backoff_delay(1, 1.0), Millis(1000));
  EXPECT_EQ(backoff_delay(1, 0.0), Millis(500));
  EXPECT_EQ(backoff_delay(2, 1.0), Millis(2000));
  EXPECT_EQ(backoff_delay(3, 1.0), Millis(4000));
  EXPECT_EQ(backoff_delay(6, 1.0), Millis(32000));
  EXPECT_EQ(backoff_delay(7, 1.0), Millis(60000));
  EXPECT_EQ(backoff_delay(50, 1.0), Millis(60000));
  EXPECT_EQ(backoff_delay(50, 0.0), Millis(30000));
}

TEST(RefreshPolicy, TransientStatuses) {
  EXPECT_TRUE(is_transient(0));
  EXPECT_TRUE(is_transient(429));
  EXPECT_TRUE(is_transient(503));
  EXPECT_FALSE(is_transient(400));
  EXPECT_FALSE(is_transient(401));
}

}  // namespace
}  // namespace dbx
