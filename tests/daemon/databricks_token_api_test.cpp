// DatabricksTokenApi and databricks_errors over FakeTransport: request shapes, answer parsing
// (ms times, -1, `{}`, numbers as strings), and every error variant.
#include "daemon/databricks/databricks_token_api.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "daemon/databricks/databricks_errors.h"
#include "tests/daemon/fake_transport.h"

namespace dbx {
namespace {

using testing::FakeTransport;
const std::string kHost = "https://adb-1234567890123456.7.azuredatabricks.net";

class DatabricksTokenApiTest : public ::testing::Test {
 protected:
  DatabricksTokenApiTest()
      : api_(transport_, kHost + "/", [this](std::function<void(Result<HttpHeaders>)> cb) {
          ++auth_calls_;
          if (auth_error_) return cb(*auth_error_);
          cb(HttpHeaders{{"Authorization", "Bearer " + aad_token_},
                         {"X-Databricks-Azure-SP-Management-Token", "mgmt-token"},
                         {"X-Databricks-Azure-Workspace-Resource-Id", "/subscriptions/S/w/W"}});
        }) {}

  std::optional<std::string> header(const HttpRequest& r, const std::string& name) {
    for (const auto& [k, v] : r.headers)
      if (k == name) return v;
    return std::nullopt;
  }

  // What authenticate() answers, as create() takes it.
  WorkspaceHeaders authenticated() {
    std::optional<Result<WorkspaceHeaders>> h;
    api_.authenticate([&](Result<WorkspaceHeaders> r) { h = std::move(r); });
    EXPECT_TRUE(h && h->ok());
    return h && h->ok() ? std::move(*h).value() : WorkspaceHeaders{};
  }

  FakeTransport transport_;
  std::string aad_token_ = "aad-token";  // the Bearer token the header source answers with
  int auth_calls_ = 0;
  std::optional<Error> auth_error_;
  DatabricksTokenApi api_;
};

TEST_F(DatabricksTokenApiTest, CreateRequestAndAnswer) {
  std::optional<Result<MintedPat>> got;
  api_.create(authenticated(), Seconds(3600), "dbxcred:agent:prod:0123",
              [&](Result<MintedPat> r) { got = r; });
  ASSERT_EQ(transport_.pending().size(), 1u);
  const auto& req = transport_.pending().front().request;
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.url, kHost + "/api/2.0/token/create");
  EXPECT_EQ(req.upstream, "databricks");
  EXPECT_EQ(header(req, "Authorization"), "Bearer aad-token");
  EXPECT_EQ(header(req, "X-Databricks-Azure-SP-Management-Token"), "mgmt-token");
  EXPECT_EQ(header(req, "X-Databricks-Azure-Workspace-Resource-Id"), "/subscriptions/S/w/W");
  EXPECT_EQ(header(req, "Content-Type"), "application/json");
  auto body = boost::json::parse(req.body).as_object();
  EXPECT_EQ(body.at("lifetime_seconds").as_int64(), 3600);
  EXPECT_EQ(body.at("comment").as_string(), "dbxcred:agent:prod:0123");
  transport_.reply(200, R"({"token_value":"dapi0123456789abcdef","token_info":{
      "token_id":"5715498424f15ee0213be729257b53fc35a47d5953e3bdfd8ed22a0b93b339f4",
      "creation_time":1800000000123,"expiry_time":1800003600123,"comment":"dbxcred:agent:prod:0123"}})");
  ASSERT_TRUE(got && got->ok());
  EXPECT_EQ((*got)->value, "dapi0123456789abcdef");
  EXPECT_EQ((*got)->info.token_id,
            "5715498424f15ee0213be729257b53fc35a47d5953e3bdfd8ed22a0b93b339f4");
  EXPECT_EQ((*got)->info.created, from_unix_seconds(1800000000) + Millis(123));
  EXPECT_EQ((*got)->info.expires, from_unix_seconds(1800003600) + Millis(123));
  EXPECT_EQ((*got)->info.comment, "dbxcred:agent:prod:0123");
  EXPECT_EQ(auth_calls_, 1);
}

