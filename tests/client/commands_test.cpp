#include "client/commands.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <map>

namespace dbx::cli {
namespace {

// Canned answers per request target; records what was asked.
class FakeDaemon {
 public:
  void answer(std::string target, int status, std::string body) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    answers_[std::move(target)] = std::move(r);
  }
  DaemonApi api() {
    auto fetch = [this](std::string method) {
      return [this, method](std::string_view target) -> Expected<HttpResponse> {
        asked.emplace_back(target);
        if (method != "GET") posted.emplace_back(target);
        auto it = answers_.find(std::string(target));
        if (it == answers_.end()) {
          HttpResponse r;
          r.status = 404;
          r.body = R"({"error":{"code":"not_found","message":"no such path"}})";
          return r;
        }
        return it->second;
      };
    };
    return DaemonApi(fetch("GET"), fetch("POST"));
  }
  std::vector<std::string> asked;
  std::vector<std::string> posted;  // the targets sent as POST

 private:
  std::map<std::string, HttpResponse> answers_;
};

const TimePoint kNow = from_unix_seconds(1714564800);  // 2024-05-01T12:00:00Z

Invocation invocation(Command command) {
  Invocation inv;
  inv.command = command;
  return inv;
}

constexpr const char* kOneWorkspace =
    R"({"workspaces":[{"name":"prod","host":"https://adb-1.azuredatabricks.net","pat":true}]})";
constexpr const char* kPat =
    R"({"token":"dapi0123","token_id":"t1","expires_at":1714568400,"host":"https://adb-1.azuredatabricks.net"})";

TEST(ResolveWorkspace, FlagThenEnvironmentWithoutAsking) {
  FakeDaemon d;
  auto r = resolve_workspace("flag", "env", d.api());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "flag");
  r = resolve_workspace(std::nullopt, "env", d.api());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "env");
  EXPECT_TRUE(d.asked.empty());
}

TEST(ResolveWorkspace, TheOnlyOne) {
  FakeDaemon d;
  d.answer("/v1/workspaces", 200, kOneWorkspace);
  auto r = resolve_workspace(std::nullopt, std::nullopt, d.api());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "prod");
  EXPECT_EQ(d.asked, std::vector<std::string>{"/v1/workspaces"});
}

TEST(ResolveWorkspace, NoneIsDenied) {
  FakeDaemon d;
  d.answer("/v1/workspaces", 200, R"({"workspaces":[]})");
  auto r = resolve_workspace(std::nullopt, std::nullopt, d.api());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().exit, Exit::denied);
  EXPECT_EQ(r.error().message, "no workspace is available to you");
}

TEST(ResolveWorkspace, SeveralIsAUsageErrorNamingThem) {
  FakeDaemon d;
  d.answer("/v1/workspaces", 200, R"({"workspaces":[{"name":"a"},{"name":"b"}]})");
  auto r = resolve_workspace(std::nullopt, std::nullopt, d.api());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().exit, Exit::usage);
  EXPECT_EQ(r.error().message,
            "several workspaces: a, b; pick one with -w NAME or DBXCRED_WORKSPACE");
}

TEST(ResolveWorkspace, ListFailurePassesThrough) {
  FakeDaemon d;
  d.answer("/v1/workspaces", 503,
           R"({"error":{"code":"upstream_unavailable","message":"ARM is down"}})");
  auto r = resolve_workspace(std::nullopt, std::nullopt, d.api());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().exit, Exit::upstream);
}

TEST(RunCommand, PatReapPostsTheAgentAndPrintsTheDeletedIds) {
  FakeDaemon d;
  const std::string id(32, 'a');
  d.answer("/v1/workspaces/prod/pat/reap?agent=" + id, 200,
           R"({"workspace":"prod","agent":")" + id + R"(","deleted":["t1","t2"],"kept":3})");
  Invocation inv = invocation(Command::pat_reap);
  inv.workspace = "prod";
  inv.agent = id;
  auto out = run_command(inv, std::nullopt, d.api(), kNow);
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_EQ(*out, "deleted t1\ndeleted t2\n");
  EXPECT_EQ(d.posted, std::vector<std::string>{"/v1/workspaces/prod/pat/reap?agent=" + id});
  // Nothing of that agent: says so. Refused: the daemon's message, exit 4.
  d.answer("/v1/workspaces/prod/pat/reap?agent=" + id, 200, R"({"deleted":[],"kept":3})");
  out = run_command(inv, std::nullopt, d.api(), kNow);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "no PAT of agent " + id + " in workspace prod\n");
  d.answer("/v1/workspaces/prod/pat/reap?agent=" + id, 403,
           R"({"error":{"code":"forbidden","message":"for root and the daemon's user only"}})");
  out = run_command(inv, std::nullopt, d.api(), kNow);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().exit, Exit::denied);
}

