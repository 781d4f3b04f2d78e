// The peer's executable, read once per connection on first need (an audit record or
// allow.executables in Workspace::authorize), through the connection's socket (peer_process.h).
#pragma once

#include "daemon/server/peer.h"
#include "daemon/server/peer_process.h"

namespace dbx {

const PeerProcess& peer_process(const PeerIdentity& peer);

}  // namespace dbx
