// Runtime: the event loop as seen by the engine — the clock, timers, deferred calls and randomness.
// The daemon uses AsioRuntime (one io_context thread); unit tests use FakeRuntime
// (tests/daemon/fake_runtime.h) and advance time by hand, so no test sleeps.
// All callbacks run on the loop's single thread: engine objects need no locks.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "common/clock.h"

namespace dbx {

class Timer {
 public:
  virtual ~Timer() = default;
  virtual void cancel() = 0;  // idempotent; a cancelled timer never fires
};

// The monotonic clock: what timers count (Runtime::after), for our own timeouts. It does not move
// with wall-clock steps and, on Linux, stands still while the machine is suspended.
using SteadyClock = std::chrono::steady_clock;
using SteadyTime = SteadyClock::time_point;

class Runtime {
 public:
  virtual ~Runtime() = default;
  // The wall clock: what upstream expiries are compared with. It may step (NTP, date -s, resume).
  virtual TimePoint now() const = 0;
  virtual SteadyTime steady_now() const = 0;
  // Calls fn once after `delay` (monotonic time) on the loop. Destroying the returned Timer does
  // NOT cancel it; call cancel().
  virtual std::shared_ptr<Timer> after(Millis delay, std::function<void()> fn) = 0;
  // Calls fn on the loop soon, never inline. The one call that may be made from another thread
  // (the IdentityResolver's workers post their answers).
  virtual void post(std::function<void()> fn) = 0;
  // Uniform in [0, 1): the source of jitter.
  virtual double random_unit() = 0;
};

}  // namespace dbx