TEST_F(DatabricksTokenApiTest, CreateMalformedAnswersNeverQuoteTheValue) {
  for (const std::string& body :
       {std::string(R"({"token_value":"dapiSECRETSECRET"})"),
        std::string(R"({"token_value":"dapiSECRETSECRET","token_info":{"token_id":"x"}})"),
        std::string(R"({"token_info":{"token_id":"x","creation_time":1,"expiry_time":2}})"),
        std::string("dapiSECRETSECRET not json"), std::string(5 * 1024 * 1024, ' ')}) {
    std::optional<Result<MintedPat>> got;
    api_.create(authenticated(), Seconds(60), "c", [&](Result<MintedPat> r) { got = r; });
    transport_.reply(200, body);
    ASSERT_TRUE(got);
    ASSERT_FALSE(got->ok());
    EXPECT_EQ(got->error().code, ErrorCode::upstream_unavailable);
    EXPECT_EQ(got->error().upstream_status, 200);  // the manager keeps the intent for reconcile
    EXPECT_EQ(got->error().message.find("SECRET"), std::string::npos) << got->error().message;
    EXPECT_NE(got->error().message.find("token/create"), std::string::npos);
  }
}

TEST_F(DatabricksTokenApiTest, ListParsesMsNeverExpiringAndStringNumbers) {
  std::optional<Result<std::vector<PatInfo>>> got;
  api_.list([&](Result<std::vector<PatInfo>> r) { got = r; });
  const auto& req = transport_.pending().front().request;
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.url, kHost + "/api/2.0/token/list");
  EXPECT_TRUE(req.body.empty());
  transport_.reply(200, R"({"token_infos":[
      {"token_id":"a","creation_time":1800000000000,"expiry_time":-1,"comment":"human"},
      {"token_id":"b","creation_time":"1800000000500","expiry_time":"1800003600000"},
      {"token_id":"c","creation_time":1.8e12,"expiry_time":1800000060000,"comment":null}]})");
  ASSERT_TRUE(got && got->ok());
  const auto& infos = got->value();
  ASSERT_EQ(infos.size(), 3u);
  EXPECT_FALSE(infos[0].expires);  // -1: never expires
  EXPECT_EQ(infos[0].comment, "human");
  EXPECT_EQ(infos[1].created, from_unix_seconds(1800000000) + Millis(500));
  EXPECT_EQ(infos[1].expires, from_unix_seconds(1800003600));
  EXPECT_EQ(infos[1].comment, "");
  EXPECT_EQ(infos[2].created, from_unix_seconds(1800000000));
}

// Found by tests/fuzz (fuzz_databricks): creation/expiry times in ms beyond the nanosecond clock
// overflowed (undefined behaviour); now they are clamped to far-off instants, never wrapped.
TEST_F(DatabricksTokenApiTest, HugeTimesDoNotWrap) {
  std::optional<Result<std::vector<PatInfo>>> got;
  api_.list([&](Result<std::vector<PatInfo>> r) { got = r; });
  transport_.reply(200, R"({"token_infos":[
      {"token_id":"a","creation_time":17000000000000000,"expiry_time":9223372036854775807}]})");
  ASSERT_TRUE(got && got->ok());
  const auto& info = got->value().at(0);
  EXPECT_GT(info.created, from_unix_seconds(1800000000));
  ASSERT_TRUE(info.expires);
  EXPECT_GT(*info.expires, from_unix_seconds(1800000000));
}

// Found by tests/fuzz (fuzz_databricks): a time as a double beyond int64 was cast (undefined).
TEST_F(DatabricksTokenApiTest, TimeAsAHugeDoubleIsAMalformedAnswer) {
  std::optional<Result<std::vector<PatInfo>>> got;
  api_.list([&](Result<std::vector<PatInfo>> r) { got = r; });
  transport_.reply(200,
                   R"({"token_infos":[{"token_id":"a","creation_time":1.7e86,"expiry_time":-1}]})");
  ASSERT_TRUE(got);
  EXPECT_FALSE(got->ok());
}

TEST_F(DatabricksTokenApiTest, EmptyListIsAnEmptyObject) {
  std::optional<Result<std::vector<PatInfo>>> got;
  api_.list([&](Result<std::vector<PatInfo>> r) { got = r; });
  transport_.reply(200, "{}");
  ASSERT_TRUE(got && got->ok());
  EXPECT_TRUE(got->value().empty());
}

