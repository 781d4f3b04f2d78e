// Broker reload: a new Broker built from the previous one keeps the token caches of unchanged
// credentials and the PAT managers of unchanged workspaces, and rebuilds what changed.
#include <gtest/gtest.h>

#include <filesystem>

#include "daemon/broker.h"
#include "tests/daemon/fake_runtime.h"
#include "tests/daemon/fake_transport.h"
#include "tests/daemon/test_config.h"

namespace dbx {
namespace {

class BrokerReloadTest : public ::testing::Test {
 protected:
  BrokerReloadTest() {
    state_dir = std::filesystem::temp_directory_path() /
                ("dbxcred-broker-reload-" + std::to_string(::getpid()));
    std::filesystem::create_directories(state_dir);
    transport.set_auto_answer([this](const HttpRequest& r) -> Result<HttpResponse> {
      HttpResponse res;
      res.status = 200;
      if (r.url.find("/oauth2/") != std::string::npos) {
        ++token_calls;
        res.body = R"({"access_token":"aad-)" + std::to_string(token_calls) +
                   R"(","expires_in":"3599","token_type":"Bearer"})";
      } else {
        res.body = R"({"token_infos":[]})";  // token/list of the PAT manager's reconcile
      }
      return res;
    });
  }
  ~BrokerReloadTest() override { std::filesystem::remove_all(state_dir); }

  Config config() const {
    Config c = testing::config_with_sp();
    c.state_dir = state_dir.string();
    c.workspaces["prod"] = testing::workspace_on("prod");
    return c;
  }

  std::string aad(Broker& b, const std::string& ws) {
    std::string out;
    b.workspace(ws)->aad(Seconds(300), [&](Result<AccessToken> t) {
      out = t ? t->value : "error: " + t.error().message;
    });
    rt.run_ready();
    return out;
  }

  std::filesystem::path state_dir;
  testing::FakeRuntime rt;
  testing::FakeTransport transport;
  int token_calls = 0;
};

TEST_F(BrokerReloadTest, UnchangedCredentialAndWorkspaceAreKept) {
  auto first = std::make_shared<Broker>(rt, transport, config());
  first->start();
  rt.run_ready();
  EXPECT_EQ(aad(*first, "prod"), "aad-1");
  EXPECT_EQ(token_calls, 1);

  Config next = config();
  next.workspaces["prod"].pat.lifetime = Seconds(7200);  // a policy change keeps the manager
  next.workspaces["prod"].allow = AllowList{{"builder"}, {}, {}, {}};
  auto second = std::make_shared<Broker>(rt, transport, next, first.get());
  EXPECT_EQ(second->kept_credentials(), 1u);
  EXPECT_EQ(second->kept_workspaces(), 1u);
  second->start();
  first.reset();  // the old broker goes away: the kept PAT manager keeps running
  rt.run_ready();
  EXPECT_EQ(aad(*second, "prod"), "aad-1");
  EXPECT_EQ(token_calls, 1) << "a kept cache makes no new upstream call";
  ASSERT_TRUE(second->workspace("prod")->pat_status().has_value());
}

TEST_F(BrokerReloadTest, ChangedCredentialIsRebuiltAndItsWorkspaceToo) {
  auto first = std::make_shared<Broker>(rt, transport, config());
  first->start();
  rt.run_ready();
  Config next = config();
  next.credentials["sp"].client_id = "another-client";
  auto second = std::make_shared<Broker>(rt, transport, next, first.get());
  EXPECT_EQ(second->kept_credentials(), 0u);
  EXPECT_EQ(second->kept_workspaces(), 0u) << "a PAT belongs to the principal that minted it";
  second->start();
  rt.run_ready();
  EXPECT_EQ(token_calls, 2);
  EXPECT_EQ(aad(*second, "prod"), "aad-2");
}

TEST_F(BrokerReloadTest, ChangedEndpointsRebuildTheCredential) {
  auto first = std::make_shared<Broker>(rt, transport, config());
  Config next = config();
  next.endpoints.authority = "https://login.other.example";
  auto second = std::make_shared<Broker>(rt, transport, next, first.get());
  EXPECT_EQ(second->kept_credentials(), 0u);
}

