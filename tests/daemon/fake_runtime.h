// FakeRuntime: a Runtime whose clocks only move when the test says so. Timers and posted calls run
// from advance()/run_ready(), in due order, on the test's thread — deterministic, no sleeps.
// Timers count monotonic time, as the real ones do: advance() moves both clocks, step_wall() moves
// only the wall clock (NTP, date -s) and suspend() only the wall clock too (Linux's monotonic clock
// stands still while suspended), so a test sees timers fire late or early by the wall clock.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "daemon/runtime.h"

namespace dbx::testing {

class FakeRuntime : public Runtime {
 public:
  explicit FakeRuntime(TimePoint start = from_unix_seconds(1'800'000'000)) : now_(start) {}

  TimePoint now() const override { return now_; }
  SteadyTime steady_now() const override { return steady_; }

  std::shared_ptr<Timer> after(Millis delay, std::function<void()> fn) override {
    auto t = std::make_shared<FakeTimer>();
    timers_.emplace(std::make_pair(steady_ + delay, seq_++), Entry{t, std::move(fn)});
    return t;
  }

  void post(std::function<void()> fn) override {
    {
      std::lock_guard lock(posted_mutex_);  // the one call another thread may make
      posted_.push_back(std::move(fn));
    }
    posted_cv_.notify_all();
  }

  // Blocks until a call is posted (by another thread) and runs the posted calls. The limit only
  // keeps a broken test from hanging: false when nothing came in that long.
  bool wait_and_run(std::chrono::seconds limit = std::chrono::seconds(60)) {
    {
      std::unique_lock lock(posted_mutex_);
      if (!posted_cv_.wait_for(lock, limit, [this] { return !posted_.empty(); })) return false;
    }
    run_ready();
    return true;
  }

  double random_unit() override { return random_; }
  void set_random(double r) { random_ = r; }  // fixes the jitter the engine sees

  // Runs posted calls (and calls they post) until none are left.
  void run_ready() {
    for (;;) {
      std::function<void()> fn;
      {
        std::lock_guard lock(posted_mutex_);
        if (posted_.empty()) return;
        fn = std::move(posted_.front());
        posted_.pop_front();
      }
      fn();
    }
  }

  // Moves both clocks forward by `d`, firing due timers in order (and posted calls after each).
  void advance(Millis d) {
    const SteadyTime end = steady_ + d;
    run_ready();
    while (!timers_.empty() && timers_.begin()->first.first <= end) {
      auto it = timers_.begin();
      if (it->first.first > steady_) {
        now_ += it->first.first - steady_;
        steady_ = it->first.first;
      }
      Entry e = std::move(it->second);
      timers_.erase(it);
      if (!e.timer->cancelled) e.fn();
      run_ready();
    }
    now_ += end - steady_;
    steady_ = end;
  }

  // The wall clock steps by `d` (forward or backward); monotonic time and timers do not move.
  void step_wall(Millis d) { now_ += d; }
  // The machine sleeps for `d`: the wall clock moves on, monotonic time and timers do not.
  void suspend(Millis d) { now_ += d; }

  // When the next live timer is due, or nullopt — by the wall clock, if it does not step.
  std::optional<TimePoint> next_timer() const {
    for (const auto& [key, e] : timers_)
      if (!e.timer->cancelled) return now_ + (key.first - steady_);
    return std::nullopt;
  }

  std::size_t pending_timers() const {
    return std::count_if(timers_.begin(), timers_.end(),
                         [](const auto& kv) { return !kv.second.timer->cancelled; });
  }

 private:
  struct FakeTimer : Timer {
    bool cancelled = false;
    void cancel() override { cancelled = true; }
  };
  struct Entry {
    std::shared_ptr<FakeTimer> timer;
    std::function<void()> fn;
  };
  TimePoint now_;
  SteadyTime steady_ = SteadyTime(std::chrono::hours(1000));
  std::uint64_t seq_ = 0;
  double random_ = 0.5;
  std::map<std::pair<SteadyTime, std::uint64_t>, Entry> timers_;
  std::mutex posted_mutex_;
  std::condition_variable posted_cv_;
  std::deque<std::function<void()>> posted_;
};

}  // namespace dbx::testing
