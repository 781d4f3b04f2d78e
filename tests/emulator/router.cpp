// Classification, counting, fault selection and the error-body helpers (see router.h).
#include "tests/emulator/router.h"

#include <boost/json.hpp>
#include <ctime>

namespace emu {

std::optional<Endpoint> classify(const HttpRequest& req) {
  const std::string& p = req.path;
  if (p == "/api/2.0/token/create") return Endpoint::token_create;
  if (p == "/api/2.0/token/list") return Endpoint::token_list;
  if (p == "/api/2.0/token/delete") return Endpoint::token_delete;
  if (p == "/api/2.0/preview/scim/v2/Me") return Endpoint::scim_me;
  // 2.1 is what the Databricks SDKs call; both versions answer the same list.
  if (p == "/api/2.0/clusters/list" || p == "/api/2.1/clusters/list")
    return Endpoint::clusters_list;
  if (p == "/oidc/.well-known/oauth-authorization-server") return Endpoint::oidc_discovery;
  if (p == "/oidc/v1/token") return Endpoint::oidc_token;
  if (p == "/metadata/identity/oauth2/token") return Endpoint::imds;
  if (p == "/_ci/github/idtoken") return Endpoint::github_oidc;
  if (p == "/_ci/azure-devops/oidctoken") return Endpoint::azure_devops_oidc;
  if (starts_with_icase(p, "/subscriptions/")) return Endpoint::arm;
  auto segs = split_path(p);
  if ((segs.size() == 3 && segs[1] == "oauth2" && segs[2] == "token") ||
      (segs.size() == 4 && segs[1] == "oauth2" && segs[2] == "v2.0" && segs[3] == "token")) {
    return Endpoint::aad;
  }
  return std::nullopt;
}

Admission Emulator::admit(const HttpRequest& req, TimePoint now) {
  Admission a;
  a.endpoint = classify(req);
  if (a.endpoint) {
    counters_.record(*a.endpoint, to_unix_ms(now));
    a.fault = faults_.take(*a.endpoint);
  }
  return a;
}

HttpResponse Emulator::handle(const HttpRequest& req, const Admission& a, TimePoint now) {
  state_.purge_expired(now);
  HttpResponse resp;
  if (a.fault && (a.fault->status || a.fault->body)) {
    resp = injected(*a.endpoint, *a.fault);
  } else {
    resp = dispatch(req, a.endpoint, now);
    if (a.fault && a.fault->malformed) {
      // Cut the real answer short so it is never valid JSON (the client must cope).
      std::string cut = resp.body.substr(0, resp.body.size() / 2);
      resp.body = cut.empty() ? "{\"trunc" : cut;
      resp.status = 200;
    }
  }
  // Every real upstream dates its answers (RFC 9110): the daemon's doctor compares clocks with it.
  // A fault's own Date header comes later and wins (a skewed clock).
  resp.headers.emplace_back("Date", http_date(now));
  if (a.fault) {
    for (const auto& h : a.fault->headers) resp.headers.push_back(h);
  }
  return resp;
}

HttpResponse Emulator::dispatch(const HttpRequest& req, std::optional<Endpoint> endpoint,
                                TimePoint now) {
  if (!endpoint) {
    if (req.path.starts_with("/_emulator/oidc/")) return handle_oidc_control(req, now);
    if (req.path.starts_with("/_emulator/ci/")) return handle_ci_control(req, now);
    if (req.path.starts_with("/_emulator/")) return handle_control(req, now);
    if (req.path.starts_with("/api/")) {
      return databricks_error(404, "ENDPOINT_NOT_FOUND",
                              "No API found for '" + req.method + " " + req.path + "'");
    }
    return json_reply(404, boost::json::object{{"error", "not_found"},
                                               {"message", "the emulator has no " + req.path}});
  }
  switch (*endpoint) {
    case Endpoint::aad:
      return handle_aad(req, now);
    case Endpoint::imds:
      return handle_imds(req, now);
    case Endpoint::arm:
      return handle_arm(req, now);
    case Endpoint::oidc_discovery:
      return handle_oidc_discovery(req, now);
    case Endpoint::oidc_token:
      return handle_oidc_token(req, now);
    case Endpoint::github_oidc:
      return handle_github_oidc(req, now);
    case Endpoint::azure_devops_oidc:
      return handle_ado_oidc(req, now);
    default:
      return handle_databricks(req, *endpoint, now);
  }
}

HttpResponse Emulator::injected(Endpoint endpoint, const Fault& fault) const {
  HttpResponse r;
  r.status = fault.status.value_or(200);
  if (fault.body) {
    r.body = *fault.body;
    auto first = r.body.find_first_not_of(" \t\r\n");
    bool json = first != std::string::npos && (r.body[first] == '{' || r.body[first] == '[');
    r.content_type = json ? "application/json" : "text/html; charset=utf-8";
    return r;
  }
  // No body given: the shape the real service uses for such a status.
  std::string msg = "Injected fault: HTTP " + std::to_string(r.status);
  switch (endpoint) {
    case Endpoint::aad:
    case Endpoint::imds:
    case Endpoint::oidc_discovery:
    case Endpoint::oidc_token:
    case Endpoint::github_oidc:
    case Endpoint::azure_devops_oidc: {
      std::string error = r.status == 429 ? "throttled" : "temporarily_unavailable";
      return json_reply(r.status,
                        boost::json::object{{"error", error}, {"error_description", msg}});
    }
    case Endpoint::arm:
      return arm_error(r.status, r.status == 429 ? "TooManyRequests" : "ServiceUnavailable", msg);
    default: {
      std::string code = r.status == 429   ? "REQUEST_LIMIT_EXCEEDED"
                         : r.status >= 500 ? "TEMPORARILY_UNAVAILABLE"
                                           : "BAD_REQUEST";
      return databricks_error(r.status, boost::json::string(code), msg);
    }
  }
}

std::string bearer_token(const HttpRequest& req) {
  std::string auth = req.header("authorization");
  if (!starts_with_icase(auth, "bearer ")) return {};
  std::string token = auth.substr(7);
  auto first = token.find_first_not_of(' ');
  auto last = token.find_last_not_of(' ');
  return first == std::string::npos ? std::string() : token.substr(first, last - first + 1);
}

HttpResponse json_reply(int status, const boost::json::value& body) {
  return json_response(status, boost::json::serialize(body));
}

HttpResponse aad_error(int status, std::string_view error, long code, std::string_view text,
                       TimePoint now) {
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%SZ", &tm);
  std::string trace = random_guid();
  std::string correlation = random_guid();
  std::string description = "AADSTS" + std::to_string(code) + ": " + std::string(text) +
                            "\r\nTrace ID: " + trace + "\r\nCorrelation ID: " + correlation +
                            "\r\nTimestamp: " + stamp;
  boost::json::object o{{"error", error},
                        {"error_description", description},
                        {"error_codes", boost::json::array{code}},
                        {"timestamp", stamp},
                        {"trace_id", trace},
                        {"correlation_id", correlation}};
  if (error == "invalid_client")
    o["error_uri"] = "https://login.microsoftonline.com/error?code=" + std::to_string(code);
  return json_reply(status, o);
}

HttpResponse databricks_error(int status, const boost::json::value& error_code,
                              std::string_view message) {
  return json_reply(status, boost::json::object{{"error_code", error_code}, {"message", message}});
}

HttpResponse arm_error(int status, std::string_view code, std::string_view message) {
  return json_reply(status, boost::json::object{{"error", {{"code", code}, {"message", message}}}});
}

}  // namespace emu
