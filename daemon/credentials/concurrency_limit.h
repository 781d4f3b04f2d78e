// ConcurrencyLimit: at most N tasks at a time, the rest wait in FIFO order. IMDS allows 5
// concurrent requests per VM (PROTOCOLS.md) and answers 429 beyond; queueing here is cheaper than
// being throttled. Loop thread only, like every engine object.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <utility>

#include "daemon/runtime.h"

namespace dbx {

class ConcurrencyLimit {
 public:
  // A task gets `release`, which it must call exactly once when done (extra calls are ignored).
  using Release = std::function<void()>;
  using Task = std::function<void(Release)>;

  ConcurrencyLimit(Runtime& runtime, int max_running) : runtime_(runtime), max_(max_running) {}

  // Runs `task` now if a slot is free, else when one frees up.
  void run(Task task) {
    if (state_->running < max_) {
      ++state_->running;
      return start(std::move(task));
    }
    state_->queue.push_back(std::move(task));
  }

  int running() const { return state_->running; }
  std::size_t queued() const { return state_->queue.size(); }

 private:
  struct State {
    int running = 0;
    std::deque<Task> queue;
  };

  // The slot is already counted in `running`.
  void start(Task task) {
    auto released = std::make_shared<bool>(false);
    std::weak_ptr<State> weak = state_;
    task([this, weak, released] {
      if (*released) return;
      *released = true;
      auto state = weak.lock();
      if (!state) return;  // the limit is gone (reload/shutdown)
      if (state->queue.empty()) {
        --state->running;
        return;
      }
      // The slot passes straight to the next task, so no newcomer can slip in between.
      Task next = std::move(state->queue.front());
      state->queue.pop_front();
      // Posted: a task releasing inside its own callback chain must not recurse into the next.
      runtime_.post([this, weak, next = std::move(next)]() mutable {
        if (weak.lock()) start(std::move(next));
      });
    });
  }

  Runtime& runtime_;
  int max_;
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

}  // namespace dbx
