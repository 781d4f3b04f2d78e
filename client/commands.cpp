#include "client/commands.h"

#include <boost/json/serialize.hpp>

#include "client/audit_format.h"
#include "client/status_format.h"

namespace dbx::cli {

namespace {

namespace json = boost::json;

std::string workspace_target(const std::string& workspace, std::string_view what) {
  return "/v1/workspaces/" + encode_path_segment(workspace) + "/" + std::string(what);
}

std::string with_min_valid(std::string target, const std::optional<std::int64_t>& min_valid) {
  if (min_valid) target += "?min_valid=" + std::to_string(*min_valid);
  return target;
}

// A string field of an answer; `what` names the answer in the Failure (never the value).
Expected<std::string> string_field(const json::object& o, std::string_view key,
                                   std::string_view what) {
  auto* v = o.if_contains(key);
  if (!v || !v->is_string() || v->as_string().empty()) {
    return Failure{Exit::failure, "dbxcredd's " + std::string(what) + " answer has no \"" +
                                      std::string(key) + "\""};
  }
  return std::string(v->as_string());
}

// A token is printed as one line; a token with whitespace or control characters would not be.
Expected<std::string> token_field(const json::object& o, std::string_view key,
                                  std::string_view what) {
  auto token = string_field(o, key, what);
  if (!token) return token;
  for (char c : *token) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) {
      return Failure{Exit::failure, "dbxcredd's " + std::string(what) + " answer has a \"" +
                                        std::string(key) + "\" with whitespace in it"};
    }
  }
  return token;
}

}  // namespace

Expected<std::string> resolve_workspace(const std::optional<std::string>& flag,
                                        const std::optional<std::string>& env_workspace,
                                        const DaemonApi& api) {
  if (flag) return *flag;
  if (env_workspace && !env_workspace->empty()) return *env_workspace;
  auto answer = api.get_object("/v1/workspaces");
  if (!answer) return answer.error();
  std::vector<std::string> names;
  if (auto* list = answer->if_contains("workspaces"); list && list->is_array()) {
    for (const auto& w : list->as_array()) {
      if (!w.is_object()) continue;
      auto* name = w.as_object().if_contains("name");
      if (name && name->is_string()) names.emplace_back(name->as_string());
    }
  }
  if (names.empty()) return Failure{Exit::denied, "no workspace is available to you"};
  if (names.size() > 1) {
    std::string joined;
    for (const auto& n : names) {
      if (!joined.empty()) joined += ", ";
      joined += one_line(n);
    }
    return Failure{Exit::usage, "several workspaces: " + joined +
                                    "; pick one with -w NAME or DBXCRED_WORKSPACE"};
  }
  return names.front();
}

Expected<EnvVars> fetch_env_vars(const Invocation& inv,
                                 const std::optional<std::string>& env_workspace,
                                 const DaemonApi& api) {
  if (inv.env_source == EnvSource::azure) {
    // IDENTITY_* serve every workspace's credential alike: no workspace needed.
    auto answer = api.get_object("/v1/azure-env");
    if (!answer) return answer.error();
    return env_from_object(*answer, "azure-env");
  }
  auto workspace = resolve_workspace(inv.workspace, env_workspace, api);
  if (!workspace) return workspace.error();
  if (inv.env_source == EnvSource::sdk) {
    auto answer = api.get_object(workspace_target(*workspace, "sdk-env"));
    if (!answer) return answer.error();
    return env_from_object(*answer, "sdk-env");
  }
  // DATABRICKS_TOKEN is the workspace's one bearer for static-token tools (SPEC.md /token).
  auto answer =
      api.get_object(with_min_valid(workspace_target(*workspace, "token"), inv.min_valid_seconds));
  if (!answer) return answer.error();
  auto host = string_field(*answer, "host", "token");
  if (!host) return host.error();
  auto token = token_field(*answer, "token", "token");
  if (!token) return token.error();
  return validate_env(
      {{"DATABRICKS_HOST", std::move(*host)}, {"DATABRICKS_TOKEN", std::move(*token)}});
}

Expected<std::string> run_command(const Invocation& inv,
                                  const std::optional<std::string>& env_workspace,
                                  const DaemonApi& api, TimePoint now) {
  switch (inv.command) {
    case Command::pat:
    case Command::token:
    case Command::aad: {
      auto workspace = resolve_workspace(inv.workspace, env_workspace, api);
      if (!workspace) return workspace.error();
      const std::string_view what = command_name(inv.command);  // also the path segment
      auto answer =
          api.get_object(with_min_valid(workspace_target(*workspace, what), inv.min_valid_seconds));
      if (!answer) return answer.error();
      auto token =
          token_field(*answer, inv.command == Command::aad ? "access_token" : "token", what);
      if (!token) return token.error();
      return *token + "\n";
    }
    case Command::headers: {
      auto workspace = resolve_workspace(inv.workspace, env_workspace, api);
      if (!workspace) return workspace.error();
      auto answer = api.get_object(workspace_target(*workspace, "headers"));
      if (!answer) return answer.error();
      auto* headers = answer->if_contains("headers");
      if (!headers || !headers->is_object()) {
        return Failure{Exit::failure, "dbxcredd's headers answer has no \"headers\" object"};
      }
      return format_headers(headers->as_object(), inv.header_format);
    }
    case Command::env: {
      auto vars = fetch_env_vars(inv, env_workspace, api);
      if (!vars) return vars.error();
      return format_env(*vars, inv.shell);
    }
    case Command::status: {
      auto answer = api.get_object("/v1/status");
      if (!answer) return answer.error();
      if (inv.json) return json::serialize(*answer) + "\n";
      return format_status(*answer, now);
    }
    case Command::audit: {
      std::string target = "/v1/audit";
      if (inv.since_seconds) target += "?since=" + std::to_string(*inv.since_seconds);
      auto answer = api.get_object(target);
      if (!answer) return answer.error();
      return format_audit(*answer, inv.json);
    }
    case Command::pat_reap: {
      auto workspace = resolve_workspace(inv.workspace, env_workspace, api);
      if (!workspace) return workspace.error();
      auto answer = api.post_object(workspace_target(*workspace, "pat/reap") +
                                    "?agent=" + encode_path_segment(inv.agent));
      if (!answer) return answer.error();
      std::string out;
      if (const auto* deleted = answer->if_contains("deleted"); deleted && deleted->is_array())
        for (const auto& id : deleted->as_array())
          if (id.is_string()) out += "deleted " + one_line(id.as_string()) + "\n";
      if (out.empty()) out = "no PAT of agent " + inv.agent + " in workspace " + *workspace + "\n";
      return out;
    }
    case Command::rotate_secrets: {
      auto answer = api.post_object("/v1/loopback-secrets/rotate");
      if (!answer) return answer.error();
      std::string names;
      if (auto* list = answer->if_contains("rotated"); list && list->is_array())
        for (const auto& n : list->as_array())
          if (n.is_string()) names += (names.empty() ? "" : ", ") + one_line(n.as_string());
      return "rotated the secrets of " + names +
             "; hand out the new ones with dbxcred env --sdk / --azure\n";
    }
    case Command::workspaces: {
      auto answer = api.get_object("/v1/workspaces");
      if (!answer) return answer.error();
      return format_workspaces(*answer);
    }
    case Command::help:
    case Command::version:
    case Command::exec:
    case Command::doctor:
    case Command::session_start:  // client/session_command.h
    case Command::session_end:
      break;
  }
  return Failure{Exit::failure, "internal error: " + std::string(command_name(inv.command)) +
                                    " is not run by run_command"};
}

}  // namespace dbx::cli
