// A workspace configured with resource_id and no host gets its host from Azure Resource Manager,
// once, with a management token of its own credential; requests wait for it or fail clearly.
#include <gtest/gtest.h>

#include "daemon/broker.h"
#include "tests/daemon/fake_runtime.h"
#include "tests/daemon/fake_transport.h"

namespace dbx {
namespace {

using testing::FakeRuntime;
using testing::FakeTransport;

const std::string kId =
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Databricks/workspaces/w";
constexpr const char* kToken =
    R"({"access_token":"tok","expires_in":"3599","resource":"r","token_type":"Bearer"})";

class BrokerArmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ConfigProblems problems;
    auto c = parse_config(R"({ "state_dir": "/tmp", "cloud": "china",
        "credentials": { "vm": { "type": "managed_identity" } },
        "workspaces": { "w": { "credential": "vm", "resource_id": ")" +
                              kId + R"(", "management_token": true, "pat": false } } })",
                          "/etc/dbxcred/config.json", "", problems);
    for (auto& l : problems.lines) ADD_FAILURE() << l;
    ASSERT_TRUE(c);
    config = *c;
    broker = std::make_shared<Broker>(runtime, transport, *c);
    ws = broker->workspace("w");
  }

  // Answers every pending IMDS call with a token; returns how many.
  int answer_imds() {
    int n = 0;
    for (auto it = transport.pending().begin(); it != transport.pending().end();) {
      if (it->request.upstream != "imds") {
        ++it;
        continue;
      }
      auto p = std::move(*it);
      it = transport.pending().erase(it);
      HttpResponse r;
      r.status = 200;
      r.body = kToken;
      p.done(std::move(r));
      ++n;
      it = transport.pending().begin();
    }
    return n;
  }
  int count(const std::string& upstream) {
    int n = 0;
    for (auto& p : transport.pending()) n += p.request.upstream == upstream;
    return n;
  }
  void answer_arm(int status, std::string body) {
    for (auto it = transport.pending().begin(); it != transport.pending().end(); ++it) {
      if (it->request.upstream != "arm") continue;
      auto p = std::move(*it);
      transport.pending().erase(it);
      HttpResponse r;
      r.status = status;
      r.body = std::move(body);
      p.done(std::move(r));
      return;
    }
    ADD_FAILURE() << "no ARM request pending";
  }

  FakeRuntime runtime;
  FakeTransport transport;
  Config config;
  std::shared_ptr<Broker> broker;
  Workspace* ws = nullptr;
};

