// ArmLookup: a workspace's host from Azure Resource Manager (PROTOCOLS.md "Azure Resource
// Manager"): GET {resource_manager}{resource_id}?api-version=2018-04-01 with a management token;
// the answer's properties.workspaceUrl ("adb-….azuredatabricks.net") becomes "https://adb-…".
// The request builder and the answer parser are pure; lookup_workspace_host() adds the Transport.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "daemon/upstream/transport.h"

namespace dbx {

inline constexpr const char* kArmWorkspaceApiVersion = "2018-04-01";

// The GET for the workspace; `management_token` is a bearer token for the management resource.
HttpRequest arm_workspace_request(std::string_view resource_manager, std::string_view resource_id,
                                  std::string_view management_token);

// The workspace host ("https://adb-….azuredatabricks.net") from ARM's answer, or an error naming
// the workspace, ARM's own error code and message ({"error":{"code","message"}}) and what to do.
Result<std::string> parse_arm_workspace_answer(const HttpResponse& response,
                                               std::string_view resource_id);

void lookup_workspace_host(Transport& transport, std::string_view resource_manager,
                           const std::string& resource_id, std::string_view management_token,
                           std::function<void(Result<std::string>)> done);

}  // namespace dbx
