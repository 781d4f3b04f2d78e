// POST /v1/workspaces/{ws}/pat/reap (daemon/server/pat_reap_route.cpp) through the router: who may
// ask, which method, which workspace. What is reaped is PatReap.* (pure) and the e2e test
// test_cloned_agents.PatReapTest.
#include "daemon/server/pat_reap_route.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>

#include "daemon/server/router.h"
#include "tests/daemon/fake_runtime.h"
#include "tests/daemon/fake_transport.h"
#include "tests/daemon/test_config.h"

namespace dbx {
namespace {

class PatReapRouteTest : public ::testing::Test {
 protected:
  PatReapRouteTest()
      : broker(std::make_shared<Broker>(rt, transport, config())),
        router(
            rt, [this] { return broker; }, rt.now()) {}

  static Config config() {
    Config c = testing::config_with_sp();
    c.workspaces["open"] = testing::workspace_on("open");
    return c;
  }

  ApiResponse ask(std::string_view target, uid_t uid, std::string_view method = "POST") {
    PeerIdentity peer;
    peer.uid = uid;
    peer.gid = uid;
    std::optional<ApiResponse> out;
    router.handle(ApiRequest{method, target}, peer, [&](ApiResponse r) { out = std::move(r); });
    rt.run_ready();
    EXPECT_TRUE(out.has_value()) << target;
    return out.value_or(ApiResponse{0, "", ""});
  }
  static std::string code(const ApiResponse& r) {
    return std::string(boost::json::parse(r.body).at("error").at("code").as_string());
  }

  testing::FakeRuntime rt;
  testing::FakeTransport transport;
  std::shared_ptr<Broker> broker;
  Router router;
  const std::string agent = std::string(32, '1');
};

TEST_F(PatReapRouteTest, TheWorkspaceNameIsBetweenPrefixAndSuffix) {
  EXPECT_EQ(pat_reap_workspace("/v1/workspaces/prod/pat/reap"), "prod");
  EXPECT_EQ(pat_reap_workspace("/v1/workspaces//pat/reap"), "");
  EXPECT_EQ(pat_reap_workspace("/v1/workspaces/prod/pat"), "");
  EXPECT_EQ(pat_reap_workspace("/v1/workspaces/prod/pat/reaper"), "");
}

TEST_F(PatReapRouteTest, AnotherUserIsRefusedBeforeAnythingIsListed) {
  const uid_t stranger = ::geteuid() == 1000 ? 1001 : 1000;
  const int sent = transport.sent();
  const auto r = ask("/v1/workspaces/open/pat/reap?agent=" + agent, stranger);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(code(r), "forbidden");
  EXPECT_NE(r.body.find("root and the daemon's user only"), std::string::npos);
  EXPECT_EQ(transport.sent(), sent);
}

TEST_F(PatReapRouteTest, OnlyPostAndOnlyKnownWorkspaces) {
  const int sent = transport.sent();
  EXPECT_EQ(ask("/v1/workspaces/open/pat/reap?agent=" + agent, 0, "GET").status, 405);
  EXPECT_EQ(ask("/v1/workspaces/open/pat/reap?agent=" + agent, 0, "DELETE").status, 405);
  EXPECT_EQ(ask("/v1/workspaces/missing/pat/reap?agent=" + agent, 0).status, 404);
  // POST stays refused everywhere else.
  EXPECT_EQ(ask("/v1/workspaces/open/pat", 0).status, 405);
  EXPECT_EQ(transport.sent(), sent);
}

}  // namespace
}  // namespace dbx
