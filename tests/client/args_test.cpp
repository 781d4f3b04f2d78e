#include "client/args.h"

#include <gtest/gtest.h>

namespace dbx::cli {
namespace {

Expected<Invocation> parse(std::vector<std::string_view> args) {
  return parse_args(args);
}

// Asserts a usage failure (exit 2) whose message contains `fragment`.
void expect_usage(std::vector<std::string_view> args, std::string_view fragment) {
  auto r = parse(args);
  ASSERT_FALSE(r.ok()) << "expected a usage error";
  EXPECT_EQ(r.error().exit, Exit::usage);
  EXPECT_NE(r.error().message.find(fragment), std::string::npos) << r.error().message;
}

TEST(ParseArgs, NoCommandIsUsageError) {
  expect_usage({}, "no command given");
}

TEST(ParseArgs, UnknownCommandAndOption) {
  expect_usage({"frobnicate"}, "unknown command \"frobnicate\"");
  expect_usage({"--bogus", "pat"}, "unknown option --bogus");
  expect_usage({"pat", "--bogus"}, "unknown option --bogus for pat");
  expect_usage({"pat", "extra"}, "unexpected argument \"extra\" for pat");
}

TEST(ParseArgs, GlobalOptionsBeforeAndAfterTheCommand) {
  auto r = parse({"--socket", "/tmp/s.sock", "-w", "prod", "pat"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->command, Command::pat);
  EXPECT_EQ(r->socket, "/tmp/s.sock");
  EXPECT_EQ(r->workspace, "prod");

  r = parse({"aad", "--socket=/x", "--workspace=dev"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->command, Command::aad);
  EXPECT_EQ(r->socket, "/x");
  EXPECT_EQ(r->workspace, "dev");

  r = parse({"-wstaging", "headers"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->workspace, "staging");
  EXPECT_FALSE(r->insecure_socket);

  r = parse({"pat", "--insecure-socket"});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->insecure_socket);
}

TEST(ParseArgs, RotateSecretsTakesNoArguments) {
  auto r = parse({"rotate-secrets"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->command, Command::rotate_secrets);
  EXPECT_FALSE(parse({"rotate-secrets", "--json"}).ok());
}

TEST(ParseArgs, OptionValuesMissingOrEmpty) {
  expect_usage({"pat", "-w"}, "-w needs a value");
  expect_usage({"--socket"}, "--socket needs a value");
  expect_usage({"--socket=", "pat"}, "--socket: the path is empty");
  expect_usage({"-w", "", "pat"}, "-w: the name is empty");
}

TEST(ParseArgs, MinValid) {
  auto r = parse({"pat", "--min-valid", "10m"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->min_valid_seconds, 600);
  r = parse({"aad", "--min-valid=1h30m"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->min_valid_seconds, 5400);
  r = parse({"pat"});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->min_valid_seconds.has_value());
  r = parse({"token", "--min-valid", "2m"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->command, Command::token);
  EXPECT_EQ(r->min_valid_seconds, 120);
  r = parse({"env", "--min-valid", "5m"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->min_valid_seconds, 300);
  r = parse({"exec", "--min-valid", "5m", "--", "true"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->min_valid_seconds, 300);
}

TEST(ParseArgs, BadMinValidNamesTheValue) {
  auto r = parse({"pat", "--min-valid", "x"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().exit, Exit::usage);
  EXPECT_EQ(r.error().message, "--min-valid: expected a duration like \"10m\", got \"x\"");
  expect_usage({"aad", "--min-valid", "10"}, "got \"10\"");
  expect_usage({"pat", "--min-valid"}, "--min-valid needs a value");
  // --min-valid belongs to pat, token, aad, env and exec only.
  expect_usage({"headers", "--min-valid", "10m"}, "unknown option --min-valid for headers");
}

TEST(ParseArgs, HeadersFormat) {
  auto r = parse({"headers"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->header_format, HeaderFormat::curl);
  r = parse({"headers", "--format", "http"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->header_format, HeaderFormat::http);
  r = parse({"headers", "--format=json"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->header_format, HeaderFormat::json);
  expect_usage({"headers", "--format", "xml"},
               "--format: expected curl, http or json, got \"xml\"");
}

TEST(ParseArgs, EnvSourcesAndShells) {
  auto r = parse({"env"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->command, Command::env);
  EXPECT_EQ(r->env_source, EnvSource::pat);
  EXPECT_EQ(r->shell, Shell::sh);

  r = parse({"env", "--sdk", "--shell", "fish"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->env_source, EnvSource::sdk);
  EXPECT_EQ(r->shell, Shell::fish);

  r = parse({"env", "--azure", "--shell=json"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->env_source, EnvSource::azure);
  EXPECT_EQ(r->shell, Shell::json);

  expect_usage({"env", "--sdk", "--azure"}, "--sdk and --azure exclude each other");
  expect_usage({"env", "--shell", "csh"}, "--shell: expected sh, fish or json, got \"csh\"");
}

TEST(ParseArgs, ExecTakesEverythingAfterTheSeparator) {
  auto r = parse({"-w", "prod", "exec", "--sdk", "--", "python", "-c", "print(1)", "--help"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->command, Command::exec);
  EXPECT_EQ(r->env_source, EnvSource::sdk);
  EXPECT_EQ(r->argv, (std::vector<std::string>{"python", "-c", "print(1)", "--help"}));

  // Without "--", the first word that is not an option starts the command.
  r = parse({"exec", "--azure", "az", "account", "show", "-w", "x"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->env_source, EnvSource::azure);
  EXPECT_EQ(r->argv, (std::vector<std::string>{"az", "account", "show", "-w", "x"}));
  EXPECT_FALSE(r->workspace.has_value());
}

TEST(ParseArgs, ExecNeedsACommand) {
  expect_usage({"exec"}, "exec needs a command");
  expect_usage({"exec", "--"}, "exec needs a command");
  expect_usage({"exec", "--sdk", "--azure", "--", "x"}, "exclude each other");
  expect_usage({"exec", "--shell", "sh", "--", "x"}, "unknown option --shell for exec");
}

TEST(ParseArgs, StatusAndWorkspaces) {
  auto r = parse({"status"});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->json);
  r = parse({"status", "--json"});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->json);
  r = parse({"workspaces"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->command, Command::workspaces);
  expect_usage({"workspaces", "--json"}, "unknown option --json for workspaces");
}

TEST(ParseArgs, Audit) {
  auto r = parse({"audit"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->command, Command::audit);
  EXPECT_FALSE(r->json);
  EXPECT_FALSE(r->since_seconds);
  r = parse({"audit", "--since", "2h", "--json"});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->json);
  EXPECT_EQ(r->since_seconds, 7200);
  expect_usage({"audit", "--since", "soon"}, "--since: expected a duration");
}

TEST(ParseArgs, PatReap) {
  const std::string id(32, 'a');
  auto r = parse({"-w", "prod", "pat", "reap", "--agent", id});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->command, Command::pat_reap);
  EXPECT_EQ(r->agent, id);
  EXPECT_EQ(r->workspace, "prod");
  expect_usage({"pat", "reap"}, "pat reap needs --agent ID");
  expect_usage({"pat", "reap", "--agent", "ABC"}, "--agent: expected an agent id");
  expect_usage({"pat", "reap", "--agent", id, "--min-valid", "1m"}, "unknown option --min-valid");
  expect_usage({"pat", "--agent", id}, "unknown option --agent for pat");
  r = parse({"pat", "reap", "--help"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->help_for, Command::pat_reap);
  EXPECT_NE(command_usage(Command::pat_reap).find("pat reap --agent ID"), std::string::npos);
}

TEST(ParseArgs, HelpAndVersion) {
  auto r = parse({"--help"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->command, Command::help);
  EXPECT_FALSE(r->help_for.has_value());

  r = parse({"env", "--help"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->command, Command::help);
  EXPECT_EQ(r->help_for, Command::env);

  // --help wins over otherwise bad options, as users type it to find out what is right.
  r = parse({"pat", "-h", "--min-valid", "10m"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->help_for, Command::pat);

  r = parse({"--version"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->command, Command::version);
}

TEST(Usage, MentionsEveryCommand) {
  std::string text = usage_text();
  for (auto name : {"pat", "aad", "headers", "env", "exec", "status", "workspaces"}) {
    EXPECT_NE(text.find(std::string("  ") + name), std::string::npos) << name;
  }
  EXPECT_NE(command_usage(Command::headers).find("--format curl|http|json"), std::string::npos);
}

}  // namespace
}  // namespace dbx::cli
