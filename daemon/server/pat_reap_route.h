// POST /v1/workspaces/{ws}/pat/reap?agent=ID (`dbxcred pat reap --agent ID`): the operator deletes
// the PATs of another agent (a cloned VM's, a retired daemon's) that this daemon's principal holds
// in the workspace (PatManager::reap_agent). Root and the daemon's own user only: the PATs of
// another agent may be in use by its jobs, and deleting them is the operator's decision.
#pragma once

#include <functional>
#include <memory>
#include <string_view>

#include "daemon/broker.h"
#include "daemon/server/peer.h"
#include "daemon/server/router.h"

namespace dbx {

// The workspace name of a reap path ("/v1/workspaces/W/pat/reap"), or an empty view.
std::string_view pat_reap_workspace(std::string_view path);

// Answers the request: 405 for a method other than POST, 403 for another user, 404 for an unknown
// workspace, 400 for a missing, malformed or own agent id; 200 with
// {"workspace","agent","deleted":[token ids],"kept":N}. `done` is called once, maybe later.
void answer_pat_reap(const std::shared_ptr<Broker>& broker, std::string_view method,
                     std::string_view workspace, std::string_view query, const PeerIdentity& peer,
                     std::function<void(ApiResponse)> done);

}  // namespace dbx
