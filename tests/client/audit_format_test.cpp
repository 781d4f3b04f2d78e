// `dbxcred audit` output (client/audit_format.h).
#include "client/audit_format.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>

namespace dbx::cli {
namespace {

namespace json = boost::json;

const char* kAnswer = R"({"records":[
  {"time":"2026-12-01T21:00:00.000Z","uid":1001,"gid":1001,"pid":42,"exe":"/usr/bin/dbxcred",
   "workspace":"prod","kind":"pat","token_id":"tok-1","fingerprint":null,"min_valid":300,
   "outcome":"served","reason":null},
  {"time":"2026-12-01T21:00:01.000Z","uid":null,"gid":null,"pid":null,"exe":null,
   "workspace":"prod","kind":"metadata_service","endpoint":"127.0.0.1:8765","token_id":null,
   "fingerprint":"sha256:0a1b2c3d","min_valid":70,"outcome":"served","reason":null}]})";

TEST(FormatAudit, TableWithHeaderAndAlignedColumns) {
  const std::string out = format_audit(json::parse(kAnswer).as_object(), false);
  EXPECT_EQ(out.substr(0, out.find('\n')),
            "TIME                      UID   PID  OUTCOME  KIND          "
            "    WORKSPACE                TOKEN            EXE               REASON");
  EXPECT_NE(out.find("tok-1"), std::string::npos);
  EXPECT_NE(out.find("prod via 127.0.0.1:8765"), std::string::npos);
  EXPECT_NE(out.find("sha256:0a1b2c3d"), std::string::npos);
}

TEST(FormatAudit, JsonLinesOnePerRecord) {
  const std::string out = format_audit(json::parse(kAnswer).as_object(), true);
  ASSERT_EQ(std::count(out.begin(), out.end(), '\n'), 2);
  EXPECT_EQ(json::parse(out.substr(0, out.find('\n'))).at("token_id").as_string(), "tok-1");
}

TEST(FormatAudit, NoRecords) {
  EXPECT_EQ(format_audit(json::parse(R"({"records":[]})").as_object(), false),
            "no audit records\n");
  EXPECT_EQ(format_audit(json::parse(R"({"records":[]})").as_object(), true), "");
}

}  // namespace
}  // namespace dbx::cli
