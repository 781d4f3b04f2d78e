// parse_config / load_config / render_config_masked (SPEC.md "Configuration").
#include "common/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tests/temp_dir.h"

namespace dbx {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

using testing::TempDir;

struct Parsed {
  std::optional<Config> config;
  std::vector<std::string> problems;
};

Parsed parse(const std::string& text, const std::string& source_path = "/etc/dbxcred/config.json",
             const std::string& credentials_directory = "") {
  ConfigProblems problems;
  std::optional<Config> config = parse_config(text, source_path, credentials_directory, problems);
  return {std::move(config), std::move(problems.lines)};
}

// The problems a config gives; expects it to be refused.
std::vector<std::string> problems_of(const std::string& text) {
  Parsed p = parse(text);
  EXPECT_FALSE(p.config.has_value()) << "expected the config to be refused: " << text;
  return p.problems;
}

// A config that needs no files: one managed identity and one workspace, plus `extra` members.
std::string with_workspace(const std::string& workspace_body, const std::string& extra = "") {
  return R"({ "credentials": { "vm": { "type": "managed_identity" } },
              "workspaces": { "prod": )" +
         workspace_body + "}" + (extra.empty() ? "" : ", " + extra) + "}";
}

constexpr const char* kHost = R"("host": "https://adb-1.2.azuredatabricks.net")";

// SPEC.md's example, with the tenant and client ids filled in, comments and trailing commas kept.
std::string spec_example() {
  return R"jsonc({
  "socket":    { "path": "/run/dbxcred/dbxcred.sock", "mode": "0660", "group": "dbxcred" },
  "state_dir": "/var/lib/dbxcred",
  "instance":  "build-agent-07",          // default: the host name; goes into PAT comments
  "log":       { "level": "info", "format": "text" },   // format: text | json
  "cloud":     "public",                   // public | usgov | china (sets the endpoints below)
  "endpoints": {                           // optional overrides of the cloud's endpoints
    "authority":           "https://login.microsoftonline.com",
    "resource_manager":    "https://management.azure.com",
    "management_resource": "https://management.core.windows.net/",
    "databricks_resource": "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d",
    "imds":                "http://169.254.169.254",
  },
  "tls": { "ca_file": "/etc/dbxcred/extra-ca.pem" },
  "credentials": {
    "ci-sp": { "type": "client_secret", "tenant_id": "t-1", "client_id": "c-1",
               "client_secret_file": "ci-sp.secret" },  /* relative: under $CREDENTIALS_DIRECTORY */
    "cert":  { "type": "client_certificate", "tenant_id": "t-2", "client_id": "c-2",
               "certificate_file": "sp.pem" },
    "cli":   { "type": "azure_cli", "az_path": "az", "tenant_id": null, "subscription": null },
    "vm":    { "type": "managed_identity", "client_id": null },
    "gha":   { "type": "workload_identity", "tenant_id": "t-3", "client_id": "c-3",
               "token_file": "/var/run/secrets/azure/tokens/azure-identity-token" },
  },
  "workspaces": {
    "prod": {
      "credential": "ci-sp",
      "host": "https://adb-1234567890123456.7.azuredatabricks.net",
      "resource_id": "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Databricks/workspaces/W",
      "management_token": true,
      "pat": { "lifetime": "1h", "rotate_before": "20m", "max_lifetime": "24h", "max_active": 10 },
      "allow": { "users": ["builder"], "groups": ["dbxcred"], "uids": [1001],
                 "executables": ["/usr/bin/databricks",
                                 { "path": "/opt/ci/deploy", "sha256": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }] },
    },
  },
  "listen": {
    "metadata_service": { "port": 8765 },
    "managed_identity": { "port": 8766, "credential": "ci-sp",
                          "resources": ["2ff814a6-3304-4ab8-85cb-cd0e6f879c1d", "https://management.core.windows.net/"] },
  },
  "audit": { "path": "/var/log/dbxcred/audit.jsonl" },
})jsonc";
}

