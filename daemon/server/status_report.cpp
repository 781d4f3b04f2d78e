// GET /v1/status (JSON) and GET /metrics (Prometheus text): what the daemon holds, never a secret.
#include <boost/json.hpp>
#include <cstdio>

#include "common/entra_reach.h"
#include "daemon/server/router.h"
#include "daemon/upstream/metered_transport.h"

namespace dbx {

namespace json = boost::json;

namespace {

json::value time_or_null(const std::optional<TimePoint>& t) {
  if (!t) return nullptr;
  return to_unix_seconds(*t);
}

// Prometheus label values escape backslash, double quote and newline.
std::string label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

json::object pat_json(const std::optional<PatStatus>& p) {
  if (!p) return json::object{{"enabled", false}};
  return json::object{
      {"enabled", true},
      {"ledger_ok", p->ledger_ok},
      {"current_token_id", p->current_token_id ? json::value(*p->current_token_id) : nullptr},
      {"expires_at", time_or_null(p->current_expires_at)},
      {"active", p->active},
      {"max_active", p->max_active},
      {"next_rotation", time_or_null(p->next_rotation)},
      {"last_error", p->last_error ? json::value(*p->last_error) : nullptr},
      {"mint_in_flight", p->mint_in_flight},
      {"last_reconcile_at", time_or_null(p->last_reconcile)},
      {"mints", p->mints},
      {"mint_failures", p->mint_failures},
      {"deletions", p->deletions},
      {"revocations", p->revocations},
      {"last_revocation", p->last_revocation ? json::value(*p->last_revocation) : nullptr},
      {"rate_limited", p->rate_limited},
      {"ledger_note", p->ledger_note ? json::value(*p->ledger_note) : nullptr}};
}

// A Prometheus float: shortest round-trip form ("0.005", "15", "0.1234").
std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

void family(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void upstream_text(std::string& out, const UpstreamMetrics& m) {
  family(out, "dbxcred_upstream_calls_total", "counter",
         "Upstream HTTP calls by upstream and status (error: no answer).");
  for (const auto& [key, n] : m.calls)
    out += "dbxcred_upstream_calls_total{upstream=\"" + label(key.first) + "\",status=\"" +
           label(key.second) + "\"} " + std::to_string(n) + "\n";
  family(out, "dbxcred_upstream_latency_seconds", "histogram",
         "Upstream HTTP call latency, answered or not.");
  for (const auto& [upstream, l] : m.latency) {
    const std::string u = "upstream=\"" + label(upstream) + "\"";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < UpstreamMetrics::kLatencyBuckets.size(); ++i) {
      cumulative += l.in_bucket[i];
      out += "dbxcred_upstream_latency_seconds_bucket{" + u + ",le=\"" +
             number(UpstreamMetrics::kLatencyBuckets[i]) + "\"} " + std::to_string(cumulative) +
             "\n";
    }
    out += "dbxcred_upstream_latency_seconds_bucket{" + u + ",le=\"+Inf\"} " +
           std::to_string(l.count) + "\n";
    out += "dbxcred_upstream_latency_seconds_sum{" + u + "} " + number(l.sum_seconds) + "\n";
    out += "dbxcred_upstream_latency_seconds_count{" + u + "} " + std::to_string(l.count) + "\n";
  }
  family(out, "dbxcred_pat_quota_errors_total", "counter",
         "PAT mints refused by Databricks for quota (QUOTA_EXCEEDED), by workspace host.");
  for (const auto& [host, n] : m.quota_errors)
    out +=
        "dbxcred_pat_quota_errors_total{host=\"" + label(host) + "\"} " + std::to_string(n) + "\n";
}

}  // namespace

std::string Router::status_json(const Broker& broker) const {
  const TimePoint now = runtime_.now();
  json::array credentials;
  std::map<std::string, json::object> by_name;
  broker.for_each_cache(
      [&](const std::string& name, const std::string& type, const TokenCache& cache) {
        auto& c = by_name[name];
        if (c.empty()) {
          c["name"] = name;
          c["type"] = type;
          c["tokens"] = json::array();
        }
        const TokenCacheStatus s = cache.status();
        c["tokens"].as_array().push_back(json::object{
            {"resource", s.resource},
            {"expires_at", time_or_null(s.expires_at)},
            {"next_refresh", time_or_null(s.next_refresh)},
            {"last_error", s.last_error ? json::value(*s.last_error) : json::value(nullptr)},
            {"in_flight", s.in_flight},
            {"consecutive_failures", s.consecutive_failures}});
      });
  for (const auto& [name, cred] : broker.config().credentials) {
    if (!by_name.count(name))
      by_name[name] = json::object{{"name", name}, {"type", "unused"}, {"tokens", json::array()}};
  }
  for (auto& [name, obj] : by_name) credentials.push_back(std::move(obj));

  json::array workspaces;
  for (const auto& [name, cfg] : broker.config().workspaces) {
    const Workspace* ws = broker.workspace(name);
    const auto cred = broker.config().credentials.find(cfg.credential);
    json::array serves;
    for (const std::string& kind : served_token_kinds(
             ws->config(), cred == broker.config().credentials.end() ? nullptr : &cred->second))
      serves.emplace_back(kind);
    workspaces.push_back(json::object{{"name", name},
                                      {"host", ws->host()},
                                      {"credential", cfg.credential},
                                      {"serves", std::move(serves)},
                                      {"pat", pat_json(ws->pat_status())}});
  }
  json::object root{
      {"version", DBXCRED_VERSION},
      {"uptime_seconds", std::chrono::duration_cast<Seconds>(now - started_at_).count()},
      {"instance", broker.config().instance},
      {"credentials", std::move(credentials)},
      {"workspaces", std::move(workspaces)}};
  return json::serialize(root) + "\n";
}

std::string Router::metrics_text(const Broker& broker) const {
  const TimePoint now = runtime_.now();
  std::string out;
  out +=
      "# HELP dbxcred_requests_total Requests by endpoint and status (socket API and the "
      "loopback metadata_service and managed_identity endpoints).\n";
  out += "# TYPE dbxcred_requests_total counter\n";
  auto requests = counters_.by_endpoint_status;
  if (loopback_requests_ != nullptr)
    for (const auto& [key, n] : loopback_requests_->by_endpoint_status) requests[key] += n;
  for (const auto& [key, n] : requests) {
    out += "dbxcred_requests_total{endpoint=\"" + label(key.first) + "\",status=\"" +
           std::to_string(key.second) + "\"} " + std::to_string(n) + "\n";
  }
  struct Family {
    const char* name;
    const char* type;
    const char* help;
  };
  const Family families[] = {
      {"dbxcred_token_cache_hits_total", "counter", "Token requests served from the cache."},
      {"dbxcred_token_cache_waits_total", "counter", "Token requests that waited for an upstream."},
      {"dbxcred_token_fetches_total", "counter", "Upstream token calls made."},
      {"dbxcred_token_fetch_failures_total", "counter",
       "Upstream token calls (refreshes included) that failed."},
      {"dbxcred_token_expiry_seconds", "gauge", "Seconds until the cached token expires."},
  };
  for (const auto& f : families) {
    out +=
        std::string("# HELP ") + f.name + " " + f.help + "\n# TYPE " + f.name + " " + f.type + "\n";
    broker.for_each_cache([&](const std::string& name, const std::string&, const TokenCache& c) {
      const TokenCacheStatus s = c.status();
      std::string value;
      const std::string_view n = f.name;
      if (n == "dbxcred_token_cache_hits_total") value = std::to_string(s.hits);
      if (n == "dbxcred_token_cache_waits_total") value = std::to_string(s.waits);
      if (n == "dbxcred_token_fetches_total") value = std::to_string(s.fetches);
      if (n == "dbxcred_token_fetch_failures_total") value = std::to_string(s.fetch_failures);
      if (n == "dbxcred_token_expiry_seconds") {
        if (!s.expires_at) return;
        value = std::to_string(std::chrono::duration_cast<Seconds>(*s.expires_at - now).count());
      }
      out += std::string(f.name) + "{credential=\"" + label(name) + "\",resource=\"" +
             label(s.resource) + "\"} " + value + "\n";
    });
  }
  const struct {
    const char* name;
    const char* type;
    const char* help;
  } pat_families[] = {
      {"dbxcred_pat_active", "gauge", "Our unexpired PATs in the workspace."},
      {"dbxcred_pat_expiry_seconds", "gauge", "Seconds until the served PAT expires."},
      {"dbxcred_pat_mints_total", "counter", "PATs minted."},
      {"dbxcred_pat_mint_failures_total", "counter", "PAT mints that failed (quota included)."},
      {"dbxcred_pat_deletions_total", "counter", "PATs deleted from the workspace."},
      {"dbxcred_pat_revocations_total", "counter",
       "Current PATs found revoked at the workspace (then replaced)."},
      {"dbxcred_pat_rate_limited_total", "counter",
       "PAT requests refused for forcing too many early rotations."},
  };
  for (const auto& f : pat_families) {
    out +=
        std::string("# HELP ") + f.name + " " + f.help + "\n# TYPE " + f.name + " " + f.type + "\n";
    for (const auto& [name, ws] : broker.config().workspaces) {
      auto p = broker.workspace(name)->pat_status();
      if (!p) continue;
      const std::string_view n = f.name;
      std::string value;
      if (n == "dbxcred_pat_active") value = std::to_string(p->active);
      if (n == "dbxcred_pat_mints_total") value = std::to_string(p->mints);
      if (n == "dbxcred_pat_mint_failures_total") value = std::to_string(p->mint_failures);
      if (n == "dbxcred_pat_deletions_total") value = std::to_string(p->deletions);
      if (n == "dbxcred_pat_revocations_total") value = std::to_string(p->revocations);
      if (n == "dbxcred_pat_rate_limited_total") value = std::to_string(p->rate_limited);
      if (n == "dbxcred_pat_expiry_seconds") {
        if (!p->current_expires_at) continue;
        value = std::to_string(
            std::chrono::duration_cast<Seconds>(*p->current_expires_at - now).count());
      }
      out += std::string(f.name) + "{workspace=\"" + label(name) + "\"} " + value + "\n";
    }
  }
  if (upstream_metrics_ != nullptr) upstream_text(out, *upstream_metrics_);
  return out;
}

}  // namespace dbx
