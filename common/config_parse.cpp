// parse_config(): JSON text -> validated Config, or every problem found (SPEC.md "Configuration").
// The schema lives here; generic JSON reading is in json_reader.*, file checks in config_files.*.
#include <boost/json/serialize.hpp>
#include <cctype>
#include <map>

#include "common/config.h"
#include "common/config_files.h"
#include "common/duration.h"
#include "common/entra_reach.h"
#include "common/json_reader.h"
#include "common/json_text.h"

namespace dbx {

namespace json = boost::json;

namespace {

// Databricks allows at most 600 tokens per principal and workspace (PROTOCOLS.md).
constexpr std::int64_t kMaxActivePats = 600;
// Longer names are almost certainly a mistake and make log lines unreadable.
constexpr std::size_t kMaxNameLength = 64;

struct CloudDefaults {
  const char* name;
  const char* authority;
  const char* resource_manager;
  const char* management_resource;
};
// PROTOCOLS.md "Sovereign clouds".
constexpr CloudDefaults kClouds[] = {
    {"public", "https://login.microsoftonline.com", "https://management.azure.com",
     "https://management.core.windows.net/"},
    {"usgov", "https://login.microsoftonline.us", "https://management.usgovcloudapi.net",
     "https://management.core.usgovcloudapi.net/"},
    {"china", "https://login.chinacloudapi.cn", "https://management.chinacloudapi.cn",
     "https://management.core.chinacloudapi.cn/"},
};

constexpr struct {
  const char* name;
  CredentialType type;
} kCredentialTypes[] = {
    {"client_secret", CredentialType::client_secret},
    {"client_certificate", CredentialType::client_certificate},
    {"azure_cli", CredentialType::azure_cli},
    {"managed_identity", CredentialType::managed_identity},
    {"workload_identity", CredentialType::workload_identity},
    {"databricks_oauth", CredentialType::databricks_oauth},
    {"databricks_federation", CredentialType::databricks_federation},
};

// Names appear in URL paths (/v1/workspaces/{ws}), metrics labels and JSON paths in messages.
bool check_name(const std::string& name, const std::string& path, ProblemSink& sink) {
  bool ok = !name.empty() && name.size() <= kMaxNameLength &&
            std::isalnum(static_cast<unsigned char>(name[0]));
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') ok = false;
  }
  if (!ok) {
    sink.add(path,
             "a name must start with a letter or digit and hold only letters, digits, '-' "
             "and '_' (at most " +
                 std::to_string(kMaxNameLength) + " characters)");
  }
  return ok;
}

std::optional<std::string> absolute_path_value(ObjectReader& r, std::string_view key) {
  std::optional<std::string> s = optional_nonempty(r, key);
  if (!s) return std::nullopt;
  if (s->front() != '/') {
    r.problem(key, "expected an absolute path, got " + quoted(*s));
    return std::nullopt;
  }
  return config_files::resolve_under("/", *s);
}

class Parser {
 public:
  Parser(const std::string& source_path, const std::string& credentials_directory,
         ConfigProblems& problems)
      : sink_{problems.lines},
        config_dir_(config_files::folder_of(source_path)),
        credentials_directory_(credentials_directory) {
    config_.source_path = source_path;
  }

  Config parse(const json::object& root) {
    ObjectReader r(root, "", sink_);
    if (const json::object* o = r.object("socket")) parse_socket(*o);
    if (auto s = absolute_path_value(r, "state_dir")) config_.state_dir = *s;
    config_.instance = config_files::host_name();
    if (auto s = optional_nonempty(r, "instance")) config_.instance = *s;
    if (const json::object* o = r.object("log")) parse_log(*o);
    if (auto s = enum_string(r, "cloud", {"public", "usgov", "china"})) config_.cloud = *s;
    parse_endpoints(r.object("endpoints"));
    if (const json::object* o = r.object("tls")) parse_tls(*o);
    if (const json::object* o = r.object("credentials")) parse_credentials(*o);
    if (const json::object* o = r.object("workspaces")) parse_workspaces(*o);
    check_token_files();
    if (const json::object* o = r.object("listen")) parse_listen(*o);
    if (auto d = r.duration("request_deadline")) {
      if (d->count() == 0) {
        r.problem("request_deadline", "must be longer than 0s");
      } else {
        config_.request_deadline = *d;
      }
    }
    if (const json::object* o = r.object("limits")) parse_limits(*o);
    if (const json::object* o = r.object("audit")) parse_audit(*o);
    r.finish();
    return std::move(config_);
  }

