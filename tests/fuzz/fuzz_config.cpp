// libFuzzer target: the configuration parser (JSON with comments, every key validated).
#include <cstdint>
#include <string>

#include "common/config.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  dbx::ConfigProblems problems;
  // A path that does not exist: the permission checks of inline secrets fail cleanly.
  auto config = dbx::parse_config(text, "/nonexistent/dbxcred-fuzz/config.json", "", problems);
  if (config) {
    DBX_FUZZ_CHECK(problems.lines.empty());
    // Rendering (secrets masked) must work for every accepted configuration.
    (void)dbx::render_config_masked(*config);
  } else {
    DBX_FUZZ_CHECK(!problems.lines.empty());
  }
  return 0;
}