TEST(ParseConfig, SpecExampleParsesIntoTheExpectedValues) {
  TempDir dir;
  dir.write("creds/ci-sp.secret", "s3cret");
  dir.write("creds/sp.pem", "PEM");
  std::string config_path = dir.write("etc/config.json", spec_example());
  Parsed p = parse(spec_example(), config_path, dir / "creds");
  ASSERT_TRUE(p.config) << ::testing::PrintToString(p.problems);
  const Config& c = *p.config;
  EXPECT_EQ(c.source_path, config_path);
  EXPECT_EQ(c.socket.path, "/run/dbxcred/dbxcred.sock");
  EXPECT_EQ(c.socket.mode, 0660u);
  EXPECT_EQ(c.socket.group, "dbxcred");
  EXPECT_EQ(c.state_dir, "/var/lib/dbxcred");
  EXPECT_EQ(c.instance, "build-agent-07");
  EXPECT_EQ(c.log.level, "info");
  EXPECT_EQ(c.log.format, "text");
  EXPECT_EQ(c.cloud, "public");
  EXPECT_EQ(c.endpoints.authority, "https://login.microsoftonline.com");
  EXPECT_EQ(c.endpoints.resource_manager, "https://management.azure.com");
  EXPECT_EQ(c.endpoints.management_resource, "https://management.core.windows.net/");
  EXPECT_EQ(c.endpoints.databricks_resource, "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d");
  EXPECT_EQ(c.endpoints.imds, "http://169.254.169.254");
  EXPECT_EQ(c.tls_ca_file, "/etc/dbxcred/extra-ca.pem");
  EXPECT_EQ(c.request_deadline, Seconds(15));

  ASSERT_EQ(c.credentials.size(), 5u);
  const CredentialConfig& sp = c.credentials.at("ci-sp");
  EXPECT_EQ(sp.name, "ci-sp");
  EXPECT_EQ(sp.type, CredentialType::client_secret);
  EXPECT_EQ(sp.tenant_id, "t-1");
  EXPECT_EQ(sp.client_id, "c-1");
  EXPECT_EQ(sp.client_secret, std::nullopt);
  EXPECT_EQ(sp.client_secret_file, dir / "creds/ci-sp.secret");
  const CredentialConfig& cert = c.credentials.at("cert");
  EXPECT_EQ(cert.type, CredentialType::client_certificate);
  EXPECT_EQ(cert.certificate_file, dir / "creds/sp.pem");
  EXPECT_EQ(cert.assertion_alg, "PS256");
  const CredentialConfig& cli = c.credentials.at("cli");
  EXPECT_EQ(cli.type, CredentialType::azure_cli);
  EXPECT_EQ(cli.az_path, "az");
  EXPECT_EQ(cli.az_tenant_id, std::nullopt);
  EXPECT_EQ(cli.az_subscription, std::nullopt);
  const CredentialConfig& vm = c.credentials.at("vm");
  EXPECT_EQ(vm.type, CredentialType::managed_identity);
  EXPECT_EQ(vm.client_id, "");
  const CredentialConfig& gha = c.credentials.at("gha");
  EXPECT_EQ(gha.type, CredentialType::workload_identity);
  EXPECT_EQ(gha.tenant_id, "t-3");
  EXPECT_EQ(gha.token_file, "/var/run/secrets/azure/tokens/azure-identity-token");

  ASSERT_EQ(c.workspaces.size(), 1u);
  const WorkspaceConfig& w = c.workspaces.at("prod");
  EXPECT_EQ(w.name, "prod");
  EXPECT_EQ(w.credential, "ci-sp");
  EXPECT_EQ(w.host, "https://adb-1234567890123456.7.azuredatabricks.net");
  EXPECT_EQ(w.resource_id,
            "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Databricks/workspaces/W");
  EXPECT_TRUE(w.management_token);
  EXPECT_TRUE(w.pat.enabled);
  EXPECT_EQ(w.pat.lifetime, Seconds(3600));
  EXPECT_EQ(w.pat.rotate_before, Seconds(1200));
  EXPECT_EQ(w.pat.max_lifetime, Seconds(86400));
  EXPECT_EQ(w.pat.max_active, 10);
  ASSERT_TRUE(w.allow);
  EXPECT_EQ(p.config->audit.path, "/var/log/dbxcred/audit.jsonl");
  ASSERT_EQ(w.allow->executables.size(), 2u);
  EXPECT_EQ(w.allow->executables[0].path, "/usr/bin/databricks");
  EXPECT_EQ(w.allow->executables[0].sha256, std::nullopt);
  EXPECT_EQ(w.allow->executables[1].path, "/opt/ci/deploy");
  EXPECT_EQ(w.allow->executables[1].sha256, std::string(64, 'a'));
  EXPECT_THAT(w.allow->users, ElementsAre("builder"));
  EXPECT_THAT(w.allow->groups, ElementsAre("dbxcred"));
  EXPECT_THAT(w.allow->uids, ElementsAre(1001u));

  ASSERT_TRUE(c.listen.metadata_service);
  EXPECT_EQ(c.listen.metadata_service->port, 8765);
  ASSERT_TRUE(c.listen.managed_identity);
  EXPECT_EQ(c.listen.managed_identity->port, 8766);
  EXPECT_EQ(c.listen.managed_identity->credential, "ci-sp");
  EXPECT_THAT(
      c.listen.managed_identity->resources,
      ElementsAre("2ff814a6-3304-4ab8-85cb-cd0e6f879c1d", "https://management.core.windows.net/"));
  EXPECT_FALSE(c.listen.metrics);
}

TEST(ParseConfig, EmptyObjectGivesTheDefaults) {
  Parsed p = parse("{}");
  ASSERT_TRUE(p.config) << ::testing::PrintToString(p.problems);
  const Config& c = *p.config;
  char host[256] = {};
  ASSERT_EQ(::gethostname(host, sizeof host - 1), 0);
  EXPECT_EQ(c.instance, host);
  EXPECT_EQ(c.cloud, "public");
  EXPECT_EQ(c.socket.path, "/run/dbxcred/dbxcred.sock");
  EXPECT_EQ(c.socket.mode, 0660u);
  EXPECT_EQ(c.socket.group, std::nullopt);
  EXPECT_EQ(c.state_dir, "/var/lib/dbxcred");
  EXPECT_EQ(c.log.level, "info");
  EXPECT_EQ(c.endpoints.authority, "https://login.microsoftonline.com");
  EXPECT_EQ(c.endpoints.imds, "http://169.254.169.254");
  EXPECT_EQ(c.tls_ca_file, std::nullopt);
  EXPECT_EQ(c.request_deadline, Seconds(15));
  EXPECT_TRUE(c.credentials.empty());
  EXPECT_TRUE(c.workspaces.empty());
}

TEST(ParseConfig, WorkspaceDefaultsAndOptionalParts) {
  Parsed p = parse(
      with_workspace(R"({ "credential": "vm", "host": "https://adb-1.2.azuredatabricks.net/" })",
                     R"("request_deadline": "30s")"));
  ASSERT_TRUE(p.config) << ::testing::PrintToString(p.problems);
  const WorkspaceConfig& w = p.config->workspaces.at("prod");
  EXPECT_EQ(w.host, "https://adb-1.2.azuredatabricks.net");  // trailing slash dropped
  EXPECT_EQ(w.resource_id, std::nullopt);
  EXPECT_FALSE(w.management_token);
  EXPECT_TRUE(w.pat.enabled);
  EXPECT_EQ(w.pat.lifetime, Seconds(3600));
  EXPECT_EQ(w.pat.max_active, 10);
  EXPECT_EQ(w.allow, std::nullopt);
  EXPECT_EQ(p.config->request_deadline, Seconds(30));
  EXPECT_EQ(p.config->limits.max_connections, 4096u);
  EXPECT_EQ(p.config->limits.max_connections_per_uid, 1024u);
}

TEST(ParseConfig, Limits) {
  Parsed p = parse(R"({ "limits": { "max_connections": 8, "max_connections_per_uid": 3 } })");
  ASSERT_TRUE(p.config) << ::testing::PrintToString(p.problems);
  EXPECT_EQ(p.config->limits.max_connections, 8u);
  EXPECT_EQ(p.config->limits.max_connections_per_uid, 3u);
}

TEST(ParseConfig, PatFalseDisablesMinting) {
  Parsed p = parse(
      with_workspace(std::string("{ \"credential\": \"vm\", ") + kHost + ", \"pat\": false }"));
  ASSERT_TRUE(p.config) << ::testing::PrintToString(p.problems);
  EXPECT_FALSE(p.config->workspaces.at("prod").pat.enabled);
}

TEST(ParseConfig, ResourceIdAloneIsEnough) {
  Parsed p = parse(with_workspace(
      R"({ "credential": "vm", "resource_id": "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Databricks/workspaces/W" })"));
  ASSERT_TRUE(p.config) << ::testing::PrintToString(p.problems);
  EXPECT_EQ(p.config->workspaces.at("prod").host, std::nullopt);
}

