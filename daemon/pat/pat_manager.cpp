// PatManager: carries out the PAT decisions against the ledger and the token API. See
// pat_manager.h. This file: life cycle, serving, timers and status; minting is in
// pat_minting.cpp, reconcile and reaping in pat_reaping.cpp.
#include "daemon/pat/pat_manager.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/duration.h"

namespace dbx {

PatManager::PatManager(Runtime& runtime, TokenApi& api, PatLedger& ledger, PatPolicy policy,
                       std::string instance, std::string workspace, Seconds deadline)
    : rt_(runtime),
      api_(api),
      ledger_(ledger),
      policy_(policy),
      instance_(std::move(instance)),
      workspace_(std::move(workspace)),
      deadline_(deadline),
      waiters_(runtime, [this](const PatWait&) {
        std::string msg = "timed out after " + format_duration(deadline_) +
                          " waiting for Databricks to mint a PAT for workspace '" + workspace_ +
                          "'";
        if (last_error_) msg += " (last error: " + last_error_->message + ")";
        msg += "; dbxcred keeps trying in the background: retry shortly";
        return Result<ServedPat>(make_error(ErrorCode::upstream_unavailable, std::move(msg)));
      }) {}

PatManager::~PatManager() {
  for (auto* t : {&rotation_timer_, &reap_timer_, &reconcile_timer_})
    if (*t) (*t)->cancel();
}

void PatManager::start() {
  if (!ledger_.usable()) {
    // Without a trustworthy ledger we can neither mint nor tell orphans from tokens jobs hold.
    last_error_ = *ledger_.load_error();
    spdlog::error("pat {}: {}", workspace_, last_error_->message);
    return;
  }
  reconcile();
  schedule_reap();
}

void PatManager::stop() {
  stopped_ = true;
  for (auto* t : {&rotation_timer_, &reap_timer_, &reconcile_timer_})
    if (*t) (*t)->cancel();
  waiters_.settle_all(
      make_error(ErrorCode::upstream_unavailable, "dbxcred is shutting down; retry"));
}

void PatManager::reconfigure(PatPolicy policy) {
  policy_ = policy;
  schedule_rotation();
}

// ---- Serving ------------------------------------------------------------------------------------

void PatManager::answer(Callback done, Result<ServedPat> r) const {
  rt_.post([done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
}

void PatManager::serve(Callback done) const {
  answer(std::move(done), served());
}

ServedPat PatManager::served() const {
  return ServedPat{current_->value, current_->token_id, current_->expires};
}

Error PatManager::disabled_error() const {
  return make_error(ErrorCode::bad_request,
                    "PATs are turned off for workspace '" + workspace_ +
                        "' (\"pat\": false); use its AAD token instead (dbxcred aad)");
}

void PatManager::get(Seconds min_valid, Callback done) {
  if (stopped_)
    return answer(std::move(done),
                  make_error(ErrorCode::upstream_unavailable, "dbxcred is shutting down; retry"));
  if (!policy_.enabled) return answer(std::move(done), disabled_error());
  if (auto l = pat::lifetime_to_request(policy_, min_valid); !l)
    return answer(std::move(done), l.error());
  const TimePoint now = rt_.now();
  if (current_ && pat::satisfies(now, current_->expires, min_valid)) return serve(std::move(done));
  // Waiters answer inline; get() never does (its callers may hold locks of their own): post.
  waiters_.add(
      deadline_, PatWait{min_valid, mint_seq_},
      [&rt = rt_, done = std::move(done)](Result<ServedPat> r) mutable {
        rt.post([done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
      });
  if (!minting_) begin_mint();
}

std::optional<ServedPatView> PatManager::peek(Seconds min_valid) const {
  if (stopped_ || !policy_.enabled || !current_) return std::nullopt;
  if (!pat::satisfies(rt_.now(), current_->expires, min_valid)) return std::nullopt;
  if (!pat::lifetime_to_request(policy_, min_valid)) return std::nullopt;
  return ServedPatView{current_->value, current_->token_id, current_->expires};
}

Error PatManager::quota_error(Seconds min_valid) const {
  std::string msg = "workspace '" + workspace_ +
                    "': " + std::to_string(pat::active_count(rt_.now(), ledger_.records())) +
                    " of this agent's PATs are still valid (pat.max_active " +
                    std::to_string(policy_.max_active) +
                    ") and none can be deleted to make room for a new one";
  if (current_) {
    msg += "; the current PAT has " +
           format_duration(std::chrono::duration_cast<Seconds>(current_->expires - rt_.now())) +
           " left, less than the " + format_duration(min_valid) + " asked for";
  }
  msg += ". Ask for a smaller min_valid, wait for older PATs to expire, or raise pat.max_active";
  return make_error(ErrorCode::quota_exhausted, std::move(msg));
}

// ---- Timers -------------------------------------------------------------------------------------

void PatManager::schedule_rotation() {
  if (rotation_timer_) rotation_timer_->cancel();
  rotation_timer_.reset();
  rotation_at_.reset();
  // Only a PAT someone can be served needs a successor ahead of time; without one the next get()
  // mints on demand.
  if (stopped_ || !current_ || !policy_.enabled) return;
  TimePoint at = pat::rotation_due_at(policy_, current_->created, current_->expires);
  if (retry_rotation_at_) at = std::max(at, *retry_rotation_at_);
  if (at >= current_->expires) return;  // nothing to gain; the next get() mints
  rotation_at_ = at;
  const auto delay = std::max(Millis(0), std::chrono::ceil<Millis>(at - rt_.now()));
  rotation_timer_ = rt_.after(delay, guarded([this] {
                                rotation_timer_.reset();
                                rotation_at_.reset();
                                if (!minting_) begin_mint();
                              }));
}

void PatManager::schedule_reap() {
  if (reap_timer_) reap_timer_->cancel();
  reap_timer_.reset();
  if (stopped_) return;
  std::optional<TimePoint> next;
  for (const auto& r : ledger_.records())
    if (r.token_id && r.expires && (!next || *r.expires < *next)) next = *r.expires;
  if (current_ && (!next || current_->expires < *next)) next = current_->expires;
  if (!next) return;
  const auto delay = std::max(Millis(0), std::chrono::ceil<Millis>(*next - rt_.now()));
  reap_timer_ = rt_.after(delay, guarded([this] {
                            reap_timer_.reset();
                            reap_expired();
                          }));
}

void PatManager::schedule_reconcile(Seconds delay) {
  if (stopped_) return;
  if (reconcile_timer_) reconcile_timer_->cancel();
  // +-10% jitter so that a fleet started together does not list in lockstep.
  const double factor = 0.9 + 0.2 * rt_.random_unit();
  const auto jittered = std::chrono::duration_cast<Millis>(delay * factor);
  reconcile_timer_ = rt_.after(jittered, guarded([this] {
                                 reconcile_timer_.reset();
                                 reconcile();
                               }));
}

PatStatus PatManager::status() const {
  PatStatus s;
  s.enabled = policy_.enabled;
  s.ledger_ok = ledger_.usable();
  if (current_) {
    s.current_token_id = current_->token_id;
    s.current_expires_at = current_->expires;
  }
  s.active = pat::active_count(rt_.now(), ledger_.records());
  s.max_active = policy_.max_active;
  s.next_rotation = rotation_at_;
  if (last_error_) s.last_error = last_error_->message;
  s.mint_in_flight = minting_;
  s.last_reconcile = last_reconcile_;
  s.mints = mints_;
  s.mint_failures = mint_failures_;
  s.deletions = deletions_;
  return s;
}

}  // namespace dbx
