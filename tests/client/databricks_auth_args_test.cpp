#include "client/databricks_auth_args.h"

#include <gtest/gtest.h>

namespace dbx::cli {
namespace {

Expected<AuthInvocation> parse(std::vector<std::string_view> args) {
  return parse_auth_args(args);
}

// The argv each SDK runs (docs/SDK.md "databricks-cli"), without argv[0].
TEST(DatabricksAuthArgs, GoAndPythonSdkHostCommand) {
  auto r =
      parse({"auth", "token", "--host", "https://adb-1.azuredatabricks.net", "--force-refresh"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->command, AuthCommand::token);
  EXPECT_EQ(r->host, "https://adb-1.azuredatabricks.net");
  EXPECT_FALSE(r->profile);
  EXPECT_TRUE(r->force_refresh);
  EXPECT_FALSE(r->json_output);
}

TEST(DatabricksAuthArgs, ProfileCommandAndAccountId) {
  auto r = parse({"auth", "token", "--profile", "prod", "--force-refresh"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->profile, "prod");
  EXPECT_FALSE(r->host);
  r = parse(
      {"auth", "token", "--host", "https://accounts.azuredatabricks.net", "--account-id", "a-1"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->account_id, "a-1");
  EXPECT_FALSE(r->force_refresh);
}

TEST(DatabricksAuthArgs, JsSdkCommandsAndEqualsForms) {
  auto r = parse(
      {"auth", "token", "--host=https://h", "--experimental-is-unified-host", "--account-id=a"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->host, "https://h");
  r = parse({"-p", "dev", "auth", "token", "-o", "json"});  // global flags first, as the CLI allows
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->profile, "dev");
  EXPECT_TRUE(r->json_output);
}

TEST(DatabricksAuthArgs, Version) {
  auto r = parse({"version"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->command, AuthCommand::version);
  EXPECT_FALSE(r->json_output);
  r = parse({"version", "--output", "json"});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->json_output);
  r = parse({"--version"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->command, AuthCommand::version);
  r = parse({"--help"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->command, AuthCommand::help);
}

TEST(DatabricksAuthArgs, UsageErrorsAreExit2WithOneLine) {
  const std::vector<std::vector<std::string_view>> bad = {
      {},
      {"auth", "token"},                                         // neither host nor profile
      {"auth", "token", "--host"},                               // no value
      {"auth", "token", "--host="},                              // empty value
      {"auth", "token", "--host", "h", "--scopes", "all-apis"},  // a flag we do not serve
      {"auth", "login", "--host", "h"},
      {"clusters", "list"},
      {"version", "--output", "yaml"},
  };
  for (const auto& args : bad) {
    auto r = parse(args);
    ASSERT_FALSE(r.ok()) << (args.empty() ? "" : args[0]);
    EXPECT_EQ(r.error().exit, Exit::usage);
    EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
  }
  EXPECT_NE(parse({"auth", "token", "--host", "h", "--scopes"})
                .error()
                .message.find("unknown flag: --scopes"),
            std::string::npos);
}

}  // namespace
}  // namespace dbx::cli
