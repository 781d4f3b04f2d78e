// Durations as written in the config and on the CLI: "90s", "20m", "1h", "1h30m", "2d" (SPEC.md).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"

namespace dbx {

// Accepts one or more <integer><unit> groups, units d, h, m, s, each at most once and in that order
// ("1h30m", "90s"). No sign, no spaces, no bare numbers, no overflow. Returns nullopt otherwise.
std::optional<Seconds> parse_duration(std::string_view text);

// The shortest canonical form: 5400s -> "1h30m", 0 -> "0s".
std::string format_duration(Seconds d);

}  // namespace dbx
