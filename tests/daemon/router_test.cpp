#include "daemon/server/router.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <map>

#include "tests/daemon/fake_runtime.h"
#include "tests/daemon/fake_transport.h"
#include "tests/daemon/test_config.h"

namespace dbx {
namespace {

namespace json = boost::json;

Config test_config() {
  Config c = testing::config_with_sp();
  const WorkspaceConfig open = testing::workspace_on("open");
  c.workspaces["open"] = open;
  WorkspaceConfig closed = open;
  closed.name = "closed";
  closed.management_token = true;
  closed.resource_id =
      "/subscriptions/s/resourceGroups/r/providers/Microsoft.Databricks/workspaces/w";
  closed.allow = AllowList{{"nobody-by-this-name"}, {}, {4242}, {}};
  c.workspaces["closed"] = closed;
  return c;
}

class RouterTest : public ::testing::Test {
 protected:
  RouterTest()
      : broker(std::make_shared<Broker>(rt, transport, test_config())),
        router(
            rt, [this] { return broker; }, rt.now()) {
    transport.set_auto_answer([this](const HttpRequest& r) -> Result<HttpResponse> {
      requests.push_back(r);
      HttpResponse res;
      res.status = 200;
      const bool mgmt = r.body.find("management.core.windows.net") != std::string::npos;
      res.body = std::string(R"({"access_token":")") + (mgmt ? "mgmt-tok" : "aad-tok") +
                 R"(","expires_in":")" + expires_in + R"(","token_type":"Bearer"})";
      return res;
    });
  }

  ApiResponse get(std::string_view target, uid_t uid = 1000, std::string_view method = "GET") {
    PeerIdentity peer;
    peer.uid = uid;
    peer.gid = uid;
    std::optional<ApiResponse> out;
    router.handle(ApiRequest{method, target}, peer, [&](ApiResponse r) { out = std::move(r); });
    rt.run_ready();
    EXPECT_TRUE(out.has_value()) << target;
    return out.value_or(ApiResponse{0, "", ""});
  }

  static json::value body(const ApiResponse& r) { return json::parse(r.body); }

  testing::FakeRuntime rt;
  testing::FakeTransport transport;
  std::vector<HttpRequest> requests;
  std::string expires_in = "3599";
  std::shared_ptr<Broker> broker;
  Router router;
};

TEST_F(RouterTest, Healthz) {
  auto r = get("/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(body(r).at("status"), "ok");
}

TEST_F(RouterTest, UnknownPathMethodAndBadNames) {
  EXPECT_EQ(get("/nope").status, 404);
  EXPECT_EQ(body(get("/nope")).at("error").at("code"), "not_found");
  EXPECT_EQ(get("/healthz", 1000, "POST").status, 405);
  EXPECT_EQ(get("/v1/workspaces/missing/aad").status, 404);
  EXPECT_EQ(get("/v1/workspaces/..%2Fetc/aad").status, 400);
  EXPECT_EQ(get("/v1/workspaces/open/bogus").status, 404);
  EXPECT_EQ(get("/v1/workspaces/open/aad?min_valid=abc").status, 400);
  EXPECT_EQ(get("/v1/workspaces/open/aad?min_valid=-5").status, 400);
}

TEST_F(RouterTest, AadTokenForAnOpenWorkspace) {
  auto r = get("/v1/workspaces/open/aad?min_valid=600");
  ASSERT_EQ(r.status, 200) << r.body;
  auto b = body(r);
  EXPECT_EQ(b.at("access_token"), "aad-tok");
  EXPECT_EQ(b.at("token_type"), "Bearer");
  EXPECT_EQ(b.at("resource"), "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d");
  EXPECT_EQ(b.at("expires_at").as_int64(), to_unix_seconds(rt.now()) + 3599);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].url, "https://login.example/tenant/oauth2/token");
  EXPECT_NE(requests[0].body.find("resource=2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"),
            std::string::npos);
}

// SPEC.md: a credential whose tokens live under 10 minutes gets half their lifetime as the
// default min_valid (never below 40 s), and a default is never a 400; an explicit ask above what
// the credential gives still is.
TEST_F(RouterTest, ShortLivedTokensGetHalfTheirLifetimeAsTheDefault) {
  expires_in = "120";
  auto first = get("/v1/workspaces/open/aad");
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(body(first).at("expires_at").as_int64(), to_unix_seconds(rt.now()) + 120);
  rt.advance(Seconds(55));  // 65 s left: meets the 60 s default, served from the cache
  auto cached = get("/v1/workspaces/open/aad");
  ASSERT_EQ(cached.status, 200) << cached.body;
  EXPECT_EQ(requests.size(), 1u);
  EXPECT_EQ(get("/v1/workspaces/open/headers").status, 200);
  auto too_much = get("/v1/workspaces/open/aad?min_valid=300");
  EXPECT_EQ(too_much.status, 400) << too_much.body;
  EXPECT_NE(too_much.body.find("ask for less"), std::string::npos) << too_much.body;
}

