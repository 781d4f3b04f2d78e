#include "daemon/server/identity_resolver.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "tests/daemon/fake_runtime.h"

namespace dbx {
namespace {

// A name service whose user lookups can be held (a hung LDAP server) or made to fail (EIO).
class FakeNames : public NameService {
 public:
  Result<std::optional<UserEntry>> user(uid_t uid) override {
    std::unique_lock lock(mutex_);
    ++user_calls_[uid];
    changed_.notify_all();
    // The limit only keeps a broken test from hanging forever.
    changed_.wait_for(lock, std::chrono::seconds(60), [&] { return !held_.contains(uid); });
    if (failing_.contains(uid)) return make_error(ErrorCode::internal, "getpwuid_r: EIO");
    auto it = users_.find(uid);
    if (it == users_.end()) return std::optional<UserEntry>();
    return std::optional<UserEntry>(it->second);
  }
  Result<std::optional<gid_t>> group_gid(const std::string& name) override {
    std::unique_lock lock(mutex_);
    ++group_calls_;
    changed_.wait_for(lock, std::chrono::seconds(60), [&] { return !groups_held_; });
    auto it = groups_.find(name);
    if (it == groups_.end()) return std::optional<gid_t>();
    return std::optional<gid_t>(it->second);
  }
  Result<std::vector<gid_t>> group_list(const std::string& user, gid_t gid) override {
    std::lock_guard lock(mutex_);
    ++group_list_calls_;
    std::vector<gid_t> out{gid};
    if (auto it = members_.find(user); it != members_.end())
      out.insert(out.end(), it->second.begin(), it->second.end());
    return out;
  }

  void add_user(uid_t uid, std::string name, std::vector<gid_t> extra = {}) {
    std::lock_guard lock(mutex_);
    members_[name] = std::move(extra);
    users_[uid] = UserEntry{std::move(name), uid};
  }
  void add_group(const std::string& name, gid_t gid) {
    std::lock_guard lock(mutex_);
    groups_[name] = gid;
  }
  void hold(uid_t uid) {
    std::lock_guard lock(mutex_);
    held_.insert(uid);
  }
  void hold_groups() {
    std::lock_guard lock(mutex_);
    groups_held_ = true;
  }
  void fail(uid_t uid) {
    std::lock_guard lock(mutex_);
    failing_.insert(uid);
  }
  void release_all() {
    std::lock_guard lock(mutex_);
    held_.clear();
    groups_held_ = false;
    changed_.notify_all();
  }
  // Blocks until a lookup of `uid` has started (it is then held, or answered).
  void wait_for_lookup(uid_t uid) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, std::chrono::seconds(60), [&] { return user_calls_[uid] > 0; });
  }
  int user_calls(uid_t uid) {
    std::lock_guard lock(mutex_);
    return user_calls_[uid];
  }
  int group_calls() {
    std::lock_guard lock(mutex_);
    return group_calls_;
  }
  int group_list_calls() {
    std::lock_guard lock(mutex_);
    return group_list_calls_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<uid_t, UserEntry> users_;
  std::map<std::string, std::vector<gid_t>> members_;
  std::map<std::string, gid_t> groups_;
  std::set<uid_t> held_;
  bool groups_held_ = false;
  std::set<uid_t> failing_;
  std::map<uid_t, int> user_calls_;
  int group_calls_ = 0;
  int group_list_calls_ = 0;
};

class IdentityResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    names.add_user(1001, "alice", {500});
    names.add_user(1002, "bob");
    names.add_user(1003, "carol");
    names.add_group("data", 500);
    make(kNameWorkers);
  }
  void TearDown() override {
    names.release_all();  // a held worker must finish for the resolver to join it
    resolver.reset();
  }
  void make(std::size_t workers) {
    if (resolver) names.release_all();
    resolver = std::make_unique<IdentityResolver>(rt, names, Seconds(15), workers);
    resolver->set_names(AllowNames{true, {"data"}});
  }
  static PeerIdentity peer(uid_t uid) {
    PeerIdentity p;
    p.uid = uid;
    p.gid = uid;
    p.groups = {uid};
    return p;
  }
  // Resolves `p` (by default: `uid` with only its own group) and runs the loop until it is
  // answered.
  PeerIdentity resolved(uid_t uid) { return resolved(peer(uid)); }
  PeerIdentity resolved(PeerIdentity p) {
    const uid_t uid = p.uid;
    std::optional<PeerIdentity> out;
    resolver->resolve(std::move(p), [&](PeerIdentity q) { out = std::move(q); });
    while (!out && rt.wait_and_run()) {
    }
    EXPECT_TRUE(out.has_value()) << "no answer for uid " << uid;
    return out.value_or(PeerIdentity{});
  }

  FakeNames names;
  testing::FakeRuntime rt;
  std::unique_ptr<IdentityResolver> resolver;
};

