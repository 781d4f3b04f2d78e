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
// Epoch seconds/milliseconds from upstreams may be anything: beyond about ±272 years they are
// clamped (still absurd, so the callers' range checks refuse them) instead of overflowing the
// nanosecond clock — which is undefined and on x86 wrapped to a plausible-looking instant (found
// by tests/fuzz).
inline constexpr std::int64_t kMaxUnixSeconds = std::int64_t{1} << 33;
inline TimePoint from_unix_seconds(std::int64_t s) {
  if (s > kMaxUnixSeconds) s = kMaxUnixSeconds;
  if (s < -kMaxUnixSeconds) s = -kMaxUnixSeconds;
  return TimePoint(Seconds(s));
}
inline TimePoint from_unix_millis(std::int64_t ms) {
  const std::int64_t s = ms / 1000;
  if (s >= kMaxUnixSeconds || s <= -kMaxUnixSeconds) return from_unix_seconds(s);
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(Millis(ms)));
}

}  // namespace dbx
