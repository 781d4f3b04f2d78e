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

TEST(PeerTest, AllowGroupsAreResolvedOncePerConnection) {
  AllowList allow;
  allow.groups = {"root", "no-such-group-dbxcred-test"};
  PeerIdentity member;
  member.uid = 4242;
  member.groups = {0};
  EXPECT_TRUE(is_allowed(allow, member));
  ASSERT_EQ(member.resolved_groups.size(), 1u);  // allowed at the first group
  EXPECT_EQ(member.resolved_groups[0].second, gid_t{0});

  PeerIdentity stranger;
  stranger.uid = 4243;
  stranger.groups = {4243};
  EXPECT_FALSE(is_allowed(allow, stranger));
  EXPECT_FALSE(is_allowed(allow, stranger));  // from the memo: no second lookup
  ASSERT_EQ(stranger.resolved_groups.size(), 2u);
  EXPECT_FALSE(stranger.resolved_groups[1].second.has_value());
}

bool has(const std::vector<gid_t>& v, gid_t g) {
  return std::find(v.begin(), v.end(), g) != v.end();
}

TEST(PeerTest, MakePeerPutsThePrimaryGroupFirstWithoutDuplicates) {
  const PeerIdentity p = make_peer(0, 7, 1, {9, 7, 9, 11});
  EXPECT_EQ(p.groups, (std::vector<gid_t>{7, 9, 11}));
  EXPECT_EQ(p.user, "root");
  EXPECT_TRUE(make_peer(4242424, 7, 1, {}).user.empty());  // no passwd entry
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

// A group with thousands of members needs more than any fixed buffer: the lookup is retried with
// a doubled buffer on ERANGE (the old 16 KiB buffer failed such a group closed).
TEST(PeerTest, NssLookupsGrowTheirBufferOnErange) {
  std::vector<char> buf;
  std::vector<std::size_t> sizes;
  const int rc = nss_call(buf, [&](char*, std::size_t n) {
    sizes.push_back(n);
    return n < 200000 ? ERANGE : 0;
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(sizes.front(), 1024u);
  EXPECT_GE(sizes.back(), 200000u);
  EXPECT_EQ(buf.size(), sizes.back());
  // Bounded: a lookup that always says ERANGE ends with ERANGE, not an endless allocation.
  std::vector<char> other;
  EXPECT_EQ(nss_call(other, [](char*, std::size_t) { return ERANGE; }), ERANGE);
  EXPECT_LE(other.size(), std::size_t{16} << 20);
  // Other errors are not retried.
  int calls = 0;
  EXPECT_EQ(nss_call(other, [&](char*, std::size_t) { return ++calls, EIO; }), EIO);
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace dbx
