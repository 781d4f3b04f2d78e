#include "daemon/server/peer_access.h"

namespace dbx {

const PeerProcess& peer_process(const PeerIdentity& peer) {
  if (!peer.process) {
    if (peer.sender_known && peer.sender_pidfd) {
      peer.process = identify_process(*peer.sender_pidfd, peer.pid);
      if (peer.sender_pidfd_by_pid) peer.process->pidfd = false;  // not the kernel's word
    } else if (peer.sender_known) {
      peer.process = identify_pid(peer.pid);
    } else if (peer.socket_fd >= 0) {
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

void note_sender(PeerIdentity& peer, const RequestSender& sender) {
  if (peer.sender_known && peer.pid == sender.pid && peer.sender_pidfd == sender.pidfd) return;
  peer.sender_known = true;
  peer.pid = sender.pid;
  peer.sender_pidfd = sender.pidfd;
  peer.sender_pidfd_by_pid = sender.pidfd_by_pid;
  peer.process.reset();
}

}  // namespace dbx
