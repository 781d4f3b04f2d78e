// `dbxcred session start --github-actions | --azure-devops [--audience A] [--service-connection
// ID]` and `dbxcred session end` (issue 23): run as a CI job step on a self-hosted agent. `start`
// reads the job's own OIDC request variables, hands them to the daemon (POST /v1/sessions) and
// passes the session secret on to the job's later steps: GitHub Actions — masked (::add-mask::) and
// appended to $GITHUB_ENV as DBXCRED_SESSION; Azure DevOps — the ##vso[task.setvariable
// …;issecret=true] line; elsewhere — DBXCRED_SESSION=… on stdout. `end` forgets the session of
// $DBXCRED_SESSION. The environment and the file append are arguments: unit-testable without a job.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "client/args.h"
#include "client/failure.h"
#include "client/http_response.h"

namespace dbx::cli {

using EnvLookup = std::function<std::optional<std::string>(const char* name)>;
// Sends `method` /v1/sessions… with `body` (and the session header when given).
using SessionSend = std::function<Expected<HttpResponse>(
    std::string_view method, std::string_view target, std::string_view body)>;
// Appends `line` to the file at `path` (GITHUB_ENV); a Failure when it cannot.
using AppendLine = std::function<Expected<bool>(const std::string& path, const std::string& line)>;

// The JSON body of POST /v1/sessions from the job's environment; usage/failure naming the missing
// variable (never its value).
Expected<std::string> session_start_body(const Invocation& inv, const std::string& workspace,
                                         const EnvLookup& env);

// Runs `session start`; returns what goes to stdout.
Expected<std::string> run_session_start(const Invocation& inv, const std::string& workspace,
                                        const EnvLookup& env, const SessionSend& send,
                                        const AppendLine& append);
// Runs `session end`; returns what goes to stdout.
Expected<std::string> run_session_end(const EnvLookup& env, const SessionSend& send);

}  // namespace dbx::cli
