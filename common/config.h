// The daemon's configuration (SPEC.md "Configuration"): the resolved, validated form.
// parse_config() turns JSON text (comments and trailing commas allowed) into a Config or a list of
// problems, one line each, naming the JSON path. Everything the SPEC schema has is parsed here,
// even parts later features use, so the file format is settled.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"

namespace dbx {

struct SocketConfig {
  std::string path = "/run/dbxcred/dbxcred.sock";
  unsigned mode = 0660;
  std::optional<std::string> group;  // default: the daemon's primary group
};

struct LogConfig {
  std::string level = "info";   // trace | debug | info | warn | error
  std::string format = "text";  // text | json
};

struct Endpoints {
  std::string authority;            // e.g. https://login.microsoftonline.com (no trailing slash)
  std::string resource_manager;     // e.g. https://management.azure.com (no trailing slash)
  std::string management_resource;  // e.g. https://management.core.windows.net/
  std::string databricks_resource = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d";
  std::string imds = "http://169.254.169.254";
  // A reload keeps the tokens and PATs of what compares equal (daemon/broker.cpp).
  bool operator==(const Endpoints&) const = default;
};

enum class CredentialType {
  client_secret,
  client_certificate,
  azure_cli,
  managed_identity,
  workload_identity,
  databricks_oauth,      // Databricks OAuth M2M: a Databricks-managed SP secret (PROTOCOLS.md)
  databricks_federation  // Databricks OAuth token exchange (RFC 8693) of a JWT from token_file
};

// The two types whose tokens the workspace itself issues (no Entra token, no resource).
inline bool is_databricks_oauth(CredentialType type) {
  return type == CredentialType::databricks_oauth || type == CredentialType::databricks_federation;
}

// The config's name of a credential type, e.g. "client_secret".
const char* to_string(CredentialType type);

struct CredentialConfig {
  std::string name;
  CredentialType type = CredentialType::client_secret;
  std::string tenant_id;  // client_secret, client_certificate, workload_identity (required)
  std::string client_id;  // required for the SP types; optional for managed_identity and
                          // databricks_federation (empty: an account-wide federation policy)
  // client_secret: either inline (config must then be 0600-ish) or a file, resolved to an absolute
  // path (relative: under $CREDENTIALS_DIRECTORY, else the config's folder).
  std::optional<std::string> client_secret;  // inline secret; masked when printed
  std::optional<std::string> client_secret_file;
  std::string certificate_file;         // client_certificate: PEM with key + certificate (absolute)
  std::string assertion_alg = "PS256";  // client_certificate: PS256 (x5t#S256) | RS256 (x5t)
  std::string az_path = "az";           // azure_cli
  std::optional<std::string> az_tenant_id;     // azure_cli: --tenant
  std::optional<std::string> az_subscription;  // azure_cli: --subscription
  std::string token_file;  // workload_identity, databricks_federation (absolute); "" only for a
                           // credential that serves CI sessions alone (workspaces.W.sessions)
  bool operator==(const CredentialConfig&) const = default;
};

struct PatPolicy {
  bool enabled = true;  // "pat": false turns minting off (AAD-only workspace)
  Seconds lifetime{3600};
  Seconds rotate_before{1200};
  Seconds max_lifetime{86400};
  int max_active = 10;
  // How often the current PAT is tried at the workspace to notice a revocation (one token/list
  // authenticated with the PAT per interval while a PAT is current).
  Seconds check_interval{50};
  bool operator==(const PatPolicy&) const = default;
};

// One `allow.executables` entry: the program's absolute path (symlinks are resolved when it is
// checked) and, optionally, the SHA-256 of its content (64 lowercase hex digits). A rule with a
// sha256 and no path ("") matches that content at any path: the one rule that holds across mount
// namespaces, where the daemon sees a container's program under the container's path.
struct ExecutableRule {
  std::string path;
  std::optional<std::string> sha256;
  bool operator==(const ExecutableRule&) const = default;
};

struct AllowList {
  std::vector<std::string> users;
  std::vector<std::string> groups;
  std::vector<std::uint32_t> uids;
  // Empty: any program. Else the connecting process's executable must match one entry as well
  // (when users, groups and uids are all empty, the executable alone decides).
  // (A default member initialiser: aggregate initialisations naming three lists stay warning-free.)
  std::vector<ExecutableRule> executables = {};
  bool operator==(const AllowList&) const = default;
};

// A workspace's "sessions" block (issue 23): CI jobs (GitHub Actions, Azure DevOps) hand the daemon
// their OIDC request URL and token (`dbxcred session start`); the daemon exchanges fresh OIDC
// tokens through the workspace's credential (workload_identity: Entra; databricks_federation:
// Databricks) for the session holder alone. Who may open one: the OIDC token's `iss` must be one
// of `issuers` and its `sub` match one of `subjects` ('*' matches any run of characters).
struct SessionsConfig {
  std::vector<std::string> issuers;
  std::vector<std::string> subjects;
  std::string audience = "api://AzureADTokenExchange";  // asked for when the job does not say
  Seconds idle_timeout{3600};                           // unused this long: forgotten
  Seconds max_lifetime{6 * 3600};  // at most (GitHub's job limit); else the request token's exp
  bool operator==(const SessionsConfig&) const = default;
};

struct WorkspaceConfig {
  std::string name;
  std::string credential;           // a key of Config::credentials (validated)
  std::optional<std::string> host;  // https://adb-….azuredatabricks.net, no trailing slash
  std::optional<std::string> resource_id;
  bool management_token = false;
  PatPolicy pat;
  std::optional<AllowList> allow;  // nullopt: whoever can open the socket
  // false: only workspace-bound tokens (PAT, Databricks OAuth) are served here; aad, headers and
  // the managed-identity endpoint answer 403 (common/entra_reach.h says when it must be false).
  bool serve_entra_token = true;
  // Set: the workspace serves CI sessions only (no PATs; a request without a session is a 403).
  std::optional<SessionsConfig> sessions;
  bool operator==(const WorkspaceConfig&) const = default;
};

struct MetadataServiceListen {
  std::uint16_t port = 0;
};
struct ManagedIdentityListen {
  std::uint16_t port = 0;
  std::string credential;
  std::vector<std::string> resources;
};
struct MetricsListen {
  std::uint16_t port = 0;
};

struct ListenConfig {
  std::optional<MetadataServiceListen> metadata_service;
  std::optional<ManagedIdentityListen> managed_identity;
  std::optional<MetricsListen> metrics;
};

// Connection caps of the socket and loopback listeners (each listener counts its own).
struct LimitsConfig {
  std::size_t max_connections = 4096;          // beyond: 503 and close
  std::size_t max_connections_per_uid = 1024;  // Unix socket only: per peer uid (503 beyond)
  // Per-uid token bucket on the socket (429 rate_limited beyond): sustained requests per second
  // (0: off) and the burst on top. A build agent's bursts of a few hundred calls never notice it;
  // a client looping without pause is slowed to the sustained rate, not the others.
  std::uint32_t requests_per_second_per_uid = 200;
  std::uint32_t request_burst_per_uid = 2000;
};

// The optional "audit" block (SPEC.md "Audit"): records always go to the journal under systemd and
// to memory for /v1/audit; `path` adds a JSON-lines file.
struct AuditConfig {
  std::optional<std::string> path;  // absolute
  bool operator==(const AuditConfig&) const = default;
};

struct Config {
  std::string source_path;  // the file this came from (absolute), for messages
  SocketConfig socket;
  std::string state_dir = "/var/lib/dbxcred";
  std::string instance;  // default: the host name
  LogConfig log;
  std::string cloud = "public";  // public | usgov | china
  Endpoints endpoints;           // the cloud's endpoints with overrides applied
  std::optional<std::string> tls_ca_file;
  std::map<std::string, CredentialConfig> credentials;
  std::map<std::string, WorkspaceConfig> workspaces;
  ListenConfig listen;
  // Tuning knobs beyond SPEC.md (documented in config/): how long a client waits for an upstream.
  Seconds request_deadline{15};
  LimitsConfig limits;  // optional "limits" key; applies on restart only
  AuditConfig audit;
};

struct ConfigProblems {
  std::vector<std::string>
      lines;  // e.g. `workspaces.prod.pat.lifetime: expected a duration like "1h", got "sixty"`
};

// Parses and validates. `source_path` is used to resolve relative paths and for permission checks
// (a config holding an inline secret must not be readable by group/others).
// `credentials_directory` is $CREDENTIALS_DIRECTORY (systemd LoadCredential=), empty if unset.
// On failure returns nullopt and fills `problems` (one line per problem).
std::optional<Config> parse_config(const std::string& text, const std::string& source_path,
                                   const std::string& credentials_directory,
                                   ConfigProblems& problems);

// Reads the file and calls parse_config; a missing/unreadable file is one problem line.
std::optional<Config> load_config(const std::string& path, ConfigProblems& problems);

// The resolved configuration as pretty JSON with every secret replaced by "***".
std::string render_config_masked(const Config& config);

}  // namespace dbx
