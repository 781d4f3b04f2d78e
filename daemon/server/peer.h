// Who is on the other end of a socket connection: SO_PEERCRED and SO_PEERGROUPS read once per
// connection, what the name service says of that user (filled in by the IdentityResolver before
// the connection's first request is routed), and the pure `allow` group check (SPEC.md "Access").
// No NSS call here: every lookup runs on the resolver's workers (identity_resolver.h).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/config.h"
#include "daemon/server/peer_process.h"

namespace dbx {

// A group named by an `allow` list, as the name service resolved it.
struct ResolvedGroup {
  std::string name;
  std::optional<gid_t> gid;  // nullopt: no such group, or the lookup failed
  std::string failure;  // why the lookup failed ("getgrnam_r(\"data\"): ..."); "" if it did not
};

struct PeerIdentity {
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  pid_t pid = 0;
  std::vector<gid_t> groups;  // primary and supplementary, as the process has them (kernel)
  // From the name service (IdentityResolver::fill), as of the connection's first request or of
  // the first request after a reload changed the names the allow lists use:
  std::string user;                    // "" when the uid has no passwd entry (or none is needed)
  std::vector<gid_t> database_groups;  // the groups the group database lists the user in
  std::string user_failure;            // why the user lookup failed; "" if it did not
  std::vector<ResolvedGroup> allow_groups;  // every group named by an allow list
  std::uint64_t names_generation = 0;       // which allow-list names these cover (0: none yet)
  // The connection's socket, for the peer's pidfd (-1: none, e.g. in unit tests), and the peer's
  // executable, read on first need (peer_access.h: an audit record or allow.executables).
  int socket_fd = -1;
  mutable std::optional<PeerProcess> process;
  // On the Unix socket, once a request came: `pid` is the process that sent the current request
  // (not the one that connected; request_sender.h), and this its pidfd where the kernel gave one.
  bool sender_known = false;
  std::shared_ptr<const int> sender_pidfd;
  bool sender_pidfd_by_pid = false;  // opened by the daemon for the pid (not the kernel's)
};

// Reads SO_PEERCRED and SO_PEERGROUPS of a connected AF_UNIX socket: the peer's uid, gid and
// supplementary groups as the kernel saw them at connect time (a unit's SupplementaryGroups=
// included). No name lookup.
std::optional<PeerIdentity> read_peer(int fd);
// The identity of those credentials, primary group first, without duplicates (used by read_peer).
PeerIdentity make_peer(uid_t uid, gid_t gid, pid_t pid, const std::vector<gid_t>& supplementary);

// uid 0 is always allowed; no `allow` list means whoever can open the socket. A group matches when
// the process has it, or else when the group database lists the user in it. Pure: a group the
// resolver has not resolved for this peer (unknown, failed) matches nothing.
bool is_allowed(const std::optional<AllowList>& allow, const PeerIdentity& peer);

// Why a lookup this allow list depends on failed for `peer` ("" when none did): the user lookup
// when the list names users or groups, the lookup of each group it names.
std::string lookup_failure(const AllowList& allow, const PeerIdentity& peer);

}  // namespace dbx
