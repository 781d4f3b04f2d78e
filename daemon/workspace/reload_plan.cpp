// The reload rules of reload_plan.h.
#include "daemon/workspace/reload_plan.h"

namespace dbx {

namespace {

bool same_credential(const Config& a, const Config& b, const std::string& name) {
  const auto x = a.credentials.find(name);
  const auto y = b.credentials.find(name);
  if (x == a.credentials.end() || y == b.credentials.end()) return false;
  // The source is built from the credential's settings and the cloud's endpoints; its caches use
  // the request deadline. Secret files are read at every fetch: a rotated secret needs no rebuild.
  return x->second == y->second && a.endpoints == b.endpoints &&
         a.request_deadline == b.request_deadline;
}

// A PAT belongs to the principal that minted it and to the workspace it was minted in; the ledger
// lives in state_dir and the comments carry the instance name.
bool same_workspace_identity(const Config& a, const Config& b, const WorkspaceConfig& x,
                             const WorkspaceConfig& y) {
  return x.credential == y.credential && x.host == y.host && x.resource_id == y.resource_id &&
         x.management_token == y.management_token && x.pat.enabled == y.pat.enabled &&
         a.state_dir == b.state_dir && a.instance == b.instance;
}

}  // namespace

ReloadPlan reload_plan(const Config& old_config, const Config& new_config) {
  ReloadPlan plan;
  for (const auto& [name, c] : new_config.credentials) {
    if (same_credential(old_config, new_config, name))
      plan.kept_credentials.insert(name);
    else
      plan.new_credentials.insert(name);
  }
  for (const auto& [name, c] : old_config.credentials)
    if (!plan.kept_credentials.count(name)) plan.retired_credentials.insert(name);

  for (const auto& [name, ws] : new_config.workspaces) {
    const auto old = old_config.workspaces.find(name);
    if (old != old_config.workspaces.end() && plan.kept_credentials.count(ws.credential) &&
        same_workspace_identity(old_config, new_config, old->second, ws))
      plan.kept_workspaces.insert(name);
    else
      plan.new_workspaces.insert(name);
  }
  for (const auto& [name, ws] : old_config.workspaces)
    if (!plan.kept_workspaces.count(name)) plan.retired_workspaces.insert(name);
  return plan;
}

}  // namespace dbx
