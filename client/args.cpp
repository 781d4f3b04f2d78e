#include "client/args.h"

#include "common/duration.h"

namespace dbx::cli {

namespace {

struct CommandInfo {
  Command command;
  std::string_view name;
  std::string_view synopsis;     // the command and its options
  std::string_view description;  // one or more lines
};

constexpr CommandInfo kCommands[] = {
    {Command::pat, "pat", "pat [--min-valid DUR]", "print the workspace's PAT, nothing else"},
    {Command::token, "token", "token [--min-valid DUR]",
     "print the workspace's bearer token (what DATABRICKS_TOKEN gets):\n"
     "the PAT where pat is on, else the Databricks OAuth token, else the Entra token"},
    {Command::aad, "aad", "aad [--min-valid DUR]",
     "print the AAD token for the Databricks resource"},
    {Command::headers, "headers", "headers [--format curl|http|json]",
     "the workspace's HTTP headers; curl: -H 'Name: value' lines,\n"
     "http: Name: value lines, json: one object"},
    {Command::env, "env", "env [--sdk | --azure] [--shell sh|fish|json] [--min-valid DUR]",
     "export lines for DATABRICKS_HOST and DATABRICKS_TOKEN;\n"
     "--sdk: the metadata-service variables; --azure: IDENTITY_*"},
    {Command::exec, "exec", "exec [--sdk | --azure] [--min-valid DUR] -- CMD ARG...",
     "run CMD with the variables of env set (exec, same pid); --sdk/--azure: CMD\n"
     "gets a relay of its own on 127.0.0.1 that lives as long as it runs"},
    {Command::status, "status", "status [--json]",
     "the daemon's version, uptime, tokens and PATs (never a secret)"},
    {Command::workspaces, "workspaces", "workspaces",
     "the workspaces you may use: name, host, PAT yes/no"},
    {Command::audit, "audit", "audit [--since DUR] [--json]",
     "recent audit records (default: the last hour; root and the service user only);\n"
     "--json: one JSON object per line"},
    {Command::pat_reap, "pat reap", "pat reap --agent ID",
     "delete the workspace's PATs of another agent (a cloned VM's, a retired daemon's):\n"
     "those whose comment carries agent id ID (root and the service user only)"},
    {Command::session_start, "session",
     "session start --github-actions | --azure-devops [--audience A] [--service-connection ID]",
     "in a CI job on a self-hosted agent: hand the job's OIDC token endpoint to the daemon\n"
     "and pass DBXCRED_SESSION to the later steps ($GITHUB_ENV, or the ##vso secret variable);\n"
     "their token, env and exec then get the job's own federated tokens, refreshed all job long"},
    {Command::session_end, "session end", "session end",
     "forget the CI session of $DBXCRED_SESSION (else it ends with the job or when idle)"},
    {Command::rotate_secrets, "rotate-secrets", "rotate-secrets",
     "replace the loopback endpoints' secrets: the old metadata-service URLs and\n"
     "IDENTITY_HEADER stop working at once (root and the service user only)"},
    {Command::doctor, "doctor", "doctor [--config PATH] [--json]",
     "check the configuration, the socket, your access, and (root and the service user)\n"
     "the credentials, PATs and upstreams; one line per finding with what to change;\n"
     "exit 0 when every check passes, 1 otherwise"},
};

// Indents every line of `text` by `indent` spaces.
std::string indented(std::string_view text, std::size_t indent) {
  std::string out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    out += std::string(indent, ' ');
    out += text.substr(pos, eol - pos);
    out += '\n';
    pos = eol + 1;
  }
  return out;
}

const CommandInfo* find_command(std::string_view name) {
  for (const auto& c : kCommands) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

Failure usage_error(std::string message) {
  return Failure{Exit::usage, std::move(message)};
}

std::string see_help(const std::optional<Command>& command) {
  if (command) return "; see dbxcred " + std::string(command_name(*command)) + " --help";
  return "; see dbxcred --help";
}

// Reads the value of an option given as "--name VALUE" or "--name=VALUE". `i` points at the option
// and is advanced past its value.
Expected<std::string> option_value(const std::vector<std::string_view>& args, std::size_t& i,
                                   std::string_view name, const std::optional<Command>& command) {
  std::string_view arg = args[i];
  if (arg.size() > name.size() && arg[name.size()] == '=') {
    return std::string(arg.substr(name.size() + 1));
  }
  if (i + 1 >= args.size())
    return usage_error(std::string(name) + " needs a value" + see_help(command));
  ++i;
  return std::string(args[i]);
}

bool is_option(std::string_view arg, std::string_view name) {
  return arg == name || (arg.size() > name.size() && arg.substr(0, name.size()) == name &&
                         arg[name.size()] == '=');
}

}  // namespace

std::string_view command_name(Command command) {
  for (const auto& c : kCommands) {
    if (c.command == command) return c.name;
  }
  return "";
}

std::string usage_text() {
  std::string out =
      "usage: dbxcred [--socket PATH] [-w NAME] COMMAND [OPTIONS]\n"
      "\n"
      "Credentials for Azure Databricks from the dbxcredd daemon.\n"
      "\n"
      "commands:\n";
  for (const auto& c : kCommands) {
    out += "  ";
    out += c.synopsis;
    out += '\n';
    out += indented(c.description, 6);
  }
  out +=
      "\n"
      "options:\n"
      "  --socket PATH   the daemon's socket (default: $DBXCRED_SOCKET, else "
      "/run/dbxcred/dbxcred.sock)\n"
      "  --insecure-socket\n"
      "                  talk to a socket served by any user (default: only root, you or the\n"
      "                  service user dbxcred are believed)\n"
      "  -w, --workspace NAME\n"
      "                  the workspace (default: $DBXCRED_WORKSPACE, else the only one you may "
      "use)\n"
      "  -h, --help      this text; COMMAND --help for one command\n"
      "  --version       print the version\n"
      "\n"
      "DUR is a duration like 90s, 10m or 1h30m: the token stays valid at least that long.\n"
      "exit codes: 0 ok, 1 other error, 2 usage, 3 daemon unreachable, 4 forbidden or not found,\n"
      "            5 upstream or quota failure\n";
  return out;
}

std::string command_usage(Command command) {
  for (const auto& c : kCommands) {
    if (c.command == command) {
      return "usage: dbxcred [--socket PATH] [-w NAME] " + std::string(c.synopsis) + "\n\n" +
             indented(c.description, 0);
    }
  }
  return usage_text();
}

Expected<Invocation> parse_args(const std::vector<std::string_view>& args) {
  Invocation inv;
  std::optional<Command> command;
  bool saw_sdk = false;
  bool saw_azure = false;
  bool saw_help = false;
  bool saw_version = false;
  bool saw_session_verb = false;  // "session" needs "start" or "end"

  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];

