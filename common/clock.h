// Time is an input (STYLE.md habit 1): engine code takes `now` as an argument or asks a Runtime,
// never reads the clock itself. Expiries are wall-clock instants because upstreams speak epoch
// seconds.
#pragma once

#include <chrono>
#include <cstdint>

namespace dbx {

using Clock = std::chrono::system_clock;
using TimePoint = Clock::time_point;
using Seconds = std::chrono::seconds;
using Millis = std::chrono::milliseconds;

inline std::int64_t to_unix_seconds(TimePoint t) {
  return std::chrono::duration_cast<Seconds>(t.time_since_epoch()).count();
}
inline TimePoint from_unix_seconds(std::int64_t s) {
  return TimePoint(Seconds(s));
}

}  // namespace dbx
