// Command-line parsing for `databricks-auth`, the program the Databricks SDKs and the Terraform
// provider run for `auth_type = databricks-cli` (docs/SDK.md "databricks-cli"): the subset of the
// Databricks CLI they call, `version [--output json]` and `auth token --host H | --profile P
// [--account-id A] [--force-refresh] [--output json]`. Pure: argv in, an AuthInvocation or a usage
// Failure out.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "client/failure.h"

namespace dbx::cli {

enum class AuthCommand { help, version, token };

struct AuthInvocation {
  AuthCommand command = AuthCommand::help;
  bool json_output = false;               // --output json: version as JSON, errors as JSON
  std::optional<std::string> host;        // --host
  std::optional<std::string> profile;     // --profile / -p: its host from ~/.databrickscfg
  std::optional<std::string> account_id;  // --account-id: accepted, not needed on Azure
  bool force_refresh = false;             // --force-refresh
};

// `args` excludes argv[0]. Options may come before or after the command words, as in the CLI.
Expected<AuthInvocation> parse_auth_args(const std::vector<std::string_view>& args);

std::string auth_usage_text();

}  // namespace dbx::cli
