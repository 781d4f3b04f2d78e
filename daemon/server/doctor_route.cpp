// GET /v1/doctor; see doctor_route.h.
#include "daemon/server/doctor_route.h"

#include <unistd.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "daemon/doctor/daemon_findings.h"
#include "daemon/doctor/doctor_probes.h"
#include "daemon/doctor/error_hints.h"
#include "daemon/upstream/https_transport.h"

namespace dbx {

namespace {

namespace json = boost::json;

// A token valid this long is enough for the probes' calls (Databricks refuses under 30 s).
constexpr Seconds kProbeMinValid{60};

std::string_view workspace_from(std::string_view query) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view kv = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (kv.starts_with("workspace=")) return kv.substr(10, 128);
  }
  return {};
}

// "https://host[:port]/…" → "host[:port]".
std::string host_of(std::string_view url) {
  if (const auto p = url.find("://"); p != std::string_view::npos) url.remove_prefix(p + 3);
  return std::string(url.substr(0, url.find('/')));
}

// A GET of `base`'s root; any answer means reachable. `subject`: what the findings are about
// ("" : the host itself).
Probe plain_probe(const std::string& base, std::string upstream, const std::string& subject) {
  Probe p;
  p.subject = subject.empty() ? host_of(base) : subject;
  p.request.url = base + (base.ends_with("/") ? "" : "/");
  p.request.upstream = std::move(upstream);
  return p;
}

struct Report {
  std::shared_ptr<Broker> broker;
  bool full = false;
  std::string only;  // ?workspace=
  std::vector<Finding> findings;
  std::vector<Finding> no_token;  // workspaces whose headers could not be had
  std::vector<Probe> probes;
  std::size_t headers_left = 0;
  std::function<void(ApiResponse)> done;
};

// Once every workspace's headers are at hand (or failed): the findings that depend on the
// token fetches those may have made, then the probes.
void finish(Runtime& runtime, const std::shared_ptr<Report>& report) {
  // The environment the daemon's transport read at start-up: HTTPS_PROXY/NO_PROXY.
  const auto env = HttpsTransportOptions::from_environment();
  for (Probe& p : report->probes) p.route = route_to(p.request.url, env.https_proxy, env.no_proxy);
  if (report->full) {
    const Broker& broker = *report->broker;
    for (Finding& f : config_findings(broker)) report->findings.push_back(std::move(f));
    for (Finding& f : credential_findings(broker, runtime.now(), report->only))
      report->findings.push_back(std::move(f));
    for (Finding& f : pat_findings(broker, report->only)) report->findings.push_back(std::move(f));
    for (Finding& f : loopback_findings(broker.config())) report->findings.push_back(std::move(f));
    for (Finding& f : report->no_token) report->findings.push_back(std::move(f));
  }
  run_probes(runtime, report->broker->transport(), std::move(report->probes),
             [report](std::vector<Finding> probed) {
               json::array list;
               for (const Finding& f : report->findings) list.push_back(to_json(f));
               for (const Finding& f : probed) list.push_back(to_json(f));
               const json::object body{{"full", report->full}, {"findings", std::move(list)}};
               report->done(ApiResponse{200, json::serialize(body) + "\n"});
             });
}

// The workspace probes once its headers are at hand: SCIM Me (standing, reach, clock) and, with
// PATs on, token/list (may it use tokens, the quota).
void add_workspace_probes(Report& report, const Workspace& ws, const WorkspaceHeaders& h) {
  Probe me;
  me.subject = ws.name();
  me.request.url = h.host + "/api/2.0/preview/scim/v2/Me";
  me.request.headers = h.headers;
  me.request.upstream = "databricks";
  me.judge = [name = ws.name(), mgmt = ws.config().management_token](const HttpResponse& r) {
    return judge_scim_me(name, mgmt, r);
  };
  report.probes.push_back(std::move(me));
  if (const auto pat = ws.pat_status()) {
    Probe list;
    list.subject = ws.name();
    list.request.url = h.host + "/api/2.0/token/list";
    list.request.headers = h.headers;
    list.request.upstream = "databricks";
    list.quiet_reach = true;  // SCIM Me times the host
    list.judge = [name = ws.name(), ours = pat->active, max = pat->max_active](
                     const HttpResponse& r) { return judge_token_list(name, ours, max, r); };
    report.probes.push_back(std::move(list));
  }
}

}  // namespace

void answer_doctor(const std::shared_ptr<Broker>& broker, Runtime& runtime, std::string_view query,
                   const PeerIdentity& peer, std::function<void(ApiResponse)> done) {
  const std::string_view only = workspace_from(query);
  if (!only.empty() && broker->workspace(only) == nullptr)
    return done(error_response(make_error(
        ErrorCode::not_found, "no workspace named \"" + std::string(only) +
                                  "\" in this daemon; `dbxcred workspaces` lists yours")));
  auto report = std::make_shared<Report>();
  report->broker = broker;
  report->done = std::move(done);
  report->full = peer.uid == 0 || peer.uid == ::geteuid();
  report->only = std::string(only);
  report->findings = access_findings(*broker, peer, only);
  if (!report->full) return finish(runtime, report);

  const Config& config = broker->config();
  bool entra = false;
  bool arm = false;
  std::vector<Workspace*> workspaces;
  for (const auto& [name, ws] : config.workspaces) {
    if (!only.empty() && name != only) continue;
    Workspace* w = broker->workspace(name);
    if (w == nullptr) continue;
    workspaces.push_back(w);
    entra = entra || w->kind() == TokenKind::aad;
    arm = arm || (ws.resource_id && !ws.host);
  }
  if (entra)
    report->probes.push_back(plain_probe(config.endpoints.authority, "aad",
                                         "login host " + host_of(config.endpoints.authority)));
  if (arm)
    report->probes.push_back(plain_probe(config.endpoints.resource_manager, "arm",
                                         "ARM host " + host_of(config.endpoints.resource_manager)));
  if (workspaces.empty()) return finish(runtime, report);
  report->headers_left = workspaces.size();
  for (Workspace* w : workspaces) {
    w->headers(kProbeMinValid, [&runtime, report, w](Result<WorkspaceHeaders> h) {
      if (h) {
        add_workspace_probes(*report, *w, *h);
      } else {
        Finding f{"standing", w->name(), Verdict::fail,
                  "no token for workspace " + w->name() +
                      ", so its standing is not checked: " + h.error().message,
                  ""};
        if (auto hint = explain_upstream_error(h.error().message))
          f.fix = std::string(hint->fix);
        else
          f.fix = "see the credential findings above and the daemon's log";
        report->no_token.push_back(std::move(f));
        if (!w->host().empty())
          report->probes.push_back(plain_probe(std::string(w->host()), "databricks", w->name()));
      }
      if (--report->headers_left == 0) finish(runtime, report);
    });
  }
}

}  // namespace dbx