TEST_F(RouterTest, AccessIsCheckedPerWorkspace) {
  auto denied = get("/v1/workspaces/closed/headers", 1000);
  EXPECT_EQ(denied.status, 403);
  EXPECT_NE(body(denied).at("error").at("message").as_string().find("uid 1000"), std::string::npos);
  EXPECT_TRUE(requests.empty());
  EXPECT_EQ(get("/v1/workspaces/closed/headers", 4242).status, 200);
  EXPECT_EQ(get("/v1/workspaces/closed/headers", 0).status, 200);  // root may always

  auto list = body(get("/v1/workspaces", 1000)).at("workspaces").as_array();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].at("name"), "open");
  EXPECT_EQ(body(get("/v1/workspaces", 4242)).at("workspaces").as_array().size(), 2u);
}

TEST_F(RouterTest, HeadersWithManagementToken) {
  auto b = body(get("/v1/workspaces/closed/headers", 4242));
  const auto& h = b.at("headers");
  EXPECT_EQ(h.at("Authorization"), "Bearer aad-tok");
  EXPECT_EQ(h.at("X-Databricks-Azure-SP-Management-Token"), "mgmt-tok");
  EXPECT_EQ(h.at("X-Databricks-Azure-Workspace-Resource-Id"),
            "/subscriptions/s/resourceGroups/r/providers/Microsoft.Databricks/workspaces/w");
  EXPECT_EQ(b.at("host"), "https://adb-1.azuredatabricks.net");
}

TEST_F(RouterTest, StatusAndMetricsHoldNoSecret) {
  get("/v1/workspaces/closed/headers", 4242);
  for (const char* path : {"/v1/status", "/metrics"}) {
    auto r = get(path);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body.find("aad-tok"), std::string::npos) << path;
    EXPECT_EQ(r.body.find("mgmt-tok"), std::string::npos) << path;
    EXPECT_EQ(r.body.find("s3cret"), std::string::npos) << path;
  }
  auto status = body(get("/v1/status"));
  EXPECT_EQ(status.at("credentials").as_array().size(), 1u);
  EXPECT_NE(get("/metrics").body.find("dbxcred_token_fetches_total{credential=\"sp\""),
            std::string::npos);
}

// serve_entra_token false (issue 21, part 1): aad and headers are 403 forbidden naming the key,
// /v1/status lists what each workspace serves.
TEST_F(RouterTest, EntraPathsOfAWorkspaceWithoutEntraTokensAre403AndStatusSaysWhatItServes) {
  Workspace* open = broker->workspace("open");
  WorkspaceConfig off = open->config();
  off.serve_entra_token = false;
  open->reconfigure(off);
  for (const char* path : {"/v1/workspaces/open/aad", "/v1/workspaces/open/headers"}) {
    const auto r = get(path);
    EXPECT_EQ(r.status, 403) << path;
    EXPECT_EQ(body(r).at("error").at("code"), "forbidden");
    EXPECT_NE(r.body.find("workspaces.open.serve_entra_token is false"), std::string::npos)
        << r.body;
    EXPECT_EQ(r.body.find("aad-tok"), std::string::npos);
  }
  EXPECT_EQ(get("/v1/workspaces/closed/aad", 4242).status, 200);  // the other one still does
  std::map<std::string, json::array> serves;
  const json::value status = body(get("/v1/status"));
  for (const auto& w : status.at("workspaces").as_array())
    serves[std::string(w.at("name").as_string())] = w.at("serves").as_array();
  EXPECT_EQ(serves.at("open"), (json::array{"pat"}));
  EXPECT_EQ(serves.at("closed"), (json::array{"pat", "aad"}));
}