TEST(ParseConfig, CertificateAssertionAlgorithm) {
  TempDir dir;
  dir.write("sp.pem", "PEM");
  std::string config = dir.write("config.json", "");
  Parsed p = parse(R"({ "credentials": { "cert": { "type": "client_certificate", "tenant_id": "t",
      "client_id": "c", "certificate_file": "sp.pem", "assertion_alg": "RS256" } } })",
                   config);
  ASSERT_TRUE(p.config) << ::testing::PrintToString(p.problems);
  EXPECT_EQ(p.config->credentials.at("cert").assertion_alg, "RS256");

  p = parse(R"({ "credentials": { "cert": { "type": "client_certificate", "tenant_id": "t",
      "client_id": "c", "certificate_file": "sp.pem", "assertion_alg": "ES256" } } })",
            config);
  EXPECT_THAT(p.problems, ElementsAre("credentials.cert.assertion_alg: expected one of PS256 | "
                                      "RS256, got \"ES256\""));
}

// ---- Problems: each names its JSON path ----

struct ProblemCase {
  const char* name;
  std::string config;
  std::string expected;
};

class ProblemPaths : public ::testing::TestWithParam<ProblemCase> {};

TEST_P(ProblemPaths, ReportsExactlyOneLineWithThePath) {
  EXPECT_THAT(problems_of(GetParam().config), ElementsAre(GetParam().expected));
}

std::string ws(const std::string& members) {
  return with_workspace(std::string("{ \"credential\": \"vm\", ") + kHost +
                        (members.empty() ? "" : ", " + members) + " }");
}