    if (command == Command::exec && (arg == "--" || arg.empty() || arg[0] != '-')) {
      // Everything after "--", or from the first word that is not an option, is the command.
      std::size_t first = arg == "--" ? i + 1 : i;
      for (std::size_t j = first; j < args.size(); ++j) inv.argv.emplace_back(args[j]);
      break;
    }

    // Options valid anywhere before the command's arguments.
    if (is_option(arg, "--socket")) {
      auto v = option_value(args, i, "--socket", command);
      if (!v) return v.error();
      if (v->empty()) return usage_error("--socket: the path is empty" + see_help(command));
      inv.socket = std::move(*v);
      continue;
    }
    if (arg == "--insecure-socket") {
      inv.insecure_socket = true;
      continue;
    }
    if (arg == "-w" || is_option(arg, "--workspace")) {
      std::string_view name = arg == "-w" ? "-w" : "--workspace";
      auto v = option_value(args, i, name, command);
      if (!v) return v.error();
      if (v->empty())
        return usage_error(std::string(name) + ": the name is empty" + see_help(command));
      inv.workspace = std::move(*v);
      continue;
    }
    if (arg.size() > 2 && arg.substr(0, 2) == "-w" && arg[2] != '-') {  // -wNAME
      inv.workspace = std::string(arg.substr(2));
      continue;
    }
    if (arg == "-h" || arg == "--help") {
      saw_help = true;
      continue;
    }
    if (arg == "--version" && !command) {
      saw_version = true;
      continue;
    }

    if (!command) {
      if (!arg.empty() && arg[0] == '-')
        return usage_error("unknown option " + std::string(arg) + see_help(command));
      const CommandInfo* info = find_command(arg);
      if (!info) {
        return usage_error("unknown command \"" + std::string(arg) + "\"" + see_help(command));
      }
      command = info->command;
      continue;
    }

