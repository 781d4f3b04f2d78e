// IdentityResolver: what the name service says of a connecting peer — its user name, the groups
// the group database lists it in, and the gids of the groups the allow lists name — with no NSS
// call on the event loop, so one slow LDAP or SSSD lookup stalls only the connections waiting for
// that answer. Answers are cached (kNamePositiveTtl, kNameNegativeTtl); what the cache lacks is
// looked up by a few worker threads (alive only while there is work) and posted back to the loop.
//
// When completions run: fill() answers from the cache, synchronously. resolve() never calls `done`
// inline: it runs on the loop, from a worker's posted answer or from the deadline (Waiters).
// Everything but the workers runs on the loop thread.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/config.h"
#include "daemon/cache/waiters.h"
#include "daemon/runtime.h"
#include "daemon/server/name_cache.h"
#include "daemon/server/name_service.h"
#include "daemon/server/peer.h"

namespace dbx {

// How long a found user or group is believed. A user removed from a group (or the group from an
// allow list's reach) keeps access for up to this long on new connections — and, as before, for
// the life of a connection opened earlier. Short enough for an operator's change to apply within
// a minute; long enough that a busy host asks NSS about each user about once a minute, not once
// per connection.
inline constexpr Seconds kNamePositiveTtl{60};
// How long "no such user/group" or a failed lookup is believed: a user or group just created is
// seen within seconds, and a failing LDAP server is not asked again by every connection.
inline constexpr Seconds kNameNegativeTtl{5};
// Entries per cache (users, groups): a bound on memory whatever uids connect.
inline constexpr std::size_t kNameCacheEntries = 4096;
// Lookups in progress at once: one lookup that hangs (an unreachable LDAP server, until the NSS
// module's own timeout) leaves the others to answer the other connections.
inline constexpr std::size_t kNameWorkers = 4;

// The names the allow lists use, i.e. what must be resolved for every connection.
struct AllowNames {
  bool user = false;                // some list names users or groups: the user's name is needed
  std::vector<std::string> groups;  // every group some list names, sorted, once each
  bool operator==(const AllowNames&) const = default;
};
AllowNames allow_names(const Config& config);

class IdentityResolver {
 public:
  // `deadline`: how long resolve() waits for the name service before answering with the lookups
  // still missing marked as failed (so the allow check denies, saying why).
  IdentityResolver(Runtime& runtime, NameService& names, Millis deadline,
                   std::size_t workers = kNameWorkers);
  // Stops the workers; a lookup in progress is waited for (NSS calls cannot be interrupted).
  ~IdentityResolver();
  IdentityResolver(const IdentityResolver&) = delete;
  IdentityResolver& operator=(const IdentityResolver&) = delete;

  // The names of the current configuration (at start and on every reload). Changed names start a
  // new generation: open connections are filled again at their next request, connections waiting
  // for lookups get those of the new names too.
  void set_names(const AllowNames& names);
  std::uint64_t generation() const { return generation_; }

  // Fills in `peer` from the cache for the current names; true when every answer was there.
  bool fill(PeerIdentity& peer) const;
  // Looks up what the cache lacks for `peer` and calls `done` with it filled in, later, on the
  // loop.
  void resolve(PeerIdentity peer, std::function<void(PeerIdentity)> done);

  std::size_t waiting() const { return waiters_.size(); }

 private:
  struct UserLookup {
    std::string name;                    // "" when no passwd entry
    gid_t gid = static_cast<gid_t>(-1);  // the passwd entry's primary group
    std::vector<gid_t> groups;           // from the group database, when with_groups
    std::string failure;                 // "" when the lookups succeeded
    bool with_groups = false;  // the list is in `groups` (or there is none: no entry, failed)
  };
  struct GroupLookup {
    std::optional<gid_t> gid;
    std::string failure;
  };
  struct Pool;  // the worker threads and their queue

  // Fills what the cache has; a missing answer is marked failed with `missing` unless null.
  bool fill(PeerIdentity& peer, const std::string* missing) const;
  // Whether `peer` needs the group database's list of its user's groups: true when a named group
  // resolved to a gid the process does not have; nullopt while a named group is not resolved.
  std::optional<bool> needs_database_groups(const PeerIdentity& peer, SteadyTime now) const;
  void request(const PeerIdentity& peer, SteadyTime now);  // queues the lookups peer lacks
  void look_up(uid_t uid, bool with_groups, SteadyTime now);
  void look_up_group(const std::string& name, SteadyTime now);
  void submit(std::function<void()> job);
  void user_answer(uid_t uid, UserLookup answer);
  void group_answer(const std::string& name, GroupLookup answer);
  void settle();

  Runtime& runtime_;
  NameService& names_service_;
  Millis deadline_;
  AllowNames names_;
  std::uint64_t generation_ = 1;
  NameCache<uid_t, UserLookup> users_{kNameCacheEntries};
  NameCache<std::string, GroupLookup> groups_{kNameCacheEntries};
  std::set<uid_t> users_in_flight_;
  std::set<std::string, std::less<>> groups_in_flight_;
  Waiters<PeerIdentity, PeerIdentity> waiters_;  // info: the peer as it came
  std::shared_ptr<Pool> pool_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // answers posted after us are dropped
};

}  // namespace dbx
