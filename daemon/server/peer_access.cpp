#include "daemon/server/peer_access.h"

namespace dbx {

const PeerProcess& peer_process(const PeerIdentity& peer) {
  if (!peer.process) {
    if (peer.socket_fd >= 0) {
      peer.process = identify_peer_process(peer.socket_fd, peer.pid);
    } else {
      PeerProcess p;
      p.pid = peer.pid;
      p.why = "no socket to identify the process by";
      peer.process = std::move(p);
    }
  }
  return *peer.process;
}

}  // namespace dbx
