// The router's accountability: an audit record per token answer and refusal, allow.executables,
// the per-uid rate limit and GET /v1/audit (daemon/server/router.cpp).
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <climits>
#include <cstdlib>

#include "daemon/audit/audit_log.h"
#include "daemon/server/executable_check.h"
#include "daemon/server/rate_limit.h"
#include "daemon/server/router.h"
#include "tests/daemon/fake_runtime.h"
#include "tests/daemon/fake_transport.h"
#include "tests/daemon/test_config.h"

namespace dbx {
namespace {

namespace json = boost::json;

std::string real(const char* path) {
  char buf[PATH_MAX];
  return ::realpath(path, buf) != nullptr ? buf : "";
}

Config test_config() {
  Config c = testing::config_with_sp();
  const WorkspaceConfig open = testing::workspace_on("open");
  c.workspaces["open"] = open;
  WorkspaceConfig closed = open;
  closed.name = "closed";
  closed.allow = AllowList{{}, {}, {4242}, {}};
  c.workspaces["closed"] = closed;
  WorkspaceConfig tool = open;
  tool.name = "tool";
  tool.allow = AllowList{{}, {}, {1000}, {{"/bin/true", std::nullopt}}};
  c.workspaces["tool"] = tool;
  return c;
}

class RouterAuditTest : public ::testing::Test {
 protected:
  RouterAuditTest()
      : broker(std::make_shared<Broker>(rt, transport, test_config())),
        router(
            rt, [this] { return broker; }, rt.now()),
        audit(rt, "") {
    transport.set_auto_answer([](const HttpRequest&) -> Result<HttpResponse> {
      HttpResponse res;
      res.status = 200;
      res.body = R"({"access_token":"aad-tok-value","expires_in":"3599","token_type":"Bearer"})";
      return res;
    });
    router.set_accountability(&audit, nullptr);
  }

  ApiResponse get(std::string_view target, uid_t uid = 1000, std::string exe = "") {
    PeerIdentity peer;
    peer.uid = uid;
    peer.gid = uid + 1;
    peer.pid = 777;
    if (!exe.empty()) {
      PeerProcess p;
      p.pid = 777;
      p.exe = std::move(exe);
      peer.process = p;
    }
    std::optional<ApiResponse> out;
    router.handle(ApiRequest{"GET", target}, peer, [&](ApiResponse r) { out = std::move(r); });
    rt.run_ready();
    EXPECT_TRUE(out.has_value()) << target;
    return out.value_or(ApiResponse{0, "", ""});
  }

  std::vector<AuditRecord> records() { return audit.since(rt.now() - Seconds(60)); }

  testing::FakeRuntime rt;
  testing::FakeTransport transport;
  std::shared_ptr<Broker> broker;
  Router router;
  AuditLog audit;
};

TEST_F(RouterAuditTest, ServedTokenIsRecordedByFingerprintNeverByValue) {
  ASSERT_EQ(get("/v1/workspaces/open/aad?min_valid=120", 1000, "/usr/bin/databricks").status, 200);
  const auto recs = records();
  ASSERT_EQ(recs.size(), 1u);
  const AuditRecord& r = recs[0];
  EXPECT_EQ(r.uid, 1000u);
  EXPECT_EQ(r.gid, 1001u);
  EXPECT_EQ(r.pid, 777);
  EXPECT_EQ(r.exe, "/usr/bin/databricks");
  EXPECT_EQ(r.workspace, "open");
  EXPECT_EQ(r.kind, "aad");
  EXPECT_EQ(r.min_valid, 120);
  EXPECT_EQ(r.outcome, AuditOutcome::served);
  EXPECT_TRUE(r.fingerprint.starts_with("sha256:"));
  EXPECT_EQ(audit_json_line(r).find("aad-tok-value"), std::string::npos);
}

TEST_F(RouterAuditTest, RefusalsAreRecordedWithTheirReason) {
  EXPECT_EQ(get("/v1/workspaces/closed/aad").status, 403);
  EXPECT_EQ(get("/v1/workspaces/nope/pat").status, 404);
  EXPECT_EQ(get("/v1/workspaces/open/aad?min_valid=x").status, 400);
  const auto recs = records();
  ASSERT_EQ(recs.size(), 3u);
  for (const AuditRecord& r : recs) EXPECT_EQ(r.outcome, AuditOutcome::denied);
  EXPECT_NE(recs[0].reason.find("forbidden: uid 1000 may not use workspace closed"),
            std::string::npos)
      << recs[0].reason;
  EXPECT_EQ(recs[1].workspace, "nope");
  EXPECT_NE(recs[2].reason.find("min_valid"), std::string::npos);
  EXPECT_FALSE(recs[2].min_valid.has_value());
}

TEST_F(RouterAuditTest, UpstreamFailureIsRecordedAsFailed) {
  transport.set_auto_answer([](const HttpRequest&) -> Result<HttpResponse> {
    HttpResponse res;
    res.status = 401;
    res.body = R"({"error":"invalid_client","error_description":"AADSTS7000215: bad secret"})";
    return res;
  });
  EXPECT_GE(get("/v1/workspaces/open/aad").status, 500);
  const auto recs = records();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].outcome, AuditOutcome::failed);
  EXPECT_TRUE(recs[0].fingerprint.empty());
  EXPECT_NE(recs[0].reason.find("AADSTS7000215"), std::string::npos) << recs[0].reason;
}

