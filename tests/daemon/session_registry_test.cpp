// SessionRegistry with FakeRuntime/FakeTransport: opening a session (one OIDC fetch, claims
// checked, one exchange), who may use it (the attacks: another uid with the secret, a wrong secret,
// another workspace, after its end or expiry), and one OIDC fetch per exchange as the tokens
// expire.
#include "daemon/session/session_registry.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "common/encoding.h"
#include "tests/daemon/fake_runtime.h"
#include "tests/daemon/fake_transport.h"

namespace dbx {
namespace {

using testing::FakeRuntime;
using testing::FakeTransport;

constexpr const char* kIssuer = "https://token.actions.githubusercontent.com";
constexpr const char* kHost = "https://adb-1.2.azuredatabricks.net";

std::string jwt(const boost::json::object& claims) {
  return base64url(R"({"alg":"RS256","typ":"JWT"})") + "." +
         base64url(boost::json::serialize(claims)) + ".c2ln";
}

class SessionRegistryTest : public ::testing::Test {
 protected:
  SessionOpen open_request(std::int64_t job_end) {
    SessionOpen o;
    o.request.kind = SessionKind::github;
    o.request.request_url = "https://pipelines.example/idtoken?api-version=2.0";
    o.request.request_token = jwt({{"exp", job_end}});
    o.request.audience = "aud";
    o.exchange.workspace = "ci";
    o.exchange.sessions.issuers = {kIssuer};
    o.exchange.sessions.subjects = {"repo:octo/app:*"};
    o.exchange.credential.name = "fed";
    o.exchange.credential.type = CredentialType::databricks_federation;
    o.exchange.credential.client_id = "fed-sp";
    o.uid = 1000;
    o.resource = kHost;
    return o;
  }
  std::int64_t now_s() const { return to_unix_seconds(runtime.now()); }
  // Answers every request the way the CI endpoint and the workspace would.
  void auto_answer(std::string subject = "repo:octo/app:ref:refs/heads/main") {
    transport.set_auto_answer([this, subject](const HttpRequest& r) -> Result<HttpResponse> {
      HttpResponse a;
      a.status = 200;
      if (r.url.find("/idtoken") != std::string::npos) {
        ++oidc_fetches;
        a.body =
            boost::json::serialize(boost::json::object{{"value", jwt({{"iss", kIssuer},
                                                                      {"sub", subject},
                                                                      {"repository", "octo/app"},
                                                                      {"iat", now_s()},
                                                                      {"exp", now_s() + 300}})}});
      } else if (r.url.find("/.well-known/") != std::string::npos) {
        a.status = 404;
      } else {
        ++exchanges;
        last_exchange_body = r.body;
        a.body = R"({"access_token":"tok-)" + std::to_string(exchanges) +
                 R"(","token_type":"Bearer","expires_in":300})";
      }
      return a;
    });
  }
  Result<OpenedSession> open(SessionOpen o) {
    std::optional<Result<OpenedSession>> got;
    registry.open(std::move(o), [&](Result<OpenedSession> r) { got = std::move(r); });
    runtime.run_ready();
    EXPECT_TRUE(got.has_value());
    return got ? *got : Result<OpenedSession>(make_error(ErrorCode::internal, "no answer"));
  }

  FakeRuntime runtime;
  FakeTransport transport;
  SessionRegistry registry{runtime, transport, Seconds(15)};
  int oidc_fetches = 0;
  int exchanges = 0;
  std::string last_exchange_body;
};

TEST_F(SessionRegistryTest, OpensWithOneFetchAndOneExchange) {
  auto_answer();
  auto s = open(open_request(now_s() + 3600));
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(oidc_fetches, 1);
  EXPECT_EQ(exchanges, 1);
  EXPECT_EQ(s->info.claims.repository, "octo/app");
  EXPECT_EQ(to_unix_seconds(s->info.expires_at), now_s() + 3600);  // the request token's exp
  EXPECT_TRUE(s->secret.starts_with("dbxs_" + s->info.id + "_"));
  EXPECT_NE(last_exchange_body.find("client_id=fed-sp"), std::string::npos);
}

TEST_F(SessionRegistryTest, AnUnconfiguredSubjectIsRefusedAtStart) {
  auto_answer("repo:evil/other:ref:refs/heads/main");
  auto s = open(open_request(now_s() + 3600));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::forbidden);
  EXPECT_NE(s.error().message.find("sessions.subjects"), std::string::npos);
  EXPECT_EQ(exchanges, 0);
  EXPECT_EQ(registry.size(), 0u);
}

