#include "client/databricks_auth.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include <boost/json/parse.hpp>
#include <cstdio>
#include <map>

#include "tests/temp_dir.h"

namespace dbx::cli {
namespace {

namespace json = boost::json;

// Canned answers per request target; records what was asked.
class FakeDaemon {
 public:
  void answer(std::string target, int status, std::string body) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    answers_[std::move(target)] = std::move(r);
  }
  DaemonApi api() {
    return DaemonApi([this](std::string_view target) -> Expected<HttpResponse> {
      asked.emplace_back(target);
      auto it = answers_.find(std::string(target));
      if (it == answers_.end()) {
        HttpResponse r;
        r.status = 404;
        r.body = R"({"error":{"code":"not_found","message":"no such path"}})";
        return r;
      }
      return it->second;
    });
  }
  std::vector<std::string> asked;

 private:
  std::map<std::string, HttpResponse> answers_;
};

class FakeRecord : public HandedOutRecord {
 public:
  std::optional<std::int64_t> last(const std::string& workspace) override {
    auto it = times.find(workspace);
    if (it == times.end()) return std::nullopt;
    return it->second;
  }
  void remember(const std::string& workspace, std::int64_t expires_at) override {
    times[workspace] = expires_at;
  }
  std::map<std::string, std::int64_t> times;
};

// Sets TZ for one test and restores it.
class ScopedTz {
 public:
  explicit ScopedTz(const char* tz) {
    if (const char* old = ::getenv("TZ")) old_ = old;
    ::setenv("TZ", tz, 1);
    ::tzset();
  }
  ~ScopedTz() {
    if (old_) {
      ::setenv("TZ", old_->c_str(), 1);
    } else {
      ::unsetenv("TZ");
    }
    ::tzset();
  }

 private:
  std::optional<std::string> old_;
};

constexpr std::int64_t kNowS = 1796680000;  // 2026-12-07T21:46:40Z
const TimePoint kNow = from_unix_seconds(kNowS);
constexpr const char* kHost = "https://adb-1.azuredatabricks.net";

constexpr const char* kWorkspaces =
    R"({"workspaces":[{"name":"prod","host":"https://adb-1.azuredatabricks.net","pat":true},)"
    R"({"name":"dev","host":"https://ADB-2.azuredatabricks.net/","pat":false}]})";

std::string token_answer(const std::string& token, std::int64_t expires_at,
                         const std::string& host = kHost) {
  return R"({"token":")" + token + R"(","kind":"pat","expires_at":)" + std::to_string(expires_at) +
         R"(,"host":")" + host + R"("})";
}

AuthInvocation token_for(std::string host, bool force = false) {
  AuthInvocation inv;
  inv.command = AuthCommand::token;
  inv.host = std::move(host);
  inv.force_refresh = force;
  return inv;
}

// --- the Go SDK's and the Python SDK's readings of "expiry" --------------------------------

// Go: time.Parse(time.RFC3339Nano): the fields, the fraction, and the offset (or Z) → an instant.
std::optional<std::int64_t> go_reading(const std::string& s) {
  std::tm tm{};
  const char* rest = ::strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest) return std::nullopt;
  if (*rest == '.') {
    ++rest;
    while (*rest >= '0' && *rest <= '9') ++rest;
  }
  long offset = 0;
  if (*rest == 'Z') {
    ++rest;
  } else if (*rest == '+' || *rest == '-') {
    int h = 0, m = 0;
    if (std::sscanf(rest + 1, "%2d:%2d", &h, &m) != 2) return std::nullopt;
    offset = (h * 3600 + m * 60) * (*rest == '-' ? -1 : 1);
    rest += 6;
  } else {
    return std::nullopt;
  }
  if (*rest != '\0') return std::nullopt;
  return static_cast<std::int64_t>(::timegm(&tm)) - offset;
}

// Python SDK (CliTokenSource._parse_expiry): expiry.rstrip("Z").split(".")[0], then strptime
// "%Y-%m-%dT%H:%M:%S" into a naive datetime that it compares with datetime.now(): local time.
std::optional<std::int64_t> python_reading(std::string s) {
  while (!s.empty() && s.back() == 'Z') s.pop_back();
  s = s.substr(0, s.find('.'));
  std::tm tm{};
  const char* rest = ::strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest || *rest != '\0') return std::nullopt;  // Python: "unconverted data remains"
  tm.tm_isdst = -1;
  return static_cast<std::int64_t>(::mktime(&tm));
}

