#include "client/doctor.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <cstring>

#include "tests/temp_dir.h"

namespace dbx::cli {
namespace {

DaemonApi canned(int status, std::string body, std::vector<std::string>* asked = nullptr) {
  return DaemonApi([status, body, asked](std::string_view target) -> Expected<HttpResponse> {
    if (asked != nullptr) asked->emplace_back(target);
    HttpResponse r;
    r.status = status;
    r.body = body;
    return r;
  });
}

TEST(DoctorArgs, DoctorTakesConfigJsonAndWorkspace) {
  auto inv = parse_args({"-w", "prod", "doctor", "--config", "/x/c.json", "--json"});
  ASSERT_TRUE(inv) << inv.error().message;
  EXPECT_EQ(inv->command, Command::doctor);
  EXPECT_EQ(inv->workspace, "prod");
  EXPECT_EQ(inv->config_path, "/x/c.json");
  EXPECT_TRUE(inv->json);
  EXPECT_FALSE(parse_args({"doctor", "--since", "1h"}));
  EXPECT_FALSE(parse_args({"status", "--config", "/x"}));
}

TEST(DoctorSocket, AGroupOrWorldWritableDirectoryFailsNamingTheFix) {
  const Caller caller{1000, 998};
  Finding f = socket_directory_finding("/tmp/x", 040777, 0, caller);
  EXPECT_EQ(f.verdict, Verdict::fail);
  EXPECT_NE(f.message.find("world-writable (mode 0777)"), std::string::npos) << f.message;
  EXPECT_NE(f.fix.find("chmod go-w /tmp/x"), std::string::npos);
  f = socket_directory_finding("/run/d", 040770, 998, caller);
  EXPECT_EQ(f.verdict, Verdict::fail);
  EXPECT_NE(f.message.find("group-writable"), std::string::npos);
  f = socket_directory_finding("/run/d", 040750, 998, caller);
  EXPECT_EQ(f.verdict, Verdict::ok) << f.message;
  f = socket_directory_finding("/run/d", 040755, 4242, caller);
  EXPECT_EQ(f.verdict, Verdict::fail);
  EXPECT_NE(f.message.find("uid 4242"), std::string::npos);
}

TEST(DoctorSocket, NoSocketIsAFailNamingHowToStartTheDaemon) {
  dbx::testing::TempDir dir;
  ::chmod(dir.path().c_str(), 0700);
  auto found = socket_findings(dir / "none.sock", Caller{::getuid(), std::nullopt}, false);
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].verdict, Verdict::ok) << found[0].message;
  EXPECT_EQ(found[1].verdict, Verdict::fail);
  EXPECT_NE(found[1].fix.find("systemctl start dbxcredd"), std::string::npos);
}

TEST(DoctorSocket, ALiveSocketNamesWhoServesIt) {
  dbx::testing::TempDir dir;
  ::chmod(dir.path().c_str(), 0700);
  const std::string path = dir / "d.sock";
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  auto found = socket_findings(path, Caller{::getuid(), std::nullopt}, false);
  ::close(fd);
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[1].verdict, Verdict::ok) << found[1].message;
  EXPECT_NE(found[1].message.find("served by uid " + std::to_string(::getuid())), std::string::npos)
      << found[1].message;
  // A server that is not root, the caller or the service user: the squatter case.
  found = socket_findings(path, Caller{::getuid() + 1, std::nullopt}, false);
  if (::getuid() != 0) {
    EXPECT_EQ(found.back().verdict, Verdict::fail);
  }
}

