#include "common/encoding.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace dbx {
namespace {

std::optional<std::int64_t> parse(const char* json) {
  return lenient_int(boost::json::parse(json).as_array().at(0));
}

TEST(Encoding, LenientIntAcceptsNumbersAndNumericStrings) {
  EXPECT_EQ(parse("[3599]"), 3599);
  EXPECT_EQ(parse(R"(["3599"])"), 3599);
  EXPECT_EQ(parse("[-1]"), -1);
  EXPECT_EQ(parse("[1795852812000.0]"), 1795852812000);
  EXPECT_EQ(parse("[9223372036854775807]"), INT64_MAX);
}

TEST(Encoding, LenientIntRejectsEverythingElse) {
  for (const char* j : {"[1.5]", "[1e300]", "[18446744073709551615]", R"([""])", R"(["12a"])",
                        R"([" 12"])", R"(["99999999999999999999"])", "[null]", "[true]", "[{}]"})
    EXPECT_FALSE(parse(j)) << j;
}

TEST(Encoding, PercentEncodeKeepsOnlyTheNamedCharacters) {
  EXPECT_EQ(percent_encode("a-b_c.d~e", "-_.~"), "a-b_c.d~e");
  EXPECT_EQ(percent_encode("a:b%c d", "._-"), "a%3Ab%25c%20d");
  EXPECT_EQ(percent_encode(std::string_view("\0\xff", 2), ""), "%00%FF");
}

}  // namespace
}  // namespace dbx
