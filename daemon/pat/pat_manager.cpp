// PatManager: carries out the PAT machines' actions against the ledger and the token API. See
// pat_manager.h. This file: life cycle, serving, timers and status; minting is in
// pat_minting.cpp, reconcile and reaping in pat_reaping.cpp, the revocation check in
// pat_revocation.cpp.
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
  for (auto* t : {&rotation_timer_, &reap_timer_, &reconcile_timer_, &check_timer_})
    if (*t) (*t)->cancel();
}

void PatManager::start() {
  if (!ledger_.usable()) {
    // Without a trustworthy ledger we can neither mint nor tell orphans from tokens jobs hold.
    last_error_ = *ledger_.load_error();
    spdlog::error("pat {}: {}", workspace_, last_error_->message);
    return;
  }
  // Records of PATs that never expire (expiry_time -1) written by older versions: reaped by their
  // creation time plus the longest lifetime this agent may ask for.
  const std::vector<pat::PatRecord> records = ledger_.records();  // updated as we go
  for (const auto& r : records) {
    if (!r.token_id || r.expires) continue;
    PatInfo info{*r.token_id, "", r.created, r.created + policy_.max_lifetime};
    if (auto s = ledger_.record_minted(r.nonce, info); !s)
      spdlog::warn("pat {}: {}", workspace_, s.error().message);
  }
  reconcile();
  schedule_reap();
}

void PatManager::stop() {
  mint_.resume(pat::mint::Stop{});
  reconcile_.resume(pat::reconcile::Stop{});
  check_.resume(pat::check::Stop{});
  for (auto* t : {&rotation_timer_, &reap_timer_, &reconcile_timer_, &check_timer_})
    if (*t) (*t)->cancel();
  waiters_.settle_all(
      make_error(ErrorCode::upstream_unavailable, "dbxcred is shutting down; retry"));
}

void PatManager::reconfigure(PatPolicy policy) {
  policy_ = policy;
  schedule_rotation();
  schedule_check();
}

// ---- Serving ------------------------------------------------------------------------------------

