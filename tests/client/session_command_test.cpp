// `dbxcred session start|end`: argv, the body built from the job's environment (no value of it in
// any message), and what is printed or appended for GitHub Actions and Azure DevOps.
#include "client/session_command.h"

#include <gtest/gtest.h>

#include <map>

namespace dbx::cli {
namespace {

constexpr const char* kSecret =
    "dbxs_0123456789abcdef_0123456789abcdef0123456789abcdef0123456789abcdef";

Invocation parsed(std::vector<std::string_view> args) {
  auto r = parse_args(args);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : Invocation{};
}

struct Job {
  std::map<std::string, std::string> vars;
  std::string sent_body;
  std::string sent_method;
  std::vector<std::pair<std::string, std::string>> appended;
  EnvLookup env() {
    return [this](const char* n) -> std::optional<std::string> {
      auto it = vars.find(n);
      if (it == vars.end()) return std::nullopt;
      return it->second;
    };
  }
  SessionSend send(int status = 200,
                   std::string body = std::string(R"({"session":")") + kSecret + "\"}") {
    return [this, status, body](std::string_view m, std::string_view,
                                std::string_view b) -> Expected<HttpResponse> {
      sent_method = m;
      sent_body = b;
      HttpResponse r;
      r.status = status;
      r.body = body;
      return r;
    };
  }
  AppendLine append() {
    return [this](const std::string& path, const std::string& line) -> Expected<bool> {
      appended.emplace_back(path, line);
      return true;
    };
  }
};

TEST(SessionArgs, StartNeedsAKindAndEndTakesNone) {
  EXPECT_FALSE(parse_args({"session"}).ok());
  EXPECT_FALSE(parse_args({"session", "start"}).ok());
  EXPECT_FALSE(parse_args({"session", "start", "--github-actions", "--azure-devops"}).ok());
  const Invocation gh = parsed({"session", "start", "--github-actions", "--audience", "a"});
  EXPECT_EQ(gh.command, Command::session_start);
  EXPECT_EQ(gh.session_kind, "github");
  EXPECT_EQ(gh.audience, "a");
  const Invocation ado =
      parsed({"-w", "ci", "session", "start", "--azure-devops", "--service-connection=sc1"});
  EXPECT_EQ(ado.session_kind, "azure-devops");
  EXPECT_EQ(ado.service_connection, "sc1");
  EXPECT_EQ(parsed({"session", "end"}).command, Command::session_end);
  EXPECT_FALSE(parse_args({"session", "end", "--github-actions"}).ok());
}

TEST(SessionStart, GitHubMasksAndAppendsToGithubEnv) {
  Job job;
  job.vars = {{"ACTIONS_ID_TOKEN_REQUEST_URL", "https://runner/idtoken?api-version=2.0"},
              {"ACTIONS_ID_TOKEN_REQUEST_TOKEN", "request-token-value"},
              {"GITHUB_ENV", "/tmp/env"}};
  auto out = run_session_start(parsed({"session", "start", "--github-actions"}), "ci", job.env(),
                               job.send(), job.append());
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_EQ(*out, std::string("::add-mask::") + kSecret + "\n");
  ASSERT_EQ(job.appended.size(), 1u);
  EXPECT_EQ(job.appended[0].first, "/tmp/env");
  EXPECT_EQ(job.appended[0].second, std::string("DBXCRED_SESSION=") + kSecret + "\n");
  EXPECT_EQ(job.sent_method, "POST");
  EXPECT_NE(job.sent_body.find("\"request_token\":\"request-token-value\""), std::string::npos);
  EXPECT_NE(job.sent_body.find("\"kind\":\"github\""), std::string::npos);
}

TEST(SessionStart, AzureDevOpsPrintsTheSecretVariableLine) {
  Job job;
  job.vars = {{"SYSTEM_OIDCREQUESTURI", "https://dev.azure.com/o/p/_apis/x/oidctoken"},
              {"SYSTEM_ACCESSTOKEN", "job-access-token"}};
  auto out = run_session_start(
      parsed({"session", "start", "--azure-devops", "--service-connection", "sc1"}), "ci",
      job.env(), job.send(), job.append());
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_EQ(*out, std::string("##vso[task.setvariable variable=DBXCRED_SESSION;issecret=true]") +
                      kSecret + "\n");
  EXPECT_TRUE(job.appended.empty());
  EXPECT_NE(job.sent_body.find("\"service_connection_id\":\"sc1\""), std::string::npos);
}

TEST(SessionStart, MissingVariablesAreNamedNeverShown) {
  Job job;
  job.vars = {{"ACTIONS_ID_TOKEN_REQUEST_URL", "https://runner/idtoken"}};
  auto out = run_session_start(parsed({"session", "start", "--github-actions"}), "ci", job.env(),
                               job.send(), job.append());
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().exit, Exit::usage);
  EXPECT_NE(out.error().message.find("ACTIONS_ID_TOKEN_REQUEST_TOKEN"), std::string::npos);
  EXPECT_EQ(out.error().message.find("https://runner"), std::string::npos);
  EXPECT_TRUE(job.sent_method.empty());
}

TEST(SessionStart, ARefusalIsTheDaemonsMessageAndExit4) {
  Job job;
  job.vars = {{"ACTIONS_ID_TOKEN_REQUEST_URL", "https://runner/idtoken"},
              {"ACTIONS_ID_TOKEN_REQUEST_TOKEN", "t"}};
  auto out = run_session_start(
      parsed({"session", "start", "--github-actions"}), "ci", job.env(),
      job.send(403, R"({"error":{"code":"forbidden","message":"the CI token's subject ..."}})"),
      job.append());
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().exit, Exit::denied);
  EXPECT_NE(out.error().message.find("subject"), std::string::npos);
}

TEST(SessionEnd, NeedsTheSessionVariable) {
  Job job;
  auto out = run_session_end(job.env(), job.send());
  ASSERT_FALSE(out.ok());
  job.vars = {{"DBXCRED_SESSION", kSecret}};
  out = run_session_end(job.env(), job.send(200, R"({"ended":"0123456789abcdef"})"));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(job.sent_method, "DELETE");
}

}  // namespace
}  // namespace dbx::cli
