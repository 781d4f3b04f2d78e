// DatabricksOAuthSource (M2M and token exchange) with the fake transport, alone and under the
// real TokenCache (single flight, Retry-After, stale-on-error).
#include "daemon/credentials/databricks_oauth_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "daemon/cache/token_cache.h"
#include "tests/daemon/fake_runtime.h"
#include "tests/daemon/fake_transport.h"
#include "tests/temp_dir.h"

namespace dbx {
namespace {

namespace fs = std::filesystem;
using testing::FakeRuntime;
using testing::FakeTransport;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kHost = "https://adb-1.2.azuredatabricks.net";
constexpr const char* kDiscovery =
    R"({"issuer":"https://adb-1.2.azuredatabricks.net/oidc","authorization_endpoint":"https://adb-1.2.azuredatabricks.net/oidc/v1/authorize","token_endpoint":"https://adb-1.2.azuredatabricks.net/oidc/v1/token"})";
constexpr const char* kAnswer =
    R"({"access_token":"eyJ.oauth.tok","token_type":"Bearer","scope":"all-apis","expires_in":3600})";

class Files : public testing::TempDir {
 public:
  std::string path(const std::string& name) const { return *this / name; }
};

struct Got {
  bool done = false;
  Result<AccessToken> result = make_error(ErrorCode::internal, "not called");
};

class DatabricksOAuthTest : public ::testing::Test {
 protected:
  DatabricksOAuthSource m2m() {
    DatabricksOAuthClient c;
    c.credential = "dbx-sp";
    c.client_id = "app-1";
    c.client_secret_file = files.write("sp.secret", "dose-s3cret\n");
    return DatabricksOAuthSource(rt, transport, c);
  }
  DatabricksOAuthSource federation(std::string client_id = "") {
    DatabricksOAuthClient c;
    c.credential = "dbx-fed";
    c.federation = true;
    c.client_id = std::move(client_id);
    c.token_file = files.write("oidc-token", "header.payload-one.sig\n", 0644);
    return DatabricksOAuthSource(rt, transport, c);
  }
  Got* fetch(CredentialSource& s) {
    gots.push_back(std::make_unique<Got>());
    Got* g = gots.back().get();
    s.fetch(kHost, [g](Result<AccessToken> r) {
      g->done = true;
      g->result = std::move(r);
    });
    rt.run_ready();
    return g;
  }

  Files files;
  FakeRuntime rt;
  FakeTransport transport;
  std::vector<std::unique_ptr<Got>> gots;
};

TEST_F(DatabricksOAuthTest, M2mDiscoversOnceThenPostsBasicAuthAsTheSdksDo) {
  auto source = m2m();
  Got* g = fetch(source);
  ASSERT_EQ(transport.pending().size(), 1u);
  EXPECT_EQ(transport.pending()[0].request.method, "GET");
  EXPECT_EQ(transport.pending()[0].request.url,
            std::string(kHost) + "/oidc/.well-known/oauth-authorization-server");
  transport.reply(200, kDiscovery);
  ASSERT_EQ(transport.pending().size(), 1u);
  const HttpRequest& req = transport.pending()[0].request;
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.url, std::string(kHost) + "/oidc/v1/token");
  EXPECT_EQ(req.body, "grant_type=client_credentials&scope=all-apis");
  bool basic = false;
  for (const auto& [k, v] : req.headers) {
    // base64("app-1:dose-s3cret")
    if (k == "Authorization") basic = v == "Basic YXBwLTE6ZG9zZS1zM2NyZXQ=";
  }
  EXPECT_TRUE(basic);
  transport.reply(200, kAnswer);
  ASSERT_TRUE(g->done);
  ASSERT_TRUE(g->result.ok()) << g->result.error().message;
  EXPECT_EQ(g->result->value, "eyJ.oauth.tok");
  EXPECT_EQ(g->result->expires_at, rt.now() + Seconds(3600));