INSTANTIATE_TEST_SUITE_P(
    ParseConfig, ProblemPaths,
    ::testing::Values(
        ProblemCase{"BadDuration", ws(R"("pat": { "lifetime": "sixty" })"),
                    R"(workspaces.prod.pat.lifetime: expected a duration like "1h", got "sixty")"},
        ProblemCase{"DurationNotAString", ws(R"("pat": { "rotate_before": 60 })"),
                    R"(workspaces.prod.pat.rotate_before: expected a duration like "1h", got 60)"},
        ProblemCase{
            "UnknownTopLevelKey", R"({ "sockets": {} })",
            "sockets: unknown key (known: socket, state_dir, instance, log, cloud, "
            "endpoints, tls, credentials, workspaces, listen, request_deadline, limits, audit)"},
        ProblemCase{"UnknownNestedKey", R"({ "socket": { "pth": "/x" } })",
                    "socket.pth: unknown key (known: path, mode, group)"},
        ProblemCase{
            "KeyOfAnotherCredentialType",
            R"({ "credentials": { "vm": { "type": "managed_identity", "tenant_id": "t" } } })",
            "credentials.vm.tenant_id: unknown key for a managed_identity credential "
            "(known: type, client_id)"},
        ProblemCase{"WrongType", R"({ "state_dir": 5 })", "state_dir: expected a string, got 5"},
        ProblemCase{"WrongContainerType", R"({ "log": "debug" })",
                    R"(log: expected an object, got "debug")"},
        ProblemCase{"DanglingCredential",
                    R"({ "credentials": { "ci-sp": { "type": "managed_identity" },
                                          "cert": { "type": "azure_cli" } },
                         "workspaces": { "prod": { "credential": "x", )" +
                        std::string(kHost) + "} } }",
                    R"(workspaces.prod.credential: unknown credential "x" (known: ci-sp, cert))"},
        ProblemCase{"DanglingManagedIdentityCredential",
                    R"({ "credentials": { "vm": { "type": "managed_identity" } },
                         "listen": { "managed_identity": { "port": 8766, "credential": "nope",
                                                           "resources": ["r"] } } })",
                    R"(listen.managed_identity.credential: unknown credential "nope" (known: vm))"},
        ProblemCase{"MissingCredentialType", R"({ "credentials": { "x": { "client_id": "c" } } })",
                    "credentials.x.type: missing (one of client_secret | client_certificate | "
                    "azure_cli | managed_identity | workload_identity | databricks_oauth | "
                    "databricks_federation)"},
        ProblemCase{"BadCredentialType", R"({ "credentials": { "x": { "type": "password" } } })",
                    "credentials.x.type: expected one of client_secret | client_certificate | "
                    "azure_cli | managed_identity | workload_identity | databricks_oauth | "
                    "databricks_federation, got \"password\""},
        ProblemCase{"MissingRequiredField",
                    R"({ "credentials": { "gha": { "type": "workload_identity", "tenant_id": "t",
                                                   "client_id": "c" } } })",
                    "credentials.gha.token_file: missing (required for a workload_identity "
                    "credential, unless only workspaces with \"sessions\" use it)"},
        ProblemCase{"TokenlessCredentialOfAPlainWorkspace",
                    R"({ "credentials": { "gha": { "type": "workload_identity", "tenant_id": "t",
                                                   "client_id": "c" } },
                         "workspaces": { "w": { "credential": "gha", "host": "https://h" } } })",
                    "credentials.gha.token_file: missing (required for a workload_identity "
                    "credential, unless only workspaces with \"sessions\" use it)"},
        ProblemCase{"SessionsNeedAFederatedCredential",
                    R"({ "credentials": { "cli": { "type": "azure_cli" } },
                         "workspaces": { "w": { "credential": "cli", "host": "https://h",
                           "sessions": { "issuers": ["https://i"], "subjects": ["repo:a/b:*"] } } } })",
                    "workspaces.w.sessions: needs a workload_identity (Entra) or "
                    "databricks_federation credential: the CI job's OIDC token is exchanged "
                    "through it, not \"azure_cli\""},
        ProblemCase{"SessionsSubjectStarAlone",
                    R"({ "credentials": { "gha": { "type": "workload_identity", "tenant_id": "t",
                                                   "client_id": "c" } },
                         "workspaces": { "w": { "credential": "gha", "host": "https://h",
                           "sessions": { "issuers": ["https://i"], "subjects": ["*"] } } } })",
                    "workspaces.w.sessions.subjects: a subject pattern must name something (not "
                    "empty, not \"*\": one repository's job must not use another's federation)"},
        ProblemCase{"SessionsWithoutIssuers",
                    R"({ "credentials": { "gha": { "type": "workload_identity", "tenant_id": "t",
                                                   "client_id": "c" } },
                         "workspaces": { "w": { "credential": "gha", "host": "https://h",
                           "sessions": { "subjects": ["repo:a/b:*"] } } } })",
                    "workspaces.w.sessions.issuers: missing (the OIDC issuers whose CI jobs may "
                    "open a session, e.g. [\"https://token.actions.githubusercontent.com\"])"},
        ProblemCase{"SessionsWithPat",
                    R"({ "credentials": { "gha": { "type": "workload_identity", "tenant_id": "t",
                                                   "client_id": "c" } },
                         "workspaces": { "w": { "credential": "gha", "host": "https://h",
                           "pat": { "lifetime": "1h" },
                           "sessions": { "issuers": ["https://i"], "subjects": ["repo:a/b:*"] } } } })",
                    "workspaces.w.pat: does not apply with sessions (session tokens mint no PATs): "
                    "remove it"},
        ProblemCase{"EmptyRequiredField",
                    R"({ "credentials": { "gha": { "type": "workload_identity", "tenant_id": "",
                           "client_id": "c", "token_file": "/t" } } })",
                    "credentials.gha.tenant_id: must not be empty"},
        ProblemCase{"SecretNeitherInlineNorFile",
                    R"({ "credentials": { "sp": { "type": "client_secret", "tenant_id": "t",
                                                  "client_id": "c" } } })",
                    "credentials.sp.client_secret_file: missing (a client_secret credential "
                    "needs client_secret_file or an inline client_secret)"},
        ProblemCase{"BadCloud", R"({ "cloud": "germany" })",
                    R"(cloud: expected one of public | usgov | china, got "germany")"},
        ProblemCase{
            "BadLogLevel", R"({ "log": { "level": "verbose" } })",
            R"(log.level: expected one of trace | debug | info | warn | error, got "verbose")"},
        ProblemCase{"BadLogFormat", R"({ "log": { "format": "xml" } })",
                    R"(log.format: expected one of text | json, got "xml")"},
        ProblemCase{"SocketModeAsNumber", R"({ "socket": { "mode": 432 } })",
                    R"(socket.mode: expected an octal mode as a string, like "0660", got 432)"},
        ProblemCase{"SocketModeNotOctal", R"({ "socket": { "mode": "0680" } })",
                    R"(socket.mode: expected an octal mode as a string, like "0660", got "0680")"},
        ProblemCase{"SocketModeSymbolic", R"({ "socket": { "mode": "rw-rw----" } })",
                    "socket.mode: expected an octal mode as a string, like \"0660\", got "
                    "\"rw-rw----\""},
        ProblemCase{"SocketModeSpecialBits", R"({ "socket": { "mode": "4660" } })",
                    R"(socket.mode: expected an octal mode as a string, like "0660", got "4660")"},
        ProblemCase{"RelativeSocketPath", R"({ "socket": { "path": "run/x.sock" } })",
                    R"(socket.path: expected an absolute path, got "run/x.sock")"},
        ProblemCase{"RelativeStateDir", R"({ "state_dir": "state" })",
                    R"(state_dir: expected an absolute path, got "state")"},
        ProblemCase{"PortZero", R"({ "listen": { "metrics": { "port": 0 } } })",
                    "listen.metrics.port: expected an integer from 1 to 65535, got 0"},
        ProblemCase{"PortTooLarge", R"({ "listen": { "metadata_service": { "port": 65536 } } })",
                    "listen.metadata_service.port: expected an integer from 1 to 65535, got 65536"},
        ProblemCase{"PortMissing", R"({ "listen": { "metrics": {} } })",
                    "listen.metrics.port: missing (a TCP port from 1 to 65535 on 127.0.0.1)"},
        ProblemCase{
            "PortTaken",
            R"({ "listen": { "metadata_service": { "port": 9000 }, "metrics": { "port": 9000 } } })",
            "listen.metrics.port: 9000 is also listen.metadata_service.port"},
        ProblemCase{
            "UnknownListener", R"({ "listen": { "imds": { "port": 1 } } })",
            "listen.imds: unknown key (known: metadata_service, managed_identity, metrics)"},
        ProblemCase{
            "HostNotHttps",
            with_workspace(
                R"({ "credential": "vm", "host": "http://adb-1.2.azuredatabricks.net" })"),
            "workspaces.prod.host: expected an https:// URL without a path, like "
            "https://adb-1.2.azuredatabricks.net, got \"http://adb-1.2.azuredatabricks.net\""},
        ProblemCase{
            "HostWithPath",
            with_workspace(
                R"({ "credential": "vm", "host": "https://adb-1.azuredatabricks.net/api" })"),
            "workspaces.prod.host: expected an https:// URL without a path, like "
            "https://adb-1.2.azuredatabricks.net, got \"https://adb-1.azuredatabricks.net/api\""},
        ProblemCase{"NeitherHostNorResourceId", with_workspace(R"({ "credential": "vm" })"),
                    "workspaces.prod.host: missing (a workspace needs host, resource_id or both)"},
        ProblemCase{"BadResourceId", ws(R"("resource_id": "W")"),
                    "workspaces.prod.resource_id: expected /subscriptions/S/resourceGroups/RG/"
                    "providers/Microsoft.Databricks/workspaces/W, got \"W\""},
        ProblemCase{"ManagementTokenWithoutResourceId", ws(R"("management_token": true)"),
                    "workspaces.prod.management_token: needs resource_id (sent as "
                    "X-Databricks-Azure-Workspace-Resource-Id)"},
        ProblemCase{"LifetimeOverMax", ws(R"("pat": { "lifetime": "2d" })"),
                    "workspaces.prod.pat.lifetime: 2d is longer than max_lifetime (1d)"},
        ProblemCase{"RotateBeforeNotUnderLifetime",
                    ws(R"("pat": { "lifetime": "20m", "rotate_before": "20m" })"),
                    "workspaces.prod.pat.rotate_before: 20m must be shorter than lifetime (20m)"},
        ProblemCase{"MaxActiveTooLarge", ws(R"("pat": { "max_active": 601 })"),
                    "workspaces.prod.pat.max_active: expected an integer from 1 to 600, got 601"},
        ProblemCase{"MaxActiveZero", ws(R"("pat": { "max_active": 0 })"),
                    "workspaces.prod.pat.max_active: expected an integer from 1 to 600, got 0"},
        ProblemCase{"PatWrongType", ws(R"("pat": "off")"),
                    R"(workspaces.prod.pat: expected an object or false, got "off")"},
        ProblemCase{"AllowUsersNotStrings", ws(R"("allow": { "users": ["a", 7] })"),
                    "workspaces.prod.allow.users[1]: expected a non-empty string, got 7"},
        ProblemCase{"AllowUidsNotIntegers", ws(R"("allow": { "uids": [1000, "1001"] })"),
                    "workspaces.prod.allow.uids[1]: expected an integer from 0 to 4294967294, got "
                    "\"1001\""},
        ProblemCase{"AllowUnknownKey", ws(R"("allow": { "user": ["a"] })"),
                    "workspaces.prod.allow.user: unknown key (known: users, groups, uids, "
                    "executables)"},
        ProblemCase{
            "ExecutableWithoutPathOrSha256", ws(R"("allow": { "executables": [{}] })"),
            "workspaces.prod.allow.executables[0].path: missing (the program's absolute path; "
            "or sha256 alone for any path)"},
        ProblemCase{"ExecutablesNotArray", ws(R"("allow": { "executables": "/usr/bin/x" })"),
                    "workspaces.prod.allow.executables: expected an array of paths or {\"path\", "
                    "\"sha256\"} objects, got \"/usr/bin/x\""},
        ProblemCase{
            "ExecutableRelative", ws(R"("allow": { "executables": ["/bin/a", "bin/x"] })"),
            "workspaces.prod.allow.executables[1]: expected an absolute path, got \"bin/x\""},
        ProblemCase{
            "ExecutableBadSha",
            ws(R"("allow": { "executables": [{ "path": "/bin/a", "sha256": "abc" }] })"),
            "workspaces.prod.allow.executables[0].sha256: expected 64 hex digits (sha256sum "
            "of the program), got \"abc\""},
        ProblemCase{"ExecutableNoPath", ws(R"("allow": { "executables": [{ "sha256": null }] })"),
                    "workspaces.prod.allow.executables[0].path: missing (the program's absolute "
                    "path; or sha256 alone for any path)"},
        ProblemCase{"ExecutableUnknownKey",
                    ws(R"("allow": { "executables": [{ "path": "/bin/a", "hash": "00" }] })"),
                    "workspaces.prod.allow.executables[0].hash: unknown key (known: path, sha256)"},
        ProblemCase{"AuditRelativePath", R"({ "audit": { "path": "audit.jsonl" } })",
                    "audit.path: expected an absolute path, got \"audit.jsonl\""},
        ProblemCase{"AuditUnknownKey", R"({ "audit": { "file": "/x" } })",
                    "audit.file: unknown key (known: path)"},
        ProblemCase{"ResourcesEmpty",
                    R"({ "credentials": { "vm": { "type": "managed_identity" } },
                         "listen": { "managed_identity": { "port": 1, "credential": "vm", "resources": [] } } })",
                    "listen.managed_identity.resources: must list at least one resource"},
        ProblemCase{"ResourcesMissing",
                    R"({ "credentials": { "vm": { "type": "managed_identity" } },
                         "listen": { "managed_identity": { "port": 1, "credential": "vm" } } })",
                    "listen.managed_identity.resources: missing (the resources it may serve "
                    "tokens for)"},
        ProblemCase{"EndpointNotHttps", R"({ "endpoints": { "authority": "http://login" } })",
                    R"(endpoints.authority: expected an https:// URL, got "http://login")"},
        ProblemCase{
            "BadWorkspaceName",
            with_workspace("{}").replace(with_workspace("{}").find("\"prod\""), 6, "\"a b\""),
            "workspaces.a b: a name must start with a letter or digit and hold only "
            "letters, digits, '-' and '_' (at most 64 characters)"},
        ProblemCase{"LimitsZero", R"({ "limits": { "max_connections": 0 } })",
                    "limits.max_connections: expected an integer from 1 to 65536, got 0"},
        ProblemCase{"LimitsUnknownKey", R"({ "limits": { "per_uid": 3 } })",
                    "limits.per_uid: unknown key (known: max_connections, "
                    "max_connections_per_uid, requests_per_second_per_uid, "
                    "request_burst_per_uid)"},
        ProblemCase{"RequestDeadlineZero", R"({ "request_deadline": "0s" })",
                    "request_deadline: must be longer than 0s"},
        ProblemCase{"DuplicateWorkspace",
                    R"({ "workspaces": { "prod": {}, "dev": { "allow": { "uids": [1, 2] } },
                                         "prod": {} } })",
                    "workspaces.prod: duplicate key (only one may be given)"},
        ProblemCase{"DuplicateKeyInsideArray", R"({ "x": [ {}, { "a": 1, /* c */ "a": 2 } ] })",
                    "x[1].a: duplicate key (only one may be given)"},
        ProblemCase{"TopLevelNotObject", "[1, 2]", "(top level): expected an object, got an array"},
        ProblemCase{"MalformedJson", "{\n  \"cloud\": \"public\",\n  \"log\" {}\n}",
                    "line 3, column 9: invalid JSON: syntax error"},
        ProblemCase{"TruncatedJson",
                    "{\n  \"cloud\": ", "line 2, column 12: invalid JSON: incomplete JSON"},
        ProblemCase{
            "TrailingGarbage", "{}\n}",
            "line 2, column 1: invalid JSON: unexpected text after the end of the JSON document"}),
    [](const ::testing::TestParamInfo<ProblemCase>& info) { return std::string(info.param.name); });

