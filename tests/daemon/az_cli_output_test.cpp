#include "daemon/credentials/az_cli_output.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>

namespace dbx {
namespace {

// Runs a test body with TZ set, restoring the previous value.
class ScopedTz {
 public:
  explicit ScopedTz(const char* tz) {
    if (const char* old = std::getenv("TZ")) old_ = old;
    ::setenv("TZ", tz, 1);
    ::tzset();
  }
  ~ScopedTz() {
    if (old_.empty())
      ::unsetenv("TZ");
    else
      ::setenv("TZ", old_.c_str(), 1);
    ::tzset();
  }

 private:
  std::string old_;
};

std::string fixture(const std::string& name, const std::string& dir = "azure-cli-2.45") {
  std::ifstream in(std::string(DBXCRED_FIXTURES_DIR) + "/" + dir + "/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Both recordings hold the same token whose true expiry is 1795852812 (fixtures README).
constexpr std::int64_t kTrueExpiry = 1795852812;
const TimePoint kBefore = from_unix_seconds(kTrueExpiry - 3000);

TEST(AzCliOutput, RecordedAz245InUtc) {
  ScopedTz tz("UTC");
  auto t = parse_az_token_output(fixture("get-access-token.TZ-UTC.json"), kBefore);
  ASSERT_TRUE(t.ok()) << t.error().message;
  const auto expiry = to_unix_seconds(t->expires_at);
  EXPECT_LE(expiry, kTrueExpiry);  // never later than the truth
  EXPECT_GE(expiry, kTrueExpiry - 2);
}

TEST(AzCliOutput, RecordedAz245InEastern) {
  ScopedTz tz("EST5EDT");
  auto t = parse_az_token_output(fixture("get-access-token.TZ-EST5EDT.json"), kBefore);
  ASSERT_TRUE(t.ok()) << t.error().message;
  const auto expiry = to_unix_seconds(t->expires_at);
  EXPECT_LE(expiry, kTrueExpiry);
  EXPECT_GE(expiry, kTrueExpiry - 2);
}

TEST(AzCliOutput, ReadInTheWrongZoneWouldBeHoursOff) {
  // Guards the test above: the EST recording read as UTC is 5 h early, so TZ really matters.
  ScopedTz tz("UTC");
  auto t =
      parse_az_token_output(fixture("get-access-token.TZ-EST5EDT.json"), kBefore - Seconds(20000));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(to_unix_seconds(t->expires_at), kTrueExpiry - 5 * 3600 - 1 - 1);
}

TEST(AzCliOutput, EpochExpiresOnWinsWhenPresent) {
  auto t = parse_az_token_output(
      R"({"accessToken":"a","expiresOn":"2000-01-01 00:00:00.000000","expires_on":1800003600,"tokenType":"Bearer"})",
      from_unix_seconds(1800000000));
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(to_unix_seconds(t->expires_at), 1800003600);
  auto s = parse_az_token_output(R"({"accessToken":"a","expires_on":"1800003600"})",
                                 from_unix_seconds(1800000000));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(to_unix_seconds(s->expires_at), 1800003600);
}

TEST(AzCliOutput, Az254ShapeUsesTheEpochWhateverTheZone) {
  const std::string out = fixture("get-access-token.json", "azure-cli-2.54");
  ASSERT_FALSE(out.empty());
  for (const char* zone : {"UTC", "EST5EDT", "Asia/Kolkata"}) {
    ScopedTz tz(zone);
    auto t = parse_az_token_output(out, kBefore);
    ASSERT_TRUE(t.ok()) << zone << ": " << t.error().message;
    EXPECT_EQ(to_unix_seconds(t->expires_at), kTrueExpiry) << zone;
    EXPECT_EQ(t->value, "PLACEHOLDER-ACCESS-TOKEN");
  }
}

TEST(AzCliOutput, EdgeShapesFromFixtures) {
  ScopedTz tz("UTC");
  for (const char* name : {"expiresOn-NA.json", "expiresOn-null.json", "no-accessToken.json"}) {
    const std::string out = fixture(name, "azure-cli-edge");
    ASSERT_FALSE(out.empty()) << name;
    auto t = parse_az_token_output(out, kBefore);
    ASSERT_FALSE(t.ok()) << name;
    EXPECT_EQ(t.error().code, ErrorCode::upstream_unavailable);
    EXPECT_EQ(t.error().message.find("PLACEHOLDER"), std::string::npos) << name;
  }
  // A null expires_on is as good as none: the local expiresOn is used.
  auto t = parse_az_token_output(fixture("expires_on-null.json", "azure-cli-edge"), kBefore);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(to_unix_seconds(t->expires_at), kTrueExpiry - 1);
}

TEST(AzCliOutput, DstFallBackTakesTheEarlierReading) {
  ScopedTz tz("EST5EDT");
  // 2026-11-01 01:30 happens twice in New York: 05:30 UTC (EDT) and 06:30 UTC (EST).
  auto t = local_time_to_instant(2026, 11, 1, 1, 30, 0);
  ASSERT_TRUE(t);
  EXPECT_EQ(to_unix_seconds(*t), 1793511000);  // 2026-11-01T05:30:00Z
  // 2026-03-08 02:30 does not exist (spring forward).
  EXPECT_FALSE(local_time_to_instant(2026, 3, 8, 2, 30, 0));
}

TEST(AzCliOutput, MissingOrBrokenFieldsAreErrors) {
  const TimePoint now = from_unix_seconds(1800000000);
  for (const char* body :
       {"", "ERROR: something", R"({"expiresOn":"2027-01-01 00:00:00.000000"})",
        R"({"accessToken":"","expires_on":1800003600})", R"({"accessToken":"a"})",
        R"({"accessToken":"a","expiresOn":"N/A"})", R"({"accessToken":"a","expiresOn":null})",
        R"({"accessToken":"a","expiresOn":"tomorrow"})", R"({"accessToken":"a","expires_on":"x"})",
        R"({"accessToken":"a","expires_on":1700000000})",
        R"({"accessToken":"a","expires_on":1900000000})"}) {
    auto t = parse_az_token_output(body, now);
    EXPECT_FALSE(t.ok()) << body;
  }
}

TEST(AzCliOutput, NotLoggedInIsAClearInstruction) {
  Error e = az_failure(1, "ERROR: Please run 'az login' to setup account.\n", "cli");
  EXPECT_NE(e.message.find("run `az login`"), std::string::npos);
  Error f = az_failure(2, "WARNING: x\nERROR: The subscription 'y' doesn't exist.\n", "cli");
  EXPECT_NE(f.message.find("ERROR: The subscription 'y' doesn't exist."), std::string::npos);
  EXPECT_NE(f.message.find("exit status 2"), std::string::npos);
}

// Found by tests/fuzz (fuzz_az_output): an expiresOn after the year 2262 (or a huge expires_on)
// overflowed the nanosecond clock; now it is refused as more than a day ahead.
TEST(AzCliOutput, FarFutureExpiryIsRefusedNotWrapped) {
  ScopedTz tz("UTC");
  for (const char* text : {R"({"accessToken":"a","expiresOn":"6722-01-07 10:00:12.000000"})",
                           R"({"accessToken":"a","expires_on":149955696012})"}) {
    auto t = parse_az_token_output(text, kBefore);
    ASSERT_FALSE(t.ok()) << text;
    EXPECT_NE(t.error().message.find("more than a day ahead"), std::string::npos);
  }
}

}  // namespace
}  // namespace dbx
