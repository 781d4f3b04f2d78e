#include "client/http_response.h"

#include <cctype>
#include <cstdint>

#include "common/text.h"

namespace dbx::cli {

namespace {

using State = ParseResult::State;

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

ParseResult malformed(std::string error) {
  ParseResult r;
  r.state = State::malformed;
  r.error = std::move(error);
  return r;
}

ParseResult incomplete_or_truncated(bool eof) {
  if (eof) return malformed("the connection closed before the answer was complete");
  return ParseResult{};
}

// "HTTP/1.1 200 OK" -> 200.
std::optional<int> parse_status_line(std::string_view line) {
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." ||
      !std::isdigit(static_cast<unsigned char>(line[7])) || line[8] != ' ')
    return std::nullopt;
  int status = 0;
  for (std::size_t i = 9; i < 12; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(line[i]))) return std::nullopt;
    status = status * 10 + (line[i] - '0');
  }
  if (line.size() > 12 && line[12] != ' ') return std::nullopt;
  if (status < 100) return std::nullopt;
  return status;
}

std::optional<std::size_t> parse_decimal(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  std::size_t n = 0;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    n = n * 10 + static_cast<std::size_t>(c - '0');
  }
  return n;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes a chunked body starting at `raw`. Chunk extensions and trailers are read and dropped.
ParseResult parse_chunked(std::string_view raw, bool eof, HttpResponse response) {
  std::size_t pos = 0;
  std::string body;
  for (;;) {
    std::size_t eol = raw.find("\r\n", pos);
    if (eol == std::string_view::npos) {
      if (raw.size() - pos > 1024) return malformed("a chunk size line is too long");
      return incomplete_or_truncated(eof);
    }
    std::string_view size_line = raw.substr(pos, eol - pos);
    size_line = trim_blanks(size_line.substr(0, size_line.find(';')));
    if (size_line.empty() || size_line.size() > 8) return malformed("a bad chunk size");
    std::size_t size = 0;
    for (char c : size_line) {
      int d = hex_digit(c);
      if (d < 0) return malformed("a bad chunk size");
      size = size * 16 + static_cast<std::size_t>(d);
    }
    pos = eol + 2;
    if (size == 0) {
      // Trailer fields, then an empty line.
      for (;;) {
        std::size_t end = raw.find("\r\n", pos);
        if (end == std::string_view::npos) {
          if (raw.size() - pos > kMaxHeaderBytes) return malformed("the trailers are too long");
          return incomplete_or_truncated(eof);
        }
        bool empty = end == pos;
        pos = end + 2;
        if (empty) break;
      }
      response.body = std::move(body);
      ParseResult r;
      r.state = State::complete;
      r.response = std::move(response);
      return r;
    }
    if (body.size() + size > kMaxBodyBytes) return malformed("the answer is larger than 1 MiB");
    if (raw.size() - pos < size + 2) return incomplete_or_truncated(eof);
    body.append(raw.substr(pos, size));
    pos += size;
    if (raw.substr(pos, 2) != "\r\n") return malformed("a chunk does not end with CRLF");
    pos += 2;
  }
}

}  // namespace

std::optional<std::string_view> HttpResponse::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (iequals(n, name)) return std::string_view(v);
  }
  return std::nullopt;
}

ParseResult parse_http_response(std::string_view raw, bool eof) {
  std::size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string_view::npos) {
    if (raw.size() > kMaxHeaderBytes) return malformed("the answer's header is too long");
    // Reject garbage early rather than waiting for a blank line that may never come.
    std::string_view prefix = raw.substr(0, 7);
    if (std::string_view("HTTP/1.").substr(0, prefix.size()) != prefix)
      return malformed("the answer is not HTTP/1.1");
    return incomplete_or_truncated(eof);
  }
  if (head_end > kMaxHeaderBytes) return malformed("the answer's header is too long");

  std::string_view head = raw.substr(0, head_end + 2);  // every line ends with CRLF
  std::size_t eol = head.find("\r\n");
  auto status = parse_status_line(head.substr(0, eol));
  if (!status) return malformed("the answer is not HTTP/1.1");

  HttpResponse response;
  response.status = *status;
  std::size_t pos = eol + 2;
  while (pos < head.size()) {
    eol = head.find("\r\n", pos);
    std::string_view line = head.substr(pos, eol - pos);
    pos = eol + 2;
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return malformed("a bad header line");
    std::string_view name = line.substr(0, colon);
    for (char c : name) {
      if (!is_token_char(c)) return malformed("a bad header name");
    }
    std::string_view value = trim_blanks(line.substr(colon + 1));
    for (char c : value) {
      if (c == '\r' || c == '\n' || c == '\0') return malformed("a bad header value");
    }
    response.headers.emplace_back(std::string(name), std::string(value));
  }

  std::string_view rest = raw.substr(head_end + 4);

  // Transfer-Encoding wins over Content-Length (RFC 9112 section 6.3).
  if (auto te = response.header("Transfer-Encoding")) {
    std::string_view last = *te;
    if (auto comma = last.rfind(','); comma != std::string_view::npos)
      last = last.substr(comma + 1);
    if (!iequals(trim_blanks(last), "chunked"))
      return malformed("an unsupported transfer encoding");
    return parse_chunked(rest, eof, std::move(response));
  }

  std::optional<std::size_t> length;
  for (const auto& [n, v] : response.headers) {
    if (!iequals(n, "Content-Length")) continue;
    auto parsed = parse_decimal(trim_blanks(v));
    if (!parsed || (length && *length != *parsed)) return malformed("a bad Content-Length");
    length = parsed;
  }
  // 1xx, 204 and 304 answers have no body.
  bool no_body = response.status < 200 || response.status == 204 || response.status == 304;
  if (no_body) length = 0;

  if (length) {
    if (*length > kMaxBodyBytes) return malformed("the answer is larger than 1 MiB");
    if (rest.size() < *length) return incomplete_or_truncated(eof);
    // Bytes beyond Content-Length are ignored: we asked for Connection: close and send one request.
    response.body.assign(rest.substr(0, *length));
  } else {
    if (rest.size() > kMaxBodyBytes) return malformed("the answer is larger than 1 MiB");
    if (!eof) return ParseResult{};
    response.body.assign(rest);
  }
  ParseResult r;
  r.state = State::complete;
  r.response = std::move(response);
  return r;
}

}  // namespace dbx::cli
