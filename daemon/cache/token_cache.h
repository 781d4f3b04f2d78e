// TokenCache: the token of one (credential, resource) pair. Serves the cached token while it has
// `min_valid` left, refreshes it in the background before it expires, makes concurrent callers
// share one upstream call (single-flight), keeps serving a still-valid token while refreshes fail
// (stale-on-error), backs off after failures and never calls earlier than a Retry-After allows.
// Runs on the loop thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/cache/waiters.h"
#include "daemon/credentials/credential_source.h"
#include "daemon/runtime.h"

namespace dbx {

struct TokenCacheStatus {
  std::string resource;
  std::optional<TimePoint> expires_at;    // of the cached token
  std::optional<TimePoint> next_refresh;  // next planned upstream call (refresh or retry)
  std::optional<std::string> last_error;  // of the last failed refresh, cleared on success
  bool in_flight = false;
  int consecutive_failures = 0;
  std::uint64_t hits = 0;            // requests served from the cache without waiting
  std::uint64_t waits = 0;           // requests that had to wait for an upstream call
  std::uint64_t fetches = 0;         // upstream calls made
  std::uint64_t fetch_failures = 0;  // upstream calls that failed
};

class TokenCache {
 public:
  // `label` names the pair in messages ("credential ci-sp, resource 2ff8…"); `deadline` bounds how
  // long a client waits for an upstream call.
  TokenCache(Runtime& runtime, CredentialSource& source, std::string resource, std::string label,
             Seconds deadline);
  ~TokenCache();
  TokenCache(const TokenCache&) = delete;
  TokenCache& operator=(const TokenCache&) = delete;

  // Fetches in the background now (eager start-up); a failure is retried on the backoff schedule.
  void start();
  // Calls `done` with a token valid for at least effective_min_valid(min_valid) — at once when the
  // cache holds one, else after the (shared) upstream call, or with an error at the deadline.
  void get(Seconds min_valid, TokenCallback done);
  TokenCacheStatus status() const;
  // How long the cached token lived when it was received; nullopt before the first token.
  std::optional<Seconds> lifetime() const { return lifetime_; }
  // After the wall clock stepped by `step` (ClockWatch: NTP, date -s, resume from suspend): re-arms
  // the refresh by the wall clock at once (a refresh now due starts now). A backoff is a duration:
  // a backward step moves it back too, so that no retry waits the step out.
  void reschedule(Millis step);
  const std::string& resource() const { return resource_; }
  // At exit, once the loop has stopped: drops the waiting callbacks unanswered. They may hold the
  // broker that owns this cache (a cycle nothing else would break).
  void abandon_waiters() { waiters_.abandon(); }

 private:
  struct WaitInfo {
    Seconds min_valid;
    TimePoint deadline;  // when this client gives up
  };

  void begin_fetch();
  void on_fetched(Result<AccessToken> result);
  void schedule_next(TimePoint at);
  Error waiting_error(const char* why) const;

  Runtime& runtime_;
  CredentialSource& source_;
  std::string resource_;
  std::string label_;
  Seconds deadline_;

  std::optional<AccessToken> cached_;
  std::optional<Seconds> lifetime_;
  bool in_flight_ = false;
  int failures_ = 0;
  std::optional<Error> last_error_;
  std::optional<TimePoint> next_attempt_;  // no upstream call before this (backoff / Retry-After)
  std::optional<TimePoint> next_refresh_;
  std::shared_ptr<Timer> timer_;
  TokenCacheStatus counters_;
  // Callbacks hold a weak_ptr to this: a cache dropped on reload ignores late upstream answers.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  Waiters<Result<AccessToken>, WaitInfo> waiters_;  // last: its expiry calls waiting_error()
};

}  // namespace dbx