void PatManager::answer(Callback done, Result<ServedPat> r) const {
  rt_.post([done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
}

void PatManager::keep_promise(Seconds min_valid) {
  const TimePoint until = rt_.now() + min_valid;
  if (until <= current_->promised) return;
  // Rounded up so that the next kPromiseStep of clients is served from the fast path.
  const TimePoint recorded = std::min(current_->expires, until + pat::kPromiseStep);
  if (auto s = ledger_.record_promise(current_->nonce, recorded); !s) {
    // Kept in memory: only a restart before the disk is fixed could forget it (and a restart
    // with an unusable ledger deletes nothing).
    spdlog::warn("pat {}: {}", workspace_, s.error().message);
  }
  current_->promised = recorded;
}

void PatManager::serve(Seconds min_valid, Callback done) {
  answer(std::move(done), served_for(min_valid));
}

ServedPat PatManager::served_for(Seconds min_valid) {
  keep_promise(min_valid);
  return ServedPat{current_->value, current_->token_id, current_->expires};
}

std::optional<Error> PatManager::limit_forced(Seconds min_valid, std::optional<std::uint32_t> uid) {
  const TimePoint now = rt_.now();
  // Forcing: the current PAT would still be served to others (its rotation is not due) but not
  // to this caller. Without a current PAT, or once its rotation is due, a mint is no one's fault.
  if (!current_ || now >= pat::rotation_due_at(policy_, current_->created, current_->expires))
    return std::nullopt;
  auto& bucket = forced_[uid.value_or(UINT32_MAX)];
  if (pat::take_forced(bucket, now)) return std::nullopt;
  ++rate_limited_;
  const Seconds wait = pat::forced_retry_after(bucket, now);
  const std::string who = uid ? "uid " + std::to_string(*uid) : std::string("loopback clients");
  auto e = make_error(
      ErrorCode::rate_limited,
      who + " forced " + std::to_string(pat::kForcedBurst) + " early PAT rotations in workspace '" +
          workspace_ + "' recently (the current PAT has " +
          format_duration(std::chrono::duration_cast<Seconds>(current_->expires - now)) +
          " left, less than the " + format_duration(min_valid) + " asked for); retry in " +
          format_duration(wait) + ", ask for a smaller min_valid, or raise pat.lifetime");
  e.retry_after = wait;
  return e;
}

void PatManager::get(Seconds min_valid, std::optional<std::uint32_t> uid, Callback done) {
  if (mint_.stopped())
    return answer(std::move(done),
                  make_error(ErrorCode::upstream_unavailable, "dbxcred is shutting down; retry"));
  if (auto l = pat::lifetime_to_request(policy_, min_valid); !l)
    return answer(std::move(done), l.error());
  const TimePoint now = rt_.now();
  if (current_ && pat::satisfies(now, current_->expires, min_valid))
    return serve(min_valid, std::move(done));
  if (auto limited = limit_forced(min_valid, uid)) return answer(std::move(done), *limited);
  // Waiters answer inline (waiters.h); get() promises never to, so its `done` posts.
  waiters_.add(
      deadline_, PatWait{min_valid, mint_.seq()},
      [&rt = rt_, done = std::move(done)](Result<ServedPat> r) mutable {
        rt.post([done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
      });
  want_mint();
}

std::optional<ServedPatView> PatManager::peek(Seconds min_valid) const {
  if (!current_ || mint_.stopped()) return std::nullopt;
  if (!pat::satisfies(rt_.now(), current_->expires, min_valid)) return std::nullopt;
  if (rt_.now() + min_valid > current_->promised) return std::nullopt;  // get() records it
  if (!pat::lifetime_to_request(policy_, min_valid)) return std::nullopt;
  return ServedPatView{current_->value, current_->token_id, current_->expires, &current_->answer};
}

Error PatManager::quota_error(Seconds min_valid) const {
  std::string msg = "workspace '" + workspace_ +
                    "': " + std::to_string(pat::active_count(rt_.now(), ledger_.records())) +
                    " of this agent's PATs are still valid (pat.max_active " +
                    std::to_string(policy_.max_active) +
                    ") and none can be deleted to make room for a new one (each is current, "
                    "or was served with a min_valid that has not passed yet)";
  if (current_) {
    msg += "; the current PAT has " +
           format_duration(std::chrono::duration_cast<Seconds>(current_->expires - rt_.now())) +
           " left, less than the " + format_duration(min_valid) + " asked for";
  }
  msg += ". Ask for a smaller min_valid, wait for older PATs to expire, or raise pat.max_active";
  return make_error(ErrorCode::quota_exhausted, std::move(msg));
}

// ---- Timers -------------------------------------------------------------------------------------

void PatManager::reschedule(Millis step) {
  mint_.resume(pat::mint::ClockStepped{step});
  if (step < Millis(0) && retry_rotation_at_) retry_rotation_at_ = *retry_rotation_at_ + step;
  schedule_rotation();
  schedule_reap();
}

void PatManager::schedule_rotation() {
  if (rotation_timer_) rotation_timer_->cancel();
  rotation_timer_.reset();
  rotation_at_.reset();
  // Only a PAT someone can be served needs a successor ahead of time; without one the next get()
  // mints on demand.
  if (mint_.stopped() || !current_) return;
  TimePoint at = pat::rotation_start_at(policy_, current_->created, current_->expires,
                                        current_->rotation_jitter);
  if (retry_rotation_at_) at = std::max(at, *retry_rotation_at_);
  if (at >= current_->expires) return;  // nothing to gain; the next get() mints
  rotation_at_ = at;
  const auto delay = std::max(Millis(0), std::chrono::ceil<Millis>(at - rt_.now()));
  rotation_timer_ = rt_.after(delay, guarded([this] {
                                rotation_timer_.reset();
                                rotation_at_.reset();
                                want_mint();
                              }));
}

void PatManager::schedule_reap() {
  if (reap_timer_) reap_timer_->cancel();
  reap_timer_.reset();
  if (mint_.stopped()) return;
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
  if (reconcile_.stopped()) return;
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
  s.mint_in_flight = mint_.in_flight();
  s.last_reconcile = last_reconcile_;
  s.mints = mints_;
  s.mint_failures = mint_failures_;
  s.deletions = deletions_;
  s.revocations = revocations_;
  s.last_revocation = last_revocation_;
  s.rate_limited = rate_limited_;
  s.ledger_note = ledger_note_;
  return s;
}

}  // namespace dbx
