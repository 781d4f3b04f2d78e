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

AccessVerdict authorize_peer(const WorkspaceConfig& ws, const PeerIdentity& peer,
                             ExeHashCache& hashes) {
  if (!ws.allow || peer.uid == 0) return {true, ""};
  const AllowList& allow = *ws.allow;
  const bool identity_listed = !allow.users.empty() || !allow.groups.empty() || !allow.uids.empty();
  if ((identity_listed || allow.executables.empty()) && !is_allowed(ws.allow, peer))
    return {false, "uid " + std::to_string(peer.uid) + " may not use workspace " + ws.name +
                       "; ask the operator to add it to workspaces." + ws.name + ".allow"};
  if (allow.executables.empty()) return {true, ""};
  const ExecutableVerdict v = check_executables(allow.executables, peer_process(peer), hashes);
  if (v.allowed) return {true, ""};
  return {false, v.reason + "; workspace " + ws.name + " admits only the programs in workspaces." +
                     ws.name + ".allow.executables"};
}

}  // namespace dbx
