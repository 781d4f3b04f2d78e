// The relay's two protocols over the daemon's socket API (`token` for the metadata service, `aad`
// for the managed-identity protocol), with the daemon's own endpoint's checks and margins.
#include "client/relay_handler.h"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "common/text.h"

namespace dbx::cli {

namespace json = boost::json;

namespace {

constexpr std::string_view kMetadataVersionHeader = "X-Databricks-Metadata-Version";
constexpr std::string_view kMetadataHostHeader = "X-Databricks-Host";
constexpr std::string_view kIdentityHeader = "X-IDENTITY-HEADER";
constexpr std::string_view kIdentityApiVersion = "2019-08-01";

// Both protocols' clients read errors as {"error","error_description"} (PROTOCOLS.md).
RelayAnswer protocol_error(int status, std::string_view error, std::string_view description) {
  return RelayAnswer{
      status,
      json::serialize(json::object{{"error", error}, {"error_description", description}}),
      {}};
}

std::string workspace_target(const std::string& workspace, std::string_view what,
                             std::int64_t min_valid) {
  return "/v1/workspaces/" + encode_path_segment(workspace) + "/" + std::string(what) +
         "?min_valid=" + std::to_string(min_valid);
}

// "https://Host:443/" and "https://host" are one host (as the daemon's endpoint compares them).
std::string normalize_host(std::string_view url) {
  while (!url.empty() && url.back() == '/') url.remove_suffix(1);
  std::string out = lower(url);
  if (out.starts_with("https://") && out.ends_with(":443")) out.resize(out.size() - 4);
  if (out.starts_with("http://") && out.ends_with(":80")) out.resize(out.size() - 3);
  return out;
}

// SDKs drop a scope's "/.default" and sometimes the trailing slash (PROTOCOLS.md).
std::string normalize_resource(std::string_view resource) {
  while (!resource.empty() && resource.back() == '/') resource.remove_suffix(1);
  return lower(resource);
}

// DNS rebinding: a web page whose name resolves to 127.0.0.1 reaches us with its own name in Host.
bool host_is_loopback(std::optional<std::string_view> host) {
  if (!host) return true;  // HTTP/1.0 without Host: not a browser
  std::string_view h = *host;
  if (!h.empty() && h.front() == '[') {
    const auto close = h.find(']');
    h = close == std::string_view::npos ? h : h.substr(1, close - 1);
  } else if (const auto colon = h.rfind(':'); colon != std::string_view::npos) {
    h = h.substr(0, colon);
  }
  return h == "127.0.0.1" || iequals(h, "localhost") || h == "::1";
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = ascii_lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 &&
               hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// The first value of query parameter `name`, decoded; nullopt when absent or empty.
std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view kv = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const auto eq = kv.find('=');
    if (percent_decode(kv.substr(0, eq)) != name) continue;
    if (eq == std::string_view::npos || eq + 1 == kv.size()) return std::nullopt;
    return percent_decode(kv.substr(eq + 1));
  }
  return std::nullopt;
}

std::optional<std::int64_t> int_field(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr) return std::nullopt;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
  return std::nullopt;
}

std::string string_of(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

}  // namespace

bool secrets_equal(std::string_view given, std::string_view expected) {
  unsigned char diff = given.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < expected.size(); ++i)
    diff |= static_cast<unsigned char>(expected[i] ^ (i < given.size() ? given[i] : ~expected[i]));
  return diff == 0 && !expected.empty();
}

