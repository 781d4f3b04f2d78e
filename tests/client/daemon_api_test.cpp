#include "client/daemon_api.h"

#include <gtest/gtest.h>

namespace dbx::cli {
namespace {

HttpResponse answer(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

std::string error_body(std::string_view code, std::string_view message) {
  return R"({"error":{"code":")" + std::string(code) + R"(","message":")" + std::string(message) +
         R"("}})";
}

TEST(ExitForError, ByHttpStatus) {
  EXPECT_EQ(exit_for_error(400, ""), Exit::failure);
  EXPECT_EQ(exit_for_error(401, ""), Exit::failure);
  EXPECT_EQ(exit_for_error(403, ""), Exit::denied);
  EXPECT_EQ(exit_for_error(404, ""), Exit::denied);
  EXPECT_EQ(exit_for_error(429, ""), Exit::upstream);
  EXPECT_EQ(exit_for_error(500, ""), Exit::failure);
  EXPECT_EQ(exit_for_error(502, ""), Exit::upstream);
  EXPECT_EQ(exit_for_error(503, ""), Exit::upstream);
  EXPECT_EQ(exit_for_error(504, ""), Exit::upstream);
}

TEST(ExitForError, TheDaemonsCodeDecides) {
  EXPECT_EQ(exit_for_error(503, "quota_exhausted"), Exit::upstream);
  EXPECT_EQ(exit_for_error(503, "upstream_unavailable"), Exit::upstream);
  EXPECT_EQ(exit_for_error(429, "quota_exhausted"), Exit::upstream);
  EXPECT_EQ(exit_for_error(429, "rate_limited"), Exit::upstream);
  EXPECT_EQ(exit_for_error(403, "forbidden"), Exit::denied);
  EXPECT_EQ(exit_for_error(404, "not_found"), Exit::denied);
  EXPECT_EQ(exit_for_error(400, "bad_request"), Exit::failure);
  EXPECT_EQ(exit_for_error(500, "internal"), Exit::failure);
  EXPECT_EQ(exit_for_error(503, "something_new"), Exit::upstream);  // unknown code: the status
}

TEST(FailureFromResponse, UsesTheDaemonsMessage) {
  auto f = failure_from_response(
      answer(429, error_body("quota_exhausted", "PAT quota of 600 reached in prod; wait 5m")));
  EXPECT_EQ(f.exit, Exit::upstream);
  EXPECT_EQ(f.message, "PAT quota of 600 reached in prod; wait 5m");

  f = failure_from_response(answer(403, error_body("forbidden", "uid 1001 may not use prod")));
  EXPECT_EQ(f.exit, Exit::denied);
  EXPECT_EQ(f.message, "uid 1001 may not use prod");
}

TEST(FailureFromResponse, WithoutAnErrorBody) {
  auto f = failure_from_response(answer(502, "<html>bad gateway</html>"));
  EXPECT_EQ(f.exit, Exit::upstream);
  EXPECT_EQ(f.message, "dbxcredd answered HTTP 502");
  f = failure_from_response(answer(500, R"({"error":{"code":"internal"}})"));
  EXPECT_EQ(f.exit, Exit::failure);
  EXPECT_EQ(f.message, "dbxcredd answered HTTP 500 (internal)");
}

TEST(FailureFromResponse, MessageIsOneSafeLine) {
  auto f = failure_from_response(
      answer(502, error_body("upstream_unavailable", "AADSTS7000215\\nsecond line\\u001b[31m")));
  EXPECT_EQ(f.message, "AADSTS7000215 second line?[31m");
}

TEST(OneLine, ReplacesControlCharacters) {
  EXPECT_EQ(one_line("a\nb\r\tc\x01\x7f"), "a b  c??");
  EXPECT_EQ(one_line("trailing\n"), "trailing");
  EXPECT_EQ(one_line("gr\xC3\xBC\xC3\x9F"), "gr\xC3\xBC\xC3\x9F");
}

TEST(EncodePathSegment, EscapesEverythingButUnreserved) {
  EXPECT_EQ(encode_path_segment("prod-eu_1.x~"), "prod-eu_1.x~");
  EXPECT_EQ(encode_path_segment("a/b c?d#%"), "a%2Fb%20c%3Fd%23%25");
  EXPECT_EQ(encode_path_segment(".."), "..");
}

TEST(DaemonApi, GetObject) {
  std::string asked;
  DaemonApi api([&](std::string_view target) -> Expected<HttpResponse> {
    asked = target;
    return answer(200, R"({"ok":true})");
  });
  auto r = api.get_object("/v1/status");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(asked, "/v1/status");
  EXPECT_TRUE(r->at("ok").as_bool());
}

TEST(DaemonApi, NonJsonBodyIsAFailureThatDoesNotEchoIt) {
  DaemonApi api([](std::string_view) -> Expected<HttpResponse> {
    return answer(200, "dapiSECRET not json");
  });
  auto r = api.get_object("/v1/workspaces/prod/pat");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().exit, Exit::failure);
  EXPECT_EQ(r.error().message.find("SECRET"), std::string::npos);
  DaemonApi array_api(
      [](std::string_view) -> Expected<HttpResponse> { return answer(200, "[1]"); });
  EXPECT_FALSE(array_api.get_object("/x").ok());
}

TEST(DaemonApi, TransportFailurePassesThrough) {
  DaemonApi api([](std::string_view) -> Expected<HttpResponse> {
    return Failure{Exit::unreachable, "cannot reach"};
  });
  auto r = api.get_object("/v1/status");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().exit, Exit::unreachable);
}

}  // namespace
}  // namespace dbx::cli
