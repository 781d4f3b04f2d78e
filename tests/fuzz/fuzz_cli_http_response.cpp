// libFuzzer target: the CLI's HTTP/1.1 response parser (Content-Length, chunked, read-to-close).
#include <cstdint>

#include "client/http_response.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  dbx::fuzz::Input in(data, size);
  const bool eof = in.byte() & 1;
  const std::string_view raw = in.rest();
  using State = dbx::cli::ParseResult::State;
  auto r = dbx::cli::parse_http_response(raw, eof);
  if (r.state == State::complete) {
    DBX_FUZZ_CHECK(r.response.body.size() <= dbx::cli::kMaxBodyBytes);
    DBX_FUZZ_CHECK(r.response.status >= 100 && r.response.status <= 999);
  }
  if (r.state == State::malformed) DBX_FUZZ_CHECK(!r.error.empty());
  if (eof) DBX_FUZZ_CHECK(r.state != State::incomplete);
  // Feeding the same bytes in two steps must not change a complete answer.
  if (r.state == State::complete && !eof) {
    auto again = dbx::cli::parse_http_response(raw.substr(0, raw.size() / 2), false);
    DBX_FUZZ_CHECK(again.state != State::complete || raw.size() / 2 == raw.size() ||
                   again.response.status == r.response.status);
  }
  return 0;
}