TEST_F(RouterAuditTest, ExecutablesAdmitTheListedProgramOnly) {
  EXPECT_EQ(get("/v1/workspaces/tool/aad", 1000, real("/bin/true")).status, 200);
  const ApiResponse other = get("/v1/workspaces/tool/aad", 1000, real("/bin/sh"));
  EXPECT_EQ(other.status, 403);
  EXPECT_NE(other.body.find("is not in allow.executables"), std::string::npos) << other.body;
  // A process that cannot be identified (no socket here) is refused, saying why.
  const ApiResponse unknown = get("/v1/workspaces/tool/aad", 1000);
  EXPECT_EQ(unknown.status, 403);
  EXPECT_NE(unknown.body.find("cannot be identified"), std::string::npos) << unknown.body;
  // Another uid is refused by the uid list before its program matters.
  EXPECT_EQ(get("/v1/workspaces/tool/aad", 1001, real("/bin/true")).status, 403);
  // The listing shows a program only what it may use.
  const ApiResponse list = get("/v1/workspaces", 1000, real("/bin/sh"));
  EXPECT_EQ(list.body.find("\"tool\""), std::string::npos) << list.body;
}

TEST_F(RouterAuditTest, RateLimitAnswers429WithRetryAfterAndARecord) {
  UidRateLimiter limiter(1, 2);
  router.set_accountability(&audit, &limiter);
  EXPECT_EQ(get("/v1/workspaces/open/aad").status, 200);
  EXPECT_EQ(get("/v1/workspaces/open/aad").status, 200);
  const ApiResponse limited = get("/v1/workspaces/open/aad");
  EXPECT_EQ(limited.status, 429);
  EXPECT_GE(limited.retry_after, 1);
  EXPECT_NE(limited.body.find("\"rate_limited\""), std::string::npos);
  EXPECT_EQ(get("/healthz").status, 200);                       // exempt
  EXPECT_EQ(get("/v1/workspaces/open/aad", 1001).status, 200);  // another uid
  const auto recs = records();
  ASSERT_EQ(recs.size(), 4u);
  EXPECT_EQ(recs[2].outcome, AuditOutcome::denied);
  EXPECT_EQ(recs[2].workspace, "open");
  EXPECT_NE(recs[2].reason.find("rate_limited"), std::string::npos);
  rt.advance(Millis(1000));
  EXPECT_EQ(get("/v1/workspaces/open/aad").status, 200);
}

TEST_F(RouterAuditTest, RotatingTheLoopbackSecretsIsForRootAndTheServiceUserOnly) {
  int rotations = 0;
  router.set_secret_rotation([&]() -> Result<std::vector<std::string>> {
    ++rotations;
    return std::vector<std::string>{"metadata_service"};
  });
  auto post = [&](uid_t uid) {
    PeerIdentity peer;
    peer.uid = uid;
    std::optional<ApiResponse> out;
    router.handle(ApiRequest{"POST", "/v1/loopback-secrets/rotate"}, peer,
                  [&](ApiResponse r) { out = std::move(r); });
    rt.run_ready();
    return out.value_or(ApiResponse{0, "", ""});
  };
  const uid_t stranger = ::geteuid() == 1000 ? 1001 : 1000;
  EXPECT_EQ(post(stranger).status, 403);
  EXPECT_EQ(rotations, 0);
  EXPECT_EQ(get("/v1/loopback-secrets/rotate", 0).status, 405);  // GET changes nothing
  EXPECT_EQ(rotations, 0);
  const ApiResponse ok = post(0);
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(json::parse(ok.body).at("rotated").as_array().at(0).as_string(), "metadata_service");
  EXPECT_EQ(post(::geteuid()).status, 200);
  EXPECT_EQ(rotations, 2);
  router.set_secret_rotation(
      []() -> Result<std::vector<std::string>> { return std::vector<std::string>{}; });
  EXPECT_EQ(post(0).status, 404);  // no listener configured: nothing to rotate
}

TEST_F(RouterAuditTest, AuditRecordsAreForRootAndTheServiceUserOnly) {
  ASSERT_EQ(get("/v1/workspaces/open/aad").status, 200);
  const uid_t stranger = ::geteuid() == 1000 ? 1001 : 1000;
  EXPECT_EQ(get("/v1/audit", stranger).status, 403);
  const ApiResponse root = get("/v1/audit?since=60", 0);
  ASSERT_EQ(root.status, 200);
  const json::array list = json::parse(root.body).at("records").as_array();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].at("kind").as_string(), "aad");
  EXPECT_EQ(get("/v1/audit?since=-1", 0).status, 400);
  rt.advance(Millis(120'000));
  EXPECT_EQ(json::parse(get("/v1/audit?since=60", 0).body).at("records").as_array().size(), 0u);
}

}  // namespace
}  // namespace dbx
