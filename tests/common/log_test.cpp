#include "common/log.h"

#include <gtest/gtest.h>
#include <spdlog/formatter.h>
#include <spdlog/spdlog.h>

#include <boost/json.hpp>

namespace dbx {
namespace {

TEST(JsonEscape, QuotesBackslashControlAndInvalidUtf8) {
  EXPECT_EQ(json_escape(R"(say "hi" \ bye)"), R"(say \"hi\" \\ bye)");
  EXPECT_EQ(json_escape("a\nb\tc\r\x01"), "a\\nb\\tc\\r\\u0001");
  EXPECT_EQ(json_escape("caf\xc3\xa9"), "caf\xc3\xa9");             // valid UTF-8 kept
  EXPECT_EQ(json_escape("bad\xff\xc3"), "bad\\ufffd\\ufffd");       // invalid replaced
  EXPECT_EQ(json_escape("\xed\xa0\x80"), "\\ufffd\\ufffd\\ufffd");  // a surrogate is invalid
}

TEST(JsonLogFormatter, OneParsableObjectPerLine) {
  auto formatter = make_json_log_formatter();
  const std::string message = "token for \"sp\" failed:\nAADSTS7000215 \\ \x02 \xff";
  spdlog::details::log_msg msg("dbxcred", spdlog::level::warn, message);
  spdlog::memory_buf_t buf;
  formatter->format(msg, buf);
  const std::string line(buf.data(), buf.size());
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  auto v = boost::json::parse(line.substr(0, line.size() - 1));
  const auto& o = v.as_object();
  EXPECT_EQ(o.at("level"), "warning");
  EXPECT_EQ(o.at("component"), "dbxcred");
  EXPECT_EQ(o.at("message"), "token for \"sp\" failed:\nAADSTS7000215 \\ \x02 \xef\xbf\xbd");
  const std::string time(o.at("time").as_string());
  ASSERT_EQ(time.size(), 24u);  // 2026-01-02T03:04:05.678Z
  EXPECT_EQ(time[10], 'T');
  EXPECT_EQ(time.back(), 'Z');
}

}  // namespace
}  // namespace dbx