TEST(ParseConfig, ReportsEveryProblemNotJustTheFirst) {
  std::vector<std::string> lines = problems_of(R"({
    "cloud": "mars",
    "socket": { "mode": 660 },
    "credentials": { "sp": { "type": "client_secret", "client_id": "c", "client_secret_file": "/x" } },
    "workspaces": {
      "prod": { "credential": "nope", "host": "https://h", "pat": { "lifetime": "sixty" } },
      "dev": { "credential": "sp", "resource_id": "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Databricks/workspaces/W", "colour": "blue" },
    },
  })");
  EXPECT_THAT(
      lines,
      ElementsAre("socket.mode: expected an octal mode as a string, like \"0660\", got 660",
                  "cloud: expected one of public | usgov | china, got \"mars\"",
                  "credentials.sp.tenant_id: missing (required for a client_secret credential)",
                  "credentials.sp.client_secret_file: cannot read /x: No such file or directory",
                  R"(workspaces.prod.credential: unknown credential "nope" (known: sp))",
                  R"(workspaces.prod.pat.lifetime: expected a duration like "1h", got "sixty")",
                  "workspaces.dev.colour: unknown key (known: credential, host, resource_id, "
                  "management_token, pat, allow, serve_entra_token, sessions)"));
}

TEST(ParseConfig, AppendsToExistingProblems) {
  ConfigProblems problems;
  problems.lines.push_back("earlier");
  EXPECT_FALSE(parse_config(R"({ "cloud": 1 })", "/etc/c.json", "", problems));
  EXPECT_EQ(problems.lines.size(), 2u);
  // A good config succeeds even when the caller's list already holds lines.
  EXPECT_TRUE(parse_config("{}", "/etc/c.json", "", problems));
}

// ---- Clouds and endpoints ----

