// Logging setup (spdlog to stderr, text or JSON lines) and redaction helpers.
// Rule: never log a token, secret, assertion or PAT. Log fingerprint(secret) or a token id instead.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace spdlog {
class formatter;
}

namespace dbx {

// Configures the default spdlog logger: stderr, `level` (trace|debug|info|warn|error),
// `format` text (default) or json (one object per line: time, level, component, message).
void setup_logging(std::string_view level, std::string_view format);

// The formatter behind `format: json`: {"time","level","component","message"} on one line, the
// message escaped for JSON (control characters as \uXXXX, invalid UTF-8 as U+FFFD), so a log
// shipper can parse every line whatever a message holds.
std::unique_ptr<spdlog::formatter> make_json_log_formatter();

// `text` as the inside of a JSON string (no surrounding quotes).
std::string json_escape(std::string_view text);

// A short, non-reversible identifier of a secret for logs and status: "sha256:1a2b3c4d".
std::string fingerprint(std::string_view secret);

}  // namespace dbx
