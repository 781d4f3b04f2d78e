#include "daemon/server/name_service.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>

namespace dbx {
namespace {

// The real database: root (uid 0, group 0) exists everywhere, uid 4242424 and the odd group name
// nowhere. "Not found" is an answer, not a failure.
TEST(NameServiceTest, SystemLookupsTellNotFoundFromFound) {
  SystemNameService names;
  auto root = names.user(0);
  ASSERT_TRUE(root.ok());
  ASSERT_TRUE(root->has_value());
  EXPECT_EQ((*root)->name, "root");
  EXPECT_EQ((*root)->gid, gid_t{0});
  auto nobody = names.user(4242424);
  ASSERT_TRUE(nobody.ok());
  EXPECT_FALSE(nobody->has_value());
  auto group = names.group_gid("root");
  ASSERT_TRUE(group.ok());
  EXPECT_EQ(*group, std::optional<gid_t>(0));
  auto none = names.group_gid("no-such-group-dbxcred-test");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  auto list = names.group_list("root", 0);
  ASSERT_TRUE(list.ok());
  EXPECT_NE(std::find(list->begin(), list->end(), gid_t{0}), list->end());
}

// A group with thousands of members needs more than any fixed buffer: the lookup is retried with
// a doubled buffer on ERANGE (the old 16 KiB buffer failed such a group closed).
TEST(NameServiceTest, NssLookupsGrowTheirBufferOnErange) {
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