TEST(RunCommand, PatPrintsOnlyTheToken) {
  FakeDaemon d;
  d.answer("/v1/workspaces/prod/pat", 200, kPat);
  auto inv = invocation(Command::pat);
  inv.workspace = "prod";
  auto r = run_command(inv, std::nullopt, d.api(), kNow);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, "dapi0123\n");
}

TEST(RunCommand, PatWithMinValidAndAResolvedWorkspace) {
  FakeDaemon d;
  d.answer("/v1/workspaces", 200, kOneWorkspace);
  d.answer("/v1/workspaces/prod/pat?min_valid=600", 200, kPat);
  auto inv = invocation(Command::pat);
  inv.min_valid_seconds = 600;
  auto r = run_command(inv, std::nullopt, d.api(), kNow);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, "dapi0123\n");
  EXPECT_EQ(d.asked,
            (std::vector<std::string>{"/v1/workspaces", "/v1/workspaces/prod/pat?min_valid=600"}));
}

TEST(RunCommand, WorkspaceNamesAreEncodedInThePath) {
  FakeDaemon d;
  d.answer("/v1/workspaces/a%2F..%2Fb/aad", 200, R"({"access_token":"eyJ","token_type":"Bearer"})");
  auto inv = invocation(Command::aad);
  auto r = run_command(inv, "a/../b", d.api(), kNow);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, "eyJ\n");
}