TEST_F(BrokerReloadTest, ChangedHostKeepsTheTokensButNotThePatManager) {
  auto first = std::make_shared<Broker>(rt, transport, config());
  first->start();
  rt.run_ready();
  Config next = config();
  next.workspaces["prod"].host = "https://adb-2.azuredatabricks.net";
  WorkspaceConfig added = next.workspaces["prod"];
  added.name = "dev";
  added.pat.enabled = false;
  next.workspaces["dev"] = added;
  auto second = std::make_shared<Broker>(rt, transport, next, first.get());
  EXPECT_EQ(second->kept_credentials(), 1u);
  EXPECT_EQ(second->kept_workspaces(), 0u);
  second->start();
  rt.run_ready();
  EXPECT_EQ(aad(*second, "dev"), "aad-1");
  EXPECT_EQ(token_calls, 1);
}

TEST_F(BrokerReloadTest, RemovedWorkspaceIsRetiredByTheReload) {
  auto first = std::make_shared<Broker>(rt, transport, config());
  first->start();
  rt.run_ready();
  Config next = config();
  next.workspaces.clear();
  auto second = std::make_shared<Broker>(rt, transport, next, first.get());
  EXPECT_EQ(second->kept_workspaces(), 0u);
  EXPECT_EQ(second->workspace("prod"), nullptr);
  EXPECT_EQ(second->plan().retired_workspaces, std::set<std::string>{"prod"});
  first.reset();
  rt.run_ready();
}

// The reload ledger race of issue 12: a workspace that a reload replaces (here: its host changed)
// must not get a second PatLedger on the same file while the old PatManager may still write it.
// The old manager's token/create answers after the reload; its record lands in the one ledger the
// new workspace uses (with two ledgers, the new one would not know it and its next write would
// drop it from the file).
TEST_F(BrokerReloadTest, ReplacedWorkspaceSharesItsLedgerWithTheOldManager) {
  auto first = std::make_shared<Broker>(rt, transport, config());
  first->start();
  rt.run_ready();
  transport.set_auto_answer(nullptr);  // from now on the test answers
  std::optional<Result<ServedPat>> got;
  first->workspace("prod")->pat(Seconds(300), 1000u,
                                [&](Result<ServedPat> p) { got = std::move(p); });
  rt.run_ready();
  ASSERT_EQ(transport.pending().size(), 1u);
  ASSERT_NE(transport.pending().front().request.url.find("/token/create"), std::string::npos);
  const PatLedger* old_ledger = first->workspace("prod")->ledger();
  ASSERT_EQ(old_ledger->records().size(), 1u) << "the intent";

  Config next = config();
  next.workspaces["prod"].host = "https://adb-2.azuredatabricks.net";
  auto second = std::make_shared<Broker>(rt, transport, next, first.get());
  EXPECT_EQ(second->plan().retired_workspaces, std::set<std::string>{"prod"});
  EXPECT_EQ(second->plan().new_workspaces, std::set<std::string>{"prod"});
  EXPECT_EQ(second->workspace("prod")->ledger(), old_ledger) << "one ledger per file";

  const auto now_ms = to_unix_seconds(rt.now()) * 1000;
  transport.reply(200, R"({"token_value":"dapi-late","token_info":{"token_id":"tid-late",)"
                       R"("creation_time":)" +
                           std::to_string(now_ms) + R"(,"expiry_time":)" +
                           std::to_string(now_ms + 3600'000) + R"(,"comment":"x"}})");
  rt.run_ready();
  const auto& records = second->workspace("prod")->ledger()->records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records.front().token_id, "tid-late") << "the old manager's answer is in the ledger";
  transport.pending().clear();
}

// A request waiting when the daemon stops holds its broker through a callback the broker owns;
// abandon_waiters() (main, after the loop) breaks that cycle so the broker is released.
TEST_F(BrokerReloadTest, AbandonedWaitersReleaseTheirBroker) {
  transport.set_auto_answer(nullptr);  // upstream never answers: the request keeps waiting
  auto broker = std::make_shared<Broker>(rt, transport, config());
  bool answered = false;
  broker->workspace("prod")->aad(Seconds(300),
                                 [b = broker, &answered](Result<AccessToken>) { answered = true; });
  rt.run_ready();
  std::weak_ptr<Broker> weak = broker;
  Broker* raw = broker.get();
  broker.reset();
  EXPECT_FALSE(weak.expired()) << "the waiting callback holds it";
  raw->abandon_waiters();
  EXPECT_TRUE(weak.expired());
  EXPECT_FALSE(answered);
  transport.pending().clear();
}

}  // namespace
}  // namespace dbx
