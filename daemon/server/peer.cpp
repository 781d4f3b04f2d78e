#include "daemon/server/peer.h"

#include <grp.h>
#include <pwd.h>
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

int nss_call(std::vector<char>& buffer, const std::function<int(char*, std::size_t)>& call) {
  constexpr std::size_t kMax = std::size_t{16} << 20;
  if (buffer.size() < 1024) buffer.resize(1024);
  for (;;) {
    const int rc = call(buffer.data(), buffer.size());
    if (rc != ERANGE || buffer.size() >= kMax) return rc;
    buffer.resize(buffer.size() * 2);
  }
}

PeerIdentity make_peer(uid_t uid, gid_t gid, pid_t pid, const std::vector<gid_t>& supplementary) {
  PeerIdentity p;
  p.uid = uid;
  p.gid = gid;
  p.pid = pid;
  p.groups.push_back(gid);
  for (gid_t g : supplementary)
    if (std::find(p.groups.begin(), p.groups.end(), g) == p.groups.end()) p.groups.push_back(g);
  std::vector<char> buf;
  struct passwd pw {};
  struct passwd* found = nullptr;
  const int rc =
      nss_call(buf, [&](char* b, std::size_t n) { return ::getpwuid_r(uid, &pw, b, n, &found); });
  if (rc == 0 && found != nullptr) p.user = pw.pw_name;
  return p;
}

namespace {

// The gid of group `name`, from the connection's memo or, the first time, from NSS.
std::optional<gid_t> group_gid(const PeerIdentity& peer, const std::string& name) {
  for (const auto& [known, gid] : peer.resolved_groups)
    if (known == name) return gid;
  std::optional<gid_t> gid;
  std::vector<char> buf;
  struct group gr {};
  struct group* found = nullptr;
  const int rc = nss_call(
      buf, [&](char* b, std::size_t n) { return ::getgrnam_r(name.c_str(), &gr, b, n, &found); });
  if (rc == 0 && found != nullptr) gid = gr.gr_gid;
  peer.resolved_groups.emplace_back(name, gid);
  return gid;
}

// The user's groups in the group database, looked up once per connection (NSS: files, and on
// systemd machines nss_systemd, which is why this is not done for every connection).
const std::vector<gid_t>& database_groups(const PeerIdentity& peer) {
  if (!peer.database_groups) {
    std::vector<gid_t> groups;
    if (!peer.user.empty()) {
      // Grown until the list fits (it may grow between two calls).
      int n = 64;
      for (int tries = 0; tries < 8; ++tries) {
        groups.resize(static_cast<std::size_t>(n));
        if (::getgrouplist(peer.user.c_str(), peer.gid, groups.data(), &n) >= 0) break;
        n = std::max(n, static_cast<int>(groups.size()) * 2);
      }
      groups.resize(static_cast<std::size_t>(std::max(n, 0)));
    }
    peer.database_groups = std::move(groups);
  }
  return *peer.database_groups;
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
    const std::optional<gid_t> gid = group_gid(peer, name);
    if (gid && has(peer.groups, *gid)) return true;
  }
  for (const auto& name : allow->groups) {
    const std::optional<gid_t> gid = group_gid(peer, name);
    if (gid && has(database_groups(peer), *gid)) return true;
  }
  return false;
}

}  // namespace dbx
