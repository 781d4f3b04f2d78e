#include "common/duration.h"

#include <cctype>
#include <cstdint>
#include <limits>

namespace dbx {

namespace {
constexpr struct {
  char unit;
  std::int64_t seconds;
} kUnits[] = {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};
// A century is more than any lifetime anyone should configure, and keeps arithmetic far from
// overflow.
constexpr std::int64_t kMaxSeconds = 100LL * 365 * 86400;
}  // namespace

std::optional<Seconds> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::int64_t total = 0;
  std::size_t next_unit = 0;  // units must come in d, h, m, s order, each at most once
  std::size_t i = 0;
  while (i < text.size()) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return std::nullopt;
    std::int64_t n = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      n = n * 10 + (text[i] - '0');
      if (n > kMaxSeconds) return std::nullopt;
      ++i;
    }
    if (i == text.size()) return std::nullopt;  // a bare number has no unit
    std::size_t u = next_unit;
    while (u < std::size(kUnits) && kUnits[u].unit != text[i]) ++u;
    if (u == std::size(kUnits)) return std::nullopt;
    total += n * kUnits[u].seconds;
    if (total > kMaxSeconds) return std::nullopt;
    next_unit = u + 1;
    ++i;
  }
  return Seconds(total);
}

std::string format_duration(Seconds d) {
  std::int64_t s = d.count();
  if (s <= 0) return s == 0 ? "0s" : "-" + format_duration(Seconds(-s));
  std::string out;
  for (const auto& u : kUnits) {
    if (s >= u.seconds) {
      out += std::to_string(s / u.seconds);
      out += u.unit;
      s %= u.seconds;
    }
  }
  return out;
}

}  // namespace dbx
