#include "daemon/server/peer.h"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

namespace dbx {

std::optional<PeerIdentity> read_peer(int fd) {
  struct ucred cred {};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return std::nullopt;
  return resolve_peer(cred.uid, cred.gid, cred.pid);
}

PeerIdentity resolve_peer(uid_t uid, gid_t gid, pid_t pid) {
  PeerIdentity p;
  p.uid = uid;
  p.gid = gid;
  p.pid = pid;
  p.groups.push_back(gid);
  std::vector<char> buf(16384);
  struct passwd pw {};
  struct passwd* found = nullptr;
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
    p.user = pw.pw_name;
    int n = 64;
    std::vector<gid_t> groups(n);
    if (::getgrouplist(pw.pw_name, gid, groups.data(), &n) < 0) {
      groups.resize(n);
      ::getgrouplist(pw.pw_name, gid, groups.data(), &n);
    }
    groups.resize(std::max(n, 0));
    for (gid_t g : groups)
      if (std::find(p.groups.begin(), p.groups.end(), g) == p.groups.end()) p.groups.push_back(g);
  }
  return p;
}

namespace {

// The gid of group `name`, from the connection's memo or, the first time, from NSS.
std::optional<gid_t> group_gid(const PeerIdentity& peer, const std::string& name) {
  for (const auto& [known, gid] : peer.resolved_groups)
    if (known == name) return gid;
  std::optional<gid_t> gid;
  std::vector<char> buf(16384);
  struct group gr {};
  struct group* found = nullptr;
  if (::getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &found) == 0 && found != nullptr)
    gid = gr.gr_gid;
  peer.resolved_groups.emplace_back(name, gid);
  return gid;
}

}  // namespace

bool is_allowed(const std::optional<AllowList>& allow, const PeerIdentity& peer) {
  if (!allow || peer.uid == 0) return true;
  if (std::find(allow->uids.begin(), allow->uids.end(), peer.uid) != allow->uids.end()) return true;
  if (!peer.user.empty() &&
      std::find(allow->users.begin(), allow->users.end(), peer.user) != allow->users.end())
    return true;
  for (const auto& name : allow->groups) {
    const std::optional<gid_t> gid = group_gid(peer, name);
    if (gid && std::find(peer.groups.begin(), peer.groups.end(), *gid) != peer.groups.end())
      return true;
  }
  return false;
}

}  // namespace dbx
