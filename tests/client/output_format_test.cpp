#include "client/output_format.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace dbx::cli {
namespace {

namespace json = boost::json;

// Values that break naive quoting.
const EnvVars kNasty = {
    {"PLAIN", "https://adb-1.7.azuredatabricks.net"},
    {"SINGLE", "it's 'quoted'"},
    {"DOUBLE", "say \"hi\""},
    {"DOLLAR", "$HOME ${PATH} $(id) `id`"},
    {"SPACES", "  lead and trail  "},
    {"NEWLINES", "line1\nline2\n"},
    {"BACKSLASH", "a\\b\\'c\\\\"},
    {"GLOB", "* ? [a] ~ ; & | < > #"},
    {"EMPTY", ""},
    {"UNICODE",
     "gr\xC3\xBC\xC3\x9F"
     "e"},
};

TEST(ShQuote, EscapesSingleQuotesOnly) {
  EXPECT_EQ(sh_quote("abc"), "'abc'");
  EXPECT_EQ(sh_quote("it's"), "'it'\\''s'");
  EXPECT_EQ(sh_quote(""), "''");
  EXPECT_EQ(sh_quote("$x \"y\" \\n"), "'$x \"y\" \\n'");
}

TEST(FishQuote, EscapesBackslashAndSingleQuote) {
  EXPECT_EQ(fish_quote("abc"), "'abc'");
  EXPECT_EQ(fish_quote("it's"), "'it\\'s'");
  EXPECT_EQ(fish_quote("a\\b"), "'a\\\\b'");
  EXPECT_EQ(fish_quote("$x \"y\"\nz"), "'$x \"y\"\nz'");
}

TEST(FormatEnv, Sh) {
  EnvVars vars = {{"DATABRICKS_HOST", "https://h"}, {"DATABRICKS_TOKEN", "dapi'x"}};
  EXPECT_EQ(format_env(vars, Shell::sh),
            "export DATABRICKS_HOST='https://h'\nexport DATABRICKS_TOKEN='dapi'\\''x'\n");
}

TEST(FormatEnv, Fish) {
  EnvVars vars = {{"DATABRICKS_HOST", "https://h"}, {"DATABRICKS_TOKEN", "dapi'x\\y"}};
  EXPECT_EQ(format_env(vars, Shell::fish),
            "set -gx DATABRICKS_HOST 'https://h'\nset -gx DATABRICKS_TOKEN 'dapi\\'x\\\\y'\n");
}

TEST(FormatEnv, JsonRoundTrips) {
  std::string out = format_env(kNasty, Shell::json);
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.back(), '\n');
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << "one line of JSON";
  json::object parsed = json::parse(out).as_object();
  ASSERT_EQ(parsed.size(), kNasty.size());
  for (const auto& [name, value] : kNasty) EXPECT_EQ(parsed.at(name).as_string(), value) << name;
}

// Runs `script` with /bin/sh and returns its stdout.
std::string run_sh(const std::string& script) {
  char path[] = "/tmp/dbxcred-sh-test-XXXXXX";
  int fd = ::mkstemp(path);
  EXPECT_GE(fd, 0);
  ::close(fd);
  std::ofstream(path) << script;
  std::string out;
  FILE* p = ::popen(("/bin/sh " + std::string(path)).c_str(), "r");
  EXPECT_NE(p, nullptr);
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  EXPECT_EQ(::pclose(p), 0);
  ::unlink(path);
  return out;
}

TEST(FormatEnv, ShRoundTripsThroughARealShell) {
  std::string script = format_env(kNasty, Shell::sh);
  // \036 (record separator) appears in no value.
  script += "printf '%s\\036'";
  for (const auto& [name, value] : kNasty) script += " \"$" + name + "\"";
  script += "\n";
  std::string out = run_sh(script);
  std::string expected;
  for (const auto& [name, value] : kNasty) expected += value + "\036";
  EXPECT_EQ(out, expected);
}

TEST(FormatEnv, ShExportsToChildren) {
  std::string out =
      run_sh(format_env({{"DBXCRED_T", "a'b"}}, Shell::sh) + "sh -c 'printf %s \"$DBXCRED_T\"'\n");
  EXPECT_EQ(out, "a'b");
}

