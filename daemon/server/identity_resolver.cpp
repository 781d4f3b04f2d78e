// IdentityResolver: see identity_resolver.h.
#include "daemon/server/identity_resolver.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

namespace dbx {

AllowNames allow_names(const Config& config) {
  AllowNames names;
  for (const auto& [name, ws] : config.workspaces) {
    if (!ws.allow) continue;
    if (!ws.allow->users.empty() || !ws.allow->groups.empty()) names.user = true;
    names.groups.insert(names.groups.end(), ws.allow->groups.begin(), ws.allow->groups.end());
  }
  std::sort(names.groups.begin(), names.groups.end());
  names.groups.erase(std::unique(names.groups.begin(), names.groups.end()), names.groups.end());
  return names;
}

// The workers: a queue of jobs under one mutex. A worker lives while there is work: it is started
// when a job is queued and fewer than max_threads run, and exits when it finds the queue empty, so
// a steady daemon (names cached for 60 s) holds no thread, and no thread's stack in its RSS.
// Workers are detached and keep the pool alive (shared_ptr); the destructor waits for them.
struct IdentityResolver::Pool {
  std::size_t max_threads = 1;
  std::mutex mutex;
  std::condition_variable finished;
  std::deque<std::function<void()>> jobs;
  std::size_t running = 0;
  bool stopping = false;

