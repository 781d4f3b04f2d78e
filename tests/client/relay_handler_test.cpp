#include "client/relay_handler.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <deque>
#include <map>

namespace dbx::cli {
namespace {

namespace json = boost::json;

const std::string kSecret(64, 'a');
constexpr const char* kHost = "https://adb-1.azuredatabricks.net";
constexpr const char* kResource = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d";

// The daemon: canned answers per target (a queue: the first answer is used first, the last one
// again and again); records what was asked.
class FakeDaemon {
 public:
  void answer(const std::string& target, int status, std::string body,
              std::vector<std::pair<std::string, std::string>> headers = {}) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    r.headers = std::move(headers);
    answers_[target].push_back(std::move(r));
  }
  Fetch fetch() {
    return [this](std::string_view target) -> Expected<HttpResponse> {
      asked.emplace_back(target);
      if (unreachable) return Failure{Exit::unreachable, "cannot reach dbxcredd at /x: refused"};
      auto it = answers_.find(std::string(target));
      if (it == answers_.end() || it->second.empty()) {
        HttpResponse r;
        r.status = 404;
        r.body = R"({"error":{"code":"not_found","message":"no such path"}})";
        return r;
      }
      HttpResponse r = it->second.front();
      if (it->second.size() > 1) it->second.pop_front();
      return r;
    };
  }
  std::vector<std::string> asked;
  bool unreachable = false;

