// FakeRuntime: a Runtime whose clock only moves when the test says so. Timers and posted calls run
// from advance()/run_ready(), in due order, on the test's thread — deterministic, no sleeps.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <utility>

#include "daemon/runtime.h"

namespace dbx::testing {

class FakeRuntime : public Runtime {
 public:
  explicit FakeRuntime(TimePoint start = from_unix_seconds(1'800'000'000)) : now_(start) {}

  TimePoint now() const override { return now_; }

  std::shared_ptr<Timer> after(Millis delay, std::function<void()> fn) override {
    auto t = std::make_shared<FakeTimer>();
    timers_.emplace(std::make_pair(now_ + delay, seq_++), Entry{t, std::move(fn)});
    return t;
  }

  void post(std::function<void()> fn) override { posted_.push_back(std::move(fn)); }

  double random_unit() override { return random_; }
  void set_random(double r) { random_ = r; }  // fixes the jitter the engine sees

  // Runs posted calls (and calls they post) until none are left.
  void run_ready() {
    while (!posted_.empty()) {
      auto fn = std::move(posted_.front());
      posted_.pop_front();
      fn();
    }
  }

  // Moves the clock forward by `d`, firing due timers in order (and posted calls after each).
  void advance(Millis d) {
    const TimePoint end = now_ + d;
    run_ready();
    while (!timers_.empty() && timers_.begin()->first.first <= end) {
      auto it = timers_.begin();
      now_ = std::max(now_, it->first.first);
      Entry e = std::move(it->second);
      timers_.erase(it);
      if (!e.timer->cancelled) e.fn();
      run_ready();
    }
    now_ = end;
  }

  // When the next live timer is due, or nullopt.
  std::optional<TimePoint> next_timer() const {
    for (const auto& [key, e] : timers_)
      if (!e.timer->cancelled) return key.first;
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
  std::uint64_t seq_ = 0;
  double random_ = 0.5;
  std::map<std::pair<TimePoint, std::uint64_t>, Entry> timers_;
  std::deque<std::function<void()>> posted_;
};

}  // namespace dbx::testing
