// The process behind a peer's request, read on first need (an audit record or allow.executables
// in Workspace::authorize) and kept until the sender changes. On the Unix socket that is the
// process that sent the request's bytes (request_sender.h): through its pidfd (Linux 6.5+), else
// by its pid with a pidfd opened for it (peer_process.h). Without a sender (unit tests), the
// connecting process, through the connection's socket.
#pragma once

#include "daemon/server/peer.h"
#include "daemon/server/peer_process.h"
#include "daemon/server/request_sender.h"

namespace dbx {

const PeerProcess& peer_process(const PeerIdentity& peer);

// Notes that `sender` sent the request about to be routed as `peer`. A sender other than the
// last one (pid or pidfd) forgets the process read for the last; the same one keeps it, so a
// connection whose sender does not change pays no new lookup.
void note_sender(PeerIdentity& peer, const RequestSender& sender);

}  // namespace dbx
