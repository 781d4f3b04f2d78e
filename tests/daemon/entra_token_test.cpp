#include "daemon/credentials/entra_token.h"

#include <gtest/gtest.h>

namespace dbx {
namespace {

const TimePoint kNow = from_unix_seconds(1'800'000'000);

TEST(EntraToken, V1AnswerHasNumbersAsStrings) {
  auto t = parse_token_answer(
      R"({"token_type":"Bearer","expires_in":"3599","ext_expires_in":"3599",
          "expires_on":"1800003599","not_before":"1799999700","resource":"r","access_token":"tok"})",
      kNow);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->value, "tok");
  EXPECT_EQ(t->expires_at, kNow + Seconds(3599));
  EXPECT_FALSE(t->refresh_in);
}

TEST(EntraToken, V2AnswerHasNumbersAsNumbersAndRefreshIn) {
  auto t = parse_token_answer(
      R"({"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"refresh_in":1799,
          "access_token":"tok2"})",
      kNow);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->expires_at, kNow + Seconds(3599));
  ASSERT_TRUE(t->refresh_in);
  EXPECT_EQ(*t->refresh_in, Seconds(1799));
}

TEST(EntraToken, ExpiresInWinsOverSkewedExpiresOn) {
  // The upstream's clock is an hour ahead: expires_on would be wrong here, expires_in is right.
  auto t = parse_token_answer(
      R"({"access_token":"x","expires_in":"600","expires_on":"1800004200"})", kNow);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->expires_at, kNow + Seconds(600));
}

TEST(EntraToken, ExpiresOnUsedWhenExpiresInMissing) {
  auto t = parse_token_answer(R"({"access_token":"x","expires_on":"1800000900"})", kNow);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->expires_at, kNow + Seconds(900));
}

TEST(EntraToken, RejectsBrokenAnswers) {
  for (const char* body :
       {"", "[]", "not json", R"({"expires_in":3599})", R"({"access_token":"","expires_in":1})",
        R"({"access_token":5,"expires_in":1})", R"({"access_token":"x"})",
        R"({"access_token":"x","expires_in":"soon"})", R"({"access_token":"x","expires_in":0})",
        R"({"access_token":"x","expires_in":-5})", R"({"access_token":"x","expires_in":90000})",
        R"({"access_token":"x","expires_on":"1700000000"})",
        R"({"access_token":"x","expires_in":60,"token_type":"MAC"})"}) {
    auto t = parse_token_answer(body, kNow);
    EXPECT_FALSE(t.ok()) << body;
    if (!t.ok()) {
      EXPECT_EQ(t.error().code, ErrorCode::upstream_unavailable);
      EXPECT_EQ(t.error().message.find("\"x\""), std::string::npos);
    }
  }
}

TEST(EntraToken, ErrorShowsCodeAndFirstLineOfDescription) {
  HttpResponse r;
  r.status = 401;
  r.body =
      R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: abc\r\nCorrelation ID: def","error_codes":[7000215]})";
  Error e = token_endpoint_error(r, "Entra ID token request");
  EXPECT_EQ(e.code, ErrorCode::upstream_unavailable);
  EXPECT_EQ(e.upstream_status, 401);
  EXPECT_EQ(e.message,
            "Entra ID token request failed with HTTP 401: invalid_client: AADSTS7000215: Invalid "
            "client secret provided.");
  EXPECT_FALSE(e.retry_after);
}

TEST(EntraToken, ThrottlingCarriesRetryAfter) {
  HttpResponse r;
  r.status = 429;
  r.headers = {{"retry-after", "60"}};
  r.body = "<html>busy</html>";
  Error e = token_endpoint_error(r, "x");
  ASSERT_TRUE(e.retry_after);
  EXPECT_EQ(*e.retry_after, Seconds(60));
  EXPECT_NE(e.message.find("HTTP 429"), std::string::npos);
}

TEST(EntraToken, FormEncodingEscapesEveryValue) {
  EXPECT_EQ(form_encode({{"a", "b c"}, {"secret", "x&y=z+/~"}}), "a=b%20c&secret=x%26y%3Dz%2B%2F~");
}

TEST(EntraToken, ResourcesAndScopes) {
  EXPECT_EQ(normalize_resource("https://management.core.windows.net/"),
            "https://management.core.windows.net");
  EXPECT_EQ(scope_for_resource("https://management.core.windows.net/"),
            "https://management.core.windows.net/.default");
  EXPECT_EQ(scope_for_resource("2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"),
            "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default");
}

// Found by tests/fuzz (fuzz_entra_token): an expires_on beyond what the nanosecond clock holds
// overflowed (undefined; on x86 it wrapped to an arbitrary instant that could pass the range
// check).
TEST(EntraToken, HugeExpiresOnIsRefusedNotWrapped) {
  for (const char* on : {"170008639986399", "9223372036854775807", "-9223372036854775807"}) {
    auto t = parse_token_answer(
        std::string(R"({"access_token":"a","token_type":"Bearer","expires_on":")") + on + "\"}",
        kNow);
    ASSERT_FALSE(t.ok()) << on;
    EXPECT_NE(t.error().message.find("expires_on"), std::string::npos);
  }
}

// Found by tests/fuzz (fuzz_entra_token): a huge refresh_in overflowed the clock; it is ignored.
TEST(EntraToken, HugeRefreshInIsIgnored) {
  auto t = parse_token_answer(
      R"({"access_token":"a","token_type":"Bearer","expires_in":3599,"refresh_in":1799121818352406})",
      kNow);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->expires_at, kNow + Seconds(3599));
  EXPECT_FALSE(t->refresh_in);
}

}  // namespace
}  // namespace dbx