TEST_F(DatabricksTokenApiTest, OneBadEntryFailsTheWholeList) {
  std::optional<Result<std::vector<PatInfo>>> got;
  api_.list([&](Result<std::vector<PatInfo>> r) { got = r; });
  transport_.reply(200, R"({"token_infos":[{"token_id":"a","creation_time":1,"expiry_time":2},
                                           {"token_id":"b","creation_time":"soon"}]})");
  ASSERT_TRUE(got);
  ASSERT_FALSE(got->ok());
  EXPECT_NE(got->error().message.find("creation_time"), std::string::npos);
}

TEST_F(DatabricksTokenApiTest, DeleteShapeAndAlreadyGoneIsSuccess) {
  std::optional<Status> got;
  api_.remove("tok-1", [&](Status s) { got = s; });
  const auto& req = transport_.pending().front().request;
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.url, kHost + "/api/2.0/token/delete");
  EXPECT_EQ(boost::json::parse(req.body).at("token_id").as_string(), "tok-1");
  transport_.reply(200, "{}");
  ASSERT_TRUE(got && got->ok());

  got.reset();
  api_.remove("tok-2", [&](Status s) { got = s; });
  transport_.reply(404, R"({"error_code":"RESOURCE_DOES_NOT_EXIST","message":"no such token"})");
  ASSERT_TRUE(got && got->ok());

  got.reset();
  api_.remove("tok-3", [&](Status s) { got = s; });
  transport_.reply(500, R"({"error_code":"INTERNAL_ERROR","message":"boom"})");
  ASSERT_TRUE(got);
  ASSERT_FALSE(got->ok());
  EXPECT_EQ(got->error().upstream_status, 500);
}

TEST_F(DatabricksTokenApiTest, QuotaExceededIsQuotaExhaustedWithUpstreamText) {
  std::optional<Result<MintedPat>> got;
  api_.create(authenticated(), Seconds(60), "c", [&](Result<MintedPat> r) { got = r; });
  transport_.reply(
      400, R"({"error_code":"QUOTA_EXCEEDED","message":"Cannot create more than 600 tokens."})");
  ASSERT_FALSE(got->ok());
  EXPECT_EQ(got->error().code, ErrorCode::quota_exhausted);
  EXPECT_EQ(got->error().upstream_status, 400);
  EXPECT_EQ(got->error().message, "Databricks token/create at " + kHost +
                                      " failed: HTTP 400 QUOTA_EXCEEDED: Cannot create more "
                                      "than 600 tokens.");
}

TEST_F(DatabricksTokenApiTest, ErrorVariants) {
  struct Case {
    int status;
    std::string body;
    HttpHeaders headers;
    std::string expect_in_message;
    std::optional<Seconds> retry_after;
  };
  const std::vector<Case> cases = {
      {403,
       R"({"error_code":403,"message":"Invalid access token."})",
       {},
       "HTTP 403 403: Invalid access token.; check that the service principal",
       std::nullopt},
      {502,
       "<html><body><h1>502 Bad Gateway</h1></body></html>",
       {},
       "HTTP 502 from " + kHost + " (non-JSON body)",
       std::nullopt},
      {429,
       R"({"error_code":"REQUEST_LIMIT_EXCEEDED","message":"slow down"})",
       {{"retry-after", "17"}},
       "HTTP 429 REQUEST_LIMIT_EXCEEDED: slow down",
       Seconds(17)},
      {429, "", {{"Retry-After", "Wed, 21 Oct 2026 07:28:00 GMT"}}, "HTTP 429", std::nullopt},
      {503,
       R"({"error_code":"TEMPORARILY_UNAVAILABLE","message":"line1\nline2"})",
       {{"Retry-After", "5"}},
       "TEMPORARILY_UNAVAILABLE: line1",
       Seconds(5)},
      {401,
       R"({"message":"token eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.payload.sig rejected"})",
       {},
       "HTTP 401: token <redacted> rejected",
       std::nullopt},
  };
  for (const auto& c : cases) {
    std::optional<Result<std::vector<PatInfo>>> got;
    api_.list([&](Result<std::vector<PatInfo>> r) { got = r; });
    transport_.reply(c.status, c.body, c.headers);
    ASSERT_TRUE(got);
    ASSERT_FALSE(got->ok());
    const auto& e = got->error();
    EXPECT_EQ(e.code, ErrorCode::upstream_unavailable);
    EXPECT_EQ(e.upstream_status, c.status);
    EXPECT_NE(e.message.find(c.expect_in_message), std::string::npos) << e.message;
    EXPECT_EQ(e.message.find("line2"), std::string::npos);
    EXPECT_EQ(e.retry_after, c.retry_after) << e.message;
  }
}

