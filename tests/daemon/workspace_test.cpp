// Workspace::authorize: the one access decision (SPEC.md "Access"), and its reasons.
#include "daemon/workspace/workspace.h"

#include <gtest/gtest.h>

#include <optional>

#include "tests/daemon/fake_runtime.h"
#include "tests/daemon/fake_transport.h"

namespace dbx {
namespace {

class WorkspaceAccessTest : public ::testing::Test {
 protected:
  std::unique_ptr<Workspace> make(std::optional<AllowList> allow) {
    config.endpoints.authority = "https://login.example";
    CredentialConfig sp;
    sp.name = "sp";
    sp.tenant_id = "t";
    sp.client_id = "c";
    sp.client_secret = "s";
    config.credentials["sp"] = sp;
    WorkspaceConfig ws;
    ws.name = "prod";
    ws.credential = "sp";
    ws.host = "https://adb-1.azuredatabricks.net";
    ws.pat.enabled = false;
    ws.allow = std::move(allow);
    const SourceServices services{rt, transport, nullptr, nullptr};
    auto credential = std::make_shared<Credential>(rt, sp, config, services);
    return std::make_unique<Workspace>(rt, transport, config, ws, credential, nullptr);
  }
  static PeerIdentity peer(uid_t uid, std::string user = "") {
    PeerIdentity p;
    p.uid = uid;
    p.gid = uid;
    p.user = std::move(user);
    return p;
  }

  Config config;
  testing::FakeRuntime rt;
  testing::FakeTransport transport;
};

TEST_F(WorkspaceAccessTest, NoAllowListLetsEveryoneIn) {
  auto ws = make(std::nullopt);
  const auto d = ws->authorize(peer(1234));
  EXPECT_TRUE(d);
  EXPECT_NE(d.reason.find("no allow list"), std::string_view::npos);
}

TEST_F(WorkspaceAccessTest, AllowListsByUidAndUserAndUidZero) {
  auto ws = make(AllowList{{"alice"}, {}, {1001}});
  EXPECT_EQ(ws->authorize(peer(1001)).reason, "allow.uids");
  EXPECT_EQ(ws->authorize(peer(1002, "alice")).reason, "allow.users");
  EXPECT_EQ(ws->authorize(peer(0)).reason, "uid 0");
  const auto denied = ws->authorize(peer(1003, "bob"));
  EXPECT_FALSE(denied);
  EXPECT_FALSE(denied.reason.empty());
  EXPECT_EQ(ws->denied_message(peer(1003)),
            "uid 1003 may not use workspace prod; ask the operator to add it to "
            "workspaces.prod.allow");
}

TEST_F(WorkspaceAccessTest, GroupsCountTheProcessGroups) {
  auto ws = make(AllowList{{}, {"root"}, {}});
  PeerIdentity p = peer(1005);
  p.allow_groups = {{"root", gid_t{0}, ""}};  // as the IdentityResolver filled it in
  p.groups = {0};
  EXPECT_EQ(ws->authorize(p).reason, "allow.groups");
  p.groups = {};
  EXPECT_FALSE(ws->authorize(p));
}

// A lookup that failed denies (never allows) and the 403 says which lookup and what to do.
TEST_F(WorkspaceAccessTest, AFailedLookupDeniesWithItsReason) {
  auto ws = make(AllowList{{"alice"}, {"data"}, {1001}});
  PeerIdentity p = peer(1005);
  p.user_failure = "getpwuid_r(1005): Input/output error";
  p.allow_groups = {{"data", std::nullopt, "getgrnam_r(\"data\"): Input/output error"}};
  const AccessDecision d = ws->authorize(p);
  EXPECT_FALSE(d);
  EXPECT_EQ(d.reason, "a user or group lookup of the allow list failed (name service)");
  EXPECT_EQ(ws->denied_message(p),
            "uid 1005 may not use workspace prod for now: looking up its user and groups failed "
            "(getpwuid_r(1005): Input/output error); retry, and if it persists check the name "
            "service (LDAP, SSSD)");
  EXPECT_EQ(ws->authorize(peer(1001)).reason, "allow.uids");  // uids need no lookup
}

TEST_F(WorkspaceAccessTest, ReconfigureAppliesTheNewAllowList) {
  auto ws = make(AllowList{{}, {}, {1001}});
  EXPECT_FALSE(ws->authorize(peer(1002)));
  WorkspaceConfig next = ws->config();
  next.allow = AllowList{{}, {}, {1002}};
  ws->reconfigure(next);
  EXPECT_TRUE(ws->authorize(peer(1002)));
  EXPECT_FALSE(ws->authorize(peer(1001)));
}

// serve_entra_token false: the Entra paths answer forbidden naming the key, and fetch nothing;
// a reload (reconfigure) turns them back on.
class WorkspaceEntraTest : public WorkspaceAccessTest {};

TEST_F(WorkspaceEntraTest, EntraPathsAreForbiddenNamingTheKeyAndReconfigureAppliesIt) {
  auto ws = make(std::nullopt);
  EXPECT_TRUE(ws->serves_entra_token());
  WorkspaceConfig off = ws->config();
  off.serve_entra_token = false;
  ws->reconfigure(off);
  EXPECT_FALSE(ws->serves_entra_token());
  const auto before = transport.pending().size();
  std::optional<Error> aad, headers, token;
  ws->aad(Seconds(300), [&](Result<AccessToken> t) { aad = t.error(); });
  ws->headers(Seconds(300), [&](Result<WorkspaceHeaders> h) { headers = h.error(); });
  ws->token(Seconds(300), 1001, [&](Result<WorkspaceBearer> b) { token = b.error(); });
  for (const auto* e : {&aad, &headers, &token}) {
    ASSERT_TRUE(e->has_value());
    EXPECT_EQ((*e)->code, ErrorCode::forbidden);
    EXPECT_NE((*e)->message.find("workspaces.prod.serve_entra_token is false"), std::string::npos)
        << (*e)->message;
  }
  EXPECT_EQ(transport.pending().size(), before);  // no token was fetched for them
  off.serve_entra_token = true;
  ws->reconfigure(off);
  bool answered = false;
  ws->aad(Seconds(300), [&](Result<AccessToken>) { answered = true; });
  EXPECT_FALSE(answered);  // waits for Entra now
  EXPECT_GT(transport.pending().size(), before);
}

}  // namespace
}  // namespace dbx
