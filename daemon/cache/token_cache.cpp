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
      deadline_(deadline),
      waiters_(runtime, [this](const WaitInfo&) { return waiting_error("timed out"); }) {}

TokenCache::~TokenCache() {
  if (timer_) timer_->cancel();
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
  // Asking more than the credential's tokens live: a fresh token would not do either, so no
  // upstream call (one per such request would replace a good token every time).
  if (cached_ && lifetime_ && effective_min_valid(min_valid) > *lifetime_) {
    done(too_long(min_valid, *lifetime_));
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
  waiters_.add(deadline_, WaitInfo{min_valid, deadline}, std::move(done));
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
    lifetime_ = std::chrono::duration_cast<Seconds>(cached_->expires_at - now);
    failures_ = 0;
    last_error_.reset();
    next_attempt_.reset();
    next_refresh_ = refresh_at(*cached_, now, runtime_.random_unit());
    spdlog::info("token for {} refreshed ({}), expires in {}, next refresh in {}", label_,
                 fingerprint(cached_->value),
                 format_duration(std::chrono::duration_cast<Seconds>(cached_->expires_at - now)),
                 format_duration(std::chrono::duration_cast<Seconds>(*next_refresh_ - now)));
    schedule_next(*next_refresh_);
    const AccessToken token = *cached_;
    waiters_.settle_if([&](const WaitInfo& w) -> std::optional<Result<AccessToken>> {
      if (satisfies(token, now, w.min_valid)) return token;
      return too_long(w.min_valid, *lifetime_);
    });
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
  const std::optional<AccessToken> stale = cached_;
  const TimePoint retry = *next_attempt_;
  const Error failed = waiting_error("refreshing failed");
  waiters_.settle_if([&](const WaitInfo& w) -> std::optional<Result<AccessToken>> {
    if (stale && satisfies(*stale, now, w.min_valid)) return *stale;
    if (!transient || retry > w.deadline) return failed;
    return std::nullopt;
  });
}

void TokenCache::schedule_next(TimePoint at) {
  if (timer_) timer_->cancel();
  const TimePoint now = runtime_.now();
  // Rounded up: a timer that fires before `at` (a Retry-After, a refresh time) would come too
  // early.
  const Millis delay = at > now ? std::chrono::ceil<Millis>(at - now) : Millis(0);
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

Error TokenCache::too_long(Seconds min_valid, Seconds lifetime) const {
  return make_error(ErrorCode::bad_request,
                    "min_valid " + format_duration(effective_min_valid(min_valid)) +
                        " is more than " + label_ + " can give: its tokens live " +
                        format_duration(lifetime) + "; ask for less");
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