 private:
  void parse_socket(const json::object& o) {
    ObjectReader r(o, "socket", sink_);
    if (auto s = absolute_path_value(r, "path")) config_.socket.path = *s;
    if (const json::value* v = r.get("mode")) {
      std::optional<unsigned> mode;
      if (v->is_string()) mode = parse_mode(v->get_string());
      if (mode) {
        config_.socket.mode = *mode;
      } else {
        r.problem("mode", "expected an octal mode as a string, like \"0660\", got " + describe(*v));
      }
    }
    config_.socket.group = optional_nonempty(r, "group");
    r.finish();
  }

  // "660" or "0660": three or four octal digits, permission bits only.
  static std::optional<unsigned> parse_mode(std::string_view s) {
    if (s.size() < 3 || s.size() > 4) return std::nullopt;
    unsigned mode = 0;
    for (char c : s) {
      if (c < '0' || c > '7') return std::nullopt;
      mode = mode * 8 + static_cast<unsigned>(c - '0');
    }
    if (mode > 0777) return std::nullopt;
    return mode;
  }

  void parse_log(const json::object& o) {
    ObjectReader r(o, "log", sink_);
    if (auto s = enum_string(r, "level", {"trace", "debug", "info", "warn", "error"})) {
      config_.log.level = *s;
    }
    if (auto s = enum_string(r, "format", {"text", "json"})) config_.log.format = *s;
    r.finish();
  }

  void parse_endpoints(const json::object* o) {
    Endpoints& e = config_.endpoints;
    for (const CloudDefaults& c : kClouds) {
      if (config_.cloud == c.name) {
        e.authority = c.authority;
        e.resource_manager = c.resource_manager;
        e.management_resource = c.management_resource;
      }
    }
    if (o == nullptr) return;
    ObjectReader r(*o, "endpoints", sink_);
    if (auto s = url(r, "authority", UrlKind::https_with_path)) e.authority = *s;
    if (auto s = url(r, "resource_manager", UrlKind::https_with_path)) e.resource_manager = *s;
    if (auto s = optional_nonempty(r, "management_resource")) e.management_resource = *s;
    if (auto s = optional_nonempty(r, "databricks_resource")) e.databricks_resource = *s;
    if (auto s = url(r, "imds", UrlKind::http_or_https)) e.imds = *s;
    r.finish();
  }

  void parse_tls(const json::object& o) {
    ObjectReader r(o, "tls", sink_);
    if (auto s = optional_nonempty(r, "ca_file")) {
      config_.tls_ca_file = config_files::resolve_under(config_dir_, *s);
    }
    r.finish();
  }

  void parse_credentials(const json::object& o) {
    for (const auto& member : o) {
      std::string name(member.key());
      credential_names_.push_back(name);
      std::string path = join_path("credentials", name);
      if (!check_name(name, path, sink_)) continue;
      if (!member.value().is_object()) {
        sink_.add(path, "expected an object, got " + describe(member.value()));
        continue;
      }
      ObjectReader r(member.value().get_object(), path, sink_);
      CredentialConfig c;
      c.name = name;
      if (parse_credential(r, c)) config_.credentials.emplace(name, std::move(c));
    }
  }

