// libFuzzer target: `az account get-access-token` output and az failures (stderr text).
#include <spdlog/spdlog.h>

#include <cstdint>

#include "daemon/credentials/az_cli_output.h"
#include "daemon/credentials/entra_token.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  dbx::fuzz::Input in(data, size);
  const int exit_status = in.byte();
  const std::string_view text = in.rest();
  const dbx::TimePoint now{std::chrono::seconds(1'700'000'000)};

  auto token = dbx::parse_az_token_output(text, now);
  if (token) {
    DBX_FUZZ_CHECK(!token->value.empty());
    DBX_FUZZ_CHECK(token->expires_at > now);
    // az prints local time to the second; allow a day plus a time-zone's worth of slack.
    DBX_FUZZ_CHECK(token->expires_at <= now + dbx::kMaxTokenLifetime + std::chrono::hours(15));
  }
  dbx::Error e = dbx::az_failure(exit_status, text, "fuzz");
  DBX_FUZZ_CHECK(!e.message.empty());
  return 0;
}
