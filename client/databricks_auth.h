// databricks-auth's work (docs/SDK.md "databricks-cli"): finding the workspace whose host the SDK
// names, fetching that workspace's token from dbxcredd (the one `dbxcred token` serves), forcing a
// newer one for --force-refresh, and printing the Databricks CLI's JSON. The daemon is reached
// through DaemonApi and the clock and the handed-out record are injected, so all of it is tested
// without a socket.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "client/daemon_api.h"
#include "client/databricks_auth_args.h"
#include "client/handed_out_record.h"
#include "common/clock.h"

namespace dbx::cli {

// The version `databricks-auth version` claims: the SDKs choose their flags by it (docs/SDK.md).
// v0.296.0 is the first CLI whose `auth token` takes --force-refresh (Go and Python SDKs then pass
// it; v0.207.1 brought --profile); the JS SDK wants >= 0.100.0. It is not raised further: a later
// version could make an SDK pass a flag this program does not know.
inline constexpr int kClaimedCliMajor = 0;
inline constexpr int kClaimedCliMinor = 296;
inline constexpr int kClaimedCliPatch = 0;

// The SDKs (Go, Python, JS) take a token as expired 40 s before its expiry (Azure Databricks
// refuses tokens in their last 30 s). dbxcredd never serves less than that by default (SPEC.md:
// min_valid "never below 40 s"), so the default answer is used as it is.
inline constexpr std::int64_t kSdkRefreshMarginSeconds = 40;

// Lower-cased scheme and host, https:// when no scheme is given (as the SDKs do), no trailing
// slash, no default port: "HTTPS://ADB-1.azuredatabricks.net:443/" ->
// "https://adb-1.azuredatabricks.net".
std::string normalize_host(std::string_view host);

// The workspace of the /v1/workspaces answer whose host is `host` (normalised on both sides).
// None: a Failure saying so (exit 4). Several: `preferred` ($DBXCRED_WORKSPACE) when it is one of
// them, else a Failure naming them (exit 2).
Expected<std::string> workspace_for_host(const boost::json::object& workspaces,
                                         std::string_view host,
                                         const std::optional<std::string>& preferred);

// `unix_s` as RFC 3339 in local time (the TZ of this process) with a fractional second and the
// UTC offset, as the Databricks CLI prints a Go time: "2026-12-07T22:47:50.000000000+01:00". The
// fraction is always there: the Python SDK cuts the text at '.' and reads what is left as local
// time, and without a fraction the offset would stay and fail its parse.
std::string format_expiry(std::int64_t unix_s);

// {"access_token","token_type":"Bearer","expiry"}, indented as the Go CLI prints it.
std::string format_token_answer(std::string_view token, std::int64_t expires_at);

// `version`: "Databricks CLI v0.296.0", or with --output json the fields the Python SDK reads.
std::string format_version(bool json);

// An error as databricks-auth prints it on stderr: the text line, or with --output json
// {"error_code":"UNAUTHENTICATED"|"INVALID_PARAMETER_VALUE","message":…} on one line.
std::string format_auth_error(const Failure& failure, bool json);

struct AuthEnvironment {
  std::optional<std::string> workspace;    // $DBXCRED_WORKSPACE
  std::optional<std::string> config_file;  // $DATABRICKS_CONFIG_FILE
  std::optional<std::string> home;         // $HOME
};

struct AuthOutput {
  std::string stdout_text;
  std::optional<std::string> warning;  // one line for stderr; the command still succeeded
};

// Runs an AuthInvocation of command `token` (version and help need no daemon).
Expected<AuthOutput> run_auth_token(const AuthInvocation& inv, const AuthEnvironment& env,
                                    const DaemonApi& api, HandedOutRecord& record, TimePoint now);

}  // namespace dbx::cli
