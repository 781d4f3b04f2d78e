// Waiters: callers waiting for one answer (a token fetch, a PAT mint, an ARM host lookup), each
// with its own deadline. The one list of this kind in the daemon: the token cache, the PAT manager
// and the workspace host lookup all keep theirs here.
//
// When completions run (the rule every user relies on):
//   - add() never calls `done`: a caller that can answer at once does so itself, before add().
//   - settle_*() and a deadline call `done` INLINE, from the event that settles them (an upstream
//     answer or the deadline timer, both on the loop thread), in arrival order. Each waiter is off
//     the list before any `done` runs, so a `done` may add a new waiter or settle the list again.
//   - A user that promises "never inline" to its own callers (PatManager::get) posts inside the
//     `done` it adds; Waiters itself never posts.
// Runs on the loop thread only; a Waiters destroyed with waiters left drops them unanswered.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <variant>
#include <vector>

#include "daemon/runtime.h"

namespace dbx {

// `T`: what a waiter is answered with (e.g. Result<AccessToken>). `Info`: what its owner keeps per
// waiter to decide how to settle it (e.g. the min_valid it asked for).
template <class T, class Info = std::monostate>
class Waiters {
 public:
  using Done = std::function<void(T)>;
  // What a waiter whose deadline passed is answered with.
  using OnExpiry = std::function<T(const Info&)>;

  Waiters(Runtime& runtime, OnExpiry on_expiry)
      : runtime_(runtime), on_expiry_(std::move(on_expiry)) {}
  ~Waiters() { abandon(); }
  Waiters(const Waiters&) = delete;
  Waiters& operator=(const Waiters&) = delete;

  // Adds a waiter answered by a later settle, or with on_expiry(info) once `deadline` has passed.
  void add(Millis deadline, Info info, Done done) {
    const std::uint64_t id = next_id_++;
    auto timer = runtime_.after(deadline, [alive = std::weak_ptr<int>(alive_), this, id] {
      if (alive.lock()) expire(id);
    });
    list_.push_back(Entry{id, std::move(info), std::move(done), std::move(timer)});
  }

  // Answers every waiter with `value`.
  void settle_all(const T& value) {
    settle_if([&](const Info&) -> std::optional<T> { return value; });
  }
  // Answers the waiters for which `decide(info)` gives a value; the others keep waiting, in order.
  // Returns how many were answered.
  template <class Decide>
  std::size_t settle_if(Decide decide) {
    std::vector<std::pair<Done, T>> answers;
    std::vector<Entry> keep;
    for (auto& e : list_) {
      std::optional<T> v = decide(static_cast<const Info&>(e.info));
      if (!v) {
        keep.push_back(std::move(e));
        continue;
      }
      e.timer->cancel();
      answers.emplace_back(std::move(e.done), std::move(*v));
    }
    list_ = std::move(keep);
    for (auto& [done, v] : answers) done(std::move(v));
    return answers.size();
  }

  // Drops every waiter unanswered (shutdown, once the loop has stopped: their callbacks may hold
  // the objects that own this list).
  void abandon() {
    for (auto& e : list_) e.timer->cancel();
    list_.clear();
  }

  bool empty() const { return list_.empty(); }
  std::size_t size() const { return list_.size(); }
  template <class F>
  void for_each(F f) const {
    for (const auto& e : list_) f(e.info);
  }

 private:
  struct Entry {
    std::uint64_t id;
    Info info;
    Done done;
    std::shared_ptr<Timer> timer;
  };

  void expire(std::uint64_t id) {
    for (auto it = list_.begin(); it != list_.end(); ++it) {
      if (it->id != id) continue;
      Entry e = std::move(*it);
      list_.erase(it);
      e.done(on_expiry_(e.info));
      return;
    }
  }

  Runtime& runtime_;
  OnExpiry on_expiry_;
  std::vector<Entry> list_;
  std::uint64_t next_id_ = 1;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace dbx