    if (*command == Command::pat && arg == "reap" && !inv.min_valid_seconds) {
      command = Command::pat_reap;
      continue;
    }
    if (*command == Command::session_start && !saw_session_verb &&
        (arg == "start" || arg == "end")) {
      saw_session_verb = true;
      if (arg == "end") command = Command::session_end;
      continue;
    }
    const bool takes_min_valid = *command == Command::pat || *command == Command::token ||
                                 *command == Command::aad || *command == Command::env ||
                                 *command == Command::exec;
    if (takes_min_valid && is_option(arg, "--min-valid")) {
      auto v = option_value(args, i, "--min-valid", command);
      if (!v) return v.error();
      auto d = parse_duration(*v);
      if (!d) {
        return usage_error("--min-valid: expected a duration like \"10m\", got \"" + *v + "\"");
      }
      inv.min_valid_seconds = d->count();
      continue;
    }
    switch (*command) {
      case Command::headers:
        if (is_option(arg, "--format")) {
          auto v = option_value(args, i, "--format", command);
          if (!v) return v.error();
          if (*v == "curl") {
            inv.header_format = HeaderFormat::curl;
          } else if (*v == "http") {
            inv.header_format = HeaderFormat::http;
          } else if (*v == "json") {
            inv.header_format = HeaderFormat::json;
          } else {
            return usage_error("--format: expected curl, http or json, got \"" + *v + "\"");
          }
          continue;
        }
        break;
      case Command::env:
      case Command::exec:
        if (arg == "--sdk") {
          saw_sdk = true;
          inv.env_source = EnvSource::sdk;
          continue;
        }
        if (arg == "--azure") {
          saw_azure = true;
          inv.env_source = EnvSource::azure;
          continue;
        }
        if (*command == Command::env && is_option(arg, "--shell")) {
          auto v = option_value(args, i, "--shell", command);
          if (!v) return v.error();
          if (*v == "sh") {
            inv.shell = Shell::sh;
          } else if (*v == "fish") {
            inv.shell = Shell::fish;
          } else if (*v == "json") {
            inv.shell = Shell::json;
          } else {
            return usage_error("--shell: expected sh, fish or json, got \"" + *v + "\"");
          }
          continue;
        }
        break;
      case Command::doctor:
        if (is_option(arg, "--config")) {
          auto v = option_value(args, i, "--config", command);
          if (!v) return v.error();
          inv.config_path = std::move(*v);
          continue;
        }
        [[fallthrough]];
      case Command::status:
        if (arg == "--json") {
          inv.json = true;
          continue;
        }
        break;
      case Command::pat_reap:
        if (is_option(arg, "--agent")) {
          auto v = option_value(args, i, "--agent", command);
          if (!v) return v.error();
          const bool hex =
              v->size() == 32 && v->find_first_not_of("0123456789abcdef") == std::string::npos;
          if (!hex)
            return usage_error("--agent: expected an agent id (32 lowercase hex digits), got \"" +
                               *v + "\"");
          inv.agent = std::move(*v);
          continue;
        }
        break;
      case Command::session_start:
        if (arg == "--github-actions" || arg == "--azure-devops") {
          const std::string kind = arg == "--github-actions" ? "github" : "azure-devops";
          if (!inv.session_kind.empty() && inv.session_kind != kind)
            return usage_error("--github-actions and --azure-devops exclude each other" +
                               see_help(command));
          inv.session_kind = kind;
          continue;
        }
        if (is_option(arg, "--audience") || is_option(arg, "--service-connection")) {
          const std::string_view name =
              is_option(arg, "--audience") ? "--audience" : "--service-connection";
          auto v = option_value(args, i, name, command);
          if (!v) return v.error();
          if (v->empty()) return usage_error(std::string(name) + ": empty" + see_help(command));
          (name == "--audience" ? inv.audience : inv.service_connection) = std::move(*v);
          continue;
        }
        break;
      case Command::audit:
        if (arg == "--json") {
          inv.json = true;
          continue;
        }
        if (is_option(arg, "--since")) {
          auto v = option_value(args, i, "--since", command);
          if (!v) return v.error();
          auto d = parse_duration(*v);
          if (!d)
            return usage_error("--since: expected a duration like \"1h\", got \"" + *v + "\"");
          inv.since_seconds = d->count();
          continue;
        }
        break;
      default:
        break;
    }
    if (!arg.empty() && arg[0] == '-') {
      return usage_error("unknown option " + std::string(arg) + " for " +
                         std::string(command_name(*command)) + see_help(command));
    }
    return usage_error("unexpected argument \"" + std::string(arg) + "\" for " +
                       std::string(command_name(*command)) + see_help(command));
  }

  if (saw_help) {
    inv.command = Command::help;
    inv.help_for = command;
    return inv;
  }
  if (saw_version) {
    if (command) return usage_error("--version takes no command" + see_help(std::nullopt));
    inv.command = Command::version;
    return inv;
  }
  if (!command) return usage_error("no command given" + see_help(std::nullopt));
  if (saw_sdk && saw_azure) {
    return usage_error("--sdk and --azure exclude each other" + see_help(command));
  }
  if (*command == Command::pat_reap && inv.agent.empty()) {
    return usage_error("pat reap needs --agent ID" + see_help(command));
  }
  if (*command == Command::session_start && !saw_session_verb)
    return usage_error("session needs start or end" + see_help(command));
  if (*command == Command::session_start && inv.session_kind.empty())
    return usage_error("session start needs --github-actions or --azure-devops" +
                       see_help(command));
  if (*command == Command::exec && inv.argv.empty()) {
    return usage_error("exec needs a command to run: dbxcred exec -- CMD ARG...");
  }
  inv.command = *command;
  return inv;
}

}  // namespace dbx::cli