TEST_F(IdentityResolverTest, ResolvesUserDatabaseGroupsAndAllowGroups) {
  PeerIdentity first = peer(1001);
  EXPECT_FALSE(resolver->fill(first));  // nothing cached yet
  const PeerIdentity p = resolved(1001);
  EXPECT_EQ(p.user, "alice");
  EXPECT_EQ(p.database_groups, (std::vector<gid_t>{1001, 500}));
  ASSERT_EQ(p.allow_groups.size(), 1u);
  EXPECT_EQ(p.allow_groups[0].gid, std::optional<gid_t>(500));
  EXPECT_EQ(p.names_generation, resolver->generation());
  AllowList allow;
  allow.groups = {"data"};
  EXPECT_TRUE(is_allowed(allow, p));  // through the group database, not the process's groups
  // The next connection of the same uid is filled from the cache, with no thread hop.
  PeerIdentity again = peer(1001);
  EXPECT_TRUE(resolver->fill(again));
  EXPECT_EQ(again.user, "alice");
  EXPECT_EQ(names.user_calls(1001), 1);
  EXPECT_EQ(names.group_calls(), 1);
}

// The point of the resolver: uid 1001's lookup hangs (LDAP down for it) while bob, who is not
// cached, and carol, who is, are served. Then 1001's lookup answers and its connection completes.
TEST_F(IdentityResolverTest, ASlowLookupHoldsUpOnlyTheConnectionsWaitingForIt) {
  resolved(1003);  // carol is cached
  names.hold(1001);
  std::optional<PeerIdentity> alice;
  resolver->resolve(peer(1001), [&](PeerIdentity p) { alice = std::move(p); });
  names.wait_for_lookup(1001);  // a worker is now stuck in it

  PeerIdentity carol = peer(1003);
  EXPECT_TRUE(resolver->fill(carol));  // at once, from the cache
  EXPECT_EQ(carol.user, "carol");
  const PeerIdentity bob = resolved(1002);  // on another worker, meanwhile
  EXPECT_EQ(bob.user, "bob");
  EXPECT_FALSE(alice.has_value());
  EXPECT_EQ(resolver->waiting(), 1u);

  names.release_all();
  while (!alice) ASSERT_TRUE(rt.wait_and_run());
  EXPECT_EQ(alice->user, "alice");
}

// With a single worker stuck, cached identities are still filled at once; a second connection of
// the stuck uid joins the lookup in progress instead of starting another.
TEST_F(IdentityResolverTest, OneStuckWorkerStillLetsCachedPeersThrough) {
  make(1);
  resolved(1003);
  names.hold(1001);
  int answered = 0;
  resolver->resolve(peer(1001), [&](PeerIdentity) { ++answered; });
  resolver->resolve(peer(1001), [&](PeerIdentity) { ++answered; });
  names.wait_for_lookup(1001);
  PeerIdentity carol = peer(1003);
  EXPECT_TRUE(resolver->fill(carol));
  names.release_all();
  while (answered < 2) ASSERT_TRUE(rt.wait_and_run());
  EXPECT_EQ(names.user_calls(1001), 1);
}

