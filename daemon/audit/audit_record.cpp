#include "daemon/audit/audit_record.h"

#include <time.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>

namespace dbx {

const char* to_string(AuditOutcome outcome) {
  switch (outcome) {
    case AuditOutcome::served:
      return "served";
    case AuditOutcome::denied:
      return "denied";
    case AuditOutcome::failed:
      return "failed";
  }
  return "failed";
}

namespace {

// Appends `t` as RFC 3339. The date and time of day are formatted once per second (under load,
// thousands of records share a second), the milliseconds every time.
void append_rfc3339_utc(TimePoint t, std::string& out) {
  const auto ms = std::chrono::duration_cast<Millis>(t.time_since_epoch()).count();
  const time_t secs = static_cast<time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  const int frac = static_cast<int>(ms - static_cast<std::int64_t>(secs) * 1000);
  thread_local time_t cached_secs = -1;
  thread_local char prefix[64];
  thread_local int prefix_len = 0;
  if (secs != cached_secs || prefix_len <= 0) {
    struct tm tm {};
    ::gmtime_r(&secs, &tm);
    prefix_len =
        std::snprintf(prefix, sizeof prefix, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                      tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    cached_secs = secs;
  }
  out.append(prefix, static_cast<std::size_t>(std::max(prefix_len, 0)));
  out += '.';
  out += static_cast<char>('0' + frac / 100);
  out += static_cast<char>('0' + frac / 10 % 10);
  out += static_cast<char>('0' + frac % 10);
  out += 'Z';
}

}  // namespace

std::string rfc3339_utc(TimePoint t) {
  std::string out;
  append_rfc3339_utc(t, out);
  return out;
}

namespace {

void field(std::string& out, std::string_view key, std::string_view value) {
  if (value.find('\n') == std::string_view::npos) {
    out.append(key).append("=").append(value).append("\n");
    return;
  }
  out.append(key).append("\n");
  std::uint64_t n = value.size();
  for (int i = 0; i < 8; ++i) out += static_cast<char>((n >> (8 * i)) & 0xff);
  out.append(value).append("\n");
}

}  // namespace

// Written by hand, not through boost::json: every record of the cached-PAT path is formatted
// (tens of thousands a second under load), and this makes no allocation beyond the line's own.
std::string audit_json_line(const AuditRecord& r) {
  std::string out;
  out.reserve(320);
  append_audit_json_line(r, out);
  return out;
}

namespace {

// The bytes a JSON string holds as they are: not a control character, DEL, '"' or '\\'.
constexpr std::array<bool, 256> kPlainJson = [] {
  std::array<bool, 256> plain{};
  for (int c = 0x20; c < 256; ++c) plain[c] = c != 0x7f && c != '"' && c != '\\';
  return plain;
}();

}  // namespace

void append_audit_json_line(const AuditRecord& r, std::string& out) {
  using namespace std::string_view_literals;
  // Each key comes with its punctuation as one literal (one append, its length known at compile
  // time): the cached-PAT path formats a record per request.
  const auto text = [&out](std::string_view key, std::string_view value, bool null_if_empty) {
    out.append(key);
    if (value.empty() && null_if_empty) {
      out.append("null"sv);
      return;
    }
    out += '"';
    // Runs of plain characters are appended at once; only the others are escaped one by one.
    std::size_t plain = 0;
    for (std::size_t i = 0; i < value.size(); ++i) {
      const auto u = static_cast<unsigned char>(value[i]);
      if (kPlainJson[u]) continue;
      out.append(value.data() + plain, i - plain);
      plain = i + 1;
      if (u == '"' || u == '\\') {
        out += '\\';
        out += value[i];
      } else {
        static constexpr char kHex[] = "0123456789abcdef";
        out.append("\\u00"sv);
        out += kHex[u >> 4];
        out += kHex[u & 15];
      }
    }
    out.append(value.data() + plain, value.size() - plain);
    out += '"';
  };
  const auto number = [&out](std::string_view key, auto value) {
    out.append(key);
    if (value) {
      char buf[24];
      const auto end = std::to_chars(buf, buf + sizeof buf, *value).ptr;
      out.append(buf, end);
    } else {
      out.append("null"sv);
    }
  };
  out.append("{\"time\":\""sv);
  append_rfc3339_utc(r.time, out);
  out += '"';
  number(",\"uid\":"sv, r.uid);
  number(",\"gid\":"sv, r.gid);
  number(",\"pid\":"sv, r.pid);
  text(",\"exe\":"sv, r.exe, true);
  text(",\"workspace\":"sv, r.workspace, true);
  text(",\"kind\":"sv, r.kind, false);
  if (!r.endpoint.empty()) text(",\"endpoint\":"sv, r.endpoint, false);
  text(",\"token_id\":"sv, r.token_id, true);
  text(",\"fingerprint\":"sv, r.fingerprint, true);
  number(",\"min_valid\":"sv, r.min_valid);
  text(",\"outcome\":"sv, to_string(r.outcome), false);
  text(",\"reason\":"sv, r.reason, true);
  if (!r.session.empty()) text(",\"session\":"sv, r.session, false);
  out.append("}\n"sv);
}

std::string audit_summary(const AuditRecord& r) {
  std::string who = r.uid ? "uid " + std::to_string(*r.uid) : std::string("an unidentified caller");
  if (r.pid) who += " pid " + std::to_string(*r.pid);
  if (!r.exe.empty()) who += " (" + r.exe + ")";
  std::string what = r.kind;
  if (!r.workspace.empty()) what += " of workspace " + r.workspace;
  if (!r.endpoint.empty()) what += " via " + r.endpoint;
  std::string line = "audit: " + std::string(to_string(r.outcome)) + " " + what + " to " + who;
  if (!r.token_id.empty()) line += ", token_id " + r.token_id;
  if (!r.fingerprint.empty()) line += ", fingerprint " + r.fingerprint;
  if (!r.session.empty()) line += ", session " + r.session;
  if (!r.reason.empty()) line += ": " + r.reason;
  return line;
}

std::string journal_datagram(const AuditRecord& r, std::string_view identifier) {
  std::string out;
  field(out, "MESSAGE", audit_summary(r));
  field(out, "PRIORITY", r.outcome == AuditOutcome::served ? "6" : "5");
  field(out, "SYSLOG_IDENTIFIER", identifier);
  field(out, "DBXCRED_AUDIT", "1");
  field(out, "DBXCRED_TIME", rfc3339_utc(r.time));
  if (r.uid) field(out, "DBXCRED_UID", std::to_string(*r.uid));
  if (r.gid) field(out, "DBXCRED_GID", std::to_string(*r.gid));
  if (r.pid) field(out, "DBXCRED_PID", std::to_string(*r.pid));
  if (!r.exe.empty()) field(out, "DBXCRED_EXE", r.exe);
  if (!r.workspace.empty()) field(out, "DBXCRED_WORKSPACE", r.workspace);
  field(out, "DBXCRED_KIND", r.kind);
  if (!r.endpoint.empty()) field(out, "DBXCRED_ENDPOINT", r.endpoint);
  if (!r.token_id.empty()) field(out, "DBXCRED_TOKEN_ID", r.token_id);
  if (!r.fingerprint.empty()) field(out, "DBXCRED_FINGERPRINT", r.fingerprint);
  if (r.min_valid) field(out, "DBXCRED_MIN_VALID", std::to_string(*r.min_valid));
  field(out, "DBXCRED_OUTCOME", to_string(r.outcome));
  if (!r.reason.empty()) field(out, "DBXCRED_REASON", r.reason);
  if (!r.session.empty()) field(out, "DBXCRED_SESSION", r.session);
  return out;
}

}  // namespace dbx