  // Returns false when the type is missing or unknown (the other keys are then not checked).
  bool parse_credential(ObjectReader& r, CredentialConfig& c) {
    std::vector<std::string> type_names;
    for (const auto& t : kCredentialTypes) type_names.emplace_back(t.name);
    bool type_given = r.has("type");
    std::optional<std::string> type = enum_string(r, "type", type_names);
    if (!type_given) r.missing("type", "one of " + join_list(type_names, " | "));
    if (!type) return false;
    for (const auto& t : kCredentialTypes) {
      if (*type == t.name) c.type = t.type;
    }
    const std::string why = "required for a " + *type + " credential";
    switch (c.type) {
      case CredentialType::client_secret:
      case CredentialType::databricks_oauth: {
        if (c.type == CredentialType::client_secret) {
          c.tenant_id = required_string(r, "tenant_id", why).value_or("");
        }
        c.client_id = required_string(r, "client_id", why).value_or("");
        bool inline_given = r.has("client_secret");
        std::optional<std::string> secret = r.secret_string("client_secret");
        std::optional<std::string> file = optional_nonempty(r, "client_secret_file");
        if (inline_given && r.has("client_secret_file")) {
          r.problem("client_secret", "give client_secret_file or client_secret, not both");
        } else if (!inline_given && !r.has("client_secret_file")) {
          r.missing("client_secret_file", "a " + *type +
                                              " credential needs client_secret_file "
                                              "or an inline client_secret");
        } else if (secret) {
          if (secret->empty()) {
            r.problem("client_secret", "must not be empty");
          } else if (config_files::check_config_holding_secret(config_.source_path,
                                                               r.path("client_secret"), sink_)) {
            c.client_secret = std::move(secret);
          }
        } else if (file) {
          c.client_secret_file = secret_file_path(*file);
          config_files::check_secret_file(*c.client_secret_file, r.path("client_secret_file"),
                                          sink_);
        }
        break;
      }
      case CredentialType::client_certificate: {
        c.tenant_id = required_string(r, "tenant_id", why).value_or("");
        c.client_id = required_string(r, "client_id", why).value_or("");
        if (auto file = required_string(r, "certificate_file", why)) {
          c.certificate_file = secret_file_path(*file);
          config_files::check_secret_file(c.certificate_file, r.path("certificate_file"), sink_);
        }
        if (auto alg = enum_string(r, "assertion_alg", {"PS256", "RS256"})) c.assertion_alg = *alg;
        break;
      }
      case CredentialType::azure_cli:
        if (auto s = optional_nonempty(r, "az_path")) c.az_path = *s;
        c.az_tenant_id = optional_nonempty(r, "tenant_id");
        c.az_subscription = optional_nonempty(r, "subscription");
        break;
      case CredentialType::managed_identity:
        c.client_id = optional_nonempty(r, "client_id").value_or("");
        break;
      case CredentialType::workload_identity:
        c.tenant_id = required_string(r, "tenant_id", why).value_or("");
        c.client_id = required_string(r, "client_id", why).value_or("");
        // Exempt from the mode check (SPEC.md): its writer sets the mode and it may not exist yet.
        // Optional: a credential without one serves CI sessions only (checked with the workspaces).
        if (auto file = optional_nonempty(r, "token_file")) {
          c.token_file = config_files::resolve_under(config_dir_, *file);
        }
        break;
      case CredentialType::databricks_federation:
        // client_id only for a service-principal (workload identity) federation policy.
        c.client_id = optional_nonempty(r, "client_id").value_or("");
        // Optional: a credential without one serves CI sessions only (checked with the workspaces).
        if (auto file = optional_nonempty(r, "token_file")) {
          c.token_file = config_files::resolve_under(config_dir_, *file);
        }
        break;
    }
    r.finish("for a " + *type + " credential");
    return true;
  }

  // Relative secret files live under $CREDENTIALS_DIRECTORY (systemd LoadCredential=) when the
  // daemon has one, else beside the config.
  std::string secret_file_path(const std::string& file) const {
    return config_files::resolve_under(
        credentials_directory_.empty() ? config_dir_ : credentials_directory_, file);
  }