TEST_F(SessionRegistryTest, AnotherUidWithTheSecretIsRefused) {
  auto_answer();
  auto s = open(open_request(now_s() + 3600));
  ASSERT_TRUE(s);
  auto other = registry.find(s->secret, 1001, "ci");
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, ErrorCode::forbidden);
  EXPECT_TRUE(registry.find(s->secret, 1000, "ci"));
}

TEST_F(SessionRegistryTest, AWrongSecretOrAnotherWorkspaceIsRefused) {
  auto_answer();
  auto s = open(open_request(now_s() + 3600));
  ASSERT_TRUE(s);
  std::string wrong = s->secret;
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  EXPECT_FALSE(registry.find(wrong, 1000, "ci"));
  EXPECT_FALSE(registry.find("", 1000, "ci"));
  EXPECT_FALSE(registry.find(s->secret.substr(0, 22), 1000, "ci"));
  auto elsewhere = registry.find(s->secret, 1000, "prod");
  ASSERT_FALSE(elsewhere);
  EXPECT_EQ(elsewhere.error().code, ErrorCode::forbidden);
}

TEST_F(SessionRegistryTest, EndsAtTheJobsEndWhenIdleAndOnRequest) {
  auto_answer();
  auto a = open(open_request(now_s() + 600));
  ASSERT_TRUE(a);
  runtime.advance(Millis(601'000));
  EXPECT_FALSE(registry.find(a->secret, 1000, "ci"));  // the request token expired

  auto b = open(open_request(now_s() + 86400));
  ASSERT_TRUE(b);
  runtime.advance(Millis(3'601'000));  // idle_timeout 1h
  EXPECT_FALSE(registry.find(b->secret, 1000, "ci"));

  auto c = open(open_request(now_s() + 86400));
  ASSERT_TRUE(c);
  EXPECT_FALSE(registry.end(c->secret, 1001));  // not another uid's to end
  EXPECT_TRUE(registry.end(c->secret, 1000));
  EXPECT_FALSE(registry.find(c->secret, 1000, "ci"));
}

TEST_F(SessionRegistryTest, EveryExchangeUsesAFreshOidcToken) {
  auto_answer();
  auto s = open(open_request(now_s() + 86400));
  ASSERT_TRUE(s);
  for (int minute = 0; minute < 20; ++minute) {  // a 20-minute job, 5-minute tokens
    auto session = registry.find(s->secret, 1000, "ci");
    ASSERT_TRUE(session);
    std::optional<Result<AccessToken>> t;
    (*session)->token(kHost, Seconds(60), [&](Result<AccessToken> r) { t = std::move(r); });
    runtime.run_ready();
    ASSERT_TRUE(t && *t) << minute;
    EXPECT_GE((*t)->expires_at - runtime.now(), Seconds(60));
    runtime.advance(Millis(60'000));
  }
  EXPECT_GE(exchanges, 4);
  // The first exchange used the token fetched at start; every later one fetched its own.
  EXPECT_EQ(oidc_fetches, exchanges);
}

TEST(SessionClaimsTest, SubjectPatterns) {
  EXPECT_TRUE(subject_matches("repo:octo/app:*", "repo:octo/app:ref:refs/heads/main"));
  EXPECT_FALSE(subject_matches("repo:octo/app:*", "repo:octo/app2:ref:refs/heads/main"));
  EXPECT_FALSE(subject_matches("repo:octo/app:*", "repo:octo/ap"));
  EXPECT_TRUE(subject_matches("sc://org/*/deploy", "sc://org/project/deploy"));
  EXPECT_FALSE(subject_matches("sc://org/*/deploy", "sc://org/project/deploy2"));
  EXPECT_TRUE(subject_matches("exact", "exact"));
}

TEST(SessionClaimsTest, ReuseMargin) {
  const TimePoint t0 = from_unix_seconds(1'800'000'000);
  EXPECT_EQ(oidc_reuse_margin(t0, t0 + Seconds(300)), Seconds(60));
  EXPECT_EQ(oidc_reuse_margin(t0, t0 + Seconds(50)), Seconds(25));
  OidcClaims c;
  c.iat = t0;
  c.exp = t0 + Seconds(300);
  EXPECT_TRUE(oidc_usable(c, t0 + Seconds(239)));
  EXPECT_FALSE(oidc_usable(c, t0 + Seconds(240)));  // within a minute of its exp
}

}  // namespace
}  // namespace dbx