TEST_F(IdentityResolverTest, FoundEntriesExpireAfterThePositiveTtl) {
  resolved(1001);
  rt.advance(kNamePositiveTtl - Seconds(1));
  PeerIdentity p = peer(1001);
  EXPECT_TRUE(resolver->fill(p));
  rt.advance(Seconds(1));
  EXPECT_FALSE(resolver->fill(p));  // looked up again on the next connection
  EXPECT_EQ(resolved(1001).user, "alice");
  EXPECT_EQ(names.user_calls(1001), 2);
}

TEST_F(IdentityResolverTest, NotFoundAndFailuresAreCachedBriefly) {
  names.fail(1002);
  const PeerIdentity ghost = resolved(4242);  // no passwd entry: an answer, not a failure
  EXPECT_TRUE(ghost.user.empty());
  EXPECT_TRUE(ghost.user_failure.empty());
  const PeerIdentity failed = resolved(1002);
  EXPECT_EQ(failed.user_failure, "getpwuid_r: EIO");
  PeerIdentity p = peer(4242), q = peer(1002);
  rt.advance(kNameNegativeTtl - Seconds(1));
  EXPECT_TRUE(resolver->fill(p));
  EXPECT_TRUE(resolver->fill(q));
  EXPECT_EQ(q.user_failure, "getpwuid_r: EIO");
  rt.advance(Seconds(1));
  EXPECT_FALSE(resolver->fill(p));
  EXPECT_FALSE(resolver->fill(q));
}

// A lookup that never answers: at the deadline the connection is answered with the missing
// lookups marked failed, so the allow check denies with that reason instead of hanging or allowing.
TEST_F(IdentityResolverTest, ALookupPastTheDeadlineCountsAsFailed) {
  names.hold(1001);
  std::optional<PeerIdentity> alice;
  resolver->resolve(peer(1001), [&](PeerIdentity p) { alice = std::move(p); });
  ASSERT_TRUE(rt.wait_and_run());  // the group's answer: the user is looked up next, and hangs
  names.wait_for_lookup(1001);
  rt.advance(Seconds(14));
  EXPECT_FALSE(alice.has_value());
  rt.advance(Seconds(1));
  ASSERT_TRUE(alice.has_value());
  EXPECT_EQ(alice->user_failure, "no answer from the name service (NSS) within 15 s");
  AllowList allow;
  allow.users = {"alice"};
  EXPECT_FALSE(is_allowed(allow, *alice));
  EXPECT_EQ(lookup_failure(allow, *alice), "no answer from the name service (NSS) within 15 s");
}

// A group lookup that hangs (the group in LDAP, LDAP down) does not hold up the user's: at the
// deadline a user named by the list is admitted by name, and the group counts as failed.
TEST_F(IdentityResolverTest, AHungGroupLookupStillLetsTheUserBeMatchedByName) {
  names.hold_groups();
  std::optional<PeerIdentity> alice;
  resolver->resolve(peer(1001), [&](PeerIdentity p) { alice = std::move(p); });
  names.wait_for_lookup(1001);     // started alongside the group's, not after it
  ASSERT_TRUE(rt.wait_and_run());  // the user's answer
  EXPECT_FALSE(alice.has_value());
  rt.advance(Seconds(15));
  ASSERT_TRUE(alice.has_value());
  EXPECT_EQ(alice->user, "alice");
  ASSERT_EQ(alice->allow_groups.size(), 1u);
  EXPECT_FALSE(alice->allow_groups[0].gid.has_value());
  AllowList allow;
  allow.users = {"alice"};
  allow.groups = {"data"};
  EXPECT_TRUE(is_allowed(allow, *alice));
}

// A reload that names a new group: a connection filled before it is no longer complete (the
// generation moved on), and one waiting for a lookup across the reload is answered with the new
// group resolved too.
TEST_F(IdentityResolverTest, NewAllowNamesStartAGenerationWaitersGetThemToo) {
  resolved(1001);
  const std::uint64_t before = resolver->generation();
  resolver->set_names(AllowNames{true, {"data"}});  // unchanged: same generation
  EXPECT_EQ(resolver->generation(), before);
  names.hold(1002);
  std::optional<PeerIdentity> bob;
  resolver->resolve(peer(1002), [&](PeerIdentity p) { bob = std::move(p); });
  names.wait_for_lookup(1002);
  names.add_group("ops", 600);
  resolver->set_names(AllowNames{true, {"data", "ops"}});
  EXPECT_EQ(resolver->generation(), before + 1);
  names.release_all();
  while (!bob) ASSERT_TRUE(rt.wait_and_run());
  ASSERT_EQ(bob->allow_groups.size(), 2u);
  EXPECT_EQ(bob->allow_groups[1].gid, std::optional<gid_t>(600));
  EXPECT_EQ(bob->names_generation, before + 1);
  PeerIdentity alice = peer(1001);
  EXPECT_TRUE(resolver->fill(alice));  // "ops" is cached now, alice's user still fresh
  EXPECT_EQ(names.group_calls(), 2);
}

