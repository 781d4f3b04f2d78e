// Who is on the other end of a socket connection: SO_PEERCRED and SO_PEERGROUPS read once per
// connection, the user's name resolved once, and the per-workspace `allow` check (SPEC.md
// "Access").
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/config.h"
#include "daemon/server/peer_process.h"

namespace dbx {

struct PeerIdentity {
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  pid_t pid = 0;
  std::string user;           // "" when the uid has no passwd entry
  std::vector<gid_t> groups;  // primary and supplementary, as the process has them (kernel)
  // The user's groups in the group database (getgrouplist), read only when an `allow` group is
  // not among `groups`: a user added to a group whose running process does not have it yet.
  // Mutable: a memo, like resolved_groups.
  mutable std::optional<std::vector<gid_t>> database_groups;
  // The `allow` lists' group names this connection has been checked against, resolved to gids
  // (nullopt: no such group). is_allowed() fills it, so only a connection's first request makes
  // NSS calls (getgrnam_r reads /etc/group every time). A group renumbered while the connection is
  // open applies from its next connection, as do the peer's own groups, read at connect time.
  // Mutable: a memo of a const identity; each connection owns its copy, on the loop thread.
  mutable std::vector<std::pair<std::string, std::optional<gid_t>>> resolved_groups;
  // The connection's socket, for the peer's pidfd (-1: none, e.g. in unit tests), and the peer's
  // executable, read on first need (peer_access.h: an audit record or allow.executables).
  int socket_fd = -1;
  mutable std::optional<PeerProcess> process;
};

// Reads SO_PEERCRED and SO_PEERGROUPS of a connected AF_UNIX socket: the peer's uid, gid and
// supplementary groups as the kernel saw them at connect time (a unit's SupplementaryGroups=
// included), and resolves the user name. The user's groups in the group database are looked up
// only if an allow check needs them (is_allowed).
std::optional<PeerIdentity> read_peer(int fd);
// The identity of those credentials, with the user's name looked up (used by read_peer).
PeerIdentity make_peer(uid_t uid, gid_t gid, pid_t pid, const std::vector<gid_t>& supplementary);

// Runs an NSS *_r lookup `call(buffer, size)` (returning 0 or an errno value) with a buffer that
// starts at 1 KiB and doubles on ERANGE up to 16 MiB, so that a group with thousands of members
// (LDAP, SSSD) is read instead of failing closed. Returns the call's last result; the buffer
// handed to the last call stays valid in `buffer`.
int nss_call(std::vector<char>& buffer, const std::function<int(char*, std::size_t)>& call);

// uid 0 is always allowed; no `allow` list means whoever can open the socket. A group matches when
// the process has it, or else when the group database lists the user in it.
bool is_allowed(const std::optional<AllowList>& allow, const PeerIdentity& peer);

}  // namespace dbx
