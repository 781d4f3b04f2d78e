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

TEST(Encoding, HexIsLowerCaseTwoDigitsPerByte) {
  EXPECT_EQ(hex(std::string_view("\x00\x0f\xa5\xff", 4)), "000fa5ff");
  EXPECT_EQ(hex(std::string_view()), "");
  EXPECT_TRUE(is_lower_hex("000fa5ff", 8));
  EXPECT_FALSE(is_lower_hex("000FA5FF", 8));
  EXPECT_FALSE(is_lower_hex("000fa5f", 8));
  EXPECT_FALSE(is_lower_hex("000fa5fg", 8));
}

TEST(Encoding, RandomHexHasTheAskedLengthAndDiffers) {
  const auto a = random_hex(16), b = random_hex(16);
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(is_lower_hex(*a, 32)) << *a;
  EXPECT_NE(*a, *b);
}

TEST(Encoding, Base64MatchesRfc4648Vectors) {
  // RFC 4648 section 10.
  const char* vectors[][2] = {{"", ""},
                              {"f", "Zg=="},
                              {"fo", "Zm8="},
                              {"foo", "Zm9v"},
                              {"foob", "Zm9vYg=="},
                              {"fooba", "Zm9vYmE="},
                              {"foobar", "Zm9vYmFy"}};
  for (const auto& v : vectors) EXPECT_EQ(base64(v[0]), v[1]) << v[0];
  EXPECT_EQ(base64("user:p@ss"), "dXNlcjpwQHNz");
  EXPECT_EQ(base64("\xfb\xff"), "+/8=");
}

TEST(Encoding, Base64UrlHasNoPaddingAndRoundTrips) {
  EXPECT_EQ(base64url("\xfb\xff"), "-_8");
  EXPECT_EQ(base64url("abc"), "YWJj");
  EXPECT_EQ(base64url("ab"), "YWI");
  for (std::string s : {"", "a", "ab", "abc", "abcd"}) EXPECT_EQ(base64url_decode(base64url(s)), s);
  const std::string binary("\x00\xff\x10", 3);
  EXPECT_EQ(base64url_decode(base64url(binary)), binary);
  EXPECT_FALSE(base64url_decode("YW=="));
  EXPECT_FALSE(base64url_decode("Y+/8"));
  EXPECT_FALSE(base64url_decode(std::string_view("YW\0J", 4)));
}

}  // namespace
}  // namespace dbx
