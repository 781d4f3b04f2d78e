#include "daemon/server/loopback_routes.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>

#include "tests/daemon/fake_runtime.h"
#include "tests/daemon/fake_transport.h"

namespace dbx {
namespace {

namespace json = boost::json;

constexpr const char* kMdSecret =
    "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";
constexpr const char* kMiSecret =
    "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2";

class LoopbackRoutesTest : public ::testing::Test {
 protected:
  LoopbackRoutesTest() {
    state_dir = std::filesystem::temp_directory_path() /
                ("loopback-routes-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(state_dir);
    Config c;
    c.instance = "test";
    c.state_dir = state_dir.string();
    c.endpoints.authority = "https://login.example";
    CredentialConfig sp;
    sp.name = "sp";
    sp.tenant_id = "tenant";
    sp.client_id = "client-1";
    sp.client_secret = "s3cret";
    c.credentials["sp"] = sp;
    WorkspaceConfig aad;
    aad.name = "aadonly";
    aad.credential = "sp";
    aad.host = "https://adb-1.azuredatabricks.net";
    aad.pat.enabled = false;
    c.workspaces["aadonly"] = aad;
    WorkspaceConfig pat = aad;
    pat.name = "withpat";
    pat.host = "https://adb-2.azuredatabricks.net";
    pat.pat.enabled = true;
    pat.allow = AllowList{{}, {}, {4242}, {}};
    c.workspaces["withpat"] = pat;
    c.listen.metadata_service = MetadataServiceListen{8701};
    c.listen.managed_identity = ManagedIdentityListen{
        8702,
        "sp",
        {"https://management.core.windows.net/", "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"}};
    transport.set_auto_answer([this](const HttpRequest& r) -> Result<HttpResponse> {
      requests.push_back(r);
      HttpResponse res;
      res.status = 200;
      if (r.url.find("/token/create") != std::string::npos) {
        const auto ms = to_unix_seconds(rt.now()) * 1000;
        res.body = R"({"token_value":"dapi-pat-value","token_info":{"token_id":"t1",)"
                   R"("creation_time":)" +
                   std::to_string(ms) + R"(,"expiry_time":)" + std::to_string(ms + 3600 * 1000) +
                   R"(,"comment":"x"}})";
      } else if (r.url.find("/token/list") != std::string::npos) {
        res.body = "{}";
      } else {
        res.body = R"({"access_token":"aad-tok","expires_in":"3599","token_type":"Bearer"})";
      }
      return res;
    });
    broker = std::make_shared<Broker>(rt, transport, c);
    broker->start();  // loads the PAT ledger, fetches the AAD tokens
    rt.run_ready();
    requests.clear();
    state = std::make_shared<LoopbackState>();
    state->metadata_service_port = 8701;
    state->managed_identity_port = 8702;
    state->secrets = {kMdSecret, kMiSecret};
    routes = std::make_unique<LoopbackRoutes>([this] { return broker; }, [this] { return state; });
  }
  ~LoopbackRoutesTest() override {
    broker.reset();
    std::filesystem::remove_all(state_dir);
  }

  ApiResponse md(std::string target, HttpHeaders headers) {
    std::optional<ApiResponse> out;
    routes->metadata_service(LoopbackRequest{"GET", target, std::move(headers)},
                             [&](ApiResponse r) { out = std::move(r); });
    rt.run_ready();
    EXPECT_TRUE(out.has_value());
    return out.value_or(ApiResponse{0, "", ""});
  }
  ApiResponse mi(std::string target, HttpHeaders headers) {
    std::optional<ApiResponse> out;
    routes->managed_identity(LoopbackRequest{"GET", target, std::move(headers)},
                             [&](ApiResponse r) { out = std::move(r); });
    rt.run_ready();
    EXPECT_TRUE(out.has_value());
    return out.value_or(ApiResponse{0, "", ""});
  }
  static HttpHeaders sdk_headers(std::string host) {
    return {{"x-databricks-metadata-version", "1"}, {"x-databricks-host", std::move(host)}};
  }
  static json::value body(const ApiResponse& r) { return json::parse(r.body); }

  std::filesystem::path state_dir;
  testing::FakeRuntime rt;
  testing::FakeTransport transport;
  std::vector<HttpRequest> requests;
  std::shared_ptr<Broker> broker;
  std::shared_ptr<LoopbackState> state;
  std::unique_ptr<LoopbackRoutes> routes;
};

TEST(NormalizeHostUrl, SchemeHostCaseDefaultPortAndTrailingSlash) {
  EXPECT_EQ(normalize_host_url("https://ADB-1.azuredatabricks.net/"),
            "https://adb-1.azuredatabricks.net");
  EXPECT_EQ(normalize_host_url("HTTPS://adb-1.azuredatabricks.net:443"),
            "https://adb-1.azuredatabricks.net");
  EXPECT_EQ(normalize_host_url("https://127.0.0.1:8443/"), "https://127.0.0.1:8443");
  EXPECT_NE(normalize_host_url("https://127.0.0.1:8443"), normalize_host_url("https://127.0.0.1"));
  EXPECT_NE(normalize_host_url("http://adb-1.azuredatabricks.net"),
            normalize_host_url("https://adb-1.azuredatabricks.net"));
}

TEST_F(LoopbackRoutesTest, MetadataServiceServesAadWithIntegerExpiryAnnouncedEarly) {
  auto r = md("/" + workspace_secret(kMdSecret, "aadonly") + "/aadonly",
              sdk_headers("https://adb-1.azuredatabricks.net/"));
  ASSERT_EQ(r.status, 200) << r.body;
  auto b = body(r);
  EXPECT_EQ(b.at("access_token"), "aad-tok");
  EXPECT_EQ(b.at("token_type"), "Bearer");
  ASSERT_TRUE(b.at("expires_on").is_int64());
  EXPECT_EQ(b.at("expires_on").as_int64(), to_unix_seconds(rt.now()) + 3599 - 30);
}

TEST_F(LoopbackRoutesTest, MetadataServiceServesThePatWherePatsAreOn) {
  auto r = md("/" + workspace_secret(kMdSecret, "withpat") + "/withpat",
              sdk_headers("https://adb-2.azuredatabricks.net"));
  ASSERT_EQ(r.status, 200) << r.body;
  auto b = body(r);
  EXPECT_EQ(b.at("access_token"), "dapi-pat-value");
  EXPECT_EQ(b.at("expires_on").as_int64(), to_unix_seconds(rt.now()) + 3600);
}

TEST_F(LoopbackRoutesTest, MetadataServiceProtocolEdges) {
  const std::string secret = workspace_secret(kMdSecret, "aadonly");
  const std::string good = "/" + secret + "/aadonly";
  const std::string host = "https://adb-1.azuredatabricks.net";
  // Version header: missing or wrong is 400.
  EXPECT_EQ(md(good, {{"X-Databricks-Host", host}}).status, 400);
  EXPECT_EQ(md(good, {{"X-Databricks-Metadata-Version", "2"}, {"X-Databricks-Host", host}}).status,
            400);
  // Host: missing, another workspace's, or another scheme is 404.
  EXPECT_EQ(md(good, {{"X-Databricks-Metadata-Version", "1"}}).status, 404);
  EXPECT_EQ(md(good, sdk_headers("https://adb-2.azuredatabricks.net")).status, 404);
  EXPECT_EQ(md(good, sdk_headers("http://adb-1.azuredatabricks.net")).status, 404);
  // Secret: wrong, truncated, missing is 404 — and tells nothing about workspaces.
  std::string wrong = good;
  wrong[1] = 'f';
  EXPECT_EQ(md(wrong, sdk_headers(host)).status, 404);
  EXPECT_EQ(md("/" + secret.substr(0, 63) + "/aadonly", sdk_headers(host)).status, 404);
  EXPECT_EQ(md("/aadonly", sdk_headers(host)).status, 404);
  EXPECT_EQ(md("/", sdk_headers(host)).status, 404);
  EXPECT_EQ(md(good, {{"Host", "rebound.example"},
                      {"X-Databricks-Metadata-Version", "1"},
                      {"X-Databricks-Host", host}})
                .status,
            403);
  // Unknown workspace behind a known secret; the stored secret itself opens nothing.
  EXPECT_EQ(md("/" + secret + "/nope", sdk_headers(host)).status, 404);
  EXPECT_EQ(md(std::string("/") + kMdSecret + "/aadonly", sdk_headers(host)).status, 404);
  EXPECT_TRUE(requests.empty()) << "nothing upstream for a refused request";
  // Error bodies are the protocol's shape and never hold the secret.
  auto e = md(wrong, sdk_headers(host));
  EXPECT_TRUE(body(e).as_object().contains("error_description"));
  EXPECT_EQ(e.body.find(secret), std::string::npos);
  EXPECT_EQ(routes->counters().by_endpoint_status.at({"metadata_service", 404}), 10u);
}

// Scenario 1 of issue 12: the secret sdk-env handed for one workspace opens that workspace only;
// with another workspace's name and host it is a 404 like a wrong secret, and nothing goes
// upstream.
TEST_F(LoopbackRoutesTest, AWorkspacesSecretOpensThatWorkspaceOnly) {
  const std::string aad_secret = workspace_secret(kMdSecret, "aadonly");
  const std::string pat_secret = workspace_secret(kMdSecret, "withpat");
  EXPECT_NE(aad_secret, pat_secret);
  EXPECT_EQ(aad_secret.size(), 64u);
  EXPECT_EQ(workspace_secret(kMdSecret, "aadonly"), aad_secret) << "stable: derived, not random";
  const auto attack =
      md("/" + aad_secret + "/withpat", sdk_headers("https://adb-2.azuredatabricks.net"));
  EXPECT_EQ(attack.status, 404);
  EXPECT_EQ(attack.body.find("dapi"), std::string::npos);
  EXPECT_EQ(body(attack).at("error"), "not_found");
  EXPECT_EQ(
      md("/" + pat_secret + "/aadonly", sdk_headers("https://adb-1.azuredatabricks.net")).status,
      404);
  EXPECT_TRUE(requests.empty()) << "nothing upstream for a refused request";
  EXPECT_EQ(
      md("/" + pat_secret + "/withpat", sdk_headers("https://adb-2.azuredatabricks.net")).status,
      200);
}

TEST_F(LoopbackRoutesTest, MetadataServiceOffMeansNoSecretMatches) {
  state->secrets.metadata_service.clear();
  EXPECT_EQ(md("//aadonly", sdk_headers("https://adb-1.azuredatabricks.net")).status, 404);
}

TEST_F(LoopbackRoutesTest, ManagedIdentityAnswersLikeAppService) {
  auto r =
      mi("/msi/token?resource=https%3A%2F%2Fmanagement.core.windows.net&api-version=2019-08-01",
         {{"x-identity-header", kMiSecret}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto b = body(r);
  EXPECT_EQ(b.at("access_token"), "aad-tok");
  ASSERT_TRUE(b.at("expires_on").is_string());
  EXPECT_EQ(b.at("expires_on").as_string(), std::to_string(to_unix_seconds(rt.now()) + 3599));
  EXPECT_EQ(b.at("resource"), "https://management.core.windows.net");
  EXPECT_EQ(b.at("token_type"), "Bearer");
  EXPECT_EQ(b.at("client_id"), "client-1");
  // The trailing-slash form is the same resource (same cache: no second upstream call).
  const auto calls = requests.size();
  auto again = mi("/msi/token?api-version=2019-08-01&resource=https://management.core.windows.net/",
                  {{"X-IDENTITY-HEADER", kMiSecret}});
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(body(again).at("resource"), "https://management.core.windows.net/");
  EXPECT_EQ(requests.size(), calls);
}

// Its token opens every workspace of the credential (docs/SECURITY.md "Workspaces sharing a
// credential"): one workspace with serve_entra_token false closes it, for root too, and a secret
// handed out before is refused at the endpoint itself.
TEST_F(LoopbackRoutesTest, ManagedIdentityNeedsEntraTokensOnEveryWorkspaceOfItsCredential) {
  const std::string target =
      "/msi/token?resource=2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"
      "&api-version=2019-08-01";
  PeerIdentity root;
  root.uid = 0;
  ASSERT_EQ(azure_env_response(state.get(), *broker, root).status, 200);
  ASSERT_EQ(mi(target, {{"x-identity-header", kMiSecret}}).status, 200);
  Workspace* ws = broker->workspace("withpat");
  WorkspaceConfig off = ws->config();
  off.serve_entra_token = false;
  ws->reconfigure(off);
  const auto calls = requests.size();
  const ApiResponse env = azure_env_response(state.get(), *broker, root);
  EXPECT_EQ(env.status, 403);
  EXPECT_NE(env.body.find("workspaces.withpat.serve_entra_token is false"), std::string::npos)
      << env.body;
  EXPECT_EQ(env.body.find(kMiSecret), std::string::npos);
  const ApiResponse refused = mi(target, {{"x-identity-header", kMiSecret}});
  EXPECT_EQ(refused.status, 403);
  EXPECT_NE(refused.body.find("workspaces.withpat.serve_entra_token"), std::string::npos);
  EXPECT_EQ(refused.body.find("aad-tok"), std::string::npos);
  EXPECT_EQ(requests.size(), calls);  // nothing fetched for it
  // The workspace's own PAT still goes out through the metadata service.
  const auto pat = md("/" + ws->metadata_secret(kMdSecret) + "/withpat",
                      sdk_headers("https://adb-2.azuredatabricks.net"));
  ASSERT_EQ(pat.status, 200) << pat.body;
  EXPECT_EQ(body(pat).at("access_token"), "dapi-pat-value");
  off.serve_entra_token = true;
  ws->reconfigure(off);
  EXPECT_EQ(mi(target, {{"x-identity-header", kMiSecret}}).status, 200);
}

TEST_F(LoopbackRoutesTest, ManagedIdentityProtocolEdges) {
  const std::string q =
      "/msi/token?resource=2ff814a6-3304-4ab8-85cb-cd0e6f879c1d&api-version=2019-08-01";
  EXPECT_EQ(mi(q, {}).status, 401);
  EXPECT_EQ(mi(q, {{"X-IDENTITY-HEADER", kMdSecret}}).status, 401);
  EXPECT_EQ(mi(q, {{"X-IDENTITY-HEADER", ""}}).status, 401);
  const HttpHeaders ok = {{"X-IDENTITY-HEADER", kMiSecret}};
  EXPECT_EQ(mi("/msi/token?resource=2ff814a6-3304-4ab8-85cb-cd0e6f879c1d", ok).status, 400);
  EXPECT_EQ(mi("/msi/token?api-version=2019-08-01", ok).status, 400);
  EXPECT_EQ(mi("/msi/token?resource=&api-version=2019-08-01", ok).status, 400);
  EXPECT_EQ(
      mi("/msi/token?resource=2ff814a6-3304-4ab8-85cb-cd0e6f879c1d&api-version=2017-09-01", ok)
          .status,
      400);
  auto disallowed = mi("/msi/token?resource=https://vault.azure.net&api-version=2019-08-01", ok);
  EXPECT_EQ(disallowed.status, 400);
  const std::string description(body(disallowed).at("error_description").as_string());
  EXPECT_NE(description.find("https://management.core.windows.net/"), std::string::npos);
  EXPECT_NE(description.find("2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"), std::string::npos);
  EXPECT_EQ(mi(q + "&client_id=someone-else", ok).status, 400);
  EXPECT_EQ(mi("/metadata/identity/oauth2/token", ok).status, 404);
  EXPECT_TRUE(requests.empty());
  EXPECT_EQ(mi(q + "&client_id=CLIENT-1", ok).status, 200);
  // DNS rebinding: a Host that is not a loopback name is refused.
  EXPECT_EQ(mi(q, {{"X-IDENTITY-HEADER", kMiSecret}, {"Host", "evil.example:8702"}}).status, 403);
  EXPECT_EQ(mi(q, {{"X-IDENTITY-HEADER", kMiSecret}, {"Host", "localhost:8702"}}).status, 200);
  EXPECT_EQ(mi(q, {{"X-IDENTITY-HEADER", kMiSecret}, {"Host", "[::1]:8702"}}).status, 200);
}

TEST_F(LoopbackRoutesTest, SdkEnvAndAzureEnv) {
  auto sdk = sdk_env_response(state.get(), *broker->workspace("aadonly"));
  ASSERT_EQ(sdk.status, 200);
  auto b = body(sdk);
  EXPECT_EQ(b.at("DATABRICKS_HOST"), "https://adb-1.azuredatabricks.net");
  EXPECT_EQ(b.at("DATABRICKS_AUTH_TYPE"), "metadata-service");
  EXPECT_EQ(b.at("DATABRICKS_METADATA_SERVICE_URL").as_string(),
            "http://127.0.0.1:8701/" + workspace_secret(kMdSecret, "aadonly") + "/aadonly");

  PeerIdentity anyone;
  anyone.uid = 1000;
  auto az = azure_env_response(state.get(), *broker, anyone);
  ASSERT_EQ(az.status, 200);
  EXPECT_EQ(body(az).at("IDENTITY_ENDPOINT"), "http://127.0.0.1:8702/msi/token");
  EXPECT_EQ(body(az).at("IDENTITY_HEADER"), kMiSecret);

  LoopbackState off;
  auto none = sdk_env_response(&off, *broker->workspace("aadonly"));
  EXPECT_EQ(none.status, 404);
  EXPECT_NE(none.body.find("listen.metadata_service"), std::string::npos);
  EXPECT_EQ(azure_env_response(nullptr, *broker, anyone).status, 404);
}

}  // namespace
}  // namespace dbx

namespace dbx {
namespace {

// azure-env: allowed on at least one workspace using the credential; no workspace using it means
// whoever can open the socket.
TEST(AzureEnvAccess, FollowsTheWorkspacesUsingTheCredential) {
  testing::FakeRuntime rt;
  testing::FakeTransport transport;
  Config c;
  c.endpoints.authority = "https://login.example";
  for (const char* name : {"sp", "other"}) {
    CredentialConfig cred;
    cred.name = name;
    cred.tenant_id = "tenant";
    cred.client_id = name;
    cred.client_secret = "s3cret";
    c.credentials[name] = cred;
  }
  WorkspaceConfig locked;
  locked.name = "locked";
  locked.credential = "sp";
  locked.host = "https://adb-1.azuredatabricks.net";
  locked.pat.enabled = false;
  locked.allow = AllowList{{}, {}, {4242}, {}};
  c.workspaces["locked"] = locked;
  c.listen.managed_identity = ManagedIdentityListen{8702, "sp", {"https://x"}};
  LoopbackState state;
  state.managed_identity_port = 8702;
  state.secrets.managed_identity = kMiSecret;

  PeerIdentity stranger;
  stranger.uid = 1000;
  PeerIdentity member;
  member.uid = 4242;
  PeerIdentity root;
  root.uid = 0;
  {
    Broker broker(rt, transport, c);
    EXPECT_EQ(azure_env_response(&state, broker, stranger).status, 403);
    EXPECT_EQ(azure_env_response(&state, broker, stranger).body.find(kMiSecret), std::string::npos);
    EXPECT_EQ(azure_env_response(&state, broker, member).status, 200);
    EXPECT_EQ(azure_env_response(&state, broker, root).status, 200);
  }
  // A second, open workspace on the same credential opens it to everyone.
  WorkspaceConfig open = locked;
  open.name = "open";
  open.allow.reset();
  c.workspaces["open"] = open;
  {
    Broker broker(rt, transport, c);
    EXPECT_EQ(azure_env_response(&state, broker, stranger).status, 200);
  }
  // A credential no workspace uses: the socket's own access is the boundary.
  c.workspaces.erase("open");
  c.listen.managed_identity->credential = "other";
  {
    Broker broker(rt, transport, c);
    EXPECT_EQ(azure_env_response(&state, broker, stranger).status, 200);
  }
}

}  // namespace
}  // namespace dbx
