// libFuzzer target: ARM's answer to the workspace lookup (GET …/workspaces/W).
#include <spdlog/spdlog.h>

#include <cstdint>

#include "daemon/credentials/arm_lookup.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  dbx::fuzz::Input in(data, size);
  dbx::HttpResponse r;
  r.status = dbx::fuzz::status_from(in.byte());
  r.body = std::string(in.rest());
  auto host = dbx::parse_arm_workspace_answer(
      r, "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Databricks/workspaces/w");
  if (host) {
    DBX_FUZZ_CHECK(host->rfind("https://", 0) == 0);
    DBX_FUZZ_CHECK(host->size() > 8);
  } else {
    DBX_FUZZ_CHECK(!host.error().message.empty());
  }
  return 0;
}