 private:
  std::map<std::string, std::deque<HttpResponse>> answers_;
};

RelayTarget metadata_target(std::string kind = "pat") {
  RelayTarget t;
  t.protocol = RelayProtocol::metadata_service;
  t.workspace = "prod";
  t.host = kHost;
  t.kind = std::move(kind);
  t.secret = kSecret;
  return t;
}

RelayTarget identity_target() {
  RelayTarget t;
  t.protocol = RelayProtocol::managed_identity;
  t.workspace = "prod";
  t.resource = kResource;
  t.secret = kSecret;
  return t;
}

// A parsed request: the handler gets what the server's parser produced.
struct Request {
  std::string raw;
  InboundRequest parsed;
};
Request request(const std::string& method, const std::string& target,
                const std::vector<std::string>& headers) {
  Request r;
  r.raw = method + " " + target + " HTTP/1.1\r\n";
  for (const auto& h : headers) r.raw += h + "\r\n";
  r.raw += "\r\n";
  const RequestParse p = parse_request(r.raw, RequestLimits{});
  EXPECT_EQ(p.kind, RequestParse::Kind::complete) << r.raw;
  r.parsed = p.request;
  return r;
}

std::vector<std::string> sdk_headers(const std::string& host = kHost) {
  // Lower-case names, as the JS SDK sends them.
  return {"host: 127.0.0.1:4000", "x-databricks-metadata-version: 1", "x-databricks-host: " + host};
}

const std::string kMetadataPath = "/" + kSecret + "/prod";
const std::string kTokenAt70 = "/v1/workspaces/prod/token?min_valid=70";
const std::string kTokenAt100 = "/v1/workspaces/prod/token?min_valid=100";

json::object body_of(const RelayAnswer& a) {
  return json::parse(a.body).as_object();
}

TEST(RelayMetadataService, ServesTheDaemonsTokenWithTheEndpointsMargin) {
  FakeDaemon d;
  d.answer(
      kTokenAt70, 200,
      R"({"token":"dapi0123","kind":"pat","expires_at":1714568400,"host":"https://adb-1.azuredatabricks.net"})");
  RelayHandler h(metadata_target(), d.fetch());
  auto r = request("GET", kMetadataPath, sdk_headers());
  RelayAnswer a = h.handle(r.parsed);
  ASSERT_EQ(a.status, 200) << a.body;
  auto o = body_of(a);
  EXPECT_EQ(o.size(), 3U);
  EXPECT_EQ(o.at("access_token").as_string(), "dapi0123");
  EXPECT_EQ(o.at("token_type").as_string(), "Bearer");
  ASSERT_TRUE(o.at("expires_on").is_int64());  // an integer: Python rejects a string, Go a float
  EXPECT_EQ(o.at("expires_on").as_int64(), 1714568400);
  EXPECT_EQ(d.asked, std::vector<std::string>{kTokenAt70});
}

TEST(RelayMetadataService, EntraTokensAreAskedWithMoreLeftAndAnnouncedEarly) {
  FakeDaemon d;
  d.answer(kTokenAt100, 200, R"({"token":"eyJ","kind":"aad","expires_at":5000,"host":"h"})");
  RelayHandler h(metadata_target("aad"), d.fetch());
  auto r = request("GET", kMetadataPath, sdk_headers());
  RelayAnswer a = h.handle(r.parsed);
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(body_of(a).at("expires_on").as_int64(), 5000 - 30);
  EXPECT_EQ(d.asked, std::vector<std::string>{kTokenAt100});
}

TEST(RelayMetadataService, AWorkspaceThatTurnedToEntraTokensIsAskedAgainWithTheirMargin) {
  FakeDaemon d;
  d.answer(kTokenAt70, 200, R"({"token":"eyJold","kind":"aad","expires_at":5000,"host":"h"})");
  d.answer(kTokenAt100, 200, R"({"token":"eyJnew","kind":"aad","expires_at":6000,"host":"h"})");
  RelayHandler h(metadata_target("pat"), d.fetch());
  auto r = request("GET", kMetadataPath, sdk_headers());
  RelayAnswer a = h.handle(r.parsed);
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(body_of(a).at("access_token").as_string(), "eyJnew");
  EXPECT_EQ(body_of(a).at("expires_on").as_int64(), 6000 - 30);
  EXPECT_EQ(d.asked, (std::vector<std::string>{kTokenAt70, kTokenAt100}));
  // It remembers: the next request asks with the Entra margin at once.
  h.handle(r.parsed);
  EXPECT_EQ(d.asked.back(), kTokenAt100);
  EXPECT_EQ(d.asked.size(), 3U);
}

TEST(RelayMetadataService, MinValidAsksForMoreNeverLess) {
  FakeDaemon d;
  d.answer("/v1/workspaces/prod/token?min_valid=600", 200,
           R"({"token":"dapi1","kind":"pat","expires_at":9000,"host":"h"})");
  RelayTarget t = metadata_target();
  t.min_valid_seconds = 600;
  RelayHandler h(t, d.fetch());
  auto r = request("GET", kMetadataPath, sdk_headers());
  EXPECT_EQ(h.handle(r.parsed).status, 200);
  FakeDaemon d2;
  d2.answer(kTokenAt70, 200, R"({"token":"dapi1","kind":"pat","expires_at":9000,"host":"h"})");
  t.min_valid_seconds = 5;
  RelayHandler h2(t, d2.fetch());
  EXPECT_EQ(h2.handle(r.parsed).status, 200);
  EXPECT_EQ(d2.asked, std::vector<std::string>{kTokenAt70});
}

TEST(RelayMetadataService, AWrongSecretOrPathIs404AndAsksTheDaemonNothing) {
  FakeDaemon d;
  RelayHandler h(metadata_target(), d.fetch());
  std::string other = kSecret;
  other.back() = 'b';
  for (const std::string& path :
       {"/" + other + "/prod", "/" + kSecret.substr(1) + "/prod", "/" + kSecret + "a/prod",
        "/" + kSecret + "/staging", "/" + kSecret, "/" + kSecret + "/", std::string("/"),
        std::string("/prod"), "/" + kSecret + "/prod/x", std::string("//prod")}) {
    auto r = request("GET", path, sdk_headers());
    RelayAnswer a = h.handle(r.parsed);
    EXPECT_EQ(a.status, 404) << path;
    EXPECT_EQ(a.body.find(kSecret), std::string::npos) << "the secret is never echoed";
  }
  EXPECT_TRUE(d.asked.empty());
}

TEST(RelayMetadataService, AQueryAfterThePathIsIgnored) {
  FakeDaemon d;
  d.answer(kTokenAt70, 200, R"({"token":"dapi1","kind":"pat","expires_at":9000,"host":"h"})");
  RelayHandler h(metadata_target(), d.fetch());
  auto r = request("GET", kMetadataPath + "?x=1", sdk_headers());
  EXPECT_EQ(h.handle(r.parsed).status, 200);
}

TEST(RelayMetadataService, VersionMustBeOne) {
  FakeDaemon d;
  RelayHandler h(metadata_target(), d.fetch());
  for (const std::vector<std::string>& headers :
       {std::vector<std::string>{"x-databricks-host: " + std::string(kHost)},
        std::vector<std::string>{"X-Databricks-Metadata-Version: 2",
                                 "X-Databricks-Host: " + std::string(kHost)}}) {
    auto r = request("GET", kMetadataPath, headers);
    EXPECT_EQ(h.handle(r.parsed).status, 400);
  }
  EXPECT_TRUE(d.asked.empty());
}

TEST(RelayMetadataService, AnotherHostGetsNoToken) {
  FakeDaemon d;
  d.answer(kTokenAt70, 200, R"({"token":"dapi1","kind":"pat","expires_at":9000,"host":"h"})");
  RelayHandler h(metadata_target(), d.fetch());
  for (const char* host : {"https://evil.example.com", "https://adb-1.azuredatabricks.net.evil",
                           "http://adb-1.azuredatabricks.net"}) {
    auto r = request("GET", kMetadataPath, sdk_headers(host));
    EXPECT_EQ(h.handle(r.parsed).status, 404) << host;
  }
  auto none = request("GET", kMetadataPath, {"x-databricks-metadata-version: 1"});
  EXPECT_EQ(h.handle(none.parsed).status, 404);
  EXPECT_TRUE(d.asked.empty());
  for (const char* host :
       {"https://ADB-1.azuredatabricks.net/", "https://adb-1.azuredatabricks.net:443"}) {
    auto r = request("GET", kMetadataPath, sdk_headers(host));
    EXPECT_EQ(h.handle(r.parsed).status, 200) << host;
  }
}

TEST(RelayHandler, OnlyGetAndOnlyLoopbackHostNames) {
  FakeDaemon d;
  RelayHandler h(metadata_target(), d.fetch());
  auto post = request("POST", kMetadataPath, sdk_headers());
  EXPECT_EQ(h.handle(post.parsed).status, 405);
  // DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends its own name.
  auto rebound = request("GET", kMetadataPath,
                         {"Host: evil.example:4000", "x-databricks-metadata-version: 1",
                          "x-databricks-host: " + std::string(kHost)});
  EXPECT_EQ(h.handle(rebound.parsed).status, 403);
  EXPECT_TRUE(d.asked.empty());
}

TEST(RelayHandler, TheDaemonsRefusalIsPassedOnWithItsStatusAndMessage) {
  FakeDaemon d;
  d.answer(kTokenAt70, 403,
           R"({"error":{"code":"forbidden","message":"uid 1001 may not use workspace prod"}})");
  RelayHandler h(metadata_target(), d.fetch());
  auto r = request("GET", kMetadataPath, sdk_headers());
  RelayAnswer a = h.handle(r.parsed);
  EXPECT_EQ(a.status, 403);
  EXPECT_EQ(body_of(a).at("error").as_string(), "forbidden");
  EXPECT_EQ(body_of(a).at("error_description").as_string(), "uid 1001 may not use workspace prod");

  FakeDaemon limited;
  limited.answer(kTokenAt70, 429, R"({"error":{"code":"rate_limited","message":"slow down"}})",
                 {{"Retry-After", "3"}});
  RelayHandler h2(metadata_target(), limited.fetch());
  RelayAnswer b = h2.handle(r.parsed);
  EXPECT_EQ(b.status, 429);
  ASSERT_EQ(b.headers.size(), 1U);
  EXPECT_EQ(b.headers[0].first, "Retry-After");
  EXPECT_EQ(b.headers[0].second, "3");
}

TEST(RelayHandler, AnUnreachableDaemonIs503AndAMalformedAnswer502) {
  FakeDaemon d;
  d.unreachable = true;
  RelayHandler h(metadata_target(), d.fetch());
  auto r = request("GET", kMetadataPath, sdk_headers());
  RelayAnswer a = h.handle(r.parsed);
  EXPECT_EQ(a.status, 503);
  EXPECT_NE(body_of(a).at("error_description").as_string().find("cannot reach dbxcredd"),
            std::string::npos);
  FakeDaemon bad;
  bad.answer(kTokenAt70, 200, R"({"kind":"pat","expires_at":9000})");
  RelayHandler h2(metadata_target(), bad.fetch());
  EXPECT_EQ(h2.handle(r.parsed).status, 502);
  FakeDaemon garbage;
  garbage.answer(kTokenAt70, 200, "not json");
  RelayHandler h3(metadata_target(), garbage.fetch());
  EXPECT_EQ(h3.handle(r.parsed).status, 502);
}

// --- the App Service managed-identity protocol ---------------------------------------------------

const std::string kAadAt60 = "/v1/workspaces/prod/aad?min_valid=60";

std::vector<std::string> identity_headers(const std::string& secret = kSecret) {
  return {"Host: 127.0.0.1:4001", "X-IDENTITY-HEADER: " + secret};
}

TEST(RelayManagedIdentity, ServesTheWorkspacesEntraTokenAsAppServiceDoes) {
  FakeDaemon d;
  d.answer(
      kAadAt60, 200,
      R"({"access_token":"eyJ1","token_type":"Bearer","expires_at":7000,"resource":"2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"})");
  RelayHandler h(identity_target(), d.fetch());
  // The Azure SDKs drop "/.default" and may drop or keep a trailing slash.
  for (const std::string& resource : {std::string(kResource), std::string(kResource) + "%2F",
                                      std::string("2FF814A6-3304-4AB8-85CB-CD0E6F879C1D")}) {
    auto r = request("GET", "/msi/token?api-version=2019-08-01&resource=" + resource,
                     identity_headers());
    RelayAnswer a = h.handle(r.parsed);
    ASSERT_EQ(a.status, 200) << a.body;
    auto o = body_of(a);
    EXPECT_EQ(o.at("access_token").as_string(), "eyJ1");
    ASSERT_TRUE(o.at("expires_on").is_string());  // a string, as App Service sends it
    EXPECT_EQ(o.at("expires_on").as_string(), "7000");
    EXPECT_EQ(o.at("token_type").as_string(), "Bearer");
  }
  EXPECT_EQ(d.asked.front(), kAadAt60);
}

TEST(RelayManagedIdentity, AMissingOrWrongHeaderIs401AndAsksNothing) {
  FakeDaemon d;
  RelayHandler h(identity_target(), d.fetch());
  const std::string target = "/msi/token?api-version=2019-08-01&resource=" + std::string(kResource);
  auto none = request("GET", target, {"Host: 127.0.0.1:4001"});
  EXPECT_EQ(h.handle(none.parsed).status, 401);
  std::string other = kSecret;
  other[10] = 'c';
  for (const std::string& s : {other, kSecret.substr(0, 63), kSecret + "a", std::string()}) {
    auto r = request("GET", target, identity_headers(s));
    EXPECT_EQ(h.handle(r.parsed).status, 401) << s.size();
  }
  EXPECT_TRUE(d.asked.empty());
}

TEST(RelayManagedIdentity, BadRequestsSayWhat) {
  FakeDaemon d;
  RelayHandler h(identity_target(), d.fetch());
  auto wrong_path = request("GET", "/metadata/identity/oauth2/token", identity_headers());
  EXPECT_EQ(h.handle(wrong_path.parsed).status, 404);
  auto no_version =
      request("GET", "/msi/token?resource=" + std::string(kResource), identity_headers());
  EXPECT_EQ(h.handle(no_version.parsed).status, 400);
  auto no_resource = request("GET", "/msi/token?api-version=2019-08-01", identity_headers());
  EXPECT_EQ(h.handle(no_resource.parsed).status, 400);
  auto other =
      request("GET", "/msi/token?api-version=2019-08-01&resource=https%3A%2F%2Fvault.azure.net",
              identity_headers());
  RelayAnswer a = h.handle(other.parsed);
  EXPECT_EQ(a.status, 400);
  EXPECT_NE(body_of(a).at("error_description").as_string().find(kResource), std::string::npos)
      << "names the resource it serves";
  auto selector = request(
      "GET",
      "/msi/token?api-version=2019-08-01&resource=" + std::string(kResource) + "&client_id=0000",
      identity_headers());
  EXPECT_EQ(h.handle(selector.parsed).status, 400);
  EXPECT_TRUE(d.asked.empty());
}

// --- start-up and the variables ------------------------------------------------------------------

TEST(PrepareRelay, LearnsHostAndKindAsTheCallerBeforeCmdRuns) {
  FakeDaemon d;
  d.answer(
      kTokenAt70, 200,
      R"({"token":"dapi1","kind":"oauth","expires_at":9000,"host":"https://adb-1.azuredatabricks.net"})");
  Invocation inv;
  inv.command = Command::exec;
  inv.env_source = EnvSource::sdk;
  inv.workspace = "prod";
  auto t = prepare_relay(inv, std::nullopt, DaemonApi(d.fetch()), kSecret);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->host, kHost);
  EXPECT_EQ(t->kind, "oauth");
  EXPECT_EQ(t->secret, kSecret);
  EXPECT_EQ(
      relay_env(*t, 4000),
      (EnvVars{{"DATABRICKS_HOST", kHost},
               {"DATABRICKS_AUTH_TYPE", "metadata-service"},
               {"DATABRICKS_METADATA_SERVICE_URL", "http://127.0.0.1:4000/" + kSecret + "/prod"}}));
}

TEST(PrepareRelay, AzureLearnsTheResource) {
  FakeDaemon d;
  d.answer(
      kAadAt60, 200,
      R"({"access_token":"eyJ1","token_type":"Bearer","expires_at":7000,"resource":"2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"})");
  Invocation inv;
  inv.command = Command::exec;
  inv.env_source = EnvSource::azure;
  auto t = prepare_relay(inv, std::string("prod"), DaemonApi(d.fetch()), kSecret);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->resource, kResource);
  EXPECT_EQ(relay_env(*t, 4001), (EnvVars{{"IDENTITY_ENDPOINT", "http://127.0.0.1:4001/msi/token"},
                                          {"IDENTITY_HEADER", kSecret}}));
}

TEST(PrepareRelay, ARefusalIsTheClisExitCode) {
  FakeDaemon d;
  d.answer(kTokenAt70, 403, R"({"error":{"code":"forbidden","message":"uid 5 may not"}})");
  Invocation inv;
  inv.command = Command::exec;
  inv.env_source = EnvSource::sdk;
  inv.workspace = "prod";
  auto t = prepare_relay(inv, std::nullopt, DaemonApi(d.fetch()), kSecret);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().exit, Exit::denied);
}

TEST(SecretsEqual, WholeAndExact) {
  EXPECT_TRUE(secrets_equal(kSecret, kSecret));
  EXPECT_FALSE(secrets_equal(kSecret.substr(0, 63), kSecret));
  EXPECT_FALSE(secrets_equal(kSecret + "a", kSecret));
  EXPECT_FALSE(secrets_equal("", kSecret));
  EXPECT_FALSE(secrets_equal("", ""));  // no secret opens nothing
  std::string other = kSecret;
  other[0] = 'b';
  EXPECT_FALSE(secrets_equal(other, kSecret));
}

}  // namespace
}  // namespace dbx::cli
