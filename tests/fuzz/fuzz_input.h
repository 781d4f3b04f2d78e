// Helpers shared by the libFuzzer targets: splitting one input into the parts a parser takes, and
// invariants that turn a wrong result (not only a crash) into a finding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace dbx::fuzz {

// Reads fields off the front of the input; whatever is left is the body.
class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size)
      : rest_(reinterpret_cast<const char*>(data), size) {}

  std::uint8_t byte() {
    if (rest_.empty()) return 0;
    auto b = static_cast<std::uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    return b;
  }
  // Up to the next '\n' (consumed), or everything left.
  std::string_view line() {
    auto nl = rest_.find('\n');
    std::string_view l = rest_.substr(0, nl);
    rest_.remove_prefix(nl == std::string_view::npos ? rest_.size() : nl + 1);
    return l;
  }
  std::string_view rest() const { return rest_; }

 private:
  std::string_view rest_;
};

// An HTTP status an upstream may plausibly send (and a few it should not).
inline int status_from(std::uint8_t b) {
  static constexpr int kStatuses[] = {200, 200, 200, 200, 201, 204, 301, 400, 401, 403,
                                      404, 409, 429, 500, 502, 503, 504, 0,   99,  999};
  return kStatuses[b % (sizeof(kStatuses) / sizeof(kStatuses[0]))];
}

[[noreturn]] inline void violated(const char* what) {
  std::fprintf(stderr, "invariant violated: %s\n", what);
  std::abort();
}

#define DBX_FUZZ_CHECK(cond)                   \
  do {                                         \
    if (!(cond)) ::dbx::fuzz::violated(#cond); \
  } while (0)

}  // namespace dbx::fuzz