TEST(ParseConfig, CloudSetsItsEndpoints) {
  Parsed usgov = parse(R"({ "cloud": "usgov" })");
  ASSERT_TRUE(usgov.config);
  EXPECT_EQ(usgov.config->endpoints.authority, "https://login.microsoftonline.us");
  EXPECT_EQ(usgov.config->endpoints.resource_manager, "https://management.usgovcloudapi.net");
  EXPECT_EQ(usgov.config->endpoints.management_resource,
            "https://management.core.usgovcloudapi.net/");
  EXPECT_EQ(usgov.config->endpoints.databricks_resource, "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d");

  Parsed china = parse(R"({ "cloud": "china" })");
  ASSERT_TRUE(china.config);
  EXPECT_EQ(china.config->endpoints.authority, "https://login.chinacloudapi.cn");
  EXPECT_EQ(china.config->endpoints.resource_manager, "https://management.chinacloudapi.cn");
  EXPECT_EQ(china.config->endpoints.management_resource,
            "https://management.core.chinacloudapi.cn/");
}

TEST(ParseConfig, EndpointOverridesApplyOnTopOfTheCloud) {
  Parsed p = parse(R"({ "cloud": "china", "endpoints": {
      "authority": "https://127.0.0.1:8443/",
      "resource_manager": "https://arm.example:9443/base//",
      "imds": "http://127.0.0.1:8080/" } })");
  ASSERT_TRUE(p.config) << ::testing::PrintToString(p.problems);
  EXPECT_EQ(p.config->endpoints.authority, "https://127.0.0.1:8443");
  EXPECT_EQ(p.config->endpoints.resource_manager, "https://arm.example:9443/base");
  EXPECT_EQ(p.config->endpoints.imds, "http://127.0.0.1:8080");
  // Not overridden: the cloud's value; management_resource keeps its trailing slash.
  EXPECT_EQ(p.config->endpoints.management_resource, "https://management.core.chinacloudapi.cn/");
}

// ---- Paths ----

TEST(ParseConfig, RelativeSecretFilesResolveUnderTheCredentialsDirectory) {
  TempDir dir;
  dir.write("creds/sp.secret", "s");
  std::string config = dir.write("etc/config.json", "");
  Parsed p = parse(R"({ "credentials": { "sp": { "type": "client_secret", "tenant_id": "t",
      "client_id": "c", "client_secret_file": "sp.secret" } } })",
                   config, dir / "creds");
  ASSERT_TRUE(p.config) << ::testing::PrintToString(p.problems);
  EXPECT_EQ(p.config->credentials.at("sp").client_secret_file, dir / "creds/sp.secret");
}

TEST(ParseConfig, RelativeSecretFilesResolveBesideTheConfigWithoutCredentialsDirectory) {
  TempDir dir;
  dir.write("etc/sub/sp.secret", "s");
  dir.write("etc/sp.pem", "PEM");
  std::string config = dir.write("etc/config.json", "");
  Parsed p = parse(R"({ "credentials": {
      "sp": { "type": "client_secret", "tenant_id": "t", "client_id": "c",
              "client_secret_file": "./sub/../sub/sp.secret" },
      "cert": { "type": "client_certificate", "tenant_id": "t", "client_id": "c",
                "certificate_file": "sp.pem" },
      "gha": { "type": "workload_identity", "tenant_id": "t", "client_id": "c",
               "token_file": "tokens/federated" } },
      "tls": { "ca_file": "ca.pem" } })",
                   config);
  ASSERT_TRUE(p.config) << ::testing::PrintToString(p.problems);
  EXPECT_EQ(p.config->credentials.at("sp").client_secret_file, dir / "etc/sub/sp.secret");
  EXPECT_EQ(p.config->credentials.at("cert").certificate_file, dir / "etc/sp.pem");
  // token_file: relative to the config's folder even with a credentials directory, and it need
  // not exist yet.
  EXPECT_EQ(p.config->credentials.at("gha").token_file, dir / "etc/tokens/federated");
  EXPECT_EQ(p.config->tls_ca_file, dir / "etc/ca.pem");
}

TEST(ParseConfig, AbsoluteSecretFileIgnoresTheCredentialsDirectory) {
  TempDir dir;
  std::string secret = dir.write("abs/sp.secret", "s");
  Parsed p = parse(R"({ "credentials": { "sp": { "type": "client_secret", "tenant_id": "t",
      "client_id": "c", "client_secret_file": ")" +
                       secret + R"(" } } })",
                   "/etc/dbxcred/config.json", dir / "creds");
  ASSERT_TRUE(p.config) << ::testing::PrintToString(p.problems);
  EXPECT_EQ(p.config->credentials.at("sp").client_secret_file, secret);
}

// ---- Secret hygiene ----

std::string secret_file_config(const std::string& file) {
  return R"({ "credentials": { "ci-sp": { "type": "client_secret", "tenant_id": "t",
      "client_id": "c", "client_secret_file": ")" +
         file + R"(" } } })";
}

TEST(SecretHygiene, SecretFileWithGroupOrOtherBitsIsRefused) {
  TempDir dir;
  // 0620 and 0602 were accepted at load before (only read bits were checked) and then failed
  // every refresh: the load check now applies the rule of every read.
  for (mode_t mode : {0644, 0640, 0604, 0440, 0620, 0602}) {
    std::string file = dir.write("x.secret", "s", mode);
    char octal[8];
    std::snprintf(octal, sizeof octal, "%04o", static_cast<unsigned>(mode));
    EXPECT_THAT(problems_of(secret_file_config(file)),
                ElementsAre("credentials.ci-sp.client_secret_file: " + file +
                            " has group or other permission bits (mode " + octal +
                            "): refused; run chmod 600 " + file));
  }
}

TEST(SecretHygiene, SymlinkedSecretFileIsRefusedAtLoad) {
  TempDir dir;
  std::string real = dir.write("real.secret", "s", 0600);
  std::string link = dir / "link.secret";
  fs::create_symlink(real, link);
  EXPECT_THAT(problems_of(secret_file_config(link)),
              ElementsAre("credentials.ci-sp.client_secret_file: " + link +
                          " is a symbolic link: refused (a secret file must be the file itself)"));
}

TEST(SecretHygiene, PrivateSecretFileIsAccepted) {
  TempDir dir;
  for (mode_t mode : {0600, 0400}) {
    std::string file = dir.write("x.secret", "s", mode);
    Parsed p = parse(secret_file_config(file));
    EXPECT_TRUE(p.config) << std::oct << mode << ::testing::PrintToString(p.problems);
  }
}

TEST(SecretHygiene, CertificateFileModeIsCheckedToo) {
  TempDir dir;
  std::string pem = dir.write("sp.pem", "PEM", 0640);
  EXPECT_THAT(problems_of(R"({ "credentials": { "cert": { "type": "client_certificate",
      "tenant_id": "t", "client_id": "c", "certificate_file": ")" +
                          pem + R"(" } } })"),
              ElementsAre("credentials.cert.certificate_file: " + pem +
                          " has group or other permission bits (mode 0640): refused; run chmod "
                          "600 " +
                          pem));
}

