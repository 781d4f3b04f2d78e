#include "daemon/server/request_parser.h"

#include <algorithm>
#include <array>

#include "common/text.h"

namespace dbx {

namespace {

constexpr std::string_view kMalformed = "malformed HTTP request";
constexpr std::size_t kMaxMethod = 32;
constexpr std::size_t kMaxContentLengthDigits = 18;  // fits in a size_t, far beyond any limit

constexpr std::array<bool, 256> make_tchar_table() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}
constexpr auto kTchar = make_tchar_table();

bool is_tchar(char c) {
  return kTchar[static_cast<unsigned char>(c)];
}
bool is_target_char(char c) {  // visible US-ASCII
  return c > 0x20 && c < 0x7f;
}
bool is_value_char(char c) {  // HTAB, SP, VCHAR, obs-text
  const auto u = static_cast<unsigned char>(c);
  return u == '\t' || (u >= 0x20 && u != 0x7f);
}

RequestParse failure(int status, std::string_view message) {
  RequestParse p;
  p.kind = RequestParse::Kind::error;
  p.status = status;
  p.message = message;
  return p;
}

constexpr std::string_view kHttp11 = "HTTP/1.1";
constexpr std::string_view kHttp10 = "HTTP/1.0";

// A whole request line (without CRLF): METHOD SP target SP HTTP/1.x.
bool parse_request_line(std::string_view line, InboundRequest& r, bool& http10) {
  const auto sp1 = line.find(' ');
  if (sp1 == 0 || sp1 == std::string_view::npos || sp1 > kMaxMethod) return false;
  const auto sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return false;
  r.method = line.substr(0, sp1);
  r.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!std::all_of(r.method.begin(), r.method.end(), is_tchar)) return false;
  if (!std::all_of(r.target.begin(), r.target.end(), is_target_char)) return false;
  if (version != kHttp11 && version != kHttp10) return false;
  http10 = version == kHttp10;
  return true;
}

// Could these first bytes of a request line (no LF yet) still become a valid one?
bool plausible_request_line(std::string_view part) {
  std::size_t i = 0;
  while (i < part.size() && part[i] != ' ') {
    if (!is_tchar(part[i]) || i >= kMaxMethod) return false;
    ++i;
  }
  if (i == part.size()) return true;
  if (i == 0) return false;
  ++i;
  const std::size_t target_start = i;
  while (i < part.size() && part[i] != ' ') {
    if (!is_target_char(part[i])) return false;
    ++i;
  }
  if (i == part.size()) return true;
  if (i == target_start) return false;
  std::string_view version = part.substr(i + 1);
  if (!version.empty() && version.back() == '\r') version.remove_suffix(1);
  return kHttp11.substr(0, version.size()) == version ||
         kHttp10.substr(0, version.size()) == version;
}

// The tokens of a Connection header: sets close / keep_alive.
void read_connection(std::string_view value, bool& close, bool& keep_alive) {
  while (!value.empty()) {
    const auto comma = value.find(',');
    const std::string_view token = trim_blanks(value.substr(0, comma));
    if (iequals(token, "close")) close = true;
    if (iequals(token, "keep-alive")) keep_alive = true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

}  // namespace

std::optional<std::string_view> InboundRequest::header(std::string_view name) const {
  std::optional<std::string_view> found;
  for_each_header([&](std::string_view n, std::string_view v) {
    if (!found && iequals(n, name)) found = v;
  });
  return found;
}

RequestParse parse_request(std::string_view data, const RequestLimits& limits) {
  InboundRequest r;
  bool http10 = false;
  bool first_line = true;
  std::size_t pos = 0;
  std::size_t headers_start = 0;
  std::optional<std::size_t> content_length;
  bool conn_close = false;
  bool conn_keep_alive = false;
  for (;;) {
    const auto lf = data.find('\n', pos);
    if (lf == std::string_view::npos) {
      if (data.size() > limits.max_header_bytes) return failure(431, "request headers too large");
      const std::string_view part = data.substr(pos);
      const auto cr = part.find('\r');
      if (cr != std::string_view::npos && cr + 1 != part.size()) return failure(400, kMalformed);
      if (first_line && !plausible_request_line(part)) return failure(400, kMalformed);
      return RequestParse{};
    }
    if (lf + 1 > limits.max_header_bytes) return failure(431, "request headers too large");
    // CRLF only: a bare LF is where front ends and back ends disagree (request smuggling).
    if (lf == pos || data[lf - 1] != '\r') return failure(400, kMalformed);
    const std::string_view line = data.substr(pos, lf - 1 - pos);
    const std::size_t line_start = pos;
    pos = lf + 1;
    if (line.find('\r') != std::string_view::npos) return failure(400, kMalformed);
    if (first_line) {
      if (!parse_request_line(line, r, http10)) return failure(400, kMalformed);
      first_line = false;
      headers_start = pos;
      continue;
    }
    if (line.empty()) {
      r.header_block = data.substr(headers_start, line_start - headers_start);
      break;
    }
    // name ":" OWS value OWS; a line starting with a blank is obsolete folding (refused).
    const auto colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos) return failure(400, kMalformed);
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim_blanks(line.substr(colon + 1));
    if (!std::all_of(name.begin(), name.end(), is_tchar)) return failure(400, kMalformed);
    if (!std::all_of(value.begin(), value.end(), is_value_char)) return failure(400, kMalformed);
    if (iequals(name, "content-length")) {
      if (value.empty() || value.size() > kMaxContentLengthDigits ||
          !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return failure(400, kMalformed);
      std::size_t n = 0;
      for (char c : value) n = n * 10 + static_cast<std::size_t>(c - '0');
      if (content_length && *content_length != n) return failure(400, kMalformed);
      content_length = n;
    } else if (iequals(name, "transfer-encoding")) {
      return failure(501, "Transfer-Encoding in requests is not supported");
    } else if (iequals(name, "connection")) {
      read_connection(value, conn_close, conn_keep_alive);
    }
  }
  const std::size_t body_size = content_length.value_or(0);
  if (body_size > limits.max_body_bytes) return failure(413, "request body too large");
  if (data.size() - pos < body_size) return RequestParse{};
  r.body = data.substr(pos, body_size);
  r.keep_alive = http10 ? conn_keep_alive && !conn_close : !conn_close;
  RequestParse p;
  p.kind = RequestParse::Kind::complete;
  p.request = r;
  p.size = pos + body_size;
  return p;
}

}  // namespace dbx