  // A reference to a credential by name: must be one defined under "credentials".
  std::optional<std::string> credential_reference(ObjectReader& r, const std::string& why) {
    std::optional<std::string> name = required_string(r, "credential", why);
    if (!name) return std::nullopt;
    for (const std::string& known : credential_names_) {
      if (known == *name) return name;
    }
    std::string known = credential_names_.empty() ? "none" : join_list(credential_names_);
    r.problem("credential", "unknown credential " + quoted(*name) + " (known: " + known + ")");
    return std::nullopt;
  }

  void parse_workspaces(const json::object& o) {
    for (const auto& member : o) {
      std::string name(member.key());
      std::string path = join_path("workspaces", name);
      if (!check_name(name, path, sink_)) continue;
      if (!member.value().is_object()) {
        sink_.add(path, "expected an object, got " + describe(member.value()));
        continue;
      }
      ObjectReader r(member.value().get_object(), path, sink_);
      WorkspaceConfig w;
      w.name = name;
      w.credential = credential_reference(r, "the credential this workspace uses").value_or("");
      bool host_given = r.has("host");
      bool resource_id_given = r.has("resource_id");
      w.host = url(r, "host", UrlKind::https_host_only);
      if (auto id = optional_nonempty(r, "resource_id")) {
        if (is_workspace_resource_id(*id)) {
          w.resource_id = std::move(id);
        } else {
          r.problem("resource_id",
                    "expected /subscriptions/S/resourceGroups/RG/providers/"
                    "Microsoft.Databricks/workspaces/W, got " +
                        quoted(*id));
        }
      }
      const CredentialConfig* cred = nullptr;
      if (auto it = config_.credentials.find(w.credential); it != config_.credentials.end()) {
        cred = &it->second;
      }
      const bool dbx_oauth = cred != nullptr && is_databricks_oauth(cred->type);
      if (dbx_oauth) {
        // Its tokens come from the workspace's own /oidc endpoint: no Entra, no ARM (SPEC.md).
        const std::string why = "with a " + std::string(to_string(cred->type)) + " credential";
        if (!host_given) r.missing("host", "required " + why + " (the tokens come from its /oidc)");
        if (resource_id_given) r.problem("resource_id", "does not apply " + why);
        if (r.has("management_token")) r.problem("management_token", "does not apply " + why);
      } else if (!host_given && !resource_id_given) {
        r.missing("host", "a workspace needs host, resource_id or both");
      }
      w.management_token = r.boolean("management_token").value_or(false) && !dbx_oauth;
      if (w.management_token && !resource_id_given) {
        r.problem("management_token",
                  "needs resource_id (sent as X-Databricks-Azure-Workspace-Resource-Id)");
      }
      parse_pat(r, w.pat);
      if (const json::object* allow = r.object("allow"))
        w.allow = parse_allow(*allow, r.path("allow"));
      w.serve_entra_token = r.boolean("serve_entra_token").value_or(true);
      if (!w.serve_entra_token && !w.pat.enabled && cred != nullptr && !dbx_oauth) {
        r.problem("serve_entra_token",
                  "false with \"pat\": false leaves nothing to serve (an Entra credential's "
                  "workspace-bound token is its PAT)");
      }
      if (const json::object* sessions = r.object("sessions")) {
        w.sessions = parse_sessions(*sessions, r.path("sessions"));
        check_session_workspace(r, w, cred, host_given);
      }
      r.finish();
      config_.workspaces.emplace(name, std::move(w));
    }
  }

  // A workload_identity or databricks_federation credential without token_file serves CI sessions
  // only: every workspace using it must have "sessions", and at least one must use it.
  void check_token_files() {
    for (const auto& [name, c] : config_.credentials) {
      if (!c.token_file.empty() || (c.type != CredentialType::workload_identity &&
                                    c.type != CredentialType::databricks_federation))
        continue;
      bool sessions_only = false, other = false;
      for (const auto& [wn, w] : config_.workspaces) {
        if (w.credential != name) continue;
        (w.sessions ? sessions_only : other) = true;
      }
      if (!sessions_only || other)
        sink_.add(join_path(join_path("credentials", name), "token_file"),
                  std::string("missing (required for a ") + to_string(c.type) +
                      " credential, unless only workspaces with \"sessions\" use it)");
    }
  }

