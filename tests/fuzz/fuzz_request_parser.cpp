// libFuzzer target: the listeners' HTTP/1.1 request parser (daemon/server/request_parser.h).
// Properties checked beyond "no crash": a complete request never claims more bytes than it was
// given and its views lie inside the input; the result never depends on bytes after the request;
// and a request split anywhere is first "incomplete" or the same error, never a different answer.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "daemon/server/request_parser.h"

namespace {

bool inside(std::string_view part, std::string_view whole) {
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const dbx::RequestLimits limits{512, 256};
  const dbx::RequestParse p = dbx::parse_request(in, limits);
  using Kind = dbx::RequestParse::Kind;
  if (p.kind == Kind::complete) {
    if (p.size == 0 || p.size > in.size()) std::abort();
    const std::string_view mine = in.substr(0, p.size);
    const dbx::InboundRequest& r = p.request;
    if (!inside(r.method, mine) || !inside(r.target, mine) || !inside(r.header_block, mine) ||
        !inside(r.body, mine) || r.body.size() > limits.max_body_bytes)
      std::abort();
    r.for_each_header([&](std::string_view n, std::string_view v) {
      if (n.empty() || !inside(n, mine) || !inside(v, mine)) std::abort();
    });
    // The request alone parses to the same request.
    const dbx::RequestParse alone = dbx::parse_request(mine, limits);
    if (alone.kind != Kind::complete || alone.size != p.size) std::abort();
  }
  if (p.kind == Kind::error && (p.status < 400 || p.message.empty())) std::abort();
  // Any prefix: incomplete, or an error (a prefix may already be too long or already wrong), but
  // never a complete request unless the whole input held one of the same length.
  for (std::size_t cut : {size / 2, size / 3}) {
    const dbx::RequestParse q = dbx::parse_request(in.substr(0, cut), limits);
    if (q.kind == Kind::complete && (p.kind != Kind::complete || q.size != p.size)) std::abort();
    if (q.kind == Kind::error && p.kind != Kind::error) std::abort();
  }
  return 0;
}
