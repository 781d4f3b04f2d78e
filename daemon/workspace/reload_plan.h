// reload_plan: what a configuration reload keeps, builds anew and retires — a pure function of the
// old and the new Config, so every rule is unit-tested without a daemon.
//
// A credential is kept when its CredentialConfig, the endpoints and the request deadline are
// unchanged (its source and token caches then serve on: no new upstream call).
// A workspace is kept when its credential is kept and what its PATs and host belong to is
// unchanged: credential, host, resource_id, management_token, whether PATs are on, state_dir and
// instance. A kept workspace keeps its looked-up host, current PAT and PatManager; its allow list
// and PAT policy are applied with Workspace::reconfigure(). A workspace whose identity changed is
// both retired (the old object) and new (a fresh one; it shares the old one's PatLedger).
#pragma once

#include <set>
#include <string>

#include "common/config.h"

namespace dbx {

struct ReloadPlan {
  std::set<std::string> kept_credentials, new_credentials, retired_credentials;
  std::set<std::string> kept_workspaces, new_workspaces, retired_workspaces;
};

ReloadPlan reload_plan(const Config& old_config, const Config& new_config);

}  // namespace dbx
