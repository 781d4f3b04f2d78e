#include "daemon/cache/token_cache.h"

#include <gtest/gtest.h>

#include <vector>

#include "tests/daemon/fake_runtime.h"
#include "tests/daemon/fake_source.h"

namespace dbx {
namespace {

using testing::FakeRuntime;
using testing::FakeSource;

struct Outcome {
  bool done = false;
  Result<AccessToken> result = make_error(ErrorCode::internal, "not called");
};

class TokenCacheTest : public ::testing::Test {
 protected:
  TokenCacheTest() : cache(rt, source, "res", "credential c, resource res", Seconds(15)) {}

  Outcome* ask(Seconds min_valid = Seconds(300)) {
    outcomes.push_back(std::make_unique<Outcome>());
    Outcome* o = outcomes.back().get();
    cache.get(min_valid, [o](Result<AccessToken> r) {
      o->done = true;
      o->result = std::move(r);
    });
    return o;
  }

  FakeRuntime rt;
  FakeSource source;
  TokenCache cache;
  std::vector<std::unique_ptr<Outcome>> outcomes;
};

TEST_F(TokenCacheTest, ConcurrentFirstRequestsShareOneUpstreamCall) {
  std::vector<Outcome*> os;
  for (int i = 0; i < 200; ++i) os.push_back(ask());
  EXPECT_EQ(source.calls, 1);
  for (auto* o : os) EXPECT_FALSE(o->done);
  source.succeed(rt.now() + Seconds(3600), "first");
  for (auto* o : os) {
    ASSERT_TRUE(o->done);
    ASSERT_TRUE(o->result.ok());
    EXPECT_EQ(o->result->value, "first");
  }
  EXPECT_EQ(source.calls, 1);
  EXPECT_EQ(cache.status().waits, 200u);
}

TEST_F(TokenCacheTest, CachedTokenServedWithoutUpstreamCall) {
  ask();
  source.succeed(rt.now() + Seconds(3600));
  auto* o = ask();
  EXPECT_TRUE(o->done);
  EXPECT_EQ(source.calls, 1);
  EXPECT_EQ(cache.status().hits, 1u);
}

TEST_F(TokenCacheTest, ProactiveRefreshStartsInsideTheWindowAndJitterBounds) {
  rt.set_random(0.0);  // the latest the ±10% jitter allows: 18 min before expiry
  cache.start();
  EXPECT_EQ(source.calls, 1);
  const TimePoint t0 = rt.now();
  source.succeed(t0 + Seconds(3600), "a");
  rt.advance(Seconds(3600 - 1080) - Millis(1));
  EXPECT_EQ(source.calls, 1);
  rt.advance(Millis(1));
  EXPECT_EQ(source.calls, 2);
  // Clients keep getting the old token while the refresh is in flight.
  auto* o = ask();
  ASSERT_TRUE(o->done);
  EXPECT_EQ(o->result->value, "a");
  source.succeed(rt.now() + Seconds(3600), "b");
  EXPECT_EQ(ask()->result->value, "b");
}

TEST_F(TokenCacheTest, TokenNearExpiryIsRefreshedBeforeBeingServed) {
  ask();
  source.succeed(rt.now() + Seconds(400), "short");
  // 350 s later the token has 50 s left: fine for min_valid 40, not for the default 300.
  rt.advance(Seconds(150));  // the proactive refresh at half-life (200 s) has not fired yet
  EXPECT_EQ(source.calls, 1);
  auto* o = ask(Seconds(300));
  EXPECT_FALSE(o->done);
  EXPECT_EQ(source.calls, 2);
  source.succeed(rt.now() + Seconds(3600), "fresh");
  ASSERT_TRUE(o->done);
  EXPECT_EQ(o->result->value, "fresh");
}

TEST_F(TokenCacheTest, StaleOnErrorServesUntilMinValidCannotBeMet) {
  rt.set_random(0.5);
  ask();
  source.succeed(rt.now() + Seconds(600), "old");
  rt.advance(Seconds(300));  // refresh at half-life
  ASSERT_EQ(source.calls, 2);
  source.fail(503, "Entra ID answered HTTP 503");
  // 300 s left: still served for the default min_valid.
  auto* o1 = ask(Seconds(250));
  ASSERT_TRUE(o1->done);
  EXPECT_EQ(o1->result->value, "old");
  // Keep failing every retry until the token can no longer serve a 250 s request.
  while (rt.now() < from_unix_seconds(1'800'000'000) + Seconds(351)) {
    rt.advance(Seconds(1));
    while (!source.pending.empty()) source.fail(503, "Entra ID answered HTTP 503");
  }
  auto* o2 = ask(Seconds(250));
  // The retry is more than 15 s away or comes within the deadline; either way no stale token.
  rt.advance(Seconds(16));
  while (!source.pending.empty()) source.fail(503, "Entra ID answered HTTP 503");
  rt.advance(Seconds(16));
  ASSERT_TRUE(o2->done);
  ASSERT_FALSE(o2->result.ok());
  EXPECT_EQ(o2->result.error().code, ErrorCode::upstream_unavailable);
  EXPECT_NE(o2->result.error().message.find("HTTP 503"), std::string::npos);
}

TEST_F(TokenCacheTest, PermanentErrorFailsWaitersAtOnce) {
  auto* o = ask();
  source.fail(401, "invalid_client: AADSTS7000215: Invalid client secret provided.");
  ASSERT_TRUE(o->done);
  ASSERT_FALSE(o->result.ok());
  EXPECT_NE(o->result.error().message.find("AADSTS7000215"), std::string::npos);
  EXPECT_EQ(o->result.error().upstream_status, 401);
}

TEST_F(TokenCacheTest, TransientErrorRetriedWithinTheDeadline) {
  rt.set_random(1.0);
  auto* o = ask();
  source.fail(503, "busy");
  EXPECT_FALSE(o->done);  // retry in 1 s, inside the 15 s deadline
  rt.advance(Millis(999));
  EXPECT_EQ(source.calls, 1);
  rt.advance(Millis(1));
  EXPECT_EQ(source.calls, 2);
  source.succeed(rt.now() + Seconds(3600), "ok");
  ASSERT_TRUE(o->done);
  EXPECT_TRUE(o->result.ok());
}

TEST_F(TokenCacheTest, BackoffSequenceIsExponentialAndCapped) {
  rt.set_random(1.0);  // no downward jitter: exact delays
  cache.start();
  std::vector<long> gaps;
  TimePoint last = rt.now();
  for (int i = 0; i < 9; ++i) {
    source.fail(503, "down");
    while (source.pending.empty()) rt.advance(Millis(100));
    gaps.push_back(std::chrono::duration_cast<Millis>(rt.now() - last).count());
    last = rt.now();
  }
  EXPECT_EQ(gaps, (std::vector<long>{1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000}));
}

TEST_F(TokenCacheTest, RetryAfterIsNeverCutShort) {
  rt.set_random(0.0);
  cache.start();
  source.fail(429, "throttled", Seconds(8));
  rt.advance(Millis(7999));
  auto* o = ask();  // a client arriving meanwhile does not trigger an early call
  EXPECT_EQ(source.calls, 1);
  rt.advance(Millis(1));
  EXPECT_EQ(source.calls, 2);
  source.succeed(rt.now() + Seconds(3600));
  EXPECT_TRUE(o->done);
}

TEST_F(TokenCacheTest, HangingUpstreamTimesOutAtTheDeadline) {
  auto* o = ask();
  rt.advance(Seconds(15) - Millis(1));
  EXPECT_FALSE(o->done);
  rt.advance(Millis(1));
  ASSERT_TRUE(o->done);
  ASSERT_FALSE(o->result.ok());
  EXPECT_EQ(o->result.error().code, ErrorCode::upstream_unavailable);
  EXPECT_NE(o->result.error().message.find("timed out"), std::string::npos);
  // The call goes on in the background and later clients benefit from it.
  source.succeed(rt.now() + Seconds(3600), "late");
  auto* o2 = ask();
  ASSERT_TRUE(o2->done);
  EXPECT_EQ(o2->result->value, "late");
  EXPECT_EQ(source.calls, 1);
}

TEST_F(TokenCacheTest, MinValidBeyondTokenLifetimeIsBadRequest) {
  auto* o = ask(Seconds(7200));
  source.succeed(rt.now() + Seconds(3600));
  ASSERT_TRUE(o->done);
  ASSERT_FALSE(o->result.ok());
  EXPECT_EQ(o->result.error().code, ErrorCode::bad_request);
}

// Found by the fleet benchmark: every request asking more than the credential's tokens live made
// an upstream call (and replaced a good token), 5.9x the refresh minimum for 5 daemons whose
// clients sent no min_valid (300 s) to 150 s OAuth tokens.
TEST_F(TokenCacheTest, MinValidBeyondTheLifetimeMakesNoFurtherUpstreamCall) {
  ask(Seconds(60));
  source.succeed(rt.now() + Seconds(150), "short");
  EXPECT_EQ(source.calls, 1);
  for (int i = 0; i < 20; ++i) {
    rt.advance(Seconds(1));
    auto* o = ask(Seconds(300));
    ASSERT_TRUE(o->done);
    ASSERT_FALSE(o->result.ok());
    EXPECT_EQ(o->result.error().code, ErrorCode::bad_request);
    EXPECT_NE(o->result.error().message.find("its tokens live 2m30s"), std::string::npos)
        << o->result.error().message;
  }
  EXPECT_EQ(source.calls, 1);
  // What the credential can give is still served from the cache.
  auto* ok = ask(Seconds(60));
  ASSERT_TRUE(ok->done);
  EXPECT_EQ(ok->result->value, "short");
  EXPECT_EQ(source.calls, 1);
  // The scheduled refresh still runs (75 s before expiry, ±10 %), and teaches the new lifetime.
  rt.advance(Seconds(70));
  EXPECT_EQ(source.calls, 2);
  source.succeed(rt.now() + Seconds(3600), "long");
  auto* longer = ask(Seconds(300));
  ASSERT_TRUE(longer->done);
  EXPECT_EQ(longer->result->value, "long");
}

TEST_F(TokenCacheTest, StatusNeverHoldsTheToken) {
  ask();
  source.succeed(rt.now() + Seconds(3600), "secret-token-value");
  auto s = cache.status();
  EXPECT_EQ(s.resource, "res");
  ASSERT_TRUE(s.expires_at);
  ASSERT_TRUE(s.next_refresh);
  EXPECT_FALSE(s.last_error);
}

// ---- Clock jumps (issue 15): timers count monotonic time, expiries are wall-clock instants ----

class TokenCacheClockTest : public TokenCacheTest {};

TEST_F(TokenCacheClockTest, NeverServesATokenPastItsWallClockExpiryAfterASuspend) {
  rt.set_random(0.5);
  ask();
  source.succeed(rt.now() + Seconds(3600), "old");
  rt.suspend(std::chrono::hours(2));  // no timer fired: the machine slept through the refresh
  EXPECT_EQ(source.calls, 1);
  auto* o = ask();
  EXPECT_FALSE(o->done);  // the expired token is not served; a fetch is on its way
  EXPECT_EQ(source.calls, 2);
  source.succeed(rt.now() + Seconds(3600), "new");
  ASSERT_TRUE(o->done);
  EXPECT_EQ(o->result->value, "new");
}

TEST_F(TokenCacheClockTest, AResumeRefreshesAtOnceWhenRescheduled) {
  cache.start();
  source.succeed(rt.now() + Seconds(3600), "a");
  rt.advance(Seconds(60));
  rt.suspend(std::chrono::minutes(50));  // past the refresh time (about 40 min), not the expiry
  EXPECT_EQ(source.calls, 1);
  cache.reschedule(std::chrono::minutes(50));
  rt.advance(Millis(0));
  EXPECT_EQ(source.calls, 2);  // at once, not 40 minutes of monotonic time after the fetch
  // Clients keep the still-valid token meanwhile.
  EXPECT_EQ(ask(Seconds(60))->result->value, "a");
}

TEST_F(TokenCacheClockTest, ABackwardStepMovesTheRefreshLaterByTheWallClock) {
  rt.set_random(0.5);  // refresh 20 min before expiry
  cache.start();
  const TimePoint t0 = rt.now();
  source.succeed(t0 + Seconds(3600), "a");
  const TimePoint refresh = *cache.status().next_refresh;
  rt.step_wall(-std::chrono::minutes(30));
  cache.reschedule(-std::chrono::minutes(30));
  rt.advance(std::chrono::duration_cast<Millis>(refresh - t0));  // where the old timer was
  EXPECT_EQ(source.calls, 1);
  rt.advance(std::chrono::minutes(30));  // the refresh instant by the wall clock
  EXPECT_EQ(source.calls, 2);
}

TEST_F(TokenCacheClockTest, ABackwardStepDoesNotStretchABackoff) {
  auto* first = ask();
  source.fail(503, "down");
  EXPECT_FALSE(first->done);
  const TimePoint retry = *cache.status().next_refresh;
  const Millis wait = std::chrono::duration_cast<Millis>(retry - rt.now());
  rt.step_wall(-std::chrono::hours(1));
  cache.reschedule(-std::chrono::hours(1));
  // A new client is not told "refreshing failed, next attempt in 1 h": the retry is still close.
  auto* o = ask();
  EXPECT_FALSE(o->done);
  rt.advance(wait);
  EXPECT_EQ(source.calls, 2);
  source.succeed(rt.now() + Seconds(3600), "back");
  ASSERT_TRUE(o->done);
  EXPECT_EQ(o->result->value, "back");
}

}  // namespace
}  // namespace dbx
