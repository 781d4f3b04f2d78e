#include "daemon/cache/token_cache.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/duration.h"
#include "common/log.h"
#include "daemon/cache/refresh_policy.h"

namespace dbx {

TokenCache::TokenCache(Runtime& runtime, CredentialSource& source, std::string resource,
                       std::string label, Seconds deadline)
    : runtime_(runtime),
      source_(source),
      resource_(std::move(resource)),
      label_(std::move(label)),
      deadline_(deadline) {}

TokenCache::~TokenCache() {
  if (timer_) timer_->cancel();
  for (auto& w : waiters_) w.timer->cancel();
}

void TokenCache::start() {
  if (!in_flight_ && !cached_) begin_fetch();
}

void TokenCache::get(Seconds min_valid, TokenCallback done) {
  const TimePoint now = runtime_.now();
  if (cached_ && satisfies(*cached_, now, min_valid)) {
    ++counters_.hits;
    done(*cached_);
    return;
  }
  ++counters_.waits;
  const TimePoint deadline = now + deadline_;
  if (!in_flight_ && next_attempt_ && *next_attempt_ > now) {
    // Backing off: wait for the planned retry only if it comes before this client gives up.
    if (*next_attempt_ > deadline || (last_error_ && !is_transient(last_error_->upstream_status))) {
      done(waiting_error("refreshing failed"));
      return;
    }
  }
  const std::uint64_t id = next_waiter_id_++;
  std::weak_ptr<int> alive = alive_;
  auto timer =
      runtime_.after(std::chrono::duration_cast<Millis>(deadline - now), [this, alive, id] {
        if (alive.lock()) expire_waiter(id);
      });
  waiters_.push_back(Waiter{id, min_valid, deadline, std::move(done), std::move(timer)});
  if (!in_flight_ && (!next_attempt_ || *next_attempt_ <= now)) begin_fetch();
}

void TokenCache::begin_fetch() {
  in_flight_ = true;
  ++counters_.fetches;
  if (timer_) timer_->cancel();
  std::weak_ptr<int> alive = alive_;
  spdlog::debug("fetching token for {}", label_);
  source_.fetch(resource_, [this, alive](Result<AccessToken> r) {
    if (alive.lock()) on_fetched(std::move(r));
  });
}

void TokenCache::on_fetched(Result<AccessToken> result) {
  in_flight_ = false;
  const TimePoint now = runtime_.now();
  if (result) {
    cached_ = std::move(result.value());
    failures_ = 0;
    last_error_.reset();
    next_attempt_.reset();
    next_refresh_ = refresh_at(*cached_, now, runtime_.random_unit());
    spdlog::info("token for {} refreshed ({}), expires in {}, next refresh in {}", label_,
                 fingerprint(cached_->value),
                 format_duration(std::chrono::duration_cast<Seconds>(cached_->expires_at - now)),
                 format_duration(std::chrono::duration_cast<Seconds>(*next_refresh_ - now)));
    schedule_next(*next_refresh_);
    auto waiters = std::move(waiters_);
    waiters_.clear();
    for (auto& w : waiters) {
      w.timer->cancel();
      if (satisfies(*cached_, now, w.min_valid)) {
        w.done(*cached_);
      } else {
        const auto lifetime = std::chrono::duration_cast<Seconds>(cached_->expires_at - now);
        w.done(make_error(ErrorCode::bad_request,
                          "min_valid " + format_duration(effective_min_valid(w.min_valid)) +
                              " is more than " + label_ + " can give: its tokens live " +
                              format_duration(lifetime) + "; ask for less"));
      }
    }
    return;
  }

  ++counters_.fetch_failures;
  ++failures_;
  last_error_ = result.error();
  Millis delay = backoff_delay(failures_, runtime_.random_unit());
  if (last_error_->retry_after) delay = std::max<Millis>(delay, *last_error_->retry_after);
  next_attempt_ = now + delay;
  next_refresh_ = next_attempt_;
  spdlog::warn("token for {} failed (attempt {}): {}; retrying in {}", label_, failures_,
               last_error_->message,
               format_duration(std::chrono::duration_cast<Seconds>(delay + Millis(999))));
  schedule_next(*next_attempt_);
  // Waiters whose deadline comes before the retry, or whose error will not heal by retrying, get
  // the upstream's error now; the others keep waiting for the retry.
  const bool transient = is_transient(last_error_->upstream_status);
  std::vector<Waiter> keep;
  for (auto& w : waiters_) {
    if (cached_ && satisfies(*cached_, now, w.min_valid)) {
      w.timer->cancel();
      w.done(*cached_);
    } else if (!transient || *next_attempt_ > w.deadline) {
      w.timer->cancel();
      w.done(waiting_error("refreshing failed"));
    } else {
      keep.push_back(std::move(w));
    }
  }
  waiters_ = std::move(keep);
}

void TokenCache::schedule_next(TimePoint at) {
  if (timer_) timer_->cancel();
  const TimePoint now = runtime_.now();
  const Millis delay = at > now ? std::chrono::duration_cast<Millis>(at - now) : Millis(0);
  std::weak_ptr<int> alive = alive_;
  timer_ = runtime_.after(delay, [this, alive] {
    if (alive.lock() && !in_flight_) begin_fetch();
  });
}

void TokenCache::reschedule(Millis step) {
  if (step < Millis(0) && next_attempt_) {
    next_attempt_ = *next_attempt_ + step;
    next_refresh_ = next_attempt_;
  }
  if (!in_flight_ && next_refresh_) schedule_next(*next_refresh_);
}

void TokenCache::expire_waiter(std::uint64_t id) {
  auto it =
      std::find_if(waiters_.begin(), waiters_.end(), [id](const Waiter& w) { return w.id == id; });
  if (it == waiters_.end()) return;
  Waiter w = std::move(*it);
  waiters_.erase(it);
  w.done(waiting_error("timed out"));
}

Error TokenCache::waiting_error(const char* why) const {
  std::string msg = std::string(why) + " getting a token for " + label_;
  if (last_error_) {
    msg += ": " + last_error_->message;
  } else {
    msg += " after " + format_duration(deadline_) + ": the upstream has not answered yet";
  }
  if (next_attempt_) {
    const auto in = std::chrono::duration_cast<Seconds>(*next_attempt_ - runtime_.now());
    if (in.count() > 0) msg += " (next attempt in " + format_duration(in) + ")";
  }
  Error e = make_error(ErrorCode::upstream_unavailable, std::move(msg));
  if (last_error_) {
    e.upstream_status = last_error_->upstream_status;
    e.retry_after = last_error_->retry_after;
  }
  return e;
}

TokenCacheStatus TokenCache::status() const {
  TokenCacheStatus s = counters_;
  s.resource = resource_;
  if (cached_) s.expires_at = cached_->expires_at;
  s.next_refresh = next_refresh_;
  if (last_error_) s.last_error = last_error_->message;
  s.in_flight = in_flight_;
  s.consecutive_failures = failures_;
  return s;
}

}  // namespace dbx
