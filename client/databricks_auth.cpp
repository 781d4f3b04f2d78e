#include "client/databricks_auth.h"

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <cstdio>
#include <ctime>

#include "client/databrickscfg.h"
#include "common/text.h"

namespace dbx::cli {

namespace {

namespace json = boost::json;

struct ServedToken {
  std::string token;
  std::int64_t expires_at = 0;
};

std::string quoted(std::string_view s) {
  return json::serialize(json::string(s));
}

// The /token answer, checked: a printable token (the SDK puts it in an Authorization header) for
// the host the SDK asked about (a token never goes to another host).
Expected<ServedToken> read_token_answer(const json::object& o, std::string_view want_host) {
  const auto* token = o.if_contains("token");
  const auto* expires = o.if_contains("expires_at");
  const auto* host = o.if_contains("host");
  if (!token || !token->is_string() || token->as_string().empty() || !expires ||
      !expires->is_int64() || !host || !host->is_string()) {
    return Failure{Exit::failure,
                   "dbxcredd's token answer lacks \"token\", \"expires_at\" or \"host\""};
  }
  for (char c : token->as_string()) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) {
      return Failure{Exit::failure, "dbxcredd's token answer has a token with whitespace in it"};
    }
  }
  if (normalize_host(host->as_string()) != normalize_host(want_host)) {
    return Failure{Exit::failure, "dbxcredd answered for host " + one_line(host->as_string()) +
                                      ", not " + one_line(want_host) + "; not handing it out"};
  }
  return ServedToken{std::string(token->as_string()), expires->as_int64()};
}

Expected<ServedToken> fetch_token(const DaemonApi& api, const std::string& workspace,
                                  std::string_view host, std::optional<std::int64_t> min_valid) {
  std::string target = "/v1/workspaces/" + encode_path_segment(workspace) + "/token";
  if (min_valid) target += "?min_valid=" + std::to_string(*min_valid);
  auto answer = api.get_object(target);
  if (!answer) return answer.error();
  return read_token_answer(*answer, host);
}

}  // namespace

std::string normalize_host(std::string_view host) {
  std::string h = lower(trim_blanks(host));
  if (h.find("://") == std::string::npos) h = "https://" + h;
  while (!h.empty() && h.back() == '/') h.pop_back();
  const std::size_t authority = h.find("://") + 3;
  const std::size_t path = h.find('/', authority);
  const std::size_t end = path == std::string::npos ? h.size() : path;
  const std::string_view default_port = h.rfind("https://", 0) == 0 ? ":443" : ":80";
  if (end - authority > default_port.size() &&
      std::string_view(h).substr(end - default_port.size(), default_port.size()) == default_port) {
    h.erase(end - default_port.size(), default_port.size());
  }
  return h;
}

Expected<std::string> workspace_for_host(const json::object& workspaces, std::string_view host,
                                         const std::optional<std::string>& preferred) {
  const std::string want = normalize_host(host);
  std::vector<std::string> matches;
  if (const auto* list = workspaces.if_contains("workspaces"); list && list->is_array()) {
    for (const auto& w : list->as_array()) {
      if (!w.is_object()) continue;
      const auto* name = w.as_object().if_contains("name");
      const auto* h = w.as_object().if_contains("host");
      if (!name || !name->is_string() || !h || !h->is_string()) continue;
      if (normalize_host(h->as_string()) == want) matches.emplace_back(name->as_string());
    }
  }
  if (matches.empty()) {
    return Failure{Exit::denied, "host " + one_line(host) +
                                     " names no workspace configured in dbxcredd that you may "
                                     "use (dbxcred workspaces lists yours)"};
  }
  if (matches.size() == 1) return matches.front();
  if (preferred) {
    for (const auto& m : matches) {
      if (m == *preferred) return m;
    }
  }
  std::string joined;
  for (const auto& m : matches) joined += (joined.empty() ? "" : ", ") + one_line(m);
  return Failure{Exit::usage, "host " + one_line(host) + " is that of several workspaces: " +
                                  joined + "; pick one with DBXCRED_WORKSPACE"};
}