  void work() {
    std::unique_lock lock(mutex);
    while (!stopping && !jobs.empty()) {
      std::function<void()> job = std::move(jobs.front());
      jobs.pop_front();
      lock.unlock();
      job();
      job = nullptr;  // what the job holds is released here, not under the lock
      lock.lock();
    }
    --running;
    finished.notify_all();
  }
};

IdentityResolver::IdentityResolver(Runtime& runtime, NameService& names, Millis deadline,
                                   std::size_t workers)
    : runtime_(runtime),
      names_service_(names),
      deadline_(deadline),
      waiters_(runtime,
               [this](const PeerIdentity& peer) {
                 PeerIdentity filled = peer;
                 const std::string missing = "no answer from the name service (NSS) within " +
                                             std::to_string(deadline_.count() / 1000) + " s";
                 fill(filled, &missing);
                 return filled;
               }),
      pool_(std::make_shared<Pool>()) {
  pool_->max_threads = std::max<std::size_t>(workers, 1);
}

IdentityResolver::~IdentityResolver() {
  std::unique_lock lock(pool_->mutex);
  pool_->stopping = true;
  pool_->finished.wait(lock, [this] { return pool_->running == 0; });
}

void IdentityResolver::set_names(const AllowNames& names) {
  if (names == names_) return;
  names_ = names;
  ++generation_;
  // Connections waiting now need what the new names need. The others ask at their next request:
  // nothing is looked up ahead (at start-up, no NSS module is loaded before a client connects).
  const SteadyTime now = runtime_.steady_now();
  waiters_.for_each([&](const PeerIdentity& peer) { request(peer, now); });
}

bool IdentityResolver::fill(PeerIdentity& peer) const {
  return fill(peer, nullptr);
}

std::optional<bool> IdentityResolver::needs_database_groups(const PeerIdentity& peer,
                                                            SteadyTime now) const {
  bool needed = false;
  for (const auto& name : names_.groups) {
    const GroupLookup* g = groups_.fresh(name, now);
    if (g == nullptr) return std::nullopt;
    // A group that is unknown or failed matches nothing, however the user is looked up.
    if (g->gid && std::find(peer.groups.begin(), peer.groups.end(), *g->gid) == peer.groups.end())
      needed = true;
  }
  return needed;
}

bool IdentityResolver::fill(PeerIdentity& peer, const std::string* missing) const {
  const SteadyTime now = runtime_.steady_now();
  bool complete = true;
  peer.names_generation = generation_;
  peer.allow_groups.clear();
  peer.user.clear();
  peer.database_groups.clear();
  peer.user_failure.clear();
  // uid 0 passes every allow list without it (Workspace::authorize): no name is looked up for
  // root, so root's `dbxcred status` loads no NSS module either.
  if (peer.uid == 0) return true;
  for (const auto& name : names_.groups) {
    if (const GroupLookup* g = groups_.fresh(name, now)) {
      peer.allow_groups.push_back(ResolvedGroup{name, g->gid, g->failure});
    } else {
      complete = false;
      if (missing != nullptr)
        peer.allow_groups.push_back(ResolvedGroup{name, std::nullopt, *missing});
    }
  }
  if (names_.user) {
    const UserLookup* u = users_.fresh(peer.uid, now);
    // The database's groups are needed only for a named group the process does not have.
    const bool with_groups = needs_database_groups(peer, now).value_or(true);
    if (u != nullptr) {  // the name counts even while the group list is still missing
      peer.user = u->name;
      peer.database_groups = u->groups;
      peer.user_failure = u->failure;
    }
    if (u == nullptr || (with_groups && !u->with_groups)) {
      complete = false;
      if (missing != nullptr) peer.user_failure = *missing;
    }
  }
  return complete;
}

// Queues the lookups `peer` still lacks, the user's and the groups' in parallel. The group
// database's list of the user's groups is asked for only once the named groups are resolved and
// one of them is not among the process's own groups (SO_PEERGROUPS): a client that has the group
// from its login or unit needs no getgrouplist(), which walks every NSS module (loading each) and
// is the slowest lookup on LDAP and SSSD. When it is needed, it follows the user's answer.
void IdentityResolver::request(const PeerIdentity& peer, SteadyTime now) {
  for (const auto& group : names_.groups) look_up_group(group, now);
  if (names_.user) look_up(peer.uid, needs_database_groups(peer, now).value_or(false), now);
}

void IdentityResolver::resolve(PeerIdentity peer, std::function<void(PeerIdentity)> done) {
  PeerIdentity filled = peer;
  if (fill(filled)) {
    runtime_.post([done = std::move(done), filled = std::move(filled)]() mutable {
      done(std::move(filled));
    });
    return;
  }
  request(peer, runtime_.steady_now());
  waiters_.add(deadline_, std::move(peer), std::move(done));
}

void IdentityResolver::look_up(uid_t uid, bool with_groups, SteadyTime now) {
  const UserLookup* cached = users_.fresh(uid, now);
  if (cached != nullptr && (cached->with_groups || !with_groups)) return;
  // One lookup of a uid at a time: its answer settles the waiters and asks for what is missing.
  if (!users_in_flight_.insert(uid).second) return;
  // The user found already (without its group list): only the list is asked for.
  std::optional<UserEntry> known;
  if (cached != nullptr) known = UserEntry{cached->name, cached->gid};
  submit([this, alive = std::weak_ptr<int>(alive_), uid, with_groups, known] {
    // On a worker thread: only the name service and Runtime::post (thread-safe) are touched.
    UserLookup answer;
    std::optional<UserEntry> entry = known;
    if (!entry) {
      auto user = names_service_.user(uid);
      if (user) entry = *user;
      if (!user) answer.failure = user.error().message;
    }
    if (entry) {
      answer.name = entry->name;
      answer.gid = entry->gid;
      answer.with_groups = with_groups;
      if (with_groups) {
        auto groups = names_service_.group_list(entry->name, entry->gid);
        if (groups)
          answer.groups = std::move(*groups);
        else
          answer.failure = groups.error().message;
      }
    } else {
      answer.with_groups = true;  // no such user, or the lookup failed: no list to wait for
    }
    runtime_.post([this, alive, uid, answer = std::move(answer)]() mutable {
      if (alive.lock()) user_answer(uid, std::move(answer));
    });
  });
}

void IdentityResolver::look_up_group(const std::string& name, SteadyTime now) {
  if (groups_.fresh(name, now) != nullptr || groups_in_flight_.contains(name)) return;
  groups_in_flight_.insert(name);
  submit([this, alive = std::weak_ptr<int>(alive_), name] {
    GroupLookup answer;
    auto gid = names_service_.group_gid(name);
    if (gid)
      answer.gid = *gid;
    else
      answer.failure = gid.error().message;
    runtime_.post([this, alive, name, answer = std::move(answer)]() mutable {
      if (alive.lock()) group_answer(name, std::move(answer));
    });
  });
}

void IdentityResolver::submit(std::function<void()> job) {
  bool start_thread = false;
  {
    std::lock_guard lock(pool_->mutex);
    pool_->jobs.push_back(std::move(job));
    // A running worker may be stuck in a slow lookup: one more, up to max_threads, takes this job.
    start_thread = pool_->running < pool_->max_threads;
    if (start_thread) ++pool_->running;
  }
  if (start_thread) std::thread([pool = pool_] { pool->work(); }).detach();
}

void IdentityResolver::user_answer(uid_t uid, UserLookup answer) {
  users_in_flight_.erase(uid);
  const SteadyTime now = runtime_.steady_now();
  const bool negative = answer.name.empty() || !answer.failure.empty();
  users_.put(uid, std::move(answer), now, now + (negative ? kNameNegativeTtl : kNamePositiveTtl));
  settle();
}

void IdentityResolver::group_answer(const std::string& name, GroupLookup answer) {
  groups_in_flight_.erase(name);
  const SteadyTime now = runtime_.steady_now();
  const bool negative = !answer.gid;
  groups_.put(name, std::move(answer), now, now + (negative ? kNameNegativeTtl : kNamePositiveTtl));
  settle();
}

// Answers every waiter whose answers are all in the cache now; asks for what the others need
// next (the group list, once the groups' answers showed it is needed).
void IdentityResolver::settle() {
  const SteadyTime now = runtime_.steady_now();
  waiters_.settle_if([this, now](const PeerIdentity& peer) -> std::optional<PeerIdentity> {
    PeerIdentity filled = peer;
    if (fill(filled)) return filled;
    request(peer, now);
    return std::nullopt;
  });
}

}  // namespace dbx