  // "sessions": {"issuers": [...], "subjects": [...], "audience"?, "idle_timeout"?,
  // "max_lifetime"?}
  SessionsConfig parse_sessions(const json::object& o, const std::string& path) {
    ObjectReader r(o, path, sink_);
    SessionsConfig s;
    s.issuers = r.string_array("issuers").value_or(std::vector<std::string>{});
    s.subjects = r.string_array("subjects").value_or(std::vector<std::string>{});
    if (s.issuers.empty())
      r.missing("issuers",
                "the OIDC issuers whose CI jobs may open a session, e.g. "
                "[\"https://token.actions.githubusercontent.com\"]");
    if (s.subjects.empty())
      r.missing("subjects",
                "the subjects (patterns with *) that may open a session, e.g. "
                "[\"repo:org/app:*\"]");
    for (const auto& i : s.issuers)
      if (!i.starts_with("https://"))
        r.problem("issuers", "expected https:// URLs, got " + quoted(i));
    for (const auto& sub : s.subjects)
      if (sub.empty() || sub == "*")
        r.problem("subjects",
                  "a subject pattern must name something (not empty, not \"*\": "
                  "one repository's job must not use another's federation)");
    if (auto a = optional_nonempty(r, "audience")) s.audience = *a;
    if (auto d = r.duration("idle_timeout")) s.idle_timeout = *d;
    if (auto d = r.duration("max_lifetime")) s.max_lifetime = *d;
    if (s.idle_timeout.count() < 60) r.problem("idle_timeout", "must be at least 1m");
    if (s.max_lifetime.count() < 60) r.problem("max_lifetime", "must be at least 1m");
    r.finish();
    return s;
  }

  // A sessions workspace exchanges CI tokens through its credential and serves nothing else.
  void check_session_workspace(ObjectReader& r, WorkspaceConfig& w, const CredentialConfig* cred,
                               bool host_given) {
    if (cred != nullptr && cred->type != CredentialType::workload_identity &&
        cred->type != CredentialType::databricks_federation)
      r.problem("sessions",
                "needs a workload_identity (Entra) or databricks_federation "
                "credential: the CI job's OIDC token is exchanged through it, not " +
                    quoted(to_string(cred->type)));
    if (!host_given) r.missing("host", "required with sessions (no ARM lookup without a token)");
    if (r.has("pat") && w.pat.enabled)
      r.problem("pat", "does not apply with sessions (session tokens mint no PATs): remove it");
    w.pat.enabled = false;
  }

  static bool is_workspace_resource_id(const std::string& id) {
    std::string lower;
    for (char c : id) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return lower.starts_with("/subscriptions/") &&
           lower.find("/providers/microsoft.databricks/workspaces/") != std::string::npos &&
           lower.back() != '/';
  }

  void parse_pat(ObjectReader& workspace, PatPolicy& pat) {
    const json::value* v = workspace.get("pat");
    if (v == nullptr) return;
    if (v->is_bool()) {
      pat.enabled = v->get_bool();
      return;
    }
    if (!v->is_object()) {
      workspace.problem("pat", "expected an object or false, got " + describe(*v));
      return;
    }
    ObjectReader r(v->get_object(), workspace.path("pat"), sink_);
    // Each bound is checked only when the values it relates were all valid, so one typo gives
    // one problem.
    bool ok = true;
    auto read = [&](std::string_view key, Seconds& out) {
      bool given = r.has(key);
      if (auto d = r.duration(key)) {
        out = *d;
      } else if (given) {
        ok = false;
      }
    };
    read("lifetime", pat.lifetime);
    read("rotate_before", pat.rotate_before);
    read("max_lifetime", pat.max_lifetime);
    read("check_interval", pat.check_interval);
    bool max_active_given = r.has("max_active");
    if (auto n = r.integer("max_active", 1, kMaxActivePats)) {
      pat.max_active = static_cast<int>(*n);
    } else if (max_active_given) {
      ok = false;
    }
    r.finish();
    if (!ok) return;
    if (pat.check_interval < Seconds(5) || pat.check_interval > Seconds(600)) {
      r.problem("check_interval",
                "expected between 5s and 10m, got " + format_duration(pat.check_interval));
    } else if (pat.lifetime.count() == 0) {
      r.problem("lifetime", "must be longer than 0s");
    } else if (pat.lifetime > pat.max_lifetime) {
      r.problem("lifetime", format_duration(pat.lifetime) + " is longer than max_lifetime (" +
                                format_duration(pat.max_lifetime) + ")");
    } else if (pat.rotate_before >= pat.lifetime) {
      r.problem("rotate_before", format_duration(pat.rotate_before) +
                                     " must be shorter than lifetime (" +
                                     format_duration(pat.lifetime) + ")");
    }
  }