TEST(SecretHygiene, MissingEmptyOrDirectorySecretFileIsAProblem) {
  TempDir dir;
  EXPECT_THAT(problems_of(secret_file_config(dir / "nope.secret")),
              ElementsAre("credentials.ci-sp.client_secret_file: cannot read " +
                          (dir / "nope.secret") + ": No such file or directory"));
  std::string empty = dir.write("empty.secret", "");
  EXPECT_THAT(problems_of(secret_file_config(empty)),
              ElementsAre("credentials.ci-sp.client_secret_file: " + empty + " is empty"));
  fs::create_directories(dir / "d");
  ::chmod((dir / "d").c_str(), 0700);
  EXPECT_THAT(problems_of(secret_file_config(dir / "d")),
              ElementsAre("credentials.ci-sp.client_secret_file: " + (dir / "d") +
                          " is not a regular file: refused"));
}

TEST(SecretHygiene, TokenFileIsExemptFromTheModeCheck) {
  TempDir dir;
  std::string token = dir.write("token", "eyJ", 0644);
  Parsed p = parse(R"({ "credentials": { "gha": { "type": "workload_identity", "tenant_id": "t",
      "client_id": "c", "token_file": ")" +
                   token + R"(" } } })");
  EXPECT_TRUE(p.config) << ::testing::PrintToString(p.problems);
}

constexpr const char* kInlineSecret = "Zx9~inline-secret-value";

std::string inline_secret_config() {
  return std::string(R"({ "credentials": { "ci-sp": { "type": "client_secret", "tenant_id": "t",
      "client_id": "c", "client_secret": ")") +
         kInlineSecret + R"(" } } })";
}

TEST(SecretHygiene, InlineSecretInAConfigReadableByOthersIsRefused) {
  TempDir dir;
  std::string config = dir.write("config.json", inline_secret_config(), 0644);
  ConfigProblems problems;
  EXPECT_FALSE(load_config(config, problems));
  EXPECT_THAT(problems.lines,
              ElementsAre("credentials.ci-sp.client_secret: inline secret in a config readable by "
                          "group or others (mode 0644); move it to client_secret_file or chmod "
                          "600 " +
                          config));
  for (const std::string& line : problems.lines) EXPECT_THAT(line, Not(HasSubstr(kInlineSecret)));
}

TEST(SecretHygiene, InlineSecretInAPrivateConfigIsAccepted) {
  TempDir dir;
  std::string config = dir.write("config.json", inline_secret_config(), 0600);
  ConfigProblems problems;
  std::optional<Config> c = load_config(config, problems);
  ASSERT_TRUE(c) << ::testing::PrintToString(problems.lines);
  EXPECT_EQ(c->credentials.at("ci-sp").client_secret, kInlineSecret);
  EXPECT_EQ(c->credentials.at("ci-sp").client_secret_file, std::nullopt);
}

TEST(SecretHygiene, InlineSecretWhenTheConfigCannotBeCheckedIsRefused) {
  std::vector<std::string> lines = problems_of(inline_secret_config());  // no such config file
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr("credentials.ci-sp.client_secret: inline secret, but the mode of "
                                  "the config /etc/dbxcred/config.json cannot be checked"));
}

TEST(SecretHygiene, ProblemsNeverEchoAnInlineSecret) {
  // A secret of the wrong type is described by its kind only.
  std::vector<std::string> lines = problems_of(R"({ "credentials": { "sp": {
      "type": "client_secret", "tenant_id": "t", "client_id": "c", "client_secret": 123456789 } } })");
  EXPECT_THAT(lines, ElementsAre("credentials.sp.client_secret: expected a string, got a number"));
}

TEST(SecretHygiene, InlineSecretAndFileTogetherAreRefused) {
  TempDir dir;
  std::string file = dir.write("s", "s");
  EXPECT_THAT(problems_of(R"({ "credentials": { "sp": { "type": "client_secret", "tenant_id": "t",
      "client_id": "c", "client_secret": "abc", "client_secret_file": ")" +
                          file + R"(" } } })"),
              ElementsAre("credentials.sp.client_secret: give client_secret_file or "
                          "client_secret, not both"));
}

// ---- load_config ----

TEST(LoadConfig, MissingFileIsOneLineNamingThePath) {
  TempDir dir;
  ConfigProblems problems;
  EXPECT_FALSE(load_config(dir / "none.json", problems));
  EXPECT_THAT(problems.lines, ElementsAre(dir / "none.json" +
                                          ": cannot read the config: No such file or directory"));
}

TEST(LoadConfig, DirectoryIsOneLineNamingThePath) {
  TempDir dir;
  ConfigProblems problems;
  EXPECT_FALSE(load_config(dir.path(), problems));
  EXPECT_THAT(problems.lines, ElementsAre(dir.path() + ": cannot read the config: Is a directory"));
}

TEST(LoadConfig, UsesCredentialsDirectoryFromTheEnvironment) {
  TempDir dir;
  dir.write("creds/ci-sp.secret", "s");
  std::string config = dir.write("etc/config.json", secret_file_config("ci-sp.secret"));
  ::setenv("CREDENTIALS_DIRECTORY", (dir / "creds").c_str(), 1);
  ConfigProblems problems;
  std::optional<Config> c = load_config(config, problems);
  ::unsetenv("CREDENTIALS_DIRECTORY");
  ASSERT_TRUE(c) << ::testing::PrintToString(problems.lines);
  EXPECT_EQ(c->source_path, config);
  EXPECT_EQ(c->credentials.at("ci-sp").client_secret_file, dir / "creds/ci-sp.secret");
}

// ---- Masked rendering ----

TEST(RenderConfigMasked, ReplacesInlineSecretsAndShowsSecretFilePaths) {
  TempDir dir;
  dir.write("sp.pem", "PEM");
  std::string text = R"({ "credentials": {
      "ci-sp": { "type": "client_secret", "tenant_id": "t", "client_id": "c",
                 "client_secret": ")" +
                     std::string(kInlineSecret) + R"(" },
      "cert": { "type": "client_certificate", "tenant_id": "t", "client_id": "c",
                "certificate_file": "sp.pem" } } })";
  std::string config = dir.write("config.json", text, 0600);
  ConfigProblems problems;
  std::optional<Config> c = load_config(config, problems);
  ASSERT_TRUE(c) << ::testing::PrintToString(problems.lines);
  std::string rendered = render_config_masked(*c);
  EXPECT_THAT(rendered, HasSubstr(R"("client_secret": "***")"));
  EXPECT_THAT(rendered, Not(HasSubstr(kInlineSecret)));
  EXPECT_THAT(rendered, HasSubstr("\"certificate_file\": \"" + (dir / "sp.pem") + "\""));
}

