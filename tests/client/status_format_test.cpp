#include "client/status_format.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace dbx::cli {
namespace {

const TimePoint kNow = from_unix_seconds(1714564800);  // 2024-05-01T12:00:00Z

TEST(Iso8601, Utc) {
  EXPECT_EQ(iso8601_utc(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(iso8601_utc(1714564800), "2024-05-01T12:00:00Z");
}

TEST(RelativeTime, CoarseningAndDirection) {
  EXPECT_EQ(relative_time(0), "now");
  EXPECT_EQ(relative_time(42), "in 42s");
  EXPECT_EQ(relative_time(41 * 60 + 12), "in 41m");
  EXPECT_EQ(relative_time(-(3 * 3600 + 12 * 60 + 5)), "3h12m ago");
  EXPECT_EQ(relative_time(2 * 86400 + 3 * 3600 + 59 * 60), "in 2d3h");
}

TEST(FormatStatus, TheDaemonsShape) {
  auto status = boost::json::parse(R"({
    "version": "0.1.0", "uptime_seconds": 11520,
    "credentials": [
      {"name": "ci-sp", "type": "client_secret",
       "tokens": [{"resource": "2ff814a6", "expires_at": 1714567260, "next_refresh": 1714566060,
                   "last_error": null}]}
    ],
    "workspaces": [
      {"name": "prod", "host": "https://adb-1",
       "pat": {"enabled": true, "current_token_id": "t1", "expires_at": 1714568400, "active": 2,
               "next_rotation": 1714567200, "last_error": "QUOTA_EXCEEDED at\ndatabricks"}}
    ]
  })")
                    .as_object();
  EXPECT_EQ(format_status(status, kNow),
            "dbxcredd 0.1.0, up 3h12m\n"
            "credentials:\n"
            "  ci-sp\n"
            "    type:    client_secret\n"
            "    tokens:\n"
            "      2ff814a6\n"
            "        expires_at:    2024-05-01T12:41:00Z (in 41m)\n"
            "        next_refresh:  2024-05-01T12:21:00Z (in 21m)\n"
            "        last_error:    -\n"
            "workspaces:\n"
            "  prod\n"
            "    host:  https://adb-1\n"
            "    pat:\n"
            "      enabled:           yes\n"
            "      current_token_id:  t1\n"
            "      expires_at:        2024-05-01T13:00:00Z (in 1h)\n"
            "      active:            2\n"
            "      next_rotation:     2024-05-01T12:40:00Z (in 40m)\n"
            "      last_error:        QUOTA_EXCEEDED at databricks\n");
}

TEST(FormatStatus, MissingAndUnexpectedFieldsDoNotBreakIt) {
  EXPECT_EQ(format_status(boost::json::object{}, kNow), "dbxcredd\n");
  auto status = boost::json::parse(R"({
    "version": 7, "extra": {"nested": [1, 2], "empty": {}, "list": []},
    "credentials": [{"type": "azure_cli"}, "odd", [1]],
    "workspaces": [{"name": "w", "pat": false, "last_refresh_at": 1714564700}]
  })")
                    .as_object();
  std::string out = format_status(status, kNow);
  EXPECT_EQ(out,
            "dbxcredd\n"
            "version:      7\n"
            "extra:\n"
            "  nested:  1, 2\n"
            "  empty:   -\n"
            "  list:    none\n"
            "credentials:\n"
            "  -\n"
            "    type:  azure_cli\n"
            "  - odd\n"
            "  - [1]\n"
            "workspaces:\n"
            "  w\n"
            "    pat:              no\n"
            "    last_refresh_at:  2024-05-01T11:58:20Z (1m ago)\n");
}

TEST(FormatWorkspaces, ToleratesMissingFields) {
  auto answer =
      boost::json::parse(R"({"workspaces":[{"name":"x"},{"host":"h","pat":{"enabled":true}}]})")
          .as_object();
  EXPECT_EQ(format_workspaces(answer), "x  -  pat -\n-  h  pat yes\n");
  EXPECT_EQ(format_workspaces(boost::json::object{}), "");
}

}  // namespace
}  // namespace dbx::cli