TEST(DatabricksAuthExpiry, LocalTimeWithFractionAndOffset) {
  {
    ScopedTz tz("IST-5:30");  // UTC+05:30
    EXPECT_EQ(format_expiry(kNowS), "2026-12-08T03:16:40.000+05:30");
  }
  {
    ScopedTz tz("EST5EDT,M3.2.0,M11.1.0");  // New York's rules, December: -05:00
    EXPECT_EQ(format_expiry(kNowS), "2026-12-07T16:46:40.000-05:00");
    EXPECT_EQ(format_expiry(1783000000), "2026-07-02T09:46:40.000-04:00");  // summer time
  }
  {
    ScopedTz tz("UTC0");
    EXPECT_EQ(format_expiry(kNowS), "2026-12-07T21:46:40.000Z");
  }
}

TEST(DatabricksAuthExpiry, GoAndPythonReadTheSameInstantAsExpiresAt) {
  for (const char* zone : {"IST-5:30", "EST5EDT,M3.2.0,M11.1.0", "UTC0", "NZST-12NZDT"}) {
    ScopedTz tz(zone);
    for (std::int64_t t : {kNowS, kNowS + 3600, std::int64_t{1783000000}}) {
      const std::string text = format_expiry(t);
      EXPECT_EQ(go_reading(text), t) << zone << " " << text;
      EXPECT_EQ(python_reading(text), t) << zone << " " << text;
    }
  }
}

TEST(DatabricksAuthExpiry, WithoutTheFractionPythonWouldFail) {
  // Why the fraction is always printed: Go's RFC3339Nano drops a zero fraction, and the offset
  // then stays in what the Python SDK hands to strptime.
  ScopedTz tz("IST-5:30");
  EXPECT_EQ(python_reading("2026-12-08T03:16:40+05:30"), std::nullopt);
  EXPECT_EQ(python_reading(format_expiry(kNowS)), kNowS);
}

TEST(DatabricksAuthAnswer, TokenJsonAndVersion) {
  ScopedTz tz("UTC0");
  auto v = json::parse(format_token_answer("dapi\"x", kNowS + 600)).as_object();
  EXPECT_EQ(v.at("access_token").as_string(), "dapi\"x");
  EXPECT_EQ(v.at("token_type").as_string(), "Bearer");
  EXPECT_EQ(v.at("expiry").as_string(), "2026-12-07T21:56:40.000Z");
  EXPECT_EQ(format_version(false), "Databricks CLI v0.296.0\n");
  auto j = json::parse(format_version(true)).as_object();
  EXPECT_EQ(j.at("Major").as_int64(), 0);
  EXPECT_EQ(j.at("Minor").as_int64(), 296);
  EXPECT_EQ(j.at("Patch").as_int64(), 0);
}

TEST(DatabricksAuthAnswer, Errors) {
  EXPECT_EQ(format_auth_error({Exit::denied, "no\nworkspace"}, false),
            "databricks-auth: no workspace\n");
  auto e = json::parse(format_auth_error({Exit::denied, "host x names no workspace"}, true));
  EXPECT_EQ(e.at("error_code").as_string(), "UNAUTHENTICATED");
  EXPECT_EQ(e.at("message").as_string(), "host x names no workspace");
  EXPECT_EQ(json::parse(format_auth_error({Exit::usage, "u"}, true)).at("error_code").as_string(),
            "INVALID_PARAMETER_VALUE");
}

TEST(DatabricksAuthHost, Normalize) {
  EXPECT_EQ(normalize_host("HTTPS://ADB-1.AzureDatabricks.net/"), kHost);
  EXPECT_EQ(normalize_host("adb-1.azuredatabricks.net"), kHost);
  EXPECT_EQ(normalize_host(" https://adb-1.azuredatabricks.net:443// "), kHost);
  EXPECT_EQ(normalize_host("http://127.0.0.1:80"), "http://127.0.0.1");
  EXPECT_EQ(normalize_host("https://127.0.0.1:8443/"), "https://127.0.0.1:8443");
  EXPECT_NE(normalize_host("https://adb-1.azuredatabricks.net.evil"), kHost);
  EXPECT_NE(normalize_host("http://adb-1.azuredatabricks.net"), kHost);  // another scheme
}

TEST(DatabricksAuthHost, WorkspaceForHost) {
  const auto list = json::parse(kWorkspaces).as_object();
  EXPECT_EQ(*workspace_for_host(list, "adb-1.azuredatabricks.net/", std::nullopt), "prod");
  EXPECT_EQ(*workspace_for_host(list, "https://adb-2.azuredatabricks.net", std::nullopt), "dev");
  auto none = workspace_for_host(list, "https://adb-3.azuredatabricks.net", std::nullopt);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().exit, Exit::denied);
  EXPECT_NE(none.error().message.find("names no workspace"), std::string::npos);
  EXPECT_NE(none.error().message.find("adb-3"), std::string::npos);
  // DBXCRED_WORKSPACE does not take a token to another host.
  EXPECT_FALSE(workspace_for_host(list, "https://adb-3.azuredatabricks.net", "prod").ok());
}

