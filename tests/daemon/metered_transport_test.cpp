#include "daemon/upstream/metered_transport.h"

#include <gtest/gtest.h>

#include "tests/daemon/fake_runtime.h"
#include "tests/daemon/fake_transport.h"

namespace dbx {
namespace {

TEST(MeteredTransport, CountsByUpstreamAndStatusWithLatency) {
  testing::FakeRuntime rt;
  testing::FakeTransport inner;
  UpstreamMetrics metrics;
  MeteredTransport metered(inner, rt, metrics);
  int answered = 0;
  auto send = [&](std::string upstream, std::string url) {
    HttpRequest r;
    r.url = std::move(url);
    r.upstream = std::move(upstream);
    metered.send(r, [&](Result<HttpResponse>) { ++answered; });
  };
  send("aad", "https://login.example/t/oauth2/token");
  rt.advance(Millis(30));
  inner.reply(200, "{}");
  send("aad", "https://login.example/t/oauth2/token");
  rt.advance(Millis(2000));
  inner.fail(make_error(ErrorCode::upstream_unavailable, "timeout"));
  send("databricks", "https://adb-1.azuredatabricks.net/api/2.0/token/create");
  inner.reply(400, R"({"error_code":"QUOTA_EXCEEDED","message":"Cannot create more"})");
  send("databricks", "https://adb-1.azuredatabricks.net/api/2.0/token/create");
  inner.reply(400, R"({"error_code":"INVALID_PARAMETER_VALUE"})");

  EXPECT_EQ(answered, 4);
  EXPECT_EQ((metrics.calls[{"aad", "200"}]), 1u);
  EXPECT_EQ((metrics.calls[{"aad", "error"}]), 1u);
  EXPECT_EQ((metrics.calls[{"databricks", "400"}]), 2u);
  const auto& aad = metrics.latency["aad"];
  EXPECT_EQ(aad.count, 2u);
  EXPECT_NEAR(aad.sum_seconds, 2.03, 1e-9);
  EXPECT_EQ(aad.in_bucket[3], 1u);  // 30 ms: le 0.05
  EXPECT_EQ(aad.in_bucket[8], 1u);  // 2 s: le 2.5
  EXPECT_EQ(metrics.quota_errors["adb-1.azuredatabricks.net"], 1u);
  EXPECT_EQ(metrics.quota_errors.size(), 1u);
}

}  // namespace
}  // namespace dbx
