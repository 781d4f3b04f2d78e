// Databricks REST error answers (PROTOCOLS.md "Databricks REST") turned into Errors that say what
// failed, with the upstream's own code and message, and never a token. Shared by every Databricks
// call (token API, clusters probe, …).
//   {"error_code":"QUOTA_EXCEEDED","message":"…"}   string code
//   {"error_code":403,"message":"Invalid access token."}   integer code
//   <html>…502 Bad Gateway…</html>   older gateways: no JSON at all
//   429 + Retry-After: <seconds>   rate limit
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"
#include "daemon/upstream/transport.h"

namespace dbx::databricks {

// The largest answer we parse. token/list of a full quota (600 tokens × ~200 bytes) is ~120 KiB;
// anything near this is not a Databricks answer.
inline constexpr std::size_t kMaxBodyBytes = 4 * 1024 * 1024;

// An upstream message is cut to this many characters: enough for any Databricks message, short
// enough for one log line and one CLI error line.
inline constexpr std::size_t kMaxMessageChars = 300;

struct ErrorBody {
  std::string error_code;  // "QUOTA_EXCEEDED", or "403" when sent as an integer; may be empty
  std::string message;     // first line, secrets redacted, at most kMaxMessageChars
};

// nullopt when the body is not a JSON object with error_code or message.
std::optional<ErrorBody> parse_error_body(std::string_view body);

// The Retry-After of a 429/503 in seconds (integer form only; an HTTP date is ignored).
std::optional<Seconds> parse_retry_after(const HttpResponse& r);

// True when the answer is an error with this error_code (e.g. RESOURCE_DOES_NOT_EXIST).
bool has_error_code(const HttpResponse& r, std::string_view code);

// A non-2xx answer of `call` (e.g. "token/create") at `host` as an Error:
//   "Databricks token/create at https://adb-….net failed: HTTP 400 QUOTA_EXCEEDED: <message>"
//   "Databricks token/list at https://adb-….net failed: HTTP 502 from https://adb-….net
//    (non-JSON body)"
// QUOTA_EXCEEDED → quota_exhausted; everything else → upstream_unavailable. upstream_status and
// retry_after are set from the answer.
Error error_from_response(std::string_view host, std::string_view call, const HttpResponse& r);

// No answer at all (connect, TLS, timeout): the transport's message with the call in front.
Error error_from_transport(std::string_view call, const Error& e);

// A 2xx answer we cannot use (malformed or oversize JSON); `why` says what was wrong.
Error malformed_answer(std::string_view host, std::string_view call, int status,
                       std::string_view why);

// Replaces anything shaped like a credential (dapi…, eyJ… JWTs, long opaque strings) with
// "<redacted>", so upstream text can go into messages.
std::string redact_secrets(std::string_view text);

}  // namespace dbx::databricks