TEST(DatabricksAuthHost, SeveralWorkspacesOnOneHost) {
  const auto list = json::parse(R"({"workspaces":[{"name":"a","host":"https://h"},)"
                                R"({"name":"b","host":"https://H/"}]})")
                        .as_object();
  auto r = workspace_for_host(list, "https://h", std::nullopt);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().exit, Exit::usage);
  EXPECT_NE(r.error().message.find("a, b"), std::string::npos);
  EXPECT_EQ(*workspace_for_host(list, "https://h", "b"), "b");
  EXPECT_FALSE(workspace_for_host(list, "https://h", "c").ok());
}

TEST(DatabricksAuthRun, ServesTheWorkspacesTokenAndRemembersIt) {
  ScopedTz tz("UTC0");
  FakeDaemon d;
  FakeRecord record;
  d.answer("/v1/workspaces", 200, kWorkspaces);
  d.answer("/v1/workspaces/prod/token", 200, token_answer("dapiA", kNowS + 1800));
  auto r = run_auth_token(token_for("adb-1.azuredatabricks.net"), {}, d.api(), record, kNow);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->warning);
  auto v = json::parse(r->stdout_text).as_object();
  EXPECT_EQ(v.at("access_token").as_string(), "dapiA");
  EXPECT_EQ(v.at("expiry").as_string(), format_expiry(kNowS + 1800));
  EXPECT_EQ(d.asked, (std::vector<std::string>{"/v1/workspaces", "/v1/workspaces/prod/token"}));
  EXPECT_EQ(record.times["prod"], kNowS + 1800);
}

TEST(DatabricksAuthRun, ForceRefreshAsksPastTheLastTokenHandedOut) {
  FakeDaemon d;
  FakeRecord record;
  record.times["prod"] = kNowS + 1800;  // what the SDK holds
  d.answer("/v1/workspaces", 200, kWorkspaces);
  d.answer("/v1/workspaces/prod/token", 200, token_answer("dapiA", kNowS + 1800));
  d.answer("/v1/workspaces/prod/token?min_valid=1801", 200, token_answer("dapiB", kNowS + 3600));
  auto r = run_auth_token(token_for(kHost, true), {}, d.api(), record, kNow);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(json::parse(r->stdout_text).at("access_token").as_string(), "dapiB");
  EXPECT_EQ(d.asked.back(), "/v1/workspaces/prod/token?min_valid=1801");
  EXPECT_EQ(record.times["prod"], kNowS + 3600);
}

TEST(DatabricksAuthRun, ForceRefreshWithoutARecordOrWithANewerTokenAsksOnce) {
  FakeDaemon d;
  FakeRecord record;
  d.answer("/v1/workspaces", 200, kWorkspaces);
  d.answer("/v1/workspaces/prod/token", 200, token_answer("dapiB", kNowS + 3600));
  ASSERT_TRUE(run_auth_token(token_for(kHost, true), {}, d.api(), record, kNow).ok());
  record.times["prod"] = kNowS + 1800;  // the daemon has rotated since
  ASSERT_TRUE(run_auth_token(token_for(kHost, true), {}, d.api(), record, kNow).ok());
  for (const auto& a : d.asked) EXPECT_EQ(a.find("min_valid"), std::string::npos) << a;
}

TEST(DatabricksAuthRun, ForceRefreshRefusedServesTheCurrentTokenWithAWarning) {
  FakeDaemon d;
  FakeRecord record;
  record.times["prod"] = kNowS + 1800;
  d.answer("/v1/workspaces", 200, kWorkspaces);
  d.answer("/v1/workspaces/prod/token", 200, token_answer("dapiA", kNowS + 1800));
  d.answer(
      "/v1/workspaces/prod/token?min_valid=1801", 429,
      R"({"error":{"code":"rate_limited","message":"uid 1000 forced 3 early PAT rotations"}})");
  auto r = run_auth_token(token_for(kHost, true), {}, d.api(), record, kNow);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(json::parse(r->stdout_text).at("access_token").as_string(), "dapiA");
  ASSERT_TRUE(r->warning);
  EXPECT_NE(r->warning->find("forced 3 early PAT rotations"), std::string::npos);
  EXPECT_NE(r->warning->find("1800 s"), std::string::npos);
  EXPECT_EQ(r->warning->find("dapi"), std::string::npos);
}

