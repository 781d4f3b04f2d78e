#include "daemon/server/name_cache.h"

#include <gtest/gtest.h>

#include <string>

namespace dbx {
namespace {

const SteadyTime t0 = SteadyTime(std::chrono::hours(1));

TEST(NameCacheTest, AnEntryIsFreshUntilItsExpiry) {
  NameCache<std::string, int> cache(8);
  cache.put("data", 500, t0, t0 + Seconds(60));
  ASSERT_NE(cache.fresh("data", t0 + Seconds(59)), nullptr);
  EXPECT_EQ(*cache.fresh("data", t0 + Seconds(59)), 500);
  EXPECT_EQ(cache.fresh("data", t0 + Seconds(60)), nullptr);
  EXPECT_EQ(cache.fresh("ops", t0), nullptr);
  cache.put("data", 501, t0 + Seconds(60), t0 + Seconds(65));  // replaced, not added
  EXPECT_EQ(*cache.fresh("data", t0 + Seconds(61)), 501);
  EXPECT_EQ(cache.size(), 1u);
}

TEST(NameCacheTest, FullDropsExpiredEntriesThenTheOneExpiringSoonest) {
  NameCache<int, int> cache(3);
  cache.put(1, 1, t0, t0 + Seconds(5));
  cache.put(2, 2, t0, t0 + Seconds(60));
  cache.put(3, 3, t0, t0 + Seconds(30));
  cache.put(4, 4, t0, t0 + Seconds(60));  // full, nothing expired: 1 (soonest) goes
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.fresh(1, t0), nullptr);
  EXPECT_NE(cache.fresh(3, t0), nullptr);
  cache.put(5, 5, t0 + Seconds(31), t0 + Seconds(90));  // 3 expired: dropped first
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_NE(cache.fresh(2, t0 + Seconds(31)), nullptr);
  EXPECT_NE(cache.fresh(4, t0 + Seconds(31)), nullptr);
  EXPECT_NE(cache.fresh(5, t0 + Seconds(31)), nullptr);
}

}  // namespace
}  // namespace dbx