// A process that has every named group (its login's or its unit's groups, SO_PEERGROUPS) needs no
// getgrouplist(): the database could add nothing the allow check would use. The same uid without
// the group in its process then gets the database's list, and is admitted through it.
TEST_F(IdentityResolverTest, TheGroupListIsLookedUpOnlyWhenTheProcessLacksANamedGroup) {
  PeerIdentity in_data = peer(1001);
  in_data.groups = {1001, 500};
  const PeerIdentity p = resolved(in_data);
  EXPECT_EQ(p.user, "alice");
  EXPECT_TRUE(p.database_groups.empty());
  EXPECT_EQ(names.group_list_calls(), 0);
  AllowList allow;
  allow.groups = {"data"};
  EXPECT_TRUE(is_allowed(allow, p));
  // Same uid, a process without the group (setpriv --clear-groups, sg): the cached user entry
  // lacks the list, so it is looked up, and the database admits the user.
  PeerIdentity without = peer(1001);
  EXPECT_FALSE(resolver->fill(without));
  const PeerIdentity q = resolved(1001);
  EXPECT_EQ(names.group_list_calls(), 1);
  EXPECT_EQ(q.database_groups, (std::vector<gid_t>{1001, 500}));
  EXPECT_TRUE(is_allowed(allow, q));
  // Both are cached now. The list was asked for the user already found: one passwd lookup in all.
  PeerIdentity again = in_data;
  EXPECT_TRUE(resolver->fill(again));
  EXPECT_TRUE(resolver->fill(without));
  EXPECT_EQ(names.user_calls(1001), 1);
  EXPECT_EQ(names.group_list_calls(), 1);
}

// bob is in no named group, by process or by database: the list is looked up, and denies.
TEST_F(IdentityResolverTest, APeerOutsideEveryNamedGroupIsDeniedAfterTheDatabaseSaysSo) {
  const PeerIdentity p = resolved(1002);
  EXPECT_EQ(names.group_list_calls(), 1);
  AllowList allow;
  allow.groups = {"data"};
  EXPECT_FALSE(is_allowed(allow, p));
}

TEST_F(IdentityResolverTest, RootNeedsNoLookup) {
  PeerIdentity root = peer(0);
  EXPECT_TRUE(resolver->fill(root));
  EXPECT_EQ(names.user_calls(0), 0);
  EXPECT_EQ(names.group_calls(), 0);
}

TEST_F(IdentityResolverTest, NoNamesInTheAllowListsNeedNoLookup) {
  resolver->set_names(AllowNames{});
  PeerIdentity p = peer(1001);
  EXPECT_TRUE(resolver->fill(p));
  EXPECT_TRUE(p.user.empty());
  EXPECT_EQ(names.user_calls(1001), 0);
}

TEST(AllowNamesTest, CollectsTheGroupsOfEveryListOnce) {
  Config config;
  WorkspaceConfig a, b, c;
  a.allow = AllowList{{}, {"ops", "data"}, {}};
  b.allow = AllowList{{}, {"data"}, {}};
  c.allow = AllowList{{}, {}, {1001}};
  config.workspaces = {{"a", a}, {"b", b}, {"c", c}};
  EXPECT_EQ(allow_names(config), (AllowNames{true, {"data", "ops"}}));
  config.workspaces = {{"c", c}};
  EXPECT_EQ(allow_names(config), AllowNames{});  // uids only: no name needed
}

}  // namespace
}  // namespace dbx
