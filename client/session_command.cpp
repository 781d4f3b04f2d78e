// The CI session commands (see session_command.h).
#include "client/session_command.h"

#include <boost/json.hpp>

#include "client/daemon_api.h"

namespace dbx::cli {

namespace json = boost::json;

namespace {

Expected<std::string> required(const EnvLookup& env, const char* name, const char* hint) {
  auto v = env(name);
  if (!v || v->empty()) return Failure{Exit::usage, std::string(name) + " is not set: " + hint};
  return *v;
}

}  // namespace

Expected<std::string> session_start_body(const Invocation& inv, const std::string& workspace,
                                         const EnvLookup& env) {
  json::object body{{"workspace", workspace}};
  if (inv.session_kind == "github") {
    auto url = required(env, "ACTIONS_ID_TOKEN_REQUEST_URL",
                        "run this as a GitHub Actions step of a job with `permissions: id-token: "
                        "write`");
    if (!url) return url.error();
    auto token = required(env, "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
                          "the job needs `permissions: id-token: write`");
    if (!token) return token.error();
    body["kind"] = "github";
    body["request_url"] = *url;
    body["request_token"] = *token;
  } else {
    auto url = required(env, "SYSTEM_OIDCREQUESTURI",
                        "run this as an Azure DevOps pipeline step (a job of a pipeline run)");
    if (!url) return url.error();
    auto token = required(env, "SYSTEM_ACCESSTOKEN",
                          "map it into the step: env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)");
    if (!token) return token.error();
    if (inv.service_connection.empty())
      return Failure{Exit::usage,
                     "--azure-devops needs --service-connection ID (the Azure Resource Manager "
                     "service connection with workload identity federation)"};
    body["kind"] = "azure-devops";
    body["request_url"] = *url;
    body["request_token"] = *token;
    body["service_connection_id"] = inv.service_connection;
  }
  if (!inv.audience.empty()) body["audience"] = inv.audience;
  return json::serialize(body);
}

Expected<std::string> run_session_start(const Invocation& inv, const std::string& workspace,
                                        const EnvLookup& env, const SessionSend& send,
                                        const AppendLine& append) {
  auto body = session_start_body(inv, workspace, env);
  if (!body) return body.error();
  auto answer = send("POST", "/v1/sessions", *body);
  if (!answer) return answer.error();
  if (answer->status / 100 != 2) return failure_from_response(*answer);
  boost::system::error_code ec;
  json::value v = json::parse(answer->body, ec);
  const json::value* s = !ec && v.is_object() ? v.as_object().if_contains("session") : nullptr;
  if (s == nullptr || !s->is_string())
    return Failure{Exit::failure, "the daemon's session answer has no \"session\""};
  const std::string secret(s->as_string());
  // The secret is a plain word (dbxs_ + hex): safe in a workflow command and an env file.
  if (secret.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos)
    return Failure{Exit::failure, "the daemon's session secret is malformed"};
  if (inv.session_kind == "azure-devops")
    return "##vso[task.setvariable variable=DBXCRED_SESSION;issecret=true]" + secret + "\n";
  if (auto github_env = env("GITHUB_ENV");
      inv.session_kind == "github" && github_env && !github_env->empty()) {
    // Masked first, so that no later log line shows it; then visible to the job's later steps.
    auto ok = append(*github_env, "DBXCRED_SESSION=" + secret + "\n");
    if (!ok) return ok.error();
    return "::add-mask::" + secret + "\n";
  }
  return "DBXCRED_SESSION=" + secret + "\n";
}

Expected<std::string> run_session_end(const EnvLookup& env, const SessionSend& send) {
  auto secret = env("DBXCRED_SESSION");
  if (!secret || secret->empty())
    return Failure{Exit::usage, "DBXCRED_SESSION is not set: there is no session to end"};
  auto answer = send("DELETE", "/v1/sessions/current", "");
  if (!answer) return answer.error();
  if (answer->status / 100 != 2) return failure_from_response(*answer);
  return std::string();
}

}  // namespace dbx::cli
