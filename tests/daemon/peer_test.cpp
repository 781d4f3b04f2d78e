#include "daemon/server/peer.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace dbx