std::string format_expiry(std::int64_t unix_s) {
  const std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm local{};
  ::localtime_r(&t, &local);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &local);
  // Three digits: the one fraction width of ECMAScript's date format, which the JS SDK's
  // `new Date(expiry)` parses; Go and Python take any width.
  std::string out = std::string(when) + ".000";
  const long offset = local.tm_gmtoff;
  if (offset == 0) return out + "Z";  // as Go prints a UTC time
  // Offsets are within a day (±14 h in practice).
  const int magnitude = static_cast<int>((offset < 0 ? -offset : offset) % 86400);
  char zone[16];
  std::snprintf(zone, sizeof zone, "%c%02d:%02d", offset < 0 ? '-' : '+', magnitude / 3600,
                (magnitude % 3600) / 60);
  return out + zone;
}

std::string format_token_answer(std::string_view token, std::int64_t expires_at) {
  return "{\n  \"access_token\": " + quoted(token) + ",\n  \"token_type\": \"Bearer\",\n" +
         "  \"expiry\": " + quoted(format_expiry(expires_at)) + "\n}\n";
}

std::string format_version(bool as_json) {
  const std::string v = std::to_string(kClaimedCliMajor) + "." + std::to_string(kClaimedCliMinor) +
                        "." + std::to_string(kClaimedCliPatch);
  if (!as_json) return "Databricks CLI v" + v + "\n";
  return "{\"ProjectName\":\"dbxcred databricks-auth\",\"Version\":\"" + v +
         "\",\"Major\":" + std::to_string(kClaimedCliMajor) +
         ",\"Minor\":" + std::to_string(kClaimedCliMinor) +
         ",\"Patch\":" + std::to_string(kClaimedCliPatch) + ",\"Prerelease\":\"\"}\n";
}

std::string format_auth_error(const Failure& failure, bool as_json) {
  const std::string message = one_line(failure.message);
  if (!as_json) return "databricks-auth: " + message + "\n";
  const char* code = failure.exit == Exit::usage ? "INVALID_PARAMETER_VALUE" : "UNAUTHENTICATED";
  return std::string("{\"error_code\":\"") + code + "\",\"message\":" + quoted(message) + "}\n";
}

Expected<AuthOutput> run_auth_token(const AuthInvocation& inv, const AuthEnvironment& env,
                                    const DaemonApi& api, HandedOutRecord& record, TimePoint now) {
  // --host wins; the profile is read only for its host (the SDKs pass --profile alone when the
  // user configured one).
  std::string host;
  if (inv.host) {
    host = *inv.host;
  } else {
    auto path = databrickscfg_path(env.config_file, env.home);
    if (!path) {
      return Failure{Exit::failure, "--profile " + one_line(*inv.profile) +
                                        ": no $HOME or $DATABRICKS_CONFIG_FILE to read it from"};
    }
    auto h = read_profile_host(*path, *inv.profile);
    if (!h) return h.error();
    host = std::move(*h);
  }

  auto workspaces = api.get_object("/v1/workspaces");
  if (!workspaces) return workspaces.error();
  auto workspace = workspace_for_host(*workspaces, host, env.workspace);
  if (!workspace) return workspace.error();

  auto served = fetch_token(api, *workspace, host, std::nullopt);
  if (!served) return served.error();
  AuthOutput out;
  if (inv.force_refresh) {
    // Newer than the last token handed out here: asking it to stay valid one second beyond that
    // token's expiry makes dbxcredd refresh or rotate (SPEC.md min_valid), and the answer can
    // only be another token. Where the daemon cannot (a PAT's max_lifetime, the per-uid budget of
    // forced rotations: rate_limited), the current token still has the daemon's default validity
    // left, so it is served with a warning rather than failing the SDK.
    const auto last = record.last(*workspace);
    const std::int64_t now_s = to_unix_seconds(now);
    if (last && served->expires_at <= *last) {
      auto forced = fetch_token(api, *workspace, host, *last - now_s + 1);
      if (forced && forced->expires_at > *last) {
        served = std::move(forced);
      } else {
        out.warning = "--force-refresh: dbxcredd gave no newer token (" +
                      (forced ? std::string("it answered the same one") : forced.error().message) +
                      "); the current one is valid " + std::to_string(served->expires_at - now_s) +
                      " s more";
      }
    }
  }
  record.remember(*workspace, served->expires_at);
  out.stdout_text = format_token_answer(served->token, served->expires_at);
  return out;
}

}  // namespace dbx::cli
