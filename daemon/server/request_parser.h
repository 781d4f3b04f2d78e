// parse_request(): the HTTP/1.1 request parser of the daemon's listeners. Pure (no sockets,
// no allocation): it reads the bytes received so far and says "incomplete", "here is a request of
// N bytes" or "answer this error and close". Strict where leniency is a smuggling or confusion risk
// (CRLF only, no obsolete line folding, one Content-Length, no Transfer-Encoding); every view in
// the result points into the input. Unit-tested and fuzzed on its own.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include "common/text.h"

namespace dbx {

struct RequestSender;

struct InboundRequest {
  std::string_view method;
  std::string_view target;        // path and query, as sent
  std::string_view header_block;  // the header lines, each ending in CRLF (validated)
  std::string_view body;
  bool keep_alive = true;  // HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with keep-alive
  // Set by the Unix socket's listener: the process that sent every byte of this request
  // (request_sender.h); null on the loopback TCP ports and from the parser.
  const RequestSender* sender = nullptr;

  // The first header of that name (case-insensitive), its value without surrounding blanks.
  std::optional<std::string_view> header(std::string_view name) const;
  // Calls f(name, value) for every header line, in order.
  template <class F>
  void for_each_header(F&& f) const {
    std::string_view rest = header_block;
    while (!rest.empty()) {
      const auto eol = rest.find("\r\n");
      const std::string_view line = rest.substr(0, eol);
      rest.remove_prefix(eol + 2);
      const auto colon = line.find(':');
      f(line.substr(0, colon), trim_blanks(line.substr(colon + 1)));
    }
  }
};

struct RequestLimits {
  std::size_t max_header_bytes = 8 * 1024;  // request line and headers, CRLFs included
  std::size_t max_body_bytes = 16 * 1024;
};

struct RequestParse {
  enum class Kind { incomplete, complete, error };
  Kind kind = Kind::incomplete;
  InboundRequest request;    // complete
  std::size_t size = 0;      // complete: bytes the request takes (headers and body)
  int status = 0;            // error: 400, 413, 431, 501
  std::string_view message;  // error: one line for the client, e.g. "malformed HTTP request"
};

// Parses the request at the start of `data`. Errors are reported as soon as the bytes so far
// cannot become a valid request (a client sending garbage gets its 400 without a wait).
RequestParse parse_request(std::string_view data, const RequestLimits& limits);

}  // namespace dbx
