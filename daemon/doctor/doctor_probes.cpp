// The doctor's upstream probes and their judges; see doctor_probes.h.
#include "daemon/doctor/doctor_probes.h"

#include <boost/json.hpp>
#include <ctime>
#include <memory>

#include "daemon/doctor/error_hints.h"
#include "daemon/upstream/url.h"

namespace dbx {

namespace {

namespace json = boost::json;

// The error of a Databricks answer: error_code and message, or the status alone.
std::string databricks_error_text(const HttpResponse& r) {
  std::string out = "HTTP " + std::to_string(r.status);
  boost::system::error_code ec;
  const json::value v = json::parse(r.body, ec);
  if (ec || !v.is_object()) return out;
  const json::object& o = v.get_object();
  if (const auto* c = o.if_contains("error_code")) {
    if (c->is_string()) out += " " + std::string(c->get_string());
    if (c->is_int64()) out += " " + std::to_string(c->get_int64());
  }
  if (const auto* m = o.if_contains("message"); m && m->is_string())
    out += ": " + std::string(m->get_string().subview().substr(0, 300));
  return out;
}

std::string hint_fix(const std::string& error, std::string_view otherwise) {
  if (auto h = explain_upstream_error(error)) return std::string(h->fix);
  return std::string(otherwise);
}

struct Gather {
  std::vector<std::vector<Finding>> per_probe;
  std::size_t left = 0;
  std::function<void(std::vector<Finding>)> done;
};

}  // namespace

std::string route_to(std::string_view url, const std::optional<std::string>& https_proxy,
                     std::string_view no_proxy) {
  const auto target = parse_url(url);
  if (!target) return "";
  const bool have = https_proxy && !https_proxy->empty();
  if (!uses_proxy(*target, have, no_proxy)) return "directly";
  const auto proxy = parse_proxy_url(*https_proxy);
  if (!proxy) return "through the proxy of HTTPS_PROXY (which does not parse)";
  return "through the proxy " + proxy->authority();
}

std::optional<std::int64_t> parse_http_date(std::string_view t) {
  // "Tue, 08 Dec 2026 00:16:33 GMT": 29 characters, fixed positions.
  if (t.size() != 29 || t[3] != ',' || t[4] != ' ' || t[7] != ' ' || t[11] != ' ' || t[16] != ' ' ||
      t[19] != ':' || t[22] != ':' || t.substr(25) != " GMT")
    return std::nullopt;
  auto num = [&](std::size_t at, std::size_t n) -> int {
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (t[i] < '0' || t[i] > '9') return -1;
      v = v * 10 + (t[i] - '0');
    }
    return v;
  };
  static constexpr std::string_view kMonths = "JanFebMarAprMayJunJulAugSepOctNovDec";
  const auto m = kMonths.find(t.substr(8, 3));
  const int day = num(5, 2), year = num(12, 4), hour = num(17, 2), min = num(20, 2),
            sec = num(23, 2);
  if (m == std::string_view::npos || m % 3 != 0 || day < 1 || day > 31 || year < 1970 || hour < 0 ||
      hour > 23 || min < 0 || min > 59 || sec < 0 || sec > 60)
    return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = static_cast<int>(m / 3);
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  return static_cast<std::int64_t>(::timegm(&tm));
}

Finding clock_finding(const std::string& subject, std::int64_t date, TimePoint now) {
  const std::int64_t skew = to_unix_seconds(now) - date;  // > 0: our clock is ahead
  Finding f{"clock", subject, Verdict::ok, "", ""};
  const std::int64_t size = skew < 0 ? -skew : skew;
  if (size <= kMaxClockSkew.count()) {
    f.message =
        "this host's clock agrees with " + subject + " (within " + std::to_string(size) + " s)";
    return f;
  }
  f.verdict = Verdict::fail;
  f.message = "this host's clock is " + std::to_string(size) + " s " +
              (skew > 0 ? "ahead of " : "behind ") + subject +
              " (its Date header): token expiry and PAT rotation times are off by as much";
  f.fix = "synchronise the clock (timedatectl set-ntp true; chronyc tracking)";
  return f;
}

