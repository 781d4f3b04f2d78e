// Parsing an HTTP/1.1 response from bytes, with no I/O (the socket client feeds it), so every
// framing case — Content-Length, chunked, read-to-close, malformed — is tested without a socket.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dbx::cli {

// The daemon's answers are small JSON documents; anything bigger is a bug or not our daemon.
inline constexpr std::size_t kMaxBodyBytes = 1024 * 1024;
inline constexpr std::size_t kMaxHeaderBytes = 64 * 1024;

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // in order received
  std::string body;

  // The first header with this name (case-insensitive), if any.
  std::optional<std::string_view> header(std::string_view name) const;
};

struct ParseResult {
  enum class State { incomplete, complete, malformed };
  State state = State::incomplete;
  HttpResponse response;  // set when complete
  std::string error;      // set when malformed: what was wrong, never the body's content
};

// Parses `raw`, everything received so far. `eof` says the peer closed the connection: a body
// without Content-Length or chunked framing ends there, and anything still incomplete is malformed.
ParseResult parse_http_response(std::string_view raw, bool eof);

}  // namespace dbx::cli
