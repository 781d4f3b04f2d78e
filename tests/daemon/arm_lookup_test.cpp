#include "daemon/credentials/arm_lookup.h"

#include <gtest/gtest.h>

#include "tests/daemon/fake_transport.h"

namespace dbx {
namespace {

const std::string kId =
    "/subscriptions/s-1/resourceGroups/rg/providers/Microsoft.Databricks/workspaces/w";

HttpResponse answer(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

TEST(ArmLookup, RequestGoesToTheResourceManagerWithTheToken) {
  auto req = arm_workspace_request("https://management.usgovcloudapi.net/", kId, "mgmt");
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.url, "https://management.usgovcloudapi.net" + kId + "?api-version=2018-04-01");
  EXPECT_EQ(req.upstream, "arm");
  ASSERT_FALSE(req.headers.empty());
  EXPECT_EQ(req.headers[0].first, "Authorization");
  EXPECT_EQ(req.headers[0].second, "Bearer mgmt");
}

TEST(ArmLookup, WorkspaceUrlBecomesAnHttpsHost) {
  auto h = parse_arm_workspace_answer(
      answer(200, R"({"id":")" + kId + R"(","name":"w","location":"westeurope",
        "properties":{"workspaceUrl":"adb-1234567890123456.7.azuredatabricks.net",
                      "workspaceId":"1234567890123456"}})"),
      kId);
  ASSERT_TRUE(h.ok()) << h.error().message;
  EXPECT_EQ(*h, "https://adb-1234567890123456.7.azuredatabricks.net");
  // A port (the emulator) and a scheme someone already added are fine.
  auto p = parse_arm_workspace_answer(
      answer(200, R"({"properties":{"workspaceUrl":"https://127.0.0.1:8443/"}})"), kId);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(*p, "https://127.0.0.1:8443");
}

TEST(ArmLookup, ArmErrorsCarryTheirCodeMessageAndAHint) {
  auto e = parse_arm_workspace_answer(
      answer(
          404,
          R"({"error":{"code":"ResourceNotFound","message":"The Resource 'Microsoft.Databricks/workspaces/w' under resource group 'rg' was not found.\nmore"}})"),
      kId);
  ASSERT_FALSE(e.ok());
  const std::string& m = e.error().message;
  EXPECT_NE(m.find(kId), std::string::npos);
  EXPECT_NE(m.find("HTTP 404"), std::string::npos);
  EXPECT_NE(m.find("ResourceNotFound: The Resource"), std::string::npos);
  EXPECT_EQ(m.find("more"), std::string::npos);  // first line only
  EXPECT_NE(m.find("resource_id"), std::string::npos);
  EXPECT_EQ(e.error().upstream_status, 404);

  auto f = parse_arm_workspace_answer(
      answer(403, R"({"error":{"code":"AuthorizationFailed","message":"no access"}})"), kId);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().message.find("AuthorizationFailed: no access"), std::string::npos);
  EXPECT_NE(f.error().message.find("Reader"), std::string::npos);

  auto g = parse_arm_workspace_answer(answer(502, "<html>Bad Gateway</html>"), kId);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.error().message.find("HTTP 502: no error details"), std::string::npos);
}

TEST(ArmLookup, AnswersWithoutAUsableWorkspaceUrlAreErrors) {
  for (const char* body :
       {"", "[]", "{}", R"({"properties":null})", R"({"properties":{}})",
        R"({"properties":{"workspaceUrl":""}})", R"({"properties":{"workspaceUrl":42}})",
        R"({"properties":{"workspaceUrl":"evil.net/path?x"}})",
        R"({"properties":{"workspaceUrl":"a b"}})"}) {
    auto h = parse_arm_workspace_answer(answer(200, body), kId);
    EXPECT_FALSE(h.ok()) << body;
    if (!h.ok()) {
      EXPECT_NE(h.error().message.find(kId), std::string::npos);
    }
  }
}

TEST(ArmLookup, TransportFailureNamesTheWorkspace) {
  testing::FakeTransport transport;
  std::optional<Result<std::string>> got;
  lookup_workspace_host(transport, "https://management.azure.com", kId, "t",
                        [&](Result<std::string> r) { got = std::move(r); });
  ASSERT_EQ(transport.pending().size(), 1u);
  transport.fail(make_error(ErrorCode::upstream_unavailable, "connect refused"));
  ASSERT_TRUE(got && !got->ok());
  EXPECT_NE(got->error().message.find(kId), std::string::npos);
  EXPECT_NE(got->error().message.find("connect refused"), std::string::npos);
}

}  // namespace
}  // namespace dbx