std::vector<Finding> judge_scim_me(const std::string& workspace, bool management_token,
                                   const HttpResponse& r) {
  Finding f{"standing", workspace, Verdict::ok, "", ""};
  if (r.status == 200) {
    std::string name;
    boost::system::error_code ec;
    const json::value v = json::parse(r.body, ec);
    if (!ec && v.is_object())
      if (const auto* u = v.get_object().if_contains("userName"); u && u->is_string())
        name = std::string(u->get_string().subview().substr(0, 200));
    f.message = "the service principal" + (name.empty() ? "" : " " + name) +
                " is a user of workspace " + workspace;
    return {f};
  }
  f.verdict = Verdict::fail;
  const std::string error = databricks_error_text(r);
  if (r.status == 401 || r.status == 403) {
    f.message = "workspace " + workspace + " does not accept the service principal (" + error +
                ")" + (management_token ? " even with the management headers" : "");
    f.fix = management_token
                ? "give the service principal the Contributor role on the workspace resource "
                  "(resource_id), or add it to the workspace"
                : "add the service principal to the workspace (admin settings, service "
                  "principals), or set management_token: true with resource_id";
    return {f};
  }
  f.message = "workspace " + workspace + " answered the identity check with " + error;
  f.fix = hint_fix(error, "retry; see the daemon's log if it persists");
  return {f};
}

std::vector<Finding> judge_token_list(const std::string& workspace, int ours, int max_active,
                                      const HttpResponse& r) {
  Finding f{"standing", workspace, Verdict::ok, "", ""};
  if (r.status != 200) {
    const std::string error = databricks_error_text(r);
    f.verdict = Verdict::fail;
    f.message = "the service principal may not use personal access tokens in workspace " +
                workspace + " (token/list: " + error + ")";
    f.fix = hint_fix(error,
                     "grant it the Can Use permission on tokens (workspace admin settings), or "
                     "set workspaces." +
                         workspace + ".pat: false");
    return {f};
  }
  int total = 0;
  boost::system::error_code ec;
  const json::value v = json::parse(r.body, ec);
  if (!ec && v.is_object())
    if (const auto* infos = v.get_object().if_contains("token_infos"); infos && infos->is_array())
      total = static_cast<int>(infos->get_array().size());
  const int others = total > ours ? total - ours : 0;
  f.check = "quota";
  f.message = "the principal holds " + std::to_string(total) + " of " +
              std::to_string(kDatabricksPatQuota) + " PATs in workspace " + workspace + " (" +
              std::to_string(ours) + " by this agent, " + std::to_string(others) + " by others)";
  const int room = max_active > ours ? max_active - ours : 0;
  if (total + room > kDatabricksPatQuota) {
    f.verdict = Verdict::fail;
    f.message += ": no room for this agent's pat.max_active " + std::to_string(max_active);
    f.fix =
        "delete the PATs of retired agents (dbxcred pat reap --agent ID), or lower "
        "pat.max_active on the agents sharing this principal";
  }
  return {f};
}

void run_probes(Runtime& runtime, Transport& transport, std::vector<Probe> probes,
                std::function<void(std::vector<Finding>)> done) {
  if (probes.empty()) return done({});
  auto g = std::make_shared<Gather>();
  g->per_probe.resize(probes.size());
  g->left = probes.size();
  g->done = std::move(done);
  for (std::size_t i = 0; i < probes.size(); ++i) {
    Probe& p = probes[i];
    p.request.timeout = kProbeTimeout;
    const SteadyTime start = runtime.steady_now();
    transport.send(
        std::move(p.request), [&runtime, g, i, start, subject = p.subject, quiet = p.quiet_reach,
                               route = p.route.empty() ? "" : " " + p.route,
                               judge = std::move(p.judge)](Result<HttpResponse> r) {
          const auto ms = std::chrono::duration_cast<Millis>(runtime.steady_now() - start).count();
          std::vector<Finding>& out = g->per_probe[i];
          const std::string took = route + (r ? " in " : " after ") + std::to_string(ms) + " ms";
          if (!r) {
            std::string what = "cannot reach " + subject;
            what += took;
            what += ": ";
            what += r.error().message;
            out.push_back(Finding{"reach", subject, Verdict::fail, std::move(what),
                                  "check DNS, the firewall, HTTPS_PROXY/NO_PROXY in the "
                                  "daemon's environment and tls.ca_file"});
          } else {
            if (!quiet) {
              std::string what = subject + " answered";
              what += took;
              out.push_back(Finding{"reach", subject, Verdict::ok, std::move(what), ""});
              if (auto date = r->header("Date"))
                if (auto t = parse_http_date(*date))
                  out.push_back(clock_finding(subject, *t, runtime.now()));
            }
            if (judge)
              for (Finding& f : judge(*r)) out.push_back(std::move(f));
          }
          if (--g->left > 0) return;
          std::vector<Finding> all;
          for (auto& v : g->per_probe)
            for (auto& f : v) all.push_back(std::move(f));
          g->done(std::move(all));
        });
  }
}

}  // namespace dbx