// A router over a broker whose `open` workspace mints PATs (token/create answered by the fake).
class RouterPatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/router_pat_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    state_dir = tmpl;
    transport.set_auto_answer([this](const HttpRequest& r) -> Result<HttpResponse> {
      HttpResponse res;
      res.status = 200;
      if (r.url.find("/api/2.0/token/create") != std::string::npos) {
        ++creates;
        const auto now_ms = to_unix_seconds(rt.now()) * 1000;
        res.body = R"({"token_value":"dapi0123456789abcdef0123456789abcdef","token_info":)"
                   R"({"token_id":"tid-1","creation_time":)" +
                   std::to_string(now_ms) + R"(,"expiry_time":)" +
                   std::to_string(now_ms + 3600 * 1000) + R"(,"comment":"x"}})";
      } else if (r.url.find("/api/2.0/token/") != std::string::npos) {
        res.body = "{}";
      } else {
        res.body = R"({"access_token":"aad-tok","expires_in":"3599","token_type":"Bearer"})";
      }
      return res;
    });
  }
  void TearDown() override {
    router.reset();
    broker.reset();
    std::filesystem::remove_all(state_dir);
  }
  void start(Config c) {
    c.state_dir = state_dir;
    c.workspaces["closed"].pat.enabled = false;
    broker = std::make_shared<Broker>(rt, transport, c);
    broker->start();
    rt.run_ready();
    router = std::make_unique<Router>(
        rt, [this] { return broker; }, rt.now());
  }
  ApiResponse get(std::string_view target, uid_t uid = 4242) {
    PeerIdentity peer;
    peer.uid = uid;
    std::optional<ApiResponse> out;
    router->handle(ApiRequest{"GET", target}, peer, [&](ApiResponse r) { out = std::move(r); });
    rt.run_ready();
    EXPECT_TRUE(out.has_value()) << target;
    return out.value_or(ApiResponse{0, "", ""});
  }

  std::string state_dir;
  testing::FakeRuntime rt;
  testing::FakeTransport transport;
  int creates = 0;
  std::shared_ptr<Broker> broker;
  std::unique_ptr<Router> router;
};

// The PAT route: the workspace's PAT manager answers, with the host; errors keep their code.
TEST_F(RouterPatTest, PatRouteServesTheWorkspacesPat) {
  start(test_config());
  auto r = get("/v1/workspaces/open/pat?min_valid=600");
  ASSERT_EQ(r.status, 200) << r.body;
  auto b = json::parse(r.body);
  EXPECT_EQ(b.at("token"), "dapi0123456789abcdef0123456789abcdef");
  EXPECT_EQ(b.at("token_id"), "tid-1");
  EXPECT_EQ(b.at("host"), "https://adb-1.azuredatabricks.net");
  EXPECT_EQ(b.at("expires_at").as_int64(), to_unix_seconds(rt.now()) + 3600);
  // A cache hit is answered inline (no post to the loop), with the same bytes as the full path.
  std::optional<ApiResponse> hit;
  PeerIdentity peer;
  peer.uid = 4242;
  router->handle(ApiRequest{"GET", "/v1/workspaces/open/pat?min_valid=600"}, peer,
                 [&](ApiResponse x) { hit = std::move(x); });
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->status, 200);
  EXPECT_EQ(hit->body, r.body);
  EXPECT_EQ(get("/v1/workspaces/open/pat").status, 200);
  EXPECT_EQ(creates, 1);
  // Above max_lifetime: 400; PATs off: 400 bad_request naming the way out.
  EXPECT_EQ(get("/v1/workspaces/open/pat?min_valid=90000").status, 400);
  auto off = get("/v1/workspaces/closed/pat");
  EXPECT_EQ(off.status, 400);
  EXPECT_EQ(json::parse(off.body).at("error").at("code"), "bad_request");
}

// The cached-PAT fast path decides access with Workspace::authorize like the full path: a uid the
// workspace does not allow gets 403 even while the PAT is at hand (and answered inline for others).
TEST_F(RouterPatTest, DeniedUidAskingForACachedPatGets403) {
  Config c = test_config();
  c.workspaces["open"].allow = AllowList{{}, {}, {4242}};
  start(c);
  ASSERT_EQ(get("/v1/workspaces/open/pat").status, 200);
  ASSERT_TRUE(broker->workspace("open")->peek_pat(Seconds(60)).has_value()) << "PAT is cached";
  const auto denied = get("/v1/workspaces/open/pat", 1000);
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(json::parse(denied.body).at("error").at("code"), "forbidden");
  EXPECT_EQ(denied.body.find("dapi"), std::string::npos);
  EXPECT_EQ(get("/v1/workspaces/open/pat", 0).status, 200) << "uid 0 is always allowed";
  EXPECT_EQ(creates, 1);
}

}  // namespace
}  // namespace dbx
