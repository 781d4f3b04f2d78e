// The whole per-workspace access decision for a socket peer: `allow` users/groups/uids
// (peer.h is_allowed) and, when listed, `allow.executables` (executable_check.h), with the
// reason a refusal gives. The peer's executable is read once per connection, on first need.
#pragma once

#include <string>

#include "common/config.h"
#include "daemon/server/executable_check.h"
#include "daemon/server/peer.h"

namespace dbx {

struct AccessVerdict {
  bool allowed = false;
  std::string reason;  // when refused: one line for the caller and the audit record
};

// The executable of the peer, read through its pidfd the first time it is asked for.
const PeerProcess& peer_process(const PeerIdentity& peer);

// uid 0 is always allowed (root can read the state directory anyway). With executables listed and
// users, groups and uids all empty, the executable alone decides.
AccessVerdict authorize_peer(const WorkspaceConfig& ws, const PeerIdentity& peer,
                             ExeHashCache& hashes);

}  // namespace dbx