TEST(DoctorConfig, ProblemsAreFailsAndAValidFileIsOk) {
  dbx::testing::TempDir dir;
  const std::string bad = dir.write("bad.json", R"({"workspaces":{"w":{"credential":"nope"}}})");
  auto found = config_findings_as_caller(bad, Caller{::getuid(), std::nullopt});
  ASSERT_FALSE(found.empty());
  EXPECT_EQ(found[0].verdict, Verdict::fail);
  EXPECT_NE(found[0].message.find("workspaces.w"), std::string::npos) << found[0].message;
  const std::string good = dir.write(
      "good.json",
      R"({"state_dir":")" + dir.path() + R"(","socket":{"path":")" + dir.path() +
          R"(/s.sock"},"credentials":{"c":{"type":"azure_cli"}},)"
          R"("workspaces":{"w":{"credential":"c","host":"https://adb-1.azuredatabricks.net"}}})");
  found = config_findings_as_caller(good, Caller{::getuid(), std::nullopt});
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].verdict, Verdict::ok) << found[0].message;
  found = config_findings_as_caller(dir / "missing.json", Caller{::getuid(), std::nullopt});
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].verdict, Verdict::note);
}

TEST(DoctorConfig, ASecretFileWithGroupBitsIsAFail) {
  dbx::testing::TempDir dir;
  const std::string secret = dir.write("s.secret", "x", 0640);
  const std::string cfg = dir.write(
      "c.json",
      R"({"state_dir":")" + dir.path() +
          R"(","credentials":{"c":{"type":"client_secret","tenant_id":"t","client_id":"i",)"
          R"("client_secret_file":")" +
          secret +
          R"("}},"workspaces":{"w":{"credential":"c","host":"https://adb-1.azuredatabricks.net"}}})");
  auto found = config_findings_as_caller(cfg, Caller{::getuid(), std::nullopt});
  ASSERT_FALSE(found.empty());
  EXPECT_EQ(found[0].verdict, Verdict::fail);
  EXPECT_NE(found[0].message.find("chmod 600"), std::string::npos) << found[0].message;
}

TEST(DoctorDaemon, TheDaemonsFindingsArePassedOnAndAFailSetsExit1) {
  std::vector<std::string> asked;
  auto api =
      canned(200,
             R"({"full":false,"findings":[)"
             R"({"check":"access","subject":"prod","status":"fail","message":"uid 5 may not",)"
             R"("fix":"add it"},{"check":"bogus","status":"weird","message":"x"}]})",
             &asked);
  auto found = daemon_findings(api, std::string("prod"));
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0], "/v1/doctor?workspace=prod");
  ASSERT_EQ(found.size(), 2u);  // the malformed one dropped, the "not full" note added
  EXPECT_EQ(found[0].verdict, Verdict::fail);
  EXPECT_EQ(found[1].verdict, Verdict::note);
  EXPECT_EQ(doctor_exit(found), Exit::failure);
  const std::string text = render_findings(found, false);
  EXPECT_NE(text.find("FAIL  access prod: uid 5 may not; fix: add it\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("1 check(s) failed"), std::string::npos);
  const auto json = boost::json::parse(render_findings(found, true)).as_object();
  EXPECT_FALSE(json.at("ok").as_bool());
  EXPECT_EQ(json.at("findings").as_array().size(), 2u);
  EXPECT_EQ(json.at("findings").as_array()[0].as_object().at("status").as_string(), "fail");
}

TEST(DoctorDaemon, AnUnreachableDaemonIsOneFail) {
  DaemonApi api([](std::string_view) -> Expected<HttpResponse> {
    return Failure{Exit::unreachable, "cannot reach dbxcredd at /x: No such file or directory"};
  });
  auto found = daemon_findings(api, std::nullopt);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].verdict, Verdict::fail);
  EXPECT_EQ(doctor_exit(found), Exit::failure);
  EXPECT_EQ(doctor_exit(
                {Finding{"x", "", Verdict::ok, "m", ""}, Finding{"y", "", Verdict::note, "m", ""}}),
            Exit::ok);
}

TEST(DoctorDaemon, DaemonTextIsPrintedAsOneLine) {
  const std::string line =
      finding_line(Finding{"reach", "h", Verdict::fail, "a\nb\x1b[31m", "c\rd"});
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.find('\x1b'), std::string::npos);
  EXPECT_EQ(line.find('\r'), std::string::npos);
}

}  // namespace
}  // namespace dbx::cli
