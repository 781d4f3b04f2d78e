// Logging setup (spdlog to stderr, text or JSON lines) and redaction helpers.
// Rule: never log a token, secret, assertion or PAT. Log fingerprint(secret) or a token id instead.
#pragma once

#include <string>
#include <string_view>

namespace dbx {

// Configures the default spdlog logger: stderr, `level` (trace|debug|info|warn|error),
// `format` text (default) or json (one object per line: time, level, component, message).
void setup_logging(std::string_view level, std::string_view format);

// A short, non-reversible identifier of a secret for logs and status: "sha256:1a2b3c4d".
std::string fingerprint(std::string_view secret);

}  // namespace dbx
