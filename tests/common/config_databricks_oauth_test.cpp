// The Databricks OAuth credential types (SPEC.md "Configuration"): databricks_oauth (M2M) and
// databricks_federation (token exchange), and what they change for a workspace.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/config.h"
#include "tests/temp_dir.h"

namespace dbx {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

class Dir : public testing::TempDir {
 public:
  std::string config(const std::string& text) const { return write("config.json", text, 0600); }
};

struct Parsed {
  std::optional<Config> config;
  std::vector<std::string> problems;
};

Parsed load(const std::string& path) {
  ConfigProblems problems;
  auto c = load_config(path, problems);
  return {std::move(c), std::move(problems.lines)};
}

std::string config_text(const std::string& workspace_members) {
  return R"({ "credentials": {
      "dbx-sp":  { "type": "databricks_oauth", "client_id": "app-1", "client_secret_file": "sp.secret" },
      "dbx-fed": { "type": "databricks_federation", "token_file": "/run/ci/oidc-token", "client_id": "app-2" },
      "dbx-acct": { "type": "databricks_federation", "token_file": "tok" } },
    "workspaces": { "prod": { "credential": "dbx-sp", )" +
         workspace_members + R"( } } })";
}

constexpr const char* kHost = R"("host": "https://adb-1.2.azuredatabricks.net")";

TEST(DatabricksOAuthConfig, BothTypesParse) {
  Dir d;
  std::string secret = d.write("sp.secret", "dose-secret\n", 0600);
  Parsed p = load(d.config(config_text(kHost)));
  ASSERT_TRUE(p.config) << ::testing::PrintToString(p.problems);
  const auto& sp = p.config->credentials.at("dbx-sp");
  EXPECT_EQ(sp.type, CredentialType::databricks_oauth);
  EXPECT_TRUE(is_databricks_oauth(sp.type));
  EXPECT_EQ(sp.client_id, "app-1");
  EXPECT_EQ(sp.client_secret_file, secret);
  const auto& fed = p.config->credentials.at("dbx-fed");
  EXPECT_EQ(fed.type, CredentialType::databricks_federation);
  EXPECT_EQ(fed.client_id, "app-2");
  EXPECT_EQ(fed.token_file, "/run/ci/oidc-token");
  EXPECT_EQ(p.config->credentials.at("dbx-acct").client_id, "");  // account-wide policy
  EXPECT_FALSE(is_databricks_oauth(CredentialType::client_secret));
  EXPECT_FALSE(p.config->workspaces.at("prod").management_token);
}

TEST(DatabricksOAuthConfig, ProblemsNameTheJsonPath) {
  Dir d;
  d.write("sp.secret", "s", 0600);
  struct Case {
    std::string text;
    std::string expected;
  } cases[] = {
      {config_text(R"("pat": false)"),
       "workspaces.prod.host: missing (required with a databricks_oauth credential (the tokens "
       "come from its /oidc))"},
      {config_text(
           std::string(kHost) +
           R"(, "resource_id": "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Databricks/workspaces/W")"),
       "workspaces.prod.resource_id: does not apply with a databricks_oauth credential"},
      {config_text(std::string(kHost) + R"(, "management_token": false)"),
       "workspaces.prod.management_token: does not apply with a databricks_oauth credential"},
      {R"({ "credentials": { "x": { "type": "databricks_oauth", "client_secret_file": "sp.secret" } } })",
       "credentials.x.client_id: missing (required for a databricks_oauth credential)"},
      {R"({ "credentials": { "x": { "type": "databricks_oauth", "client_id": "c" } } })",
       "credentials.x.client_secret_file: missing (a databricks_oauth credential needs "
       "client_secret_file or an inline client_secret)"},
      {R"({ "credentials": { "x": { "type": "databricks_federation" } } })",
       "credentials.x.token_file: missing (required for a databricks_federation credential, "
       "unless only workspaces with \"sessions\" use it)"},
      {R"({ "credentials": { "x": { "type": "databricks_federation", "token_file": "/t",
                                    "tenant_id": "t" } } })",
       "credentials.x.tenant_id: unknown key for a databricks_federation credential (known: "
       "type, client_id, token_file)"},
      {R"({ "credentials": { "x": { "type": "databricks_oauth", "client_id": "c",
             "client_secret_file": "sp.secret" } },
           "listen": { "managed_identity": { "port": 8766, "credential": "x", "resources": ["r"] } } })",
       "listen.managed_identity.credential: a databricks_oauth credential has no Entra tokens to "
       "serve here"},
  };
  for (const auto& c : cases) {
    Parsed p = load(d.config(c.text));
    EXPECT_FALSE(p.config) << c.text;
    EXPECT_THAT(p.problems, ElementsAre(c.expected)) << c.text;
  }
}

TEST(DatabricksOAuthConfig, SecretFileModeIsChecked) {
  Dir d;
  std::string secret = d.write("sp.secret", "s", 0644);
  Parsed p = load(d.config(config_text(kHost)));
  EXPECT_FALSE(p.config);
  EXPECT_THAT(p.problems, ElementsAre("credentials.dbx-sp.client_secret_file: " + secret +
                                      " has group or other permission bits (mode 0644): "
                                      "refused; run chmod 600 " +
                                      secret));
}

TEST(DatabricksOAuthConfig, MaskedRenderShowsNoSecret) {
  Dir d;
  d.write("sp.secret", "s", 0600);
  std::string text = R"({ "credentials": {
      "inline": { "type": "databricks_oauth", "client_id": "app-1", "client_secret": "dose-inline-secret" },
      "fed": { "type": "databricks_federation", "token_file": "/run/ci/oidc-token" } } })";
  Parsed p = load(d.config(text));
  ASSERT_TRUE(p.config) << ::testing::PrintToString(p.problems);
  std::string rendered = render_config_masked(*p.config);
  EXPECT_THAT(rendered, HasSubstr(R"("type": "databricks_oauth")"));
  EXPECT_THAT(rendered, HasSubstr(R"("client_secret": "***")"));
  EXPECT_THAT(rendered, Not(HasSubstr("dose-inline-secret")));
  EXPECT_THAT(rendered, HasSubstr(R"("token_file": "/run/ci/oidc-token")"));
  EXPECT_THAT(rendered, Not(HasSubstr("tenant_id")));
}

}  // namespace
}  // namespace dbx
