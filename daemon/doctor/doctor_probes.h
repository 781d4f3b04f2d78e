// The upstream checks of `dbxcred doctor`, made by the daemon through its own Transport (so with
// its proxy, CA file and timeouts), off the request hot path: only a doctor request starts them,
// and each has a short timeout. Every probe's answer becomes findings: reachability with its time,
// clock skew against the answer's Date header, and what a judge makes of the answer (the service
// principal's standing in a workspace). The judges are pure and tested alone.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/doctor_finding.h"
#include "daemon/runtime.h"
#include "daemon/upstream/transport.h"

namespace dbx {

// A probe waits this long at most: a doctor that hangs for the 15 s upstream deadline per host
// would look like the problem it diagnoses.
inline constexpr Millis kProbeTimeout{5000};
// Token lifetimes and JWT nbf/exp checks tolerate a few minutes; past one minute of skew a
// refresh schedule and the PAT promises are visibly off.
inline constexpr Seconds kMaxClockSkew{60};
// Databricks' limit of PATs per principal per workspace (PROTOCOLS.md).
inline constexpr int kDatabricksPatQuota = 600;

struct Probe {
  std::string subject;  // the host or workspace the findings are about
  HttpRequest request;  // its timeout is set to kProbeTimeout
  // Turns an HTTP answer into findings; null: any HTTP answer means "reachable" and nothing more.
  std::function<std::vector<Finding>(const HttpResponse&)> judge;
  // A second call to a host another probe already times: an answer adds only the judge's
  // findings (a failure to get one is still reported).
  bool quiet_reach = false;
  // How the transport gets there (route_to), named in the reach finding; "" says nothing.
  std::string route;
};

// "directly" or "through the proxy H:P" (never the proxy's credentials): the daemon's
// transport's own decision for `url` (uses_proxy, url.h) given its https_proxy and no_proxy.
std::string route_to(std::string_view url, const std::optional<std::string>& https_proxy,
                     std::string_view no_proxy);

// Sends every probe at once and calls `done` once with their findings in probe order: per probe a
// "reach" finding (ok with its time in ms, or fail naming the cause: DNS, connect, TLS, proxy,
// timeout), a "clock" finding when the answer had a Date header, then the judge's.
void run_probes(Runtime& runtime, Transport& transport, std::vector<Probe> probes,
                std::function<void(std::vector<Finding>)> done);

// Seconds since the epoch of an IMF-fixdate ("Tue, 08 Dec 2026 00:16:33 GMT", RFC 9110 5.6.7);
// nullopt for anything else.
std::optional<std::int64_t> parse_http_date(std::string_view text);

// The clock finding for an answer dated `date` received at `now`.
Finding clock_finding(const std::string& subject, std::int64_t date, TimePoint now);

// GET /api/2.0/preview/scim/v2/Me: is the service principal a user of `workspace`?
std::vector<Finding> judge_scim_me(const std::string& workspace, bool management_token,
                                   const HttpResponse& r);
// GET /api/2.0/token/list: may the principal use tokens there, and how much of the 600-PAT quota
// do this agent (`ours` PATs, room for `max_active`) and the principal's other holders use?
std::vector<Finding> judge_token_list(const std::string& workspace, int ours, int max_active,
                                      const HttpResponse& r);

}  // namespace dbx