  fetch(source);  // discovery is cached
  ASSERT_EQ(transport.pending().size(), 1u);
  EXPECT_EQ(transport.pending()[0].request.method, "POST");
  EXPECT_EQ(source.discoveries(), 1);
}

TEST_F(DatabricksOAuthTest, TokenEndpointOnAnotherOriginIsRefusedAndNoSecretSent) {
  auto source = m2m();
  Got* g = fetch(source);
  transport.reply(200, R"({"token_endpoint":"https://evil.example/oidc/v1/token"})");
  ASSERT_TRUE(g->done);
  ASSERT_FALSE(g->result.ok());
  EXPECT_THAT(g->result.error().message, HasSubstr("outside " + std::string(kHost)));
  EXPECT_TRUE(transport.pending().empty());
  EXPECT_EQ(transport.sent(), 1);
}

TEST_F(DatabricksOAuthTest, NoDiscoveryFallsBackToTheUsualPath) {
  auto source = m2m();
  fetch(source);
  transport.reply(404, "{}");
  ASSERT_EQ(transport.pending().size(), 1u);
  EXPECT_EQ(transport.pending()[0].request.url, std::string(kHost) + "/oidc/v1/token");
}

TEST_F(DatabricksOAuthTest, InvalidClientIsOneLineNamingIt) {
  auto source = m2m();
  Got* g = fetch(source);
  transport.reply(200, kDiscovery);
  transport.reply(
      401, R"({"error":"invalid_client","error_description":"Client authentication failed"})");
  ASSERT_FALSE(g->result.ok());
  const Error& e = g->result.error();
  EXPECT_EQ(e.upstream_status, 401);
  EXPECT_THAT(e.message, HasSubstr("invalid_client: Client authentication failed"));
  EXPECT_THAT(e.message, HasSubstr("credential dbx-sp"));
  EXPECT_THAT(e.message, Not(HasSubstr("dose-s3cret")));
  EXPECT_EQ(e.message.find('\n'), std::string::npos);
}

TEST_F(DatabricksOAuthTest, SecretSwappedForASymlinkFailsThatRefreshWithoutSendingIt) {
  auto source = m2m();
  fetch(source);
  transport.reply(200, kDiscovery);
  transport.reply(200, kAnswer);
  std::string secret = files.path("sp.secret");
  std::string copy = files.write("copy.secret", "dose-s3cret", 0644);
  fs::remove(secret);
  fs::create_symlink(copy, secret);
  int sent = transport.sent();
  Got* g = fetch(source);
  ASSERT_TRUE(g->done);
  ASSERT_FALSE(g->result.ok());
  EXPECT_THAT(g->result.error().message, HasSubstr(secret + " is a symbolic link: refused"));
  EXPECT_EQ(transport.sent(), sent);
}

TEST_F(DatabricksOAuthTest, FederationRereadsTheTokenFileForEveryExchange) {
  auto source = federation("app-2");
  fetch(source);
  transport.reply(200, kDiscovery);
  ASSERT_EQ(transport.pending().size(), 1u);
  const std::string& body = transport.pending()[0].request.body;
  EXPECT_EQ(body,
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token="
            "header.payload-one.sig&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%"
            "3Ajwt&scope=all-apis&client_id=app-2");
  for (const auto& [k, v] : transport.pending()[0].request.headers) EXPECT_NE(k, "Authorization");
  transport.reply(200, kAnswer);
  // The writer rotates the file (a new file renamed over the old one).
  std::string next = files.write("next", "header.payload-two.sig", 0644);
  fs::rename(next, files.path("oidc-token"));
  fetch(source);
  ASSERT_EQ(transport.pending().size(), 1u);
  EXPECT_THAT(transport.pending()[0].request.body, HasSubstr("payload-two"));
}

TEST_F(DatabricksOAuthTest, AccountWideFederationSendsNoClientId) {
  auto source = federation();
  fetch(source);
  transport.reply(200, kDiscovery);
  EXPECT_THAT(transport.pending()[0].request.body, Not(HasSubstr("client_id")));
}

TEST_F(DatabricksOAuthTest, UnderTheTokenCacheManyFirstRequestsMakeOneTokenCall) {
  auto source = m2m();
  TokenCache cache(rt, source, kHost, "credential dbx-sp, workspace host", Seconds(15));
  std::vector<Got> gs(100);
  for (auto& g : gs) {
    cache.get(Seconds(300), [&g](Result<AccessToken> r) {
      g.done = true;
      g.result = std::move(r);
    });
  }
  rt.run_ready();
  ASSERT_EQ(transport.pending().size(), 1u);
  transport.reply(200, kDiscovery);
  ASSERT_EQ(transport.pending().size(), 1u);
  transport.reply(200, kAnswer);
  for (auto& g : gs) {
    ASSERT_TRUE(g.done);
    ASSERT_TRUE(g.result.ok());
  }
  EXPECT_EQ(transport.sent(), 2);  // one discovery, one token call
  EXPECT_EQ(cache.status().fetches, 1u);
}

TEST_F(DatabricksOAuthTest, RateLimitCarriesRetryAfterAndStaleTokenIsServed) {
  auto source = m2m();
  TokenCache cache(rt, source, kHost, "credential dbx-sp", Seconds(15));
  Got first;
  cache.get(Seconds(300), [&first](Result<AccessToken> r) {
    first.done = true;
    first.result = std::move(r);
  });
  rt.run_ready();
  transport.reply(200, kDiscovery);
  transport.reply(200, R"({"access_token":"t1","token_type":"Bearer","expires_in":600})");
  ASSERT_TRUE(first.result.ok());
  // Within the refresh window the cache refreshes; the endpoint says 429, Retry-After 120.
  rt.advance(Seconds(400));
  ASSERT_EQ(transport.pending().size(), 1u);
  transport.reply(429, R"({"error":"rate_limited","error_description":"slow down"})",
                  {{"Retry-After", "120"}});
  EXPECT_EQ(cache.status().consecutive_failures, 1);
  EXPECT_THAT(cache.status().last_error.value_or(""), HasSubstr("HTTP 429"));
  Got stale;
  cache.get(Seconds(60), [&stale](Result<AccessToken> r) {
    stale.done = true;
    stale.result = std::move(r);
  });
  rt.run_ready();
  ASSERT_TRUE(stale.done);
  ASSERT_TRUE(stale.result.ok());
  EXPECT_EQ(stale.result->value, "t1");
  rt.advance(Seconds(119));
  EXPECT_TRUE(transport.pending().empty());  // not before Retry-After
}

TEST(ParseDiscovery, AcceptsOnlyHttpsOnTheSameOrigin) {
  EXPECT_TRUE(
      parse_discovery(R"({"token_endpoint":"https://h.net/oidc/v1/token"})", "https://h.net"));
  EXPECT_FALSE(
      parse_discovery(R"({"token_endpoint":"http://h.net/oidc/v1/token"})", "https://h.net"));
  EXPECT_FALSE(parse_discovery(R"({"token_endpoint":"https://h.net:444/t"})", "https://h.net"));
  EXPECT_FALSE(parse_discovery(R"({"token_endpoint":"https://h.net.evil/t"})", "https://h.net"));
  EXPECT_FALSE(parse_discovery(R"({"token_endpoint":5})", "https://h.net"));
  EXPECT_FALSE(parse_discovery("not json", "https://h.net"));
}

}  // namespace
}  // namespace dbx