TEST(DatabricksAuthRun, Failures) {
  FakeDaemon d;
  FakeRecord record;
  d.answer("/v1/workspaces", 200, kWorkspaces);
  // Unknown host: says so, asks for no token.
  auto r =
      run_auth_token(token_for("https://adb-9.azuredatabricks.net"), {}, d.api(), record, kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().exit, Exit::denied);
  EXPECT_EQ(d.asked.size(), 1u);
  // The daemon's refusal passes through with its exit code.
  d.answer("/v1/workspaces/prod/token", 503,
           R"({"error":{"code":"quota_exhausted","message":"PAT quota of 600 reached"}})");
  r = run_auth_token(token_for(kHost), {}, d.api(), record, kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().exit, Exit::upstream);
  EXPECT_NE(r.error().message.find("PAT quota"), std::string::npos);
  // An answer for another host is not handed out, and the token is not quoted.
  d.answer("/v1/workspaces/prod/token", 200,
           token_answer("dapiSECRET", kNowS + 600, "https://adb-7.azuredatabricks.net"));
  r = run_auth_token(token_for(kHost), {}, d.api(), record, kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message.find("dapiSECRET"), std::string::npos);
  // A token that would break an Authorization header.
  d.answer("/v1/workspaces/prod/token", 200, token_answer("dapi\\r\\nX: y", kNowS + 600));
  r = run_auth_token(token_for(kHost), {}, d.api(), record, kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message.find("X: y"), std::string::npos);
  EXPECT_TRUE(record.times.empty());
}

TEST(DatabricksAuthRun, ProfileGivesTheHostWhenHostIsAbsent) {
  dbx::testing::TempDir dir;
  dir.write(".databrickscfg",
            "[work]\nhost = adb-2.azuredatabricks.net\nauth_type = databricks-cli\n");
  FakeDaemon d;
  FakeRecord record;
  d.answer("/v1/workspaces", 200, kWorkspaces);
  d.answer("/v1/workspaces/dev/token", 200,
           token_answer("eyJdev", kNowS + 900, "https://adb-2.azuredatabricks.net"));
  AuthInvocation inv;
  inv.command = AuthCommand::token;
  inv.profile = "work";
  AuthEnvironment env;
  env.home = dir.path();
  auto r = run_auth_token(inv, env, d.api(), record, kNow);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(json::parse(r->stdout_text).at("access_token").as_string(), "eyJdev");
  // --host wins over the profile.
  inv.host = kHost;
  d.answer("/v1/workspaces/prod/token", 200, token_answer("dapiA", kNowS + 900));
  r = run_auth_token(inv, env, d.api(), record, kNow);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(json::parse(r->stdout_text).at("access_token").as_string(), "dapiA");
  // A profile without a host.
  inv.host.reset();
  inv.profile = "nope";
  r = run_auth_token(inv, env, d.api(), record, kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("nope"), std::string::npos);
}

TEST(FileHandedOutRecord, RoundTripAndRefusedPlaces) {
  dbx::testing::TempDir dir;
  FileHandedOutRecord record(dir / "state");
  EXPECT_EQ(record.last("prod"), std::nullopt);
  record.remember("prod", 1796683600);
  record.remember("a/b", 7);
  EXPECT_EQ(record.last("prod"), 1796683600);
  EXPECT_EQ(record.last("a/b"), 7);
  struct stat st {};
  ASSERT_EQ(::stat((dir / "state").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat((dir / "state/databricks-auth.prod").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // A directory others may write to is not used (someone could plant a far-future time).
  ::chmod((dir / "state").c_str(), 0777);
  EXPECT_EQ(record.last("prod"), std::nullopt);
  ::chmod((dir / "state").c_str(), 0700);
  // A symlinked record is not followed.
  dir.write("elsewhere", "99\n");
  ::unlink((dir / "state/databricks-auth.prod").c_str());
  ASSERT_EQ(::symlink((dir / "elsewhere").c_str(), (dir / "state/databricks-auth.prod").c_str()),
            0);
  EXPECT_EQ(record.last("prod"), std::nullopt);
  EXPECT_EQ(FileHandedOutRecord::record_dir("/run/user/1000", "/home/u"), "/run/user/1000/dbxcred");
  EXPECT_EQ(FileHandedOutRecord::record_dir(std::nullopt, "/home/u"), "/home/u/.cache/dbxcred");
  EXPECT_EQ(FileHandedOutRecord::record_dir("relative", std::nullopt), std::nullopt);
}

}  // namespace
}  // namespace dbx::cli
