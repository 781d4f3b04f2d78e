// The sources take their endpoints from config.endpoints, which the parser fills from `cloud` and
// the `endpoints` overrides (PROTOCOLS.md "Sovereign clouds").
#include "daemon/credentials/source_factory.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "tests/daemon/fake_runtime.h"
#include "tests/daemon/fake_transport.h"

namespace dbx {
namespace {

using testing::FakeRuntime;
using testing::FakeTransport;

class RecordingRunner : public ProcessRunner {
 public:
  void run(ProcessSpec spec, ProcessCallback) override { specs.push_back(std::move(spec)); }
  std::vector<ProcessSpec> specs;
};

class SourceFactoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char path[] = "/tmp/dbxcred-factory-XXXXXX";
    int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ::close(fd);
    token_file_ = path;
    std::ofstream(token_file_) << "federated-jwt\n";
  }
  void TearDown() override { std::remove(token_file_.c_str()); }

  Config parse(const std::string& cloud_and_endpoints) {
    const std::string text = R"({ "state_dir": "/tmp", )" + cloud_and_endpoints + R"(
      "credentials": {
        "wi":  { "type": "workload_identity", "tenant_id": "t", "client_id": "c",
                 "token_file": ")" +
                             token_file_ + R"(" },
        "vm":  { "type": "managed_identity" },
        "cli": { "type": "azure_cli" } },
      "workspaces": { "w": { "credential": "wi", "host": "https://adb-1.azuredatabricks.net" } } })";
    ConfigProblems problems;
    auto c = parse_config(text, "/etc/dbxcred/config.json", "", problems);
    for (auto& l : problems.lines) ADD_FAILURE() << l;
    return c.value_or(Config{});
  }

  // The URL the credential's first token request goes to.
  std::string first_url(const Config& config, const std::string& credential) {
    FakeTransport transport;
    auto source =
        make_credential_source(config.credentials.at(credential), config, services(transport));
    EXPECT_TRUE(source.ok()) << source.error().message;
    if (!source.ok()) return "";
    source.value()->fetch(config.endpoints.management_resource, [](Result<AccessToken>) {});
    if (transport.pending().empty()) return "";
    return transport.pending().front().request.url;
  }

  SourceServices services(Transport& transport) {
    return SourceServices{runtime_, transport, &runner_, &limit_};
  }

  FakeRuntime runtime_;
  RecordingRunner runner_;
  ConcurrencyLimit limit_{runtime_, 5};
  std::string token_file_;
};

TEST_F(SourceFactoryTest, PublicCloudIsTheDefault) {
  Config c = parse("");
  EXPECT_EQ(first_url(c, "wi"), "https://login.microsoftonline.com/t/oauth2/token");
  EXPECT_EQ(c.endpoints.management_resource, "https://management.core.windows.net/");
  EXPECT_EQ(c.endpoints.resource_manager, "https://management.azure.com");
}

TEST_F(SourceFactoryTest, UsGovAndChinaChangeTheAuthority) {
  Config gov = parse(R"("cloud": "usgov",)");
  EXPECT_EQ(first_url(gov, "wi"), "https://login.microsoftonline.us/t/oauth2/token");
  EXPECT_EQ(gov.endpoints.resource_manager, "https://management.usgovcloudapi.net");
  Config cn = parse(R"("cloud": "china",)");
  EXPECT_EQ(first_url(cn, "wi"), "https://login.chinacloudapi.cn/t/oauth2/token");
  // The management token is asked for the cloud's own management resource.
  FakeTransport transport;
  auto source = make_credential_source(cn.credentials.at("vm"), cn, services(transport));
  ASSERT_TRUE(source.ok());
  source.value()->fetch(cn.endpoints.management_resource, [](Result<AccessToken>) {});
  EXPECT_NE(transport.pending().front().request.url.find(
                "resource=https%3A%2F%2Fmanagement.core.chinacloudapi.cn%2F"),
            std::string::npos);
}

TEST_F(SourceFactoryTest, EndpointOverridesWin) {
  Config c = parse(R"("cloud": "usgov", "endpoints": { "authority": "https://login.example",
                      "imds": "http://10.1.2.3:99" },)");
  EXPECT_EQ(first_url(c, "wi"), "https://login.example/t/oauth2/token");
  EXPECT_EQ(first_url(c, "vm").rfind("http://10.1.2.3:99/metadata/identity/oauth2/token?", 0), 0u);
}

TEST_F(SourceFactoryTest, AzureCliRunsTheConfiguredAz) {
  Config c = parse("");
  FakeTransport transport;
  auto source = make_credential_source(c.credentials.at("cli"), c, services(transport));
  ASSERT_TRUE(source.ok());
  EXPECT_EQ(source.value()->type(), "azure_cli");
  source.value()->fetch("r", [](Result<AccessToken>) {});
  ASSERT_EQ(runner_.specs.size(), 1u);
  EXPECT_EQ(runner_.specs[0].program, "az");
  EXPECT_EQ(transport.sent(), 0);
}

TEST_F(SourceFactoryTest, WithoutAProcessRunnerAzureCliIsASetupError) {
  Config c = parse("");
  FakeTransport transport;
  SourceServices none{runtime_, transport, nullptr, nullptr};
  auto cli = make_credential_source(c.credentials.at("cli"), c, none);
  ASSERT_FALSE(cli.ok());
  EXPECT_NE(cli.error().message.find("cli"), std::string::npos);
  EXPECT_FALSE(make_credential_source(c.credentials.at("vm"), c, none).ok());
  EXPECT_TRUE(make_credential_source(c.credentials.at("wi"), c, none).ok());
}

}  // namespace
}  // namespace dbx
