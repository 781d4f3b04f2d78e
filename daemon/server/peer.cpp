#include "daemon/server/peer.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace dbx {

std::optional<PeerIdentity> read_peer(int fd) {
  struct ucred cred {};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return std::nullopt;
  // The supplementary groups the peer process had when it connected, as the kernel recorded them
  // (Linux 4.13+): what the socket file's own group check used, and what a unit's
  // SupplementaryGroups= or a dropped group really gives the process.
  std::vector<gid_t> groups(32);
  for (;;) {
    socklen_t size = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &size) == 0) {
      groups.resize(size / sizeof(gid_t));
      break;
    }
    if (errno != ERANGE || size / sizeof(gid_t) <= groups.size()) return std::nullopt;
    groups.resize(size / sizeof(gid_t));
  }
  PeerIdentity peer = make_peer(cred.uid, cred.gid, cred.pid, groups);
  peer.socket_fd = fd;
  return peer;
}

PeerIdentity make_peer(uid_t uid, gid_t gid, pid_t pid, const std::vector<gid_t>& supplementary) {
  PeerIdentity p;
  p.uid = uid;
  p.gid = gid;
  p.pid = pid;
  p.groups.push_back(gid);
  for (gid_t g : supplementary)
    if (std::find(p.groups.begin(), p.groups.end(), g) == p.groups.end()) p.groups.push_back(g);
  return p;
}

namespace {

const ResolvedGroup* resolved(const PeerIdentity& peer, const std::string& name) {
  for (const auto& g : peer.allow_groups)
    if (g.name == name) return &g;
  return nullptr;
}

bool has(const std::vector<gid_t>& groups, gid_t gid) {
  return std::find(groups.begin(), groups.end(), gid) != groups.end();
}

}  // namespace

bool is_allowed(const std::optional<AllowList>& allow, const PeerIdentity& peer) {
  if (!allow || peer.uid == 0) return true;
  if (std::find(allow->uids.begin(), allow->uids.end(), peer.uid) != allow->uids.end()) return true;
  if (!peer.user.empty() &&
      std::find(allow->users.begin(), allow->users.end(), peer.user) != allow->users.end())
    return true;
  for (const auto& name : allow->groups) {
    const ResolvedGroup* g = resolved(peer, name);
    if (g != nullptr && g->gid && (has(peer.groups, *g->gid) || has(peer.database_groups, *g->gid)))
      return true;
  }
  return false;
}

std::string lookup_failure(const AllowList& allow, const PeerIdentity& peer) {
  if ((!allow.users.empty() || !allow.groups.empty()) && !peer.user_failure.empty())
    return peer.user_failure;
  for (const auto& name : allow.groups) {
    const ResolvedGroup* g = resolved(peer, name);
    if (g != nullptr && !g->failure.empty()) return g->failure;
  }
  return "";
}

}  // namespace dbx