TEST(RenderConfigMasked, ShowsResolvedValuesPrettyPrinted) {
  Parsed p = parse(with_workspace(
      std::string("{ \"credential\": \"vm\", ") + kHost + R"(, "pat": { "lifetime": "90m" } })",
      R"("cloud": "usgov", "request_deadline": "1m30s")"));
  ASSERT_TRUE(p.config) << ::testing::PrintToString(p.problems);
  std::string rendered = render_config_masked(*p.config);
  EXPECT_THAT(rendered,
              HasSubstr("{\n  \"socket\": {\n    \"path\": \"/run/dbxcred/dbxcred.sock\",\n"
                        "    \"mode\": \"0660\",\n    \"group\": null\n  },\n"));
  EXPECT_THAT(rendered, HasSubstr(R"("authority": "https://login.microsoftonline.us")"));
  EXPECT_THAT(rendered, HasSubstr(R"("lifetime": "1h30m")"));
  EXPECT_THAT(rendered, HasSubstr(R"("max_lifetime": "1d")"));
  EXPECT_THAT(rendered, HasSubstr(R"("request_deadline": "1m30s")"));
  EXPECT_THAT(rendered, HasSubstr(R"("listen": {})"));
}

TEST(RenderConfigMasked, OutputWithoutInlineSecretsParsesBackToTheSameConfig) {
  TempDir dir;
  dir.write("creds/ci-sp.secret", "s3cret");
  dir.write("creds/sp.pem", "PEM");
  std::string config_path = dir.write("etc/config.json", spec_example());
  Parsed first = parse(spec_example(), config_path, dir / "creds");
  ASSERT_TRUE(first.config) << ::testing::PrintToString(first.problems);
  std::string rendered = render_config_masked(*first.config);
  EXPECT_THAT(rendered, Not(HasSubstr("s3cret")));
  Parsed second = parse(rendered, config_path, "");
  ASSERT_TRUE(second.config) << ::testing::PrintToString(second.problems) << rendered;
  EXPECT_EQ(render_config_masked(*second.config), rendered);
}

// ---- The documented examples in config/ ----

class ExampleConfig : public ::testing::TestWithParam<const char*> {};

// Two workspaces on the managed identity "vm" with these allow lists and extra members.
std::string shared_credential(const std::string& open, const std::string& closed) {
  return std::string(R"({ "credentials": { "vm": { "type": "managed_identity" } },
                          "workspaces": {
                            "open":   { "credential": "vm", )") +
         kHost + ", " + open + R"( },
                            "closed": { "credential": "vm", )" +
         kHost + ", " + closed + " } } }";
}

TEST(ParseConfig, ServeEntraTokenDefaultsToTrueAndIsRendered) {
  Parsed p = parse(with_workspace(std::string("{ \"credential\": \"vm\", ") + kHost + " }"));
  ASSERT_TRUE(p.config) << ::testing::PrintToString(p.problems);
  EXPECT_TRUE(p.config->workspaces.at("prod").serve_entra_token);
  EXPECT_THAT(render_config_masked(*p.config), HasSubstr("\"serve_entra_token\": true"));
  EXPECT_THAT(problems_of(with_workspace(std::string("{ \"credential\": \"vm\", ") + kHost +
                                         R"(, "serve_entra_token": "no" })")),
              ElementsAre(HasSubstr("workspaces.prod.serve_entra_token: expected")));
}

TEST(ParseConfig, ASharedCredentialReachingOtherAllowListsIsRefusedInOneLine) {
  const auto lines = problems_of(
      shared_credential(R"("allow": { "uids": [1001] })", R"("allow": { "uids": [1002] })"));
  ASSERT_EQ(lines.size(), 1u) << ::testing::PrintToString(lines);
  EXPECT_THAT(lines[0], HasSubstr("workspaces closed and open share credential vm"));
  EXPECT_THAT(lines[0], HasSubstr("serve_entra_token"));
}

TEST(ParseConfig, ServeEntraTokenFalseWhereTheTokenWouldReachFurtherIsAccepted) {
  Parsed p =
      parse(shared_credential(R"("allow": { "uids": [1001, 1002] }, "serve_entra_token": false)",
                              R"("allow": { "uids": [1002] })"));
  ASSERT_TRUE(p.config) << ::testing::PrintToString(p.problems);
  EXPECT_FALSE(p.config->workspaces.at("open").serve_entra_token);
  EXPECT_TRUE(p.config->workspaces.at("closed").serve_entra_token);
}

TEST(ParseConfig, ServeEntraTokenFalseWithoutPatsLeavesNothingToServe) {
  EXPECT_THAT(problems_of(with_workspace(std::string("{ \"credential\": \"vm\", ") + kHost +
                                         R"(, "pat": false, "serve_entra_token": false })")),
              ElementsAre(HasSubstr("workspaces.prod.serve_entra_token: false with \"pat\": false "
                                    "leaves nothing to serve")));
}

// The examples name their secret files relative to $CREDENTIALS_DIRECTORY; give them 0600 files.
TEST_P(ExampleConfig, Parses) {
  std::string path = std::string(DBXCRED_FIXTURES_DIR "/../../config/") + GetParam();
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  TempDir creds;
  for (const char* name : {"ci-sp.secret", "sp.pem", "dbx-sp.secret"}) creds.write(name, "x");
  Parsed p = parse(text, path, creds.path());
  ASSERT_TRUE(p.config) << ::testing::PrintToString(p.problems);
  EXPECT_FALSE(p.config->workspaces.empty());
}

INSTANTIATE_TEST_SUITE_P(ParseConfig, ExampleConfig, ::testing::Values("minimal.json", "full.json"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           std::string n = info.param;
                           return n.substr(0, n.find('.'));
                         });

// {"sha256"} alone: any program of that content (containers: docs/CONTAINERS.md); rendered back
// the same way.
TEST(ParseConfig, ExecutableBySha256Alone) {
  const std::string text =
      ws(R"("allow": { "executables": [{ "sha256": ")" + std::string(64, 'B') + R"(" }] })");
  auto p = parse(text);
  ASSERT_TRUE(p.config) << (p.problems.empty() ? "" : p.problems.front());
  const auto& rule = p.config->workspaces.at("prod").allow->executables.at(0);
  EXPECT_EQ(rule.path, "");
  EXPECT_EQ(rule.sha256, std::string(64, 'b'));
}

}  // namespace
}  // namespace dbx