  AllowList parse_allow(const json::object& o, const std::string& path) {
    ObjectReader r(o, path, sink_);
    AllowList allow;
    allow.users = r.string_array("users").value_or(std::vector<std::string>{});
    allow.groups = r.string_array("groups").value_or(std::vector<std::string>{});
    for (std::int64_t uid :
         r.integer_array("uids", 0, UINT32_MAX - 1).value_or(std::vector<std::int64_t>{})) {
      allow.uids.push_back(static_cast<std::uint32_t>(uid));
    }
    if (const json::value* v = r.get("executables"))
      parse_executables(*v, r.path("executables"), allow);
    r.finish();
    return allow;
  }

  // "executables": ["/abs/path", {"path": "/abs/path", "sha256": "64 hex digits"},
  //                 {"sha256": "64 hex digits"}, ...]
  void parse_executables(const json::value& v, const std::string& path, AllowList& allow) {
    if (!v.is_array()) {
      sink_.add(path,
                "expected an array of paths or {\"path\", \"sha256\"} objects, got " + describe(v));
      return;
    }
    std::size_t i = 0;
    for (const json::value& e : v.get_array()) {
      const std::string at = path + "[" + std::to_string(i++) + "]";
      ExecutableRule rule;
      if (e.is_string()) {
        rule.path = std::string(e.get_string());
        if (rule.path.empty() || rule.path.front() != '/') {
          sink_.add(at, "expected an absolute path, got " + describe(e));
          continue;
        }
      } else if (e.is_object()) {
        // {"sha256"} alone: any program of that content, wherever it is mounted (a container's
        // path is not the daemon's: docs/CONTAINERS.md).
        ObjectReader r(e.get_object(), at, sink_);
        auto p = optional_nonempty(r, "path");
        if (p && p->front() != '/')
          r.problem("path", "expected an absolute path, got " + quoted(*p));
        const bool has_sha256 = r.has("sha256");
        if (!p && !has_sha256)
          r.missing("path", "the program's absolute path; or sha256 alone for any path");
        if (auto h = optional_nonempty(r, "sha256")) {
          std::string lower;
          for (char c : *h) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          if (lower.size() != 64 ||
              lower.find_first_not_of("0123456789abcdef") != std::string::npos)
            r.problem("sha256",
                      "expected 64 hex digits (sha256sum of the program), got " + quoted(*h));
          else
            rule.sha256 = lower;
        }
        r.finish();
        if (p ? p->front() != '/' : !rule.sha256) continue;
        if (p) rule.path = *p;
      } else {
        sink_.add(at, "expected a path or a {\"path\", \"sha256\"} object, got " + describe(e));
        continue;
      }
      allow.executables.push_back(std::move(rule));
    }
  }

  // A required port; 0 (after a problem) when missing or bad.
  std::uint16_t port(ObjectReader& r) {
    bool given = r.has("port");
    std::optional<std::int64_t> p = r.integer("port", 1, 65535);
    if (!given) r.missing("port", "a TCP port from 1 to 65535 on 127.0.0.1");
    if (!p) return 0;
    auto [it, inserted] = ports_.emplace(static_cast<std::uint16_t>(*p), r.path("port"));
    if (!inserted) r.problem("port", std::to_string(*p) + " is also " + it->second);
    return static_cast<std::uint16_t>(*p);
  }

