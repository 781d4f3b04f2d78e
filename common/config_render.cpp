// render_config_masked(): the resolved Config as pretty JSON in the config file's own schema (so
// `dbxcredd --check-config` shows what is in force), with every inline secret replaced by "***".
// Without inline secrets the output parses back into the same Config.
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "common/config.h"
#include "common/config_files.h"
#include "common/duration.h"

namespace dbx {

namespace json = boost::json;

namespace {

constexpr const char* kMask = "***";

json::value optional_string(const std::optional<std::string>& s) {
  return s ? json::value(*s) : json::value(nullptr);
}

json::object credential_json(const CredentialConfig& c) {
  json::object o;
  o["type"] = to_string(c.type);
  switch (c.type) {
    case CredentialType::client_secret:
    case CredentialType::databricks_oauth:
      if (c.type == CredentialType::client_secret) o["tenant_id"] = c.tenant_id;
      o["client_id"] = c.client_id;
      // A secret file's path is not a secret; its contents are never read here.
      if (c.client_secret) o["client_secret"] = kMask;
      if (c.client_secret_file) o["client_secret_file"] = *c.client_secret_file;
      break;
    case CredentialType::client_certificate:
      o["tenant_id"] = c.tenant_id;
      o["client_id"] = c.client_id;
      o["certificate_file"] = c.certificate_file;
      o["assertion_alg"] = c.assertion_alg;
      break;
    case CredentialType::azure_cli:
      o["az_path"] = c.az_path;
      o["tenant_id"] = optional_string(c.az_tenant_id);
      o["subscription"] = optional_string(c.az_subscription);
      break;
    case CredentialType::managed_identity:
      o["client_id"] = c.client_id.empty() ? json::value(nullptr) : json::value(c.client_id);
      break;
    case CredentialType::workload_identity:
      o["tenant_id"] = c.tenant_id;
      o["client_id"] = c.client_id;
      o["token_file"] = c.token_file;
      break;
    case CredentialType::databricks_federation:
      o["client_id"] = c.client_id.empty() ? json::value(nullptr) : json::value(c.client_id);
      o["token_file"] = c.token_file;
      break;
  }
  return o;
}

json::value pat_json(const PatPolicy& pat) {
  if (!pat.enabled) return false;
  return json::object{{"lifetime", format_duration(pat.lifetime)},
                      {"rotate_before", format_duration(pat.rotate_before)},
                      {"max_lifetime", format_duration(pat.max_lifetime)},
                      {"max_active", pat.max_active},
                      {"check_interval", format_duration(pat.check_interval)}};
}

json::value allow_json(const std::optional<AllowList>& allow) {
  if (!allow) return nullptr;
  json::array users(allow->users.begin(), allow->users.end());
  json::array groups(allow->groups.begin(), allow->groups.end());
  json::array uids(allow->uids.begin(), allow->uids.end());
  json::object o{{"users", users}, {"groups", groups}, {"uids", uids}};
  if (!allow->executables.empty()) {
    json::array exes;
    for (const ExecutableRule& e : allow->executables) {
      if (e.sha256 && e.path.empty())
        exes.push_back(json::object{{"sha256", *e.sha256}});
      else if (e.sha256)
        exes.push_back(json::object{{"path", e.path}, {"sha256", *e.sha256}});
      else
        exes.push_back(json::string(e.path));
    }
    o["executables"] = std::move(exes);
  }
  return o;
}

json::object workspace_json(const WorkspaceConfig& w) {
  json::object o;
  o["credential"] = w.credential;
  o["host"] = optional_string(w.host);
  o["resource_id"] = optional_string(w.resource_id);
  o["management_token"] = w.management_token;
  o["pat"] = pat_json(w.pat);
  o["allow"] = allow_json(w.allow);
  o["serve_entra_token"] = w.serve_entra_token;
  if (w.sessions) {
    json::array issuers(w.sessions->issuers.begin(), w.sessions->issuers.end());
    json::array subjects(w.sessions->subjects.begin(), w.sessions->subjects.end());
    o["sessions"] = {{"issuers", std::move(issuers)},
                     {"subjects", std::move(subjects)},
                     {"audience", w.sessions->audience},
                     {"idle_timeout", format_duration(w.sessions->idle_timeout)},
                     {"max_lifetime", format_duration(w.sessions->max_lifetime)}};
  }
  return o;
}

json::object listen_json(const ListenConfig& l) {
  json::object o;
  if (l.metadata_service) o["metadata_service"] = {{"port", l.metadata_service->port}};
  if (l.managed_identity) {
    json::array resources(l.managed_identity->resources.begin(),
                          l.managed_identity->resources.end());
    o["managed_identity"] = {{"port", l.managed_identity->port},
                             {"credential", l.managed_identity->credential},
                             {"resources", resources}};
  }
  if (l.metrics) o["metrics"] = {{"port", l.metrics->port}};
  return o;
}

json::object config_json(const Config& c) {
  json::object o;
  o["socket"] = {{"path", c.socket.path},
                 {"mode", config_files::octal_mode(c.socket.mode)},
                 {"group", optional_string(c.socket.group)}};
  o["state_dir"] = c.state_dir;
  o["instance"] = c.instance;
  o["log"] = {{"level", c.log.level}, {"format", c.log.format}};
  o["cloud"] = c.cloud;
  o["endpoints"] = {{"authority", c.endpoints.authority},
                    {"resource_manager", c.endpoints.resource_manager},
                    {"management_resource", c.endpoints.management_resource},
                    {"databricks_resource", c.endpoints.databricks_resource},
                    {"imds", c.endpoints.imds}};
  o["tls"] = {{"ca_file", optional_string(c.tls_ca_file)}};
  json::object credentials;
  for (const auto& [name, credential] : c.credentials)
    credentials[name] = credential_json(credential);
  o["credentials"] = std::move(credentials);
  json::object workspaces;
  for (const auto& [name, workspace] : c.workspaces) workspaces[name] = workspace_json(workspace);
  o["workspaces"] = std::move(workspaces);
  o["listen"] = listen_json(c.listen);
  o["request_deadline"] = format_duration(c.request_deadline);
  o["limits"] = json::object{{"max_connections", c.limits.max_connections},
                             {"max_connections_per_uid", c.limits.max_connections_per_uid},
                             {"requests_per_second_per_uid", c.limits.requests_per_second_per_uid},
                             {"request_burst_per_uid", c.limits.request_burst_per_uid}};
  o["audit"] = json::object{{"path", optional_string(c.audit.path)}};
  return o;
}

// Boost.JSON 1.81 has no pretty printer: 2-space indent, one member per line, empty containers
// inline.
void pretty(const json::value& v, std::string& out, int indent) {
  const std::string pad(static_cast<std::size_t>(indent) * 2, ' ');
  const std::string inner(static_cast<std::size_t>(indent + 1) * 2, ' ');
  if (v.is_object()) {
    const json::object& o = v.get_object();
    if (o.empty()) {
      out += "{}";
      return;
    }
    out += "{\n";
    bool first = true;
    for (const auto& member : o) {
      if (!first) out += ",\n";
      first = false;
      out += inner;
      out += json::serialize(json::value(member.key()));
      out += ": ";
      pretty(member.value(), out, indent + 1);
    }
    out += "\n" + pad + "}";
  } else if (v.is_array()) {
    const json::array& a = v.get_array();
    if (a.empty()) {
      out += "[]";
      return;
    }
    out += "[\n";
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (i > 0) out += ",\n";
      out += inner;
      pretty(a[i], out, indent + 1);
    }
    out += "\n" + pad + "]";
  } else {
    out += json::serialize(v);
  }
}

}  // namespace

std::string render_config_masked(const Config& config) {
  std::string out;
  pretty(config_json(config), out, 0);
  out += "\n";
  return out;
}

const char* to_string(CredentialType type) {
  switch (type) {
    case CredentialType::client_secret:
      return "client_secret";
    case CredentialType::client_certificate:
      return "client_certificate";
    case CredentialType::azure_cli:
      return "azure_cli";
    case CredentialType::managed_identity:
      return "managed_identity";
    case CredentialType::workload_identity:
      return "workload_identity";
    case CredentialType::databricks_oauth:
      return "databricks_oauth";
    case CredentialType::databricks_federation:
      return "databricks_federation";
  }
  return "unknown";
}

}  // namespace dbx
