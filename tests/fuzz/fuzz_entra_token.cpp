// libFuzzer target: Entra ID / IMDS token answers (parse_token_answer) and token endpoint errors
// (token_endpoint_error, which also sees HTML error pages from proxies).
#include <spdlog/spdlog.h>

#include <cstdint>

#include "daemon/credentials/entra_token.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  dbx::fuzz::Input in(data, size);
  const int status = dbx::fuzz::status_from(in.byte());
  const std::string_view retry_after = in.line();
  const std::string_view body = in.rest();
  const dbx::TimePoint received{std::chrono::seconds(1'700'000'000)};

  auto token = dbx::parse_token_answer(body, received);
  if (token) {
    // Never a token that is empty, already expired or trusted for more than a day.
    DBX_FUZZ_CHECK(!token->value.empty());
    DBX_FUZZ_CHECK(token->expires_at > received);
    DBX_FUZZ_CHECK(token->expires_at <= received + dbx::kMaxTokenLifetime);
  } else {
    DBX_FUZZ_CHECK(!token.error().message.empty());
  }

  dbx::HttpResponse r;
  r.status = status;
  r.body = std::string(body);
  if (!retry_after.empty()) r.headers.emplace_back("Retry-After", std::string(retry_after));
  dbx::Error e = dbx::token_endpoint_error(r, "fuzz token request");
  DBX_FUZZ_CHECK(!e.message.empty());
  return 0;
}
