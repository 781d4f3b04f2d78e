#include "daemon/server/peer.h"

#include <grp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

namespace dbx {
namespace {

// Pure over what the resolver filled in: a group matches through the process's groups or the
// group database's; a group the resolver did not resolve (unknown, failed) matches nothing.
TEST(PeerTest, AllowGroupsMatchTheResolvedGids) {
  AllowList allow;
  allow.groups = {"data", "ops"};
  PeerIdentity member;
  member.uid = 4242;
  member.groups = {4242, 500};
  member.allow_groups = {{"data", gid_t{500}, ""}, {"ops", std::nullopt, ""}};
  EXPECT_TRUE(is_allowed(allow, member));

  PeerIdentity later = member;  // added to "data" in the group database, process not restarted
  later.groups = {4242};
  EXPECT_FALSE(is_allowed(allow, later));
  later.database_groups = {4242, 500};
  EXPECT_TRUE(is_allowed(allow, later));

  PeerIdentity unresolved = member;  // e.g. a lookup that never answered
  unresolved.allow_groups.clear();
  EXPECT_FALSE(is_allowed(allow, unresolved));
  EXPECT_EQ(lookup_failure(allow, unresolved), "");
}

TEST(PeerTest, LookupFailureNamesTheFailedLookupTheListDependsOn) {
  AllowList allow;
  allow.groups = {"data"};
  PeerIdentity p;
  p.uid = 4242;
  p.allow_groups = {{"data", std::nullopt, "getgrnam_r(\"data\"): Input/output error"}};
  EXPECT_FALSE(is_allowed(allow, p));
  EXPECT_EQ(lookup_failure(allow, p), "getgrnam_r(\"data\"): Input/output error");
  AllowList uids_only;
  uids_only.uids = {1};
  p.user_failure = "getpwuid_r(4242): Input/output error";
  EXPECT_EQ(lookup_failure(uids_only, p), "");  // names are not needed by that list
  AllowList users;
  users.users = {"alice"};
  EXPECT_EQ(lookup_failure(users, p), "getpwuid_r(4242): Input/output error");
}

bool has(const std::vector<gid_t>& v, gid_t g) {
  return std::find(v.begin(), v.end(), g) != v.end();
}

TEST(PeerTest, MakePeerPutsThePrimaryGroupFirstWithoutDuplicates) {
  const PeerIdentity p = make_peer(0, 7, 1, {9, 7, 9, 11});
  EXPECT_EQ(p.groups, (std::vector<gid_t>{7, 9, 11}));
  EXPECT_TRUE(p.user.empty());  // names come from the IdentityResolver, off the loop
}

TEST(PeerTest, ReadPeerSeesTheConnectingProcessAsTheKernelDoes) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  const auto peer = read_peer(fds[0]);
  ::close(fds[0]);
  ::close(fds[1]);
  ASSERT_TRUE(peer.has_value());
  EXPECT_EQ(peer->uid, ::getuid());
  EXPECT_EQ(peer->gid, ::getgid());
  EXPECT_EQ(peer->pid, ::getpid());
  std::vector<gid_t> mine(static_cast<std::size_t>(::getgroups(0, nullptr)));
  mine.resize(static_cast<std::size_t>(::getgroups(static_cast<int>(mine.size()), mine.data())));
  for (gid_t g : mine) EXPECT_TRUE(has(peer->groups, g)) << g;
  EXPECT_EQ(peer->groups.front(), ::getgid());
}

// The groups are the process's, not the group database's: a client that dropped its supplementary
// groups (or got extra ones from a unit's SupplementaryGroups=) is seen with exactly those.
TEST(PeerTest, ReadPeerUsesTheProcessGroupsNotTheGroupDatabase) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to change a child's groups";
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("dbxcred-peer-" + std::to_string(::getpid()) + ".sock"))
                               .string();
  const int listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  ::unlink(path.c_str());
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener, 1), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    const gid_t only[] = {424242};
    const int c = ::socket(AF_UNIX, SOCK_STREAM, 0);
    if (::setgroups(1, only) != 0 ||
        ::connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      ::_exit(1);
    char byte;
    (void)::read(c, &byte, 1);  // until the parent has looked
    ::_exit(0);
  }
  const int conn = ::accept(listener, nullptr, nullptr);
  ASSERT_GE(conn, 0);
  const auto peer = read_peer(conn);
  ::close(conn);
  ::close(listener);
  ::unlink(path.c_str());
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(peer.has_value());
  EXPECT_EQ(peer->uid, 0u);
  EXPECT_EQ(peer->groups, (std::vector<gid_t>{::getgid(), 424242}));
}

}  // namespace
}  // namespace dbx
