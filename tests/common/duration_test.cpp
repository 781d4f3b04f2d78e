// parse_duration / format_duration: the config's and the CLI's duration syntax (SPEC.md).
#include "common/duration.h"

#include <gtest/gtest.h>

namespace dbx {
namespace {

TEST(ParseDuration, AcceptsEachUnitAndCombinations) {
  EXPECT_EQ(parse_duration("90s"), Seconds(90));
  EXPECT_EQ(parse_duration("20m"), Seconds(1200));
  EXPECT_EQ(parse_duration("1h"), Seconds(3600));
  EXPECT_EQ(parse_duration("1h30m"), Seconds(5400));
  EXPECT_EQ(parse_duration("2d"), Seconds(172800));
  EXPECT_EQ(parse_duration("1d2h3m4s"), Seconds(86400 + 7200 + 180 + 4));
  EXPECT_EQ(parse_duration("0s"), Seconds(0));
  EXPECT_EQ(parse_duration("120m"), Seconds(7200));  // no carrying rule: 120m is fine
}

TEST(ParseDuration, RejectsMalformedText) {
  for (const char* bad : {"", "1", "h", "1x", "-1h", "+1h", " 1h", "1h ", "1 h", "1H", "1.5h", "h1",
                          "1hm", "30m1h", "1m1h", "1s1d"}) {
    EXPECT_EQ(parse_duration(bad), std::nullopt) << '"' << bad << '"';
  }
}

TEST(ParseDuration, RejectsRepeatedUnits) {
  EXPECT_EQ(parse_duration("1h1h"), std::nullopt);
  EXPECT_EQ(parse_duration("1m1m"), std::nullopt);
}

TEST(ParseDuration, RejectsHugeNumbersWithoutOverflow) {
  EXPECT_EQ(parse_duration("99999999999999999999999s"), std::nullopt);
  EXPECT_EQ(parse_duration("9223372036854775807s"), std::nullopt);
  EXPECT_EQ(parse_duration("100000000d"), std::nullopt);
  // Each group within bounds, but the sum beyond a century.
  EXPECT_EQ(parse_duration("36500d3153600000s"), std::nullopt);
  // A year is fine.
  EXPECT_EQ(parse_duration("365d"), Seconds(365 * 86400));
}

TEST(FormatDuration, ShortestCanonicalForm) {
  EXPECT_EQ(format_duration(Seconds(0)), "0s");
  EXPECT_EQ(format_duration(Seconds(90)), "1m30s");
  EXPECT_EQ(format_duration(Seconds(1200)), "20m");
  EXPECT_EQ(format_duration(Seconds(3600)), "1h");
  EXPECT_EQ(format_duration(Seconds(5400)), "1h30m");
  EXPECT_EQ(format_duration(Seconds(86400)), "1d");
  EXPECT_EQ(format_duration(Seconds(90061)), "1d1h1m1s");
}

TEST(FormatDuration, RoundTripsThroughParse) {
  for (std::int64_t s : {0LL, 1LL, 59LL, 60LL, 61LL, 3599LL, 3600LL, 5400LL, 86399LL, 86400LL,
                         172800LL, 1234567LL, 31536000LL}) {
    std::string text = format_duration(Seconds(s));
    EXPECT_EQ(parse_duration(text), Seconds(s)) << text;
  }
  for (const char* text : {"90s", "20m", "1h", "1h30m", "2d"}) {
    std::optional<Seconds> d = parse_duration(text);
    ASSERT_TRUE(d) << text;
    EXPECT_EQ(parse_duration(format_duration(*d)), d) << text;
  }
}

}  // namespace
}  // namespace dbx
