// GET /v1/doctor through the Router: who gets which findings, and the probes' findings in the
// full report.
#include "daemon/server/doctor_route.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>

#include "tests/daemon/fake_runtime.h"
#include "tests/daemon/fake_transport.h"
#include "tests/daemon/test_config.h"

namespace dbx {
namespace {

namespace json = boost::json;

Config doctor_config() {
  Config c = testing::config_with_sp();
  WorkspaceConfig open = testing::workspace_on("open");
  open.pat.enabled = false;
  c.workspaces["open"] = open;
  WorkspaceConfig closed = open;
  closed.name = "closed";
  closed.allow = AllowList{{}, {}, {4242}, {}};
  c.workspaces["closed"] = closed;
  return c;
}

class DoctorRouteTest : public ::testing::Test {
 protected:
  DoctorRouteTest()
      : broker(std::make_shared<Broker>(rt, transport, doctor_config())),
        router(
            rt, [this] { return broker; }, rt.now()) {
    transport.set_auto_answer([this](const HttpRequest& r) -> Result<HttpResponse> {
      urls.push_back(r.url);
      HttpResponse res;
      res.status = 200;
      if (r.url.find("/oauth2/") != std::string::npos) {
        if (!entra_error.empty()) {
          res.status = 401;
          res.body = R"({"error":"invalid_client","error_description":")" + entra_error + "\"}";
          return res;
        }
        res.body = R"({"access_token":"aad-tok","expires_in":"3599","token_type":"Bearer"})";
      } else if (r.url.ends_with("/scim/v2/Me")) {
        res.status = scim_status;
        res.body = scim_status == 200 ? R"({"userName":"client"})"
                                      : R"({"error_code":403,"message":"Invalid access token."})";
      } else {
        res.status = 404;  // the login host's root
      }
      return res;
    });
  }

  json::object doctor(std::string_view target, uid_t uid) {
    PeerIdentity peer;
    peer.uid = uid;
    peer.gid = uid;
    std::optional<ApiResponse> out;
    router.handle(ApiRequest{"GET", target}, peer, [&](ApiResponse r) { out = std::move(r); });
    rt.run_ready();
    EXPECT_TRUE(out.has_value());
    if (!out) return {};
    EXPECT_EQ(out->status, 200) << out->body;
    return json::parse(out->body).as_object();
  }

  // The findings of `check` about `subject`.
  static std::vector<json::object> of(const json::object& answer, std::string_view check,
                                      std::string_view subject) {
    std::vector<json::object> out;
    for (const auto& f : answer.at("findings").as_array())
      if (f.at("check").as_string() == check && f.at("subject").as_string() == subject)
        out.push_back(f.as_object());
    return out;
  }

  testing::FakeRuntime rt;
  testing::FakeTransport transport;
  std::vector<std::string> urls;
  std::string entra_error;
  int scim_status = 200;
  std::shared_ptr<Broker> broker;
  Router router;
};

TEST_F(DoctorRouteTest, AnotherUserLearnsItsOwnAccessOnlyAndCausesNoUpstreamCall) {
  const auto a = doctor("/v1/doctor", 1000);
  EXPECT_FALSE(a.at("full").as_bool());
  auto open = of(a, "access", "open");
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].at("status"), "ok");
  EXPECT_NE(std::string(open[0].at("message").as_string()).find("no allow list"),
            std::string::npos);
  auto closed = of(a, "access", "closed");
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].at("status"), "note");  // not asked for: not a failure
  for (const auto& f : a.at("findings").as_array())
    EXPECT_EQ(f.at("check"), "access") << json::serialize(f);
  EXPECT_TRUE(urls.empty());
}

TEST_F(DoctorRouteTest, AWorkspaceAskedForThatRefusesTheCallerIsAFailNamingTheSetting) {
  const auto a = doctor("/v1/doctor?workspace=closed", 1000);
  auto closed = of(a, "access", "closed");
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].at("status"), "fail");
  EXPECT_NE(std::string(closed[0].at("message").as_string()).find("not in the workspace's allow"),
            std::string::npos);
  EXPECT_NE(std::string(closed[0].at("fix").as_string()).find("workspaces.closed.allow"),
            std::string::npos);
  EXPECT_TRUE(of(a, "access", "open").empty());
  EXPECT_TRUE(of(a, "access", "").empty());  // no second line saying the same
}

TEST_F(DoctorRouteTest, AnUnknownWorkspaceIs404) {
  PeerIdentity peer;
  peer.uid = 1000;
  std::optional<ApiResponse> out;
  router.handle(ApiRequest{"GET", "/v1/doctor?workspace=nope"}, peer,
                [&](ApiResponse r) { out = std::move(r); });
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status, 404);
}

TEST_F(DoctorRouteTest, RootGetsCredentialsReachAndStanding) {
  const auto a = doctor("/v1/doctor?workspace=open", 0);
  EXPECT_TRUE(a.at("full").as_bool());
  auto standing = of(a, "standing", "open");
  ASSERT_EQ(standing.size(), 1u);
  EXPECT_EQ(standing[0].at("status"), "ok") << json::serialize(standing[0]);
  auto reach = of(a, "reach", "login host login.example");
  ASSERT_EQ(reach.size(), 1u);
  EXPECT_EQ(reach[0].at("status"), "ok");  // a 404 from the root: reachable
  EXPECT_EQ(of(a, "reach", "open").size(), 1u);
  // The second report knows the token the first one fetched.
  const auto b = doctor("/v1/doctor?workspace=open", 0);
  auto cred = of(b, "credential", "sp");
  ASSERT_FALSE(cred.empty());
  EXPECT_EQ(cred[0].at("status"), "ok");
  EXPECT_NE(std::string(cred[0].at("message").as_string()).find("valid for"), std::string::npos);
}

TEST_F(DoctorRouteTest, AWrongSecretIsExplainedWithTheFileToChange) {
  entra_error = "AADSTS7000215: Invalid client secret provided.";
  const auto a = doctor("/v1/doctor?workspace=open", 0);
  auto standing = of(a, "standing", "open");
  ASSERT_EQ(standing.size(), 1u);
  EXPECT_EQ(standing[0].at("status"), "fail");
  EXPECT_NE(std::string(standing[0].at("fix").as_string()).find("client_secret_file"),
            std::string::npos)
      << json::serialize(standing[0]);
  const auto b = doctor("/v1/doctor?workspace=open", 0);
  auto cred = of(b, "credential", "sp");
  ASSERT_FALSE(cred.empty());
  EXPECT_EQ(cred[0].at("status"), "fail");
  EXPECT_NE(std::string(cred[0].at("message").as_string()).find("the client secret is wrong"),
            std::string::npos)
      << json::serialize(cred[0]);
  // Nothing secret in the report.
  EXPECT_EQ(json::serialize(b).find("s3cret"), std::string::npos);
}

TEST_F(DoctorRouteTest, AServicePrincipalThatIsNotAWorkspaceUserFails) {
  scim_status = 403;
  const auto a = doctor("/v1/doctor?workspace=open", ::geteuid());
  auto standing = of(a, "standing", "open");
  ASSERT_EQ(standing.size(), 1u);
  EXPECT_EQ(standing[0].at("status"), "fail");
  EXPECT_NE(std::string(standing[0].at("fix").as_string()).find("management_token"),
            std::string::npos);
}

}  // namespace
}  // namespace dbx
