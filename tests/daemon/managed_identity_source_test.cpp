#include "daemon/credentials/managed_identity_source.h"

#include <gtest/gtest.h>

#include <vector>

#include "tests/daemon/fake_runtime.h"
#include "tests/daemon/fake_transport.h"

namespace dbx {
namespace {

using testing::FakeRuntime;
using testing::FakeTransport;

constexpr const char* kAnswer =
    R"({"access_token":"tok","expires_in":"3599","expires_on":"1800003599","resource":"r","token_type":"Bearer"})";

TEST(ImdsRetryDecision, RetriesWhatImdsSaysIsTemporary) {
  for (int status : {404, 410, 429, 500, 502, 503, 504}) {
    auto d = imds_retry_decision(status, 1, std::nullopt, 0.5);
    EXPECT_TRUE(d.retry) << status;
    EXPECT_EQ(d.delay, kImdsFirstBackoff) << status;  // jitter 0.5 = the middle
  }
}

TEST(ImdsRetryDecision, NeverRetriesOtherAnswersOrNoAnswer) {
  for (int status : {0, 200, 400, 401, 403, 405, 409, 600})
    EXPECT_FALSE(imds_retry_decision(status, 1, std::nullopt, 0.5).retry) << status;
}

TEST(ImdsRetryDecision, BackoffDoublesWithJitterAndStopsAfterTheLastAttempt) {
  EXPECT_EQ(imds_retry_decision(503, 2, std::nullopt, 0.5).delay, Millis(1000));
  EXPECT_EQ(imds_retry_decision(503, 3, std::nullopt, 0.5).delay, Millis(2000));
  EXPECT_EQ(imds_retry_decision(503, 1, std::nullopt, 0.0).delay, Millis(400));  // -20 %
  EXPECT_EQ(imds_retry_decision(503, 1, std::nullopt, 0.999).delay.count(), 599);
  EXPECT_FALSE(imds_retry_decision(503, kImdsMaxAttempts, std::nullopt, 0.5).retry);
}

TEST(ImdsRetryDecision, RetryAfterIsHonouredOrEndsTheFetch) {
  auto short_wait = imds_retry_decision(429, 1, Seconds(2), 0.5);
  EXPECT_TRUE(short_wait.retry);
  EXPECT_EQ(short_wait.delay, Millis(2000));
  // Longer than we wait inside a request: give up now; the cache honours the Retry-After.
  EXPECT_FALSE(imds_retry_decision(429, 1, Seconds(60), 0.5).retry);
}

class ManagedIdentityTest : public ::testing::Test {
 protected:
  FakeRuntime runtime;
  FakeTransport transport;
  ConcurrencyLimit limit{runtime, kImdsMaxConcurrent};
  ManagedIdentitySource source{runtime, transport, limit,
                               ManagedIdentity{"vm", "http://169.254.169.254/", "abc-123"}};
  std::vector<Result<AccessToken>> results;
  TokenCallback collect() {
    return [this](Result<AccessToken> r) { results.push_back(std::move(r)); };
  }
};

TEST_F(ManagedIdentityTest, AsksImdsWithTheMetadataHeaderAndClientId) {
  source.fetch("https://management.core.windows.net/", collect());
  ASSERT_EQ(transport.pending().size(), 1u);
  const HttpRequest& req = transport.pending().front().request;
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.url,
            "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01"
            "&resource=https%3A%2F%2Fmanagement.core.windows.net%2F&client_id=abc-123");
  EXPECT_EQ(req.upstream, "imds");
  bool metadata = false;
  for (auto& [k, v] : req.headers) metadata |= (k == "Metadata" && v == "true");
  EXPECT_TRUE(metadata);
  transport.reply(200, kAnswer);
  ASSERT_EQ(results.size(), 1u);
  ASSERT_TRUE(results[0].ok()) << results[0].error().message;
  EXPECT_EQ(results[0]->value, "tok");
  EXPECT_EQ(results[0]->expires_at, runtime.now() + Seconds(3599));
}

TEST_F(ManagedIdentityTest, SystemAssignedIdentitySendsNoClientId) {
  ManagedIdentitySource system{runtime, transport, limit,
                               ManagedIdentity{"vm", "http://10.0.0.1:8080", std::nullopt}};
  system.fetch("2ff814a6-3304-4ab8-85cb-cd0e6f879c1d", collect());
  EXPECT_EQ(transport.pending().front().request.url,
            "http://10.0.0.1:8080/metadata/identity/oauth2/token?api-version=2018-02-01"
            "&resource=2ff814a6-3304-4ab8-85cb-cd0e6f879c1d");
}

TEST_F(ManagedIdentityTest, RetriesTransientAnswersWithBackoffThenSucceeds) {
  source.fetch("r", collect());
  transport.reply(410, R"({"error":"unavailable"})");
  EXPECT_TRUE(transport.pending().empty());  // waiting, not hammering
  runtime.advance(Millis(499));
  EXPECT_TRUE(transport.pending().empty());
  runtime.advance(Millis(1));
  ASSERT_EQ(transport.pending().size(), 1u);
  transport.reply(503, "");
  runtime.advance(Millis(1000));
  ASSERT_EQ(transport.pending().size(), 1u);
  transport.reply(200, kAnswer);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].ok());
  EXPECT_EQ(transport.sent(), 3);
}

