// Where an Entra token reaches (issue 21, part 1; docs/SECURITY.md "Workspaces sharing a
// credential"). An Entra token of a service principal is not bound to a workspace: whoever holds
// one that `aad`, `headers` or the managed-identity endpoint served on workspace W can call the
// REST API of every workspace of that principal (list and delete its PATs there, token/create).
// So W may serve Entra tokens only when every other workspace on its credential admits everyone
// W admits. Pure functions over the parsed configuration, called by config validation.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/config.h"

namespace dbx {

// Does `outer` admit every peer `inner` admits, as far as the configuration alone can tell?
// Conservative: true only when it follows from the lists (no allow list admits everyone; uids,
// users and groups compared as sets, not resolved to one another; an executables list must cover
// every program of inner's, by path and, where outer gives one, sha256). uid 0 passes everywhere.
bool admits_all_of(const std::optional<AllowList>& outer, const std::optional<AllowList>& inner);

// Whether the workspace serves Entra tokens: an Entra credential (not Databricks OAuth) and
// serve_entra_token not false. `credential` may be null (an unknown name: nothing served).
bool serves_entra_token(const WorkspaceConfig& ws, const CredentialConfig* credential);

// The token kinds a workspace serves, for /v1/status: "pat", "oauth", "aad" in that order.
std::vector<std::string> served_token_kinds(const WorkspaceConfig& ws,
                                            const CredentialConfig* credential);

// One line per pair of workspaces on one credential where an Entra token served on one reaches
// a workspace that does not admit all its users, naming both, the credential and the key to set.
std::vector<std::string> entra_reach_problems(const Config& config);

}  // namespace dbx