Expected<RelayTarget> prepare_relay(const Invocation& inv,
                                    const std::optional<std::string>& env_workspace,
                                    const DaemonApi& api, std::string secret) {
  RelayTarget t;
  t.protocol = inv.env_source == EnvSource::azure ? RelayProtocol::managed_identity
                                                  : RelayProtocol::metadata_service;
  t.secret = std::move(secret);
  t.min_valid_seconds = inv.min_valid_seconds;
  auto workspace = resolve_workspace(inv.workspace, env_workspace, api);
  if (!workspace) return workspace.error();
  t.workspace = *workspace;
  const std::int64_t asked = std::max<std::int64_t>(inv.min_valid_seconds.value_or(0),
                                                    t.protocol == RelayProtocol::managed_identity
                                                        ? kRelayManagedIdentityMinValid
                                                        : kRelayMinValid);
  // One request now: the host (or resource) CMD's requests are checked against, and the caller's
  // access, so a refusal is the CLI's exit code and not an SDK error later.
  auto answer = api.get_object(workspace_target(
      t.workspace, t.protocol == RelayProtocol::managed_identity ? "aad" : "token", asked));
  if (!answer) return answer.error();
  if (t.protocol == RelayProtocol::managed_identity) {
    t.resource = string_of(*answer, "resource");
    if (t.resource.empty())
      return Failure{Exit::failure, "dbxcredd's aad answer has no \"resource\""};
    return t;
  }
  t.host = string_of(*answer, "host");
  t.kind = string_of(*answer, "kind");
  if (t.host.empty()) return Failure{Exit::failure, "dbxcredd's token answer has no \"host\""};
  return t;
}

EnvVars relay_env(const RelayTarget& target, std::uint16_t port) {
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  if (target.protocol == RelayProtocol::managed_identity) {
    return {{"IDENTITY_ENDPOINT", base + std::string(kRelayIdentityPath)},
            {"IDENTITY_HEADER", target.secret}};
  }
  return {{"DATABRICKS_HOST", target.host},
          {"DATABRICKS_AUTH_TYPE", "metadata-service"},
          {"DATABRICKS_METADATA_SERVICE_URL",
           base + "/" + target.secret + "/" + encode_path_segment(target.workspace)}};
}

RelayAnswer RelayHandler::handle(const InboundRequest& request) {
  if (request.method != "GET")
    return protocol_error(405, "method_not_allowed", "only GET is supported");
  if (!host_is_loopback(request.header("Host")))
    return protocol_error(403, "forbidden", "Host must be 127.0.0.1 or localhost");
  return target_.protocol == RelayProtocol::managed_identity ? managed_identity(request)
                                                             : metadata_service(request);
}

BasicResult<json::object, RelayAnswer> RelayHandler::ask(const std::string& target) {
  auto response = fetch_(target);
  if (!response) return protocol_error(503, "upstream_unavailable", response.error().message);
  if (response->status < 200 || response->status > 299) {
    std::string code = "upstream_unavailable";
    json::error_code ec;
    const json::value v = json::parse(response->body, ec);
    if (!ec && v.is_object())
      if (const auto* e = v.as_object().if_contains("error"); e && e->is_object())
        code = string_of(e->as_object(), "code");
    RelayAnswer a = protocol_error(response->status, code.empty() ? "error" : one_line(code),
                                   failure_from_response(*response).message);
    if (auto retry = response->header("Retry-After")) a.headers.emplace_back("Retry-After", *retry);
    return a;
  }
  json::error_code ec;
  json::value v = json::parse(response->body, ec);
  if (ec || !v.is_object())
    return protocol_error(502, "upstream_unavailable", "dbxcredd's answer is not a JSON object");
  return std::move(v.as_object());
}