TEST(RunCommand, AadErrorsMapToExitCodes) {
  struct Case {
    int status;
    const char* code;
    Exit exit;
  } cases[] = {
      {403, "forbidden", Exit::denied},
      {404, "not_found", Exit::denied},
      {429, "quota_exhausted", Exit::upstream},
      {503, "quota_exhausted", Exit::upstream},
      {502, "upstream_unavailable", Exit::upstream},
      {400, "bad_request", Exit::failure},
      {500, "internal", Exit::failure},
  };
  for (const auto& c : cases) {
    FakeDaemon d;
    d.answer(
        "/v1/workspaces/prod/aad?min_valid=86400", c.status,
        std::string(R"({"error":{"code":")") + c.code + R"(","message":"msg )" + c.code + R"("}})");
    auto inv = invocation(Command::aad);
    inv.workspace = "prod";
    inv.min_valid_seconds = 86400;
    auto r = run_command(inv, std::nullopt, d.api(), kNow);
    ASSERT_FALSE(r.ok()) << c.code;
    EXPECT_EQ(r.error().exit, c.exit) << c.code;
    EXPECT_EQ(r.error().message, std::string("msg ") + c.code);
  }
}

TEST(RunCommand, TokenMissingOrWithWhitespaceIsRefusedWithoutEchoingIt) {
  FakeDaemon d;
  d.answer("/v1/workspaces/prod/pat", 200, R"({"token":"dapiSECRET\nmore"})");
  d.answer("/v1/workspaces/prod/aad", 200, R"({"token_type":"Bearer"})");
  auto inv = invocation(Command::pat);
  inv.workspace = "prod";
  auto r = run_command(inv, std::nullopt, d.api(), kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().exit, Exit::failure);
  EXPECT_EQ(r.error().message.find("SECRET"), std::string::npos);
  inv.command = Command::aad;
  r = run_command(inv, std::nullopt, d.api(), kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("access_token"), std::string::npos);
}

TEST(RunCommand, Headers) {
  FakeDaemon d;
  d.answer(
      "/v1/workspaces/prod/headers", 200,
      R"({"host":"https://h","expires_at":1,"headers":{"Authorization":"Bearer t","X-Databricks-Azure-SP-Management-Token":"m"}})");
  auto inv = invocation(Command::headers);
  inv.workspace = "prod";
  inv.header_format = HeaderFormat::http;
  auto r = run_command(inv, std::nullopt, d.api(), kNow);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, "Authorization: Bearer t\nX-Databricks-Azure-SP-Management-Token: m\n");

  d.answer("/v1/workspaces/prod/headers", 200, R"({"host":"https://h"})");
  EXPECT_FALSE(run_command(inv, std::nullopt, d.api(), kNow).ok());
}

TEST(RunCommand, EnvFromTheWorkspaceToken) {
  FakeDaemon d;
  d.answer("/v1/workspaces/prod/token", 200, kPat);
  auto inv = invocation(Command::env);
  inv.workspace = "prod";
  auto r = run_command(inv, std::nullopt, d.api(), kNow);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r,
            "export DATABRICKS_HOST='https://adb-1.azuredatabricks.net'\n"
            "export DATABRICKS_TOKEN='dapi0123'\n");
}

TEST(RunCommand, EnvSdkAndAzure) {
  FakeDaemon d;
  d.answer(
      "/v1/workspaces/prod/sdk-env", 200,
      R"({"DATABRICKS_HOST":"https://h","DATABRICKS_AUTH_TYPE":"metadata-service","DATABRICKS_METADATA_SERVICE_URL":"http://127.0.0.1:8765/s3cr3t/prod"})");
  d.answer("/v1/azure-env", 200,
           R"({"IDENTITY_ENDPOINT":"http://127.0.0.1:8766/msi/token","IDENTITY_HEADER":"h'x"})");
  auto inv = invocation(Command::env);
  inv.workspace = "prod";
  inv.env_source = EnvSource::sdk;
  inv.shell = Shell::fish;
  auto r = run_command(inv, std::nullopt, d.api(), kNow);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r,
            "set -gx DATABRICKS_HOST 'https://h'\n"
            "set -gx DATABRICKS_AUTH_TYPE 'metadata-service'\n"
            "set -gx DATABRICKS_METADATA_SERVICE_URL 'http://127.0.0.1:8765/s3cr3t/prod'\n");

  // --azure needs no workspace: it neither lists workspaces nor fails when there are several.
  d.asked.clear();
  inv.workspace.reset();
  inv.env_source = EnvSource::azure;
  inv.shell = Shell::json;
  r = run_command(inv, std::nullopt, d.api(), kNow);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(
      boost::json::parse(*r),
      boost::json::parse(
          R"({"IDENTITY_ENDPOINT":"http://127.0.0.1:8766/msi/token","IDENTITY_HEADER":"h'x"})"));
  EXPECT_EQ(d.asked, std::vector<std::string>{"/v1/azure-env"});
}

TEST(FetchEnvVars, ForExec) {
  FakeDaemon d;
  d.answer("/v1/workspaces/prod/token?min_valid=900", 200, kPat);
  auto inv = invocation(Command::exec);
  inv.argv = {"true"};
  inv.min_valid_seconds = 900;
  auto r = fetch_env_vars(inv, "prod", d.api());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, (EnvVars{{"DATABRICKS_HOST", "https://adb-1.azuredatabricks.net"},
                         {"DATABRICKS_TOKEN", "dapi0123"}}));

  d.answer("/v1/workspaces/prod/token?min_valid=900", 200, R"({"token":"dapi0123"})");
  auto no_host = fetch_env_vars(inv, "prod", d.api());
  ASSERT_FALSE(no_host.ok());
  EXPECT_NE(no_host.error().message.find("\"host\""), std::string::npos);
}

TEST(RunCommand, TokenPrintsTheWorkspaceBearer) {
  FakeDaemon d;
  d.answer("/v1/workspaces/prod/token?min_valid=120", 200,
           R"({"token":"eyJoauth","kind":"oauth","expires_at":1800003600,"host":"https://h"})");
  auto inv = invocation(Command::token);
  inv.workspace = "prod";
  inv.min_valid_seconds = 120;
  auto r = run_command(inv, std::nullopt, d.api(), kNow);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, "eyJoauth\n");
}

TEST(RunCommand, StatusJsonAndTable) {
  FakeDaemon d;
  d.answer("/v1/status", 200, R"({"version":"0.1.0","uptime_seconds":3720,"credentials":[]})");
  auto inv = invocation(Command::status);
  inv.json = true;
  auto r = run_command(inv, std::nullopt, d.api(), kNow);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "{\"version\":\"0.1.0\",\"uptime_seconds\":3720,\"credentials\":[]}\n");
  inv.json = false;
  r = run_command(inv, std::nullopt, d.api(), kNow);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->substr(0, r->find('\n')), "dbxcredd 0.1.0, up 1h2m");
}

TEST(RunCommand, Workspaces) {
  FakeDaemon d;
  d.answer(
      "/v1/workspaces", 200,
      R"({"workspaces":[{"name":"prod","host":"https://adb-1","pat":true},{"name":"aad-only","host":"https://adb-22","pat":false}]})");
  auto r = run_command(invocation(Command::workspaces), std::nullopt, d.api(), kNow);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r,
            "prod      https://adb-1   pat yes\n"
            "aad-only  https://adb-22  pat no\n");
}

}  // namespace
}  // namespace dbx::cli