  void parse_limits(const json::object& o) {
    ObjectReader r(o, "limits", sink_);
    if (auto n = r.integer("max_connections", 1, 65536))
      config_.limits.max_connections = static_cast<std::size_t>(*n);
    if (auto n = r.integer("max_connections_per_uid", 1, 65536))
      config_.limits.max_connections_per_uid = static_cast<std::size_t>(*n);
    if (auto n = r.integer("requests_per_second_per_uid", 0, 1000000))
      config_.limits.requests_per_second_per_uid = static_cast<std::uint32_t>(*n);
    if (auto n = r.integer("request_burst_per_uid", 1, 10000000))
      config_.limits.request_burst_per_uid = static_cast<std::uint32_t>(*n);
    r.finish();
  }

  void parse_audit(const json::object& o) {
    ObjectReader r(o, "audit", sink_);
    config_.audit.path = absolute_path_value(r, "path");
    r.finish();
  }

  void parse_listen(const json::object& o) {
    ObjectReader l(o, "listen", sink_);
    if (const json::object* m = l.object("metadata_service")) {
      ObjectReader r(*m, l.path("metadata_service"), sink_);
      config_.listen.metadata_service = MetadataServiceListen{port(r)};
      r.finish();
    }
    if (const json::object* m = l.object("managed_identity")) {
      ObjectReader r(*m, l.path("managed_identity"), sink_);
      ManagedIdentityListen mi;
      mi.port = port(r);
      mi.credential = credential_reference(r, "the credential whose tokens it serves").value_or("");
      if (auto it = config_.credentials.find(mi.credential);
          it != config_.credentials.end() && is_databricks_oauth(it->second.type)) {
        r.problem("credential", "a " + std::string(to_string(it->second.type)) +
                                    " credential has no Entra tokens to serve here");
      }
      bool resources_given = r.has("resources");
      std::optional<std::vector<std::string>> resources = r.string_array("resources");
      if (!resources_given) {
        r.missing("resources", "the resources it may serve tokens for");
      } else if (resources && resources->empty()) {
        r.problem("resources", "must list at least one resource");
      } else if (resources) {
        mi.resources = std::move(*resources);
      }
      r.finish();
      config_.listen.managed_identity = std::move(mi);
    }
    if (const json::object* m = l.object("metrics")) {
      ObjectReader r(*m, l.path("metrics"), sink_);
      config_.listen.metrics = MetricsListen{port(r)};
      r.finish();
    }
    l.finish();
  }

  ProblemSink sink_;
  std::string config_dir_;
  std::string credentials_directory_;
  Config config_;
  std::vector<std::string> credential_names_;   // in file order, for "known: ..." hints
  std::map<std::uint16_t, std::string> ports_;  // port -> the JSON path that took it
};

}  // namespace

std::optional<Config> parse_config(const std::string& text, const std::string& source_path,
                                   const std::string& credentials_directory,
                                   ConfigProblems& problems) {
  std::size_t problems_before = problems.lines.size();
  ProblemSink sink{problems.lines};
  std::optional<json::value> root = parse_json_text(text, sink);
  if (!root) return std::nullopt;
  if (!root->is_object()) {
    sink.lines.push_back("(top level): expected an object, got " + describe(*root));
    return std::nullopt;
  }
  std::string absolute_source = source_path.empty() ? "" : config_files::absolute_path(source_path);
  Parser parser(absolute_source, credentials_directory, problems);
  Config config = parser.parse(root->get_object());
  if (problems.lines.size() != problems_before) return std::nullopt;
  // Across workspaces, once each is valid: where an Entra token would reach (entra_reach.h).
  for (std::string& line : entra_reach_problems(config)) problems.lines.push_back(std::move(line));
  if (problems.lines.size() != problems_before) return std::nullopt;
  return config;
}

}  // namespace dbx
