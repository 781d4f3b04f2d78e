#include "client/databricks_auth_args.h"

namespace dbx::cli {

namespace {

Failure usage(std::string message) {
  return Failure{Exit::usage, std::move(message) + "; see databricks-auth --help"};
}

bool is_option(std::string_view arg, std::string_view name) {
  return arg == name || (arg.size() > name.size() && arg.substr(0, name.size()) == name &&
                         arg[name.size()] == '=');
}

// "--name VALUE" or "--name=VALUE"; `i` is advanced past the value.
Expected<std::string> option_value(const std::vector<std::string_view>& args, std::size_t& i,
                                   std::string_view name) {
  std::string_view arg = args[i];
  std::string value;
  if (arg.size() > name.size() && arg[name.size()] == '=') {
    value = std::string(arg.substr(name.size() + 1));
  } else {
    if (i + 1 >= args.size()) return usage(std::string(name) + " needs a value");
    value = std::string(args[++i]);
  }
  if (value.empty()) return usage(std::string(name) + ": the value is empty");
  return value;
}

}  // namespace

std::string auth_usage_text() {
  return "usage: databricks-auth version [--output json]\n"
         "       databricks-auth auth token (--host URL | --profile NAME) [--account-id ID]\n"
         "                                  [--force-refresh] [--output json]\n"
         "\n"
         "The Databricks CLI's token protocol, answered by dbxcredd: for the Databricks SDKs and\n"
         "the Terraform provider with auth_type = databricks-cli and databricks_cli_path set to\n"
         "this program. The token is the one `dbxcred token -w W` serves for the workspace W "
         "whose\n"
         "host is URL (or the profile's host in ~/.databrickscfg, or $DATABRICKS_CONFIG_FILE).\n"
         "--force-refresh: a token newer than the one this program last handed to you.\n"
         "Socket: $DBXCRED_SOCKET, else /run/dbxcred/dbxcred.sock; several workspaces on one\n"
         "host: $DBXCRED_WORKSPACE picks one.\n";
}

Expected<AuthInvocation> parse_auth_args(const std::vector<std::string_view>& args) {
  AuthInvocation inv;
  std::vector<std::string_view> words;  // the command words: "version", or "auth" "token"
  bool saw_help = false;
  bool saw_version_flag = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "-h" || arg == "--help") {
      saw_help = true;
    } else if (arg == "--version" || arg == "-v") {
      saw_version_flag = true;
    } else if (is_option(arg, "--output") || arg == "-o") {
      auto v = option_value(args, i, arg == "-o" ? "-o" : "--output");
      if (!v) return v.error();
      if (*v != "json" && *v != "text") {
        return usage("--output: expected json or text, got \"" + *v + "\"");
      }
      inv.json_output = *v == "json";
    } else if (is_option(arg, "--host")) {
      auto v = option_value(args, i, "--host");
      if (!v) return v.error();
      inv.host = std::move(*v);
    } else if (is_option(arg, "--profile") || arg == "-p") {
      auto v = option_value(args, i, arg == "-p" ? "-p" : "--profile");
      if (!v) return v.error();
      inv.profile = std::move(*v);
    } else if (is_option(arg, "--account-id")) {
      auto v = option_value(args, i, "--account-id");
      if (!v) return v.error();
      inv.account_id = std::move(*v);
    } else if (arg == "--force-refresh") {
      inv.force_refresh = true;
    } else if (arg == "--experimental-is-unified-host") {
      // The JS SDK adds it for unified hosts; the workspace is still found by its host.
    } else if (!arg.empty() && arg[0] == '-') {
      return usage("unknown flag: " + std::string(arg));
    } else {
      words.push_back(arg);
    }
  }
  if (saw_help) {
    inv.command = AuthCommand::help;
    return inv;
  }
  if (words.empty() && saw_version_flag) {
    inv.command = AuthCommand::version;
    return inv;
  }
  if (words.size() == 1 && words[0] == "version") {
    inv.command = AuthCommand::version;
    return inv;
  }
  if (words.size() == 2 && words[0] == "auth" && words[1] == "token") {
    if (!inv.host && !inv.profile) return usage("auth token needs --host URL or --profile NAME");
    inv.command = AuthCommand::token;
    return inv;
  }
  if (words.empty()) return usage("no command given");
  std::string joined;
  for (auto w : words) joined += (joined.empty() ? "" : " ") + std::string(w);
  return usage("unknown command \"" + joined + "\": only `version` and `auth token` are served");
}

}  // namespace dbx::cli
