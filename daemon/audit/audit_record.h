// One audit record (SPEC.md "Audit"): who was handed which token, or refused, when, through which
// program. Never holds a token: a token id (PATs) or fingerprint (other tokens) names it.
// Formats: a JSON line (the file, /v1/audit) and journal fields (the native protocol).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"

namespace dbx {

enum class AuditOutcome { served, denied, failed };
const char* to_string(AuditOutcome outcome);

struct AuditRecord {
  TimePoint time;
  // The peer's credentials (socket); unset for loopback callers the secret does not identify.
  std::optional<std::uint32_t> uid;
  std::optional<std::uint32_t> gid;
  std::optional<std::int32_t> pid;
  std::string exe;          // "" = unknown (JSON null)
  std::string workspace;    // "" = none (JSON null)
  std::string kind;         // pat, aad, token, headers, sdk-env, azure-env, metadata_service, ...
  std::string endpoint;     // loopback: "127.0.0.1:PORT"; socket: ""
  std::string token_id;     // PATs
  std::string fingerprint;  // other tokens (common/log.h fingerprint())
  std::optional<std::int64_t> min_valid;  // seconds, the effective value
  AuditOutcome outcome = AuditOutcome::served;
  std::string reason;  // "" when served
  // A CI session's request (daemon/session/): "kind iss=… sub=… repository=…" — who the job is.
  std::string session;
};

// RFC 3339 UTC with milliseconds: 2026-12-01T21:04:05.123Z.
std::string rfc3339_utc(TimePoint t);

// The record as one JSON object followed by "\n".
std::string audit_json_line(const AuditRecord& r);
// The same, appended to `out` (AuditLog::record formats each record into its file buffer).
void append_audit_json_line(const AuditRecord& r, std::string& out);

// A one-line human summary (the journal's MESSAGE).
std::string audit_summary(const AuditRecord& r);

// The record in the journal's native datagram format: KEY=value lines, values with a newline in
// the binary form (KEY\n, 64-bit little-endian length, value, \n).
std::string journal_datagram(const AuditRecord& r, std::string_view identifier);

}  // namespace dbx