RelayAnswer RelayHandler::metadata_service(const InboundRequest& request) {
  const std::string_view path = request.target.substr(0, request.target.find('?'));
  // /<secret>/<workspace>: a wrong secret and a wrong path look the same (404), as at the daemon.
  const std::string expected = "/" + target_.secret + "/" + encode_path_segment(target_.workspace);
  const auto slash = path.size() > 1 ? path.find('/', 1) : std::string_view::npos;
  if (slash == std::string_view::npos ||
      !secrets_equal(path.substr(1, slash - 1), target_.secret) || path != expected)
    return protocol_error(404, "not_found",
                          "no such path; CMD's DATABRICKS_METADATA_SERVICE_URL "
                          "is the one URL served");
  const auto version = request.header(kMetadataVersionHeader);
  if (!version || *version != "1")
    return protocol_error(400, "bad_request",
                          "X-Databricks-Metadata-Version must be 1 (the only version served)");
  const auto asked_host = request.header(kMetadataHostHeader);
  if (!asked_host || normalize_host(*asked_host) != normalize_host(target_.host))
    // The SDK's DATABRICKS_HOST points elsewhere: a token of this workspace must not go there.
    return protocol_error(404, "not_found",
                          "X-Databricks-Host does not match workspace " +
                              one_line(target_.workspace) + " (" + one_line(target_.host) + ")");

  const auto margin = [this](const std::string& kind) {
    return std::max<std::int64_t>(target_.min_valid_seconds.value_or(0),
                                  kind == "aad" ? kRelayAadMinValid : kRelayMinValid);
  };
  auto answer = ask(workspace_target(target_.workspace, "token", margin(target_.kind)));
  if (!answer) return answer.error();
  std::string kind = string_of(*answer, "kind");
  if (kind == "aad" && target_.kind != "aad") {
    // The workspace now serves Entra tokens (a reload turned its PAT off): ask with their margin.
    target_.kind = kind;
    answer = ask(workspace_target(target_.workspace, "token", margin(kind)));
    if (!answer) return answer.error();
    kind = string_of(*answer, "kind");
  }
  target_.kind = kind;
  const std::string token = string_of(*answer, "token");
  const auto expires_at = int_field(*answer, "expires_at");
  if (token.empty() || !expires_at)
    return protocol_error(502, "upstream_unavailable",
                          "dbxcredd's token answer has no \"token\" or \"expires_at\"");
  const std::int64_t expires_on = *expires_at - (kind == "aad" ? kRelayAadCutoff : 0);
  return RelayAnswer{
      200,
      json::serialize(json::object{
          {"access_token", token}, {"token_type", "Bearer"}, {"expires_on", expires_on}}),
      {}};
}

RelayAnswer RelayHandler::managed_identity(const InboundRequest& request) {
  const auto q = request.target.find('?');
  const std::string_view path = request.target.substr(0, q);
  if (path != kRelayIdentityPath)
    return protocol_error(404, "not_found", "the managed-identity endpoint is /msi/token");
  const auto given = request.header(kIdentityHeader);
  if (!given || !secrets_equal(*given, target_.secret))
    return protocol_error(401, "unauthorized",
                          "X-IDENTITY-HEADER is missing or wrong; CMD's IDENTITY_HEADER is the one "
                          "accepted");
  const std::string_view query =
      q == std::string_view::npos ? std::string_view() : request.target.substr(q + 1);
  if (query_param(query, "api-version") != std::string(kIdentityApiVersion))
    return protocol_error(400, "invalid_request",
                          "api-version must be " + std::string(kIdentityApiVersion));
  const auto resource = query_param(query, "resource");
  if (!resource) return protocol_error(400, "invalid_request", "resource is required");
  if (normalize_resource(*resource) != normalize_resource(target_.resource))
    return protocol_error(400, "invalid_resource",
                          "resource " + one_line(resource->substr(0, 200)) +
                              " is not served by this relay; it serves " + target_.resource +
                              " (the Entra token of workspace " + one_line(target_.workspace) +
                              ", what `dbxcred aad` prints)");
  // The relay cannot tell one identity from another: a request naming one is refused rather than
  // answered with a token of some other identity.
  for (const char* selector : {"client_id", "object_id", "principal_id", "mi_res_id", "msi_res_id"})
    if (query_param(query, selector))
      return protocol_error(400, "invalid_request",
                            std::string(selector) +
                                " is not supported by this relay: it serves the credential of "
                                "workspace " +
                                one_line(target_.workspace) + " only");
  const std::int64_t min_valid =
      std::max<std::int64_t>(target_.min_valid_seconds.value_or(0), kRelayManagedIdentityMinValid);
  auto answer = ask(workspace_target(target_.workspace, "aad", min_valid));
  if (!answer) return answer.error();
  const std::string token = string_of(*answer, "access_token");
  const auto expires_at = int_field(*answer, "expires_at");
  if (token.empty() || !expires_at)
    return protocol_error(502, "upstream_unavailable",
                          "dbxcredd's aad answer has no \"access_token\" or \"expires_at\"");
  // App Service sends expires_on as a string; some clients insist on that.
  return RelayAnswer{200,
                     json::serialize(json::object{{"access_token", token},
                                                  {"expires_on", std::to_string(*expires_at)},
                                                  {"resource", *resource},
                                                  {"token_type", "Bearer"}}),
                     {}};
}

}  // namespace dbx::cli