TEST(ValidateEnv, RefusesBadNamesAndNulWithoutEchoingValues) {
  EXPECT_TRUE(validate_env({{"A_1", "x"}, {"_b", ""}}).ok());
  for (const char* bad : {"", "1A", "A-B", "A B", "A;rm", "A=B"}) {
    auto r = validate_env({{bad, "v"}});
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().exit, Exit::failure);
  }
  auto r = validate_env({{"TOKEN", std::string("sec\0ret", 7)}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message.find("sec"), std::string::npos);
}

TEST(EnvFromObject, KeepsOrderAndWritesOutScalars) {
  auto r = env_from_object(json::parse(R"({"B":"2","A":"1","PORT":8765,"ON":true})").as_object(),
                           "sdk-env");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, (EnvVars{{"B", "2"}, {"A", "1"}, {"PORT", "8765"}, {"ON", "true"}}));
  auto bad = env_from_object(json::parse(R"({"A":{"x":1}})").as_object(), "sdk-env");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("\"A\""), std::string::npos);
  EXPECT_FALSE(env_from_object(json::parse(R"({"bad name":"x"})").as_object(), "x").ok());
}

const char* kHeaders = R"({
  "Authorization": "Bearer eyJ0.e'y.sig",
  "X-Databricks-Azure-SP-Management-Token": "mgmt",
  "X-Databricks-Azure-Workspace-Resource-Id": "/subscriptions/S/resourceGroups/R G/x"
})";

TEST(FormatHeaders, Curl) {
  auto r = format_headers(json::parse(kHeaders).as_object(), HeaderFormat::curl);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(
      *r,
      "-H 'Authorization: Bearer eyJ0.e'\\''y.sig'\n"
      "-H 'X-Databricks-Azure-SP-Management-Token: mgmt'\n"
      "-H 'X-Databricks-Azure-Workspace-Resource-Id: /subscriptions/S/resourceGroups/R G/x'\n");
}

TEST(FormatHeaders, CurlLinesAreShellWords) {
  auto r = format_headers(json::parse(kHeaders).as_object(), HeaderFormat::curl);
  ASSERT_TRUE(r.ok());
  std::string script = "set --";
  std::string lines = *r;
  for (char& c : lines) {
    if (c == '\n') c = ' ';
  }
  script += " " + lines + "\nprintf '%s\\036' \"$@\"\n";
  EXPECT_EQ(run_sh(script),
            "-H\036Authorization: Bearer eyJ0.e'y.sig\036-H\036"
            "X-Databricks-Azure-SP-Management-Token: mgmt\036-H\036"
            "X-Databricks-Azure-Workspace-Resource-Id: /subscriptions/S/resourceGroups/R G/x\036");
}

TEST(FormatHeaders, Http) {
  auto r = format_headers(json::parse(kHeaders).as_object(), HeaderFormat::http);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r,
            "Authorization: Bearer eyJ0.e'y.sig\n"
            "X-Databricks-Azure-SP-Management-Token: mgmt\n"
            "X-Databricks-Azure-Workspace-Resource-Id: /subscriptions/S/resourceGroups/R G/x\n");
}

TEST(FormatHeaders, Json) {
  json::object headers = json::parse(kHeaders).as_object();
  auto r = format_headers(headers, HeaderFormat::json);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(json::parse(*r), json::value(headers));
}

TEST(FormatHeaders, RefusesLineBreaksAndBadNamesWithoutEchoingValues) {
  auto r =
      format_headers(json::parse(R"({"Authorization":"Bearer secret\r\nX-Evil: 1"})").as_object(),
                     HeaderFormat::http);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message.find("secret"), std::string::npos);
  EXPECT_NE(r.error().message.find("line break"), std::string::npos);
  EXPECT_FALSE(
      format_headers(json::parse(R"({"Bad Name":"x"})").as_object(), HeaderFormat::curl).ok());
  EXPECT_FALSE(format_headers(json::parse(R"({"X-N":5})").as_object(), HeaderFormat::curl).ok());
}

}  // namespace
}  // namespace dbx::cli
