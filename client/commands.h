// The CLI's commands over the socket API (SPEC.md "CLI"): workspace resolution, and for each
// command the request it sends and the text it prints. I/O-free: the transport is DaemonApi's
// Fetch, the environment and the time are arguments, and exec's variables are returned for main()
// to set.
#pragma once

#include <optional>
#include <string>

#include "client/args.h"
#include "client/daemon_api.h"
#include "client/failure.h"
#include "client/output_format.h"
#include "common/clock.h"

namespace dbx::cli {

// -w, else $DBXCRED_WORKSPACE, else the only workspace /v1/workspaces lists. None: Exit::denied;
// several: Exit::usage naming them.
Expected<std::string> resolve_workspace(const std::optional<std::string>& flag,
                                        const std::optional<std::string>& env_workspace,
                                        const DaemonApi& api);

// The variables env and exec hand out: DATABRICKS_HOST/DATABRICKS_TOKEN from the PAT, the
// sdk-env object, or the azure-env object.
Expected<EnvVars> fetch_env_vars(const Invocation& inv,
                                 const std::optional<std::string>& env_workspace,
                                 const DaemonApi& api);

// Runs pat, aad, headers, env, status or workspaces and returns what goes to stdout.
Expected<std::string> run_command(const Invocation& inv,
                                  const std::optional<std::string>& env_workspace,
                                  const DaemonApi& api, TimePoint now);

}  // namespace dbx::cli
