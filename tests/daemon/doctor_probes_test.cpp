#include "daemon/doctor/doctor_probes.h"

#include <gtest/gtest.h>

#include "tests/daemon/fake_runtime.h"
#include "tests/daemon/fake_transport.h"

namespace dbx {
namespace {

using testing::FakeRuntime;
using testing::FakeTransport;

HttpResponse answer(int status, std::string body, HttpHeaders headers = {}) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

TEST(DoctorProbes, HttpDatesParseAndAnythingElseIsRefused) {
  EXPECT_EQ(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
  EXPECT_EQ(parse_http_date("Tue, 08 Dec 2026 00:16:33 GMT"), 1796688993);
  EXPECT_FALSE(parse_http_date(""));
  EXPECT_FALSE(parse_http_date("Tue, 08 Dec 2026 00:16:33 UTC"));
  EXPECT_FALSE(parse_http_date("Tue, 08 Foo 2026 00:16:33 GMT"));
  EXPECT_FALSE(parse_http_date("Tue, 08 Dec 2026 25:16:33 GMT"));
  EXPECT_FALSE(parse_http_date("Tuesday, 08-Dec-26 00:16:33 GMT"));
}

TEST(DoctorProbes, ClockSkewPastAMinuteFailsAndSaysWhichWay) {
  const TimePoint now = from_unix_seconds(1'800'000'000);
  EXPECT_EQ(clock_finding("h", 1'800'000'030, now).verdict, Verdict::ok);
  Finding f = clock_finding("h", 1'800'000'000 - 3600, now);
  EXPECT_EQ(f.verdict, Verdict::fail);
  EXPECT_NE(f.message.find("3600 s ahead of h"), std::string::npos) << f.message;
  EXPECT_NE(f.fix.find("ntp"), std::string::npos);
  f = clock_finding("h", 1'800'000'000 + 120, now);
  EXPECT_NE(f.message.find("120 s behind h"), std::string::npos) << f.message;
}

TEST(DoctorProbes, ScimMeSaysWhetherTheServicePrincipalIsAWorkspaceUser) {
  auto f = judge_scim_me("prod", false, answer(200, R"({"userName":"sp-client"})"));
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].verdict, Verdict::ok);
  EXPECT_NE(f[0].message.find("sp-client is a user of workspace prod"), std::string::npos);
  f = judge_scim_me("prod", false,
                    answer(403, R"({"error_code":403,"message":"Invalid access token."})"));
  EXPECT_EQ(f[0].verdict, Verdict::fail);
  EXPECT_NE(f[0].fix.find("management_token: true"), std::string::npos) << f[0].fix;
  f = judge_scim_me("prod", true, answer(403, "<html>no</html>"));
  EXPECT_NE(f[0].fix.find("Contributor"), std::string::npos) << f[0].fix;
}

TEST(DoctorProbes, TokenListCountsTheQuotaOfThisAgentAndOthers) {
  std::string body = R"({"token_infos":[)";
  for (int i = 0; i < 595; ++i) body += std::string(i ? "," : "") + R"({"token_id":"t"})";
  body += "]}";
  // 595 held, 2 ours, room for 8 more up to max_active 10: 603 > 600.
  auto f = judge_token_list("prod", 2, 10, answer(200, body));
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].check, "quota");
  EXPECT_EQ(f[0].verdict, Verdict::fail);
  EXPECT_NE(f[0].message.find("595 of 600 PATs in workspace prod (2 by this agent, 593 by others)"),
            std::string::npos)
      << f[0].message;
  f = judge_token_list("prod", 2, 5, answer(200, body));  // 595 + 3 fits
  EXPECT_EQ(f[0].verdict, Verdict::ok) << f[0].message;
  f = judge_token_list("prod", 0, 5, answer(200, "{}"));  // no tokens: Databricks sends {}
  EXPECT_EQ(f[0].verdict, Verdict::ok);
  EXPECT_NE(f[0].message.find("holds 0 of 600"), std::string::npos);
  f = judge_token_list(
      "prod", 0, 5,
      answer(403, R"({"error_code":"PERMISSION_DENIED","message":"no token permission"})"));
  EXPECT_EQ(f[0].check, "standing");
  EXPECT_EQ(f[0].verdict, Verdict::fail);
  EXPECT_NE(f[0].message.find("may not use personal access tokens"), std::string::npos);
  EXPECT_NE(f[0].fix.find("Can Use"), std::string::npos) << f[0].fix;
}

TEST(DoctorProbes, EachProbeGivesReachClockAndItsJudgesFindingsInOrder) {
  FakeRuntime runtime;
  FakeTransport transport;
  std::vector<Probe> probes(2);
  probes[0].subject = "login";
  probes[0].request.url = "https://login.example/";
  probes[1].subject = "prod";
  probes[1].request.url = "https://adb.example/api/2.0/preview/scim/v2/Me";
  probes[1].judge = [](const HttpResponse& r) { return judge_scim_me("prod", false, r); };
  std::optional<std::vector<Finding>> got;
  run_probes(runtime, transport, std::move(probes), [&](std::vector<Finding> f) { got = f; });
  ASSERT_EQ(transport.pending().size(), 2u);
  EXPECT_EQ(transport.pending()[0].request.timeout, kProbeTimeout);
  runtime.advance(Millis(40));
  // The second answers first; the findings still come in probe order, once all have answered.
  auto second = std::move(transport.pending()[1]);
  transport.pending().pop_back();
  second.done(answer(200, R"({"userName":"sp"})",
                     {{"Date", "Fri, 15 Jan 2027 10:00:00 GMT"}}));  // 2 h ahead of ours
  EXPECT_FALSE(got);
  transport.fail(make_error(ErrorCode::upstream_unavailable,
                            "cannot resolve login.example: Name or service not known"));
  ASSERT_TRUE(got);
  ASSERT_EQ(got->size(), 4u);
  EXPECT_EQ((*got)[0].check, "reach");
  EXPECT_EQ((*got)[0].verdict, Verdict::fail);
  EXPECT_NE((*got)[0].message.find("cannot reach login after 40 ms: cannot resolve"),
            std::string::npos)
      << (*got)[0].message;
  EXPECT_EQ((*got)[1].check, "reach");
  EXPECT_EQ((*got)[1].verdict, Verdict::ok);
  EXPECT_EQ((*got)[2].check, "clock");
  EXPECT_EQ((*got)[2].verdict, Verdict::fail);
  EXPECT_NE((*got)[2].message.find("7200 s behind prod"), std::string::npos) << (*got)[2].message;
  EXPECT_EQ((*got)[3].check, "standing");
  EXPECT_EQ((*got)[3].verdict, Verdict::ok);
}

TEST(DoctorProbes, AQuietProbeAddsOnlyItsJudgesFindingsOrItsFailure) {
  FakeRuntime runtime;
  FakeTransport transport;
  std::vector<Probe> probes(2);
  for (auto& p : probes) {
    p.subject = "prod";
    p.quiet_reach = true;
    p.judge = [](const HttpResponse& r) { return judge_scim_me("prod", false, r); };
  }
  std::optional<std::vector<Finding>> got;
  run_probes(runtime, transport, std::move(probes), [&](std::vector<Finding> f) { got = f; });
  transport.reply(200, "{}", {{"Date", "Fri, 15 Jan 2027 10:00:00 GMT"}});
  transport.fail(make_error(ErrorCode::upstream_unavailable, "connection refused"));
  ASSERT_TRUE(got);
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0].check, "standing");
  EXPECT_EQ((*got)[1].check, "reach");
  EXPECT_EQ((*got)[1].verdict, Verdict::fail);
}

TEST(DoctorProbes, TheRouteIsTheTransportsOwnProxyDecisionWithoutCredentials) {
  const std::optional<std::string> proxy = "http://user:pw@proxy.corp:3128";
  EXPECT_EQ(route_to("https://adb-1.azuredatabricks.net/x", proxy, ""),
            "through the proxy proxy.corp:3128");
  EXPECT_EQ(route_to("https://adb-1.azuredatabricks.net/x", proxy, ".azuredatabricks.net"),
            "directly");
  EXPECT_EQ(route_to("https://127.0.0.1:8443/", proxy, ""), "directly");  // loopback: never
  EXPECT_EQ(route_to("https://login.microsoftonline.com/", std::nullopt, ""), "directly");
  EXPECT_EQ(route_to("not a url", proxy, ""), "");
}

TEST(DoctorProbes, ARouteIsNamedInTheReachFinding) {
  FakeRuntime runtime;
  FakeTransport transport;
  std::vector<Probe> probes(1);
  probes[0].subject = "login";
  probes[0].route = "through the proxy p:3128";
  std::optional<std::vector<Finding>> got;
  run_probes(runtime, transport, std::move(probes), [&](std::vector<Finding> f) { got = f; });
  transport.fail(make_error(ErrorCode::upstream_unavailable, "proxy p:3128 refused CONNECT"));
  ASSERT_TRUE(got);
  EXPECT_NE((*got)[0].message.find("cannot reach login through the proxy p:3128 after"),
            std::string::npos)
      << (*got)[0].message;
}

TEST(DoctorProbes, NoProbesAnswerAtOnce) {
  FakeRuntime runtime;
  FakeTransport transport;
  bool called = false;
  run_probes(runtime, transport, {}, [&](std::vector<Finding> f) {
    called = true;
    EXPECT_TRUE(f.empty());
  });
  EXPECT_TRUE(called);
}

}  // namespace
}  // namespace dbx
