#include "daemon/credentials/az_cli_output.h"

#include <boost/json.hpp>
#include <charconv>
#include <cstdio>
#include <ctime>

#include "daemon/credentials/entra_token.h"

namespace dbx {

namespace json = boost::json;

std::optional<TimePoint> local_time_to_instant(int year, int month, int day, int hour, int minute,
                                               int second) {
  std::optional<std::time_t> best;
  for (int isdst : {0, 1}) {
    std::tm tm{};
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    tm.tm_isdst = isdst;
    const std::time_t t = std::mktime(&tm);
    if (t == static_cast<std::time_t>(-1)) continue;
    // mktime normalises a time that does not exist in this reading; keep only exact round trips.
    std::tm back{};
    localtime_r(&t, &back);
    if (back.tm_year != year - 1900 || back.tm_mon != month - 1 || back.tm_mday != day ||
        back.tm_hour != hour || back.tm_min != minute || back.tm_sec != second)
      continue;
    if (!best || t < *best) best = t;
  }
  if (!best) return std::nullopt;
  return from_unix_seconds(static_cast<std::int64_t>(*best));  // clamped: year 9999 is valid here
}

namespace {

std::optional<TimePoint> parse_naive_local(std::string_view s) {
  // "YYYY-MM-DD HH:MM:SS[.ffffff]"
  int y, mo, d, h, mi, sec;
  char tail = 0;
  const std::string str(s.substr(0, 64));
  int n = std::sscanf(str.c_str(), "%4d-%2d-%2d %2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &sec, &tail);
  if (n < 6 || (n == 7 && tail != '.')) return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  return local_time_to_instant(y, mo, d, h, mi, sec);
}

}  // namespace

Result<AccessToken> parse_az_token_output(std::string_view stdout_text, TimePoint now) {
  boost::system::error_code ec;
  json::value v = json::parse(stdout_text, ec);
  if (ec || !v.is_object())
    return make_error(ErrorCode::upstream_unavailable, "az printed something that is not JSON");
  const auto& o = v.as_object();
  const json::value* tok = o.if_contains("accessToken");
  if (tok == nullptr || !tok->is_string() || tok->as_string().empty())
    return make_error(ErrorCode::upstream_unavailable, "az output has no accessToken");
  AccessToken t;
  t.value = std::string(tok->as_string());

  std::optional<TimePoint> expires;
  if (const json::value* on = o.if_contains("expires_on"); on != nullptr && !on->is_null()) {
    std::int64_t secs = 0;
    if (on->is_int64()) {
      secs = on->as_int64();
    } else if (on->is_string()) {
      const auto& s = on->as_string();
      auto [p, e] = std::from_chars(s.data(), s.data() + s.size(), secs);
      if (e != std::errc() || p != s.data() + s.size()) secs = 0;
    }
    if (secs <= 0)
      return make_error(ErrorCode::upstream_unavailable, "az output has an unreadable expires_on");
    expires = from_unix_seconds(secs);
  } else if (const json::value* local = o.if_contains("expiresOn");
             local != nullptr && local->is_string() && local->as_string() != "N/A") {
    expires = parse_naive_local(local->as_string());
    if (!expires)
      return make_error(ErrorCode::upstream_unavailable,
                        "az output has an unreadable expiresOn \"" +
                            std::string(local->as_string().subview(0, 40)) + "\"");
    *expires -= kAzExpirySlack;
  } else {
    return make_error(ErrorCode::upstream_unavailable,
                      "az output has neither expires_on nor a usable expiresOn");
  }
  if (*expires <= now || *expires - now > kMaxTokenLifetime)
    return make_error(ErrorCode::upstream_unavailable,
                      "az output has an expiry in the past or more than a day ahead");
  t.expires_at = *expires;
  return t;
}

Error az_failure(int exit_status, std::string_view stderr_text, std::string_view credential) {
  const std::string prefix = "Azure CLI (credential " + std::string(credential) + ")";
  if (stderr_text.find("az login") != std::string_view::npos)
    return make_error(ErrorCode::upstream_unavailable,
                      prefix +
                          " is not logged in: run `az login` as the daemon's user (or use a "
                          "service principal credential)");
  // The last line starting with ERROR: is az's own summary.
  std::string_view last;
  std::size_t pos = 0;
  while (pos < stderr_text.size()) {
    auto end = stderr_text.find('\n', pos);
    std::string_view line = stderr_text.substr(pos, end - pos);
    if (line.rfind("ERROR:", 0) == 0) last = line;
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  std::string detail = last.empty() ? "no error message" : std::string(last.substr(0, 300));
  return make_error(
      ErrorCode::upstream_unavailable,
      prefix + " failed with exit status " + std::to_string(exit_status) + ": " + detail);
}

}  // namespace dbx
