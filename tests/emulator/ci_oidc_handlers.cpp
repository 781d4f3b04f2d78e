// The CI OIDC request endpoints (ci_oidc.h) and their control API under /_emulator/ci/:
//   GET  /_ci/github/idtoken?api-version=2.0&audience=A   Authorization: bearer <request token>
//        → {"count":N,"value":JWT}   (ACTIONS_ID_TOKEN_REQUEST_URL / _TOKEN)
//   POST /_ci/azure-devops/oidctoken?api-version=7.1&serviceConnectionId=ID
//        Authorization: Bearer <SYSTEM_ACCESSTOKEN> → {"oidcToken":JWT}   (SYSTEM_OIDCREQUESTURI)
#include <boost/json.hpp>

#include "tests/emulator/router.h"

namespace emu {
namespace {

constexpr std::string_view kGithubIssuer = "https://token.actions.githubusercontent.com";
constexpr std::string_view kAdoIssuer =
    "https://vstoken.dev.azure.com/00000000-0000-0000-0000-0000000000e1";

HttpResponse bad(std::string message) {
  return json_reply(400, boost::json::object{{"error", std::move(message)}});
}

boost::json::object counters_json(const CiOidc& ci) {
  const CiCounters& c = ci.counters();
  return boost::json::object{{"lifetime", ci.lifetime()},
                             {"github_fetches", c.github_fetches},
                             {"azure_devops_fetches", c.azure_devops_fetches},
                             {"exchanges", c.exchanges},
                             {"reused", c.reused}};
}

}  // namespace

HttpResponse Emulator::handle_github_oidc(const HttpRequest& req, TimePoint now) {
  if (req.method != "GET") return json_reply(405, boost::json::object{{"message", "use GET"}});
  const CiJob* job = state_.ci().find_job(bearer_token(req), CiKind::github, now);
  if (job == nullptr) return json_reply(401, boost::json::object{{"message", "Bad credentials"}});
  // Without an audience GitHub uses the owner's URL.
  const std::string owner = job->repository.substr(0, job->repository.find('/'));
  const std::string audience = req.query_param("audience").value_or("https://github.com/" + owner);
  const std::string jwt = state_.ci().mint(*job, audience, now);
  return json_reply(200, boost::json::object{{"count", jwt.size()}, {"value", jwt}});
}

HttpResponse Emulator::handle_ado_oidc(const HttpRequest& req, TimePoint now) {
  if (req.method != "POST") return json_reply(405, boost::json::object{{"message", "use POST"}});
  if (!req.query_param("api-version"))
    return json_reply(400, boost::json::object{{"message", "api-version is required"}});
  const CiJob* job = state_.ci().find_job(bearer_token(req), CiKind::azure_devops, now);
  if (job == nullptr)
    return json_reply(401, boost::json::object{{"message", "Access denied: bad job token"}});
  const std::string id = req.query_param("serviceConnectionId").value_or("");
  if (id.empty() || id != job->service_connection_id)
    return json_reply(400, boost::json::object{{"message", "Service connection " + id +
                                                               " is not authorized for this "
                                                               "pipeline"}});
  const std::string jwt = state_.ci().mint(*job, kEntraExchangeAudience, now);
  return json_reply(200, boost::json::object{{"oidcToken", jwt}});
}

HttpResponse Emulator::handle_ci_control(const HttpRequest& req, TimePoint now) {
  CiOidc& ci = state_.ci();
  const std::string what = req.path.substr(std::string_view("/_emulator/ci/").size());
  boost::system::error_code ec;
  boost::json::value body = boost::json::parse(req.body.empty() ? "{}" : req.body, ec);
  if (ec || !body.is_object()) return bad("the body must be a JSON object");
  const boost::json::object& o = body.as_object();
  auto field = [&](std::string_view key) -> std::optional<std::string> {
    const auto* v = o.if_contains(key);
    if (v == nullptr || !v->is_string()) return std::nullopt;
    return std::string(v->as_string());
  };

  if (what == "jobs" && req.method == "POST") {
    CiJob job;
    const std::string kind = field("kind").value_or("github");
    if (kind != "github" && kind != "azure-devops") return bad("kind: github or azure-devops");
    job.kind = kind == "github" ? CiKind::github : CiKind::azure_devops;
    std::int64_t duration = 3600;
    if (const auto* d = o.if_contains("duration")) {
      if (!d->is_int64() || d->as_int64() < 1) return bad("duration: expected seconds >= 1");
      duration = d->as_int64();
    }
    job.ends_at = now + std::chrono::seconds(duration);
    job.repository = field("repository").value_or("octo/app");
    job.pipeline = field("pipeline").value_or("org/project/deploy");
    job.service_connection_id = field("service_connection_id").value_or(random_guid());
    const bool gh = job.kind == CiKind::github;
    job.issuer = field("issuer").value_or(std::string(gh ? kGithubIssuer : kAdoIssuer));
    job.subject = field("subject").value_or(gh ? "repo:" + job.repository + ":ref:refs/heads/main"
                                               : "sc://org/project/" + job.service_connection_id);
    const std::string base = "https://" + req.header("host");
    const std::string url =
        gh ? base + "/_ci/github/idtoken?api-version=2.0" : base + "/_ci/azure-devops/oidctoken";
    const CiJob& added = ci.add_job(std::move(job), now);
    return json_reply(200,
                      boost::json::object{{"request_url", url},
                                          {"request_token", added.request_token},
                                          {"issuer", added.issuer},
                                          {"subject", added.subject},
                                          {"service_connection_id", added.service_connection_id},
                                          {"ends_at", dbx::to_unix_seconds(added.ends_at)}});
  }
  if (what == "end-job" && req.method == "POST") {
    ci.end_job(field("request_token").value_or(""));
    return json_reply(200, boost::json::object{});
  }
  if (what == "federated-credentials" && req.method == "POST") {
    auto client = field("client_id"), issuer = field("issuer"), subject = field("subject");
    if (!client || !issuer || !subject) return bad("client_id, issuer and subject: required");
    FederatedCredential c{*issuer, *subject,
                          field("audience").value_or(std::string(kEntraExchangeAudience))};
    state_.add_federated_credential(*client, std::move(c));
    return json_reply(200, boost::json::object{{"client_id", *client}});
  }
  if (what == "settings") {
    if (req.method == "POST") {
      for (const auto& [k, v] : o) {
        if (k != "lifetime") return bad("unknown key '" + std::string(k) + "'");
        if (!v.is_int64() || v.as_int64() < 1) return bad("lifetime: expected seconds >= 1");
        ci.set_lifetime(v.as_int64());
      }
    } else if (req.method != "GET") {
      return bad(req.method + " is not allowed on " + req.path);
    }
    return json_reply(200, counters_json(ci));
  }
  return json_reply(
      404, boost::json::object{{"error", "no control endpoint " + req.method + " " + req.path}});
}

}  // namespace emu