TEST_F(BrokerArmTest, HostIsLookedUpOnceWithAManagementTokenAndThenServed) {
  broker->start();
  EXPECT_EQ(std::string(ws->host()), "");
  std::optional<Result<WorkspaceHeaders>> got;
  ws->headers(Seconds(300), [&](Result<WorkspaceHeaders> h) { got = std::move(h); });
  answer_imds();
  ASSERT_EQ(count("arm"), 1);
  const HttpRequest& arm = [&]() -> const HttpRequest& {
    for (auto& p : transport.pending())
      if (p.request.upstream == "arm") return p.request;
    throw 0;
  }();
  EXPECT_EQ(arm.url, "https://management.chinacloudapi.cn" + kId + "?api-version=2018-04-01");
  EXPECT_FALSE(got);  // waiting for the host
  answer_arm(200, R"({"properties":{"workspaceUrl":"adb-7.8.databricks.azure.cn"}})");
  answer_imds();
  ASSERT_TRUE(got && got->ok()) << got->error().message;
  EXPECT_EQ((*got)->host, "https://adb-7.8.databricks.azure.cn");
  EXPECT_EQ(std::string(ws->host()), "https://adb-7.8.databricks.azure.cn");

  // Known now: no second lookup.
  std::optional<Result<std::string>> host;
  ws->with_host([&](Result<std::string> h) { host = std::move(h); });
  ASSERT_TRUE(host && host->ok());
  EXPECT_EQ(count("arm"), 0);
  runtime.advance(Millis(3600'000));
  answer_imds();
  EXPECT_EQ(count("arm"), 0);
}

// The reload host bug of issue 12: a reload built a fresh host lookup, so a workspace configured by
// resource_id answered host "" after SIGHUP until ARM answered again. The reload keeps the
// Workspace, and with it the host.
TEST_F(BrokerArmTest, ReloadKeepsTheLookedUpHost) {
  broker->start();
  answer_imds();
  answer_arm(200, R"({"properties":{"workspaceUrl":"adb-7.8.databricks.azure.cn"}})");
  answer_imds();
  ASSERT_EQ(std::string(ws->host()), "https://adb-7.8.databricks.azure.cn");
  Config next = config;
  next.workspaces["w"].allow = AllowList{{"someone"}, {}, {}};  // a change that keeps it
  auto second = std::make_shared<Broker>(runtime, transport, next, broker.get());
  EXPECT_EQ(second->plan().kept_workspaces, std::set<std::string>{"w"});
  second->start();
  EXPECT_EQ(std::string(second->workspace("w")->host()), "https://adb-7.8.databricks.azure.cn");
  broker.reset();
  EXPECT_EQ(std::string(second->workspace("w")->host()), "https://adb-7.8.databricks.azure.cn");
  EXPECT_EQ(count("arm"), 0) << "no second lookup";
}

TEST_F(BrokerArmTest, ConcurrentRequestsShareOneLookup) {
  int answered = 0;
  for (int i = 0; i < 3; ++i) ws->with_host([&](Result<std::string> h) { answered += h.ok(); });
  answer_imds();
  EXPECT_EQ(count("arm"), 1);
  answer_arm(200, R"({"properties":{"workspaceUrl":"adb-1.azuredatabricks.net"}})");
  EXPECT_EQ(answered, 3);
}

TEST_F(BrokerArmTest, FailureIsAClearErrorAndIsNotRetriedAtOnce) {
  std::optional<Result<std::string>> first;
  ws->with_host([&](Result<std::string> h) { first = std::move(h); });
  answer_imds();
  answer_arm(404, R"({"error":{"code":"ResourceNotFound","message":"not found"}})");
  ASSERT_TRUE(first && !first->ok());
  EXPECT_NE(first->error().message.find("ResourceNotFound: not found"), std::string::npos);
  EXPECT_NE(first->error().message.find(kId), std::string::npos);

  std::optional<Result<std::string>> second;
  ws->with_host([&](Result<std::string> h) { second = std::move(h); });
  ASSERT_TRUE(second && !second->ok());  // from memory
  EXPECT_EQ(count("arm"), 0);
  runtime.advance(Millis(11000));
  std::optional<Result<std::string>> third;
  ws->with_host([&](Result<std::string> h) { third = std::move(h); });
  answer_imds();
  EXPECT_EQ(count("arm"), 1);  // tried again
  answer_arm(200, R"({"properties":{"workspaceUrl":"adb-1.azuredatabricks.net"}})");
  ASSERT_TRUE(third && third->ok());
}

TEST_F(BrokerArmTest, AWaitingRequestGivesUpAtTheDeadline) {
  std::optional<Result<std::string>> got;
  ws->with_host([&](Result<std::string> h) { got = std::move(h); });
  answer_imds();
  ASSERT_EQ(count("arm"), 1);  // ARM never answers
  runtime.advance(Millis(15000));
  ASSERT_TRUE(got && !got->ok());
  EXPECT_NE(got->error().message.find("still being looked up"), std::string::npos);
  // The late answer still fills the host in.
  answer_arm(200, R"({"properties":{"workspaceUrl":"adb-1.azuredatabricks.net"}})");
  EXPECT_EQ(std::string(ws->host()), "https://adb-1.azuredatabricks.net");
}

}  // namespace
}  // namespace dbx
