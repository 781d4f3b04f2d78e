// ClockWatch: notices that the wall clock stepped — NTP or `date -s` setting it, or the machine
// resuming from suspend — which timers cannot see: they count monotonic time, which does not
// move with a step and (on Linux) stands still while suspended. Every tick it compares how far
// the wall clock and the monotonic clock moved; when they disagree by more than `threshold`, it
// calls on_step with the difference (positive: the wall clock went forward, or the machine slept).
// The daemon then re-evaluates every wall-clock decision at once (Broker::reschedule: refresh,
// rotation, reaping). Serving needs no notice: it always compares expiries with the wall clock.
// Runs on the loop; tested with FakeRuntime's step_wall()/suspend() (clock_watch_test.cpp).
#pragma once

#include <functional>
#include <memory>

#include "daemon/runtime.h"

namespace dbx {

class ClockWatch {
 public:
  using OnStep = std::function<void(Millis step)>;
  // NTP slews at most 0.5 ms/s: 2 s over a 5 s tick is a step, never a slew.
  static constexpr Millis kTick{5000};
  static constexpr Millis kThreshold{2000};

  ClockWatch(Runtime& runtime, OnStep on_step, Millis tick = kTick, Millis threshold = kThreshold);
  ~ClockWatch();
  ClockWatch(const ClockWatch&) = delete;
  ClockWatch& operator=(const ClockWatch&) = delete;

  void start();
  // Compares the clocks now (the tick calls it) and calls on_step on a step.
  void check();

 private:
  void arm();

  Runtime& rt_;
  OnStep on_step_;
  Millis tick_;
  Millis threshold_;
  TimePoint wall_;
  SteadyTime steady_;
  std::shared_ptr<Timer> timer_;
};

}  // namespace dbx