TEST_F(DatabricksTokenApiTest, TransportAndAuthFailures) {
  std::optional<Result<std::vector<PatInfo>>> got;
  api_.list([&](Result<std::vector<PatInfo>> r) { got = r; });
  transport_.fail(make_error(ErrorCode::upstream_unavailable, "connect to adb-1…: refused"));
  ASSERT_FALSE(got->ok());
  EXPECT_EQ(got->error().upstream_status, 0);
  EXPECT_EQ(got->error().message, "Databricks token/list failed: connect to adb-1…: refused");

  auth_error_ = make_error(ErrorCode::upstream_unavailable, "Entra ID: AADSTS7000215: bad secret");
  got.reset();
  api_.list([&](Result<std::vector<PatInfo>> r) { got = r; });
  EXPECT_EQ(transport_.sent(), 1);  // nothing sent without credentials
  ASSERT_TRUE(got);
  EXPECT_EQ(got->error().message, "Entra ID: AADSTS7000215: bad secret");
}

// authenticate() keeps nothing for later: a list after an authenticate whose create never came
// (the mint stopped before it: no room, no nonce, the ledger refused the intent) is sent with the
// headers obtained for it, not the ones that authenticate got minutes earlier.
TEST_F(DatabricksTokenApiTest, AListAfterAnUnusedAuthenticateUsesFreshHeaders) {
  int answered = 0;
  api_.authenticate([&](auto) { ++answered; });
  EXPECT_EQ(answered, 1);
  EXPECT_EQ(auth_calls_, 1);
  aad_token_ = "renewed-aad-token";  // the AAD token was renewed (or revoked) meanwhile
  api_.list([](auto) {});
  ASSERT_EQ(transport_.pending().size(), 1u);
  EXPECT_EQ(auth_calls_, 2);
  EXPECT_EQ(header(transport_.pending().front().request, "Authorization"),
            "Bearer renewed-aad-token");
}

// What authenticate() answers is what create() sends; create() asks the source for nothing.
TEST_F(DatabricksTokenApiTest, CreateSendsTheHeadersAuthenticateAnswered) {
  WorkspaceHeaders auth = authenticated();
  EXPECT_EQ(auth.host, kHost + "/");
  aad_token_ = "later-aad-token";
  api_.create(std::move(auth), Seconds(60), "c", [](auto) {});
  ASSERT_EQ(transport_.pending().size(), 1u);
  EXPECT_EQ(auth_calls_, 1);
  EXPECT_EQ(header(transport_.pending().front().request, "Authorization"), "Bearer aad-token");
  EXPECT_EQ(transport_.pending().front().request.url, kHost + "/api/2.0/token/create");

  auth_error_ = make_error(ErrorCode::upstream_unavailable, "Entra ID: AADSTS7000215: bad secret");
  std::optional<Result<WorkspaceHeaders>> failed;
  api_.authenticate([&](Result<WorkspaceHeaders> r) { failed = std::move(r); });
  ASSERT_TRUE(failed);
  ASSERT_FALSE(failed->ok());
  EXPECT_EQ(failed->error().message, "Entra ID: AADSTS7000215: bad secret");
}

TEST(DatabricksErrors, RedactsCredentialShapedWords) {
  EXPECT_EQ(databricks::redact_secrets("bad token dapi0123456789abcdef0123 here"),
            "bad token <redacted> here");
  EXPECT_EQ(databricks::redact_secrets("workspace 2ff814a6-3304-4ab8-85cb-cd0e6f879c1d ok"),
            "workspace 2ff814a6-3304-4ab8-85cb-cd0e6f879c1d ok");
  EXPECT_EQ(databricks::redact_secrets(std::string(64, 'x')), "<redacted>");
}

}  // namespace
}  // namespace dbx