TEST_F(ManagedIdentityTest, GivesUpAfterTheLastAttemptWithImdsOwnError) {
  source.fetch("r", collect());
  for (int i = 0; i < kImdsMaxAttempts; ++i) {
    ASSERT_EQ(transport.pending().size(), 1u) << i;
    transport.reply(500, R"({"error":"internal_error","error_description":"IMDS is sad"})");
    runtime.advance(Millis(10000));
  }
  ASSERT_EQ(results.size(), 1u);
  ASSERT_FALSE(results[0].ok());
  EXPECT_EQ(results[0].error().upstream_status, 500);
  EXPECT_NE(results[0].error().message.find("IMDS is sad"), std::string::npos);
  EXPECT_NE(results[0].error().message.find("after 4 attempts"), std::string::npos);
  EXPECT_EQ(transport.sent(), kImdsMaxAttempts);
}

TEST_F(ManagedIdentityTest, IdentityNotFoundIsNotRetried) {
  source.fetch("r", collect());
  transport.reply(400, R"({"error":"invalid_request","error_description":"Identity not found"})");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_FALSE(results[0].ok());
  EXPECT_NE(results[0].error().message.find("Identity not found"), std::string::npos);
  EXPECT_NE(results[0].error().message.find("client_id abc-123"), std::string::npos);
  runtime.advance(Millis(60000));
  EXPECT_EQ(transport.sent(), 1);
}

TEST_F(ManagedIdentityTest, NoAnswerSaysWhereItLooked) {
  source.fetch("r", collect());
  transport.fail(make_error(ErrorCode::upstream_unavailable, "connect timed out"));
  ASSERT_EQ(results.size(), 1u);
  ASSERT_FALSE(results[0].ok());
  EXPECT_NE(results[0].error().message.find("http://169.254.169.254"), std::string::npos);
  EXPECT_NE(results[0].error().message.find("Azure VM"), std::string::npos);
}

TEST_F(ManagedIdentityTest, AtMostFiveConcurrentCallsTheRestQueue) {
  for (int i = 0; i < 8; ++i) source.fetch("r", collect());
  EXPECT_EQ(transport.pending().size(), 5u);
  EXPECT_EQ(limit.queued(), 3u);
  transport.reply(200, kAnswer);
  runtime.run_ready();
  EXPECT_EQ(transport.pending().size(), 5u);  // one finished, one more started
  // A call backing off releases its slot.
  transport.reply(503, "");
  runtime.run_ready();
  EXPECT_EQ(transport.pending().size(), 5u);
  EXPECT_EQ(limit.queued(), 1u);
  while (!transport.pending().empty()) {
    transport.reply(200, kAnswer);
    runtime.run_ready();
    EXPECT_LE(limit.running(), kImdsMaxConcurrent);
  }
  runtime.advance(Millis(1000));  // the backed-off call comes back
  while (!transport.pending().empty()) transport.reply(200, kAnswer);
  EXPECT_EQ(results.size(), 8u);
  EXPECT_EQ(limit.running(), 0);
}

}  // namespace
}  // namespace dbx
