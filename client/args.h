// Command-line parsing for `dbxcred` (SPEC.md "CLI"): argv in, an Invocation or a usage Failure
// (exit 2) out. No I/O and no environment: main() resolves defaults from $DBXCRED_* afterwards.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "client/failure.h"

namespace dbx::cli {

enum class Command {
  help,
  version,
  pat,
  token,
  aad,
  headers,
  env,
  exec,
  status,
  workspaces,
  audit,
  pat_reap,  // `pat reap --agent ID`
  rotate_secrets,
  doctor,
  session_start,  // `session start --github-actions | --azure-devops` (client/session_command.h)
  session_end     // `session end`
};

enum class HeaderFormat { curl, http, json };
enum class Shell { sh, fish, json };
// Which variables env/exec hand out: the PAT (default), the SDK metadata-service ones, or
// IDENTITY_*.
enum class EnvSource { pat, sdk, azure };

struct Invocation {
  Command command = Command::help;
  std::optional<std::string> socket;     // --socket
  bool insecure_socket = false;          // --insecure-socket: believe a server of any uid
  std::optional<std::string> workspace;  // -w / --workspace
  // `COMMAND --help`: print that command's usage. For Command::help, the general usage.
  std::optional<Command> help_for;
  std::optional<std::int64_t> min_valid_seconds;  // pat, aad
  HeaderFormat header_format = HeaderFormat::curl;
  EnvSource env_source = EnvSource::pat;
  Shell shell = Shell::sh;
  bool json = false;                          // status --json, audit --json
  std::optional<std::int64_t> since_seconds;  // audit --since
  std::string agent;                          // pat reap --agent
  std::optional<std::string> config_path;     // doctor --config
  std::vector<std::string> argv;              // exec: CMD ARG…
  std::string session_kind;                   // session start: "github" | "azure-devops"
  std::string audience;                       // session start --audience
  std::string service_connection;             // session start --service-connection
};

// `args` excludes argv[0].
Expected<Invocation> parse_args(const std::vector<std::string_view>& args);

// Whole usage text, or one command's, ending with a newline.
std::string usage_text();
std::string command_usage(Command command);

std::string_view command_name(Command command);

}  // namespace dbx::cli
