// PatManager: carries out the PAT decisions against the ledger and the token API. See
// pat_manager.h.
#include "daemon/pat/pat_manager.h"

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/duration.h"

namespace dbx {
namespace {

// 128 random bits as 32 lowercase hex digits: unique per mint, so a token/list entry can be matched
// to exactly one ledger intent. nullopt if the system has no randomness to give.
std::optional<std::string> new_nonce() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return std::nullopt;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 0xf];
  }
  return out;
}

// An answer proving token/create did nothing: a 4xx (refused, quota, throttled). Anything else —
// no answer (dropped connection, timeout), 5xx from a gateway, a 2xx we could not parse — may hide
// a PAT created server-side: the intent stays until reconcile has seen token/list.
bool create_surely_failed(const Error& e) {
  return e.upstream_status >= 400 && e.upstream_status < 500;
}

// After a create whose outcome is unknown, reconcile this soon: long enough for the server to have
// finished the request, short enough that a lost PAT does not hold quota for long.
constexpr Seconds kReconcileAfterUnknownCreate{30};

std::string unix_text(TimePoint t) {
  return std::to_string(to_unix_seconds(t));
}

}  // namespace

template <class F>
auto PatManager::guarded(F f) {
  return [weak = std::weak_ptr<int>(alive_), f = std::move(f)](auto&&... args) mutable {
    if (weak.expired()) return;  // the manager is gone (shutdown, or a simulated crash in tests)
    f(std::forward<decltype(args)>(args)...);
  };
}

PatManager::PatManager(Runtime& runtime, TokenApi& api, PatLedger& ledger, PatPolicy policy,
                       std::string instance, std::string workspace, Seconds deadline)
    : rt_(runtime),
      api_(api),
      ledger_(ledger),
      policy_(policy),
      instance_(std::move(instance)),
      workspace_(std::move(workspace)),
      deadline_(deadline) {}

PatManager::~PatManager() {
  for (auto* t : {&rotation_timer_, &reap_timer_, &reconcile_timer_})
    if (*t) (*t)->cancel();
  for (auto& w : waiters_) w.deadline->cancel();
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
  auto waiters = std::move(waiters_);
  waiters_.clear();
  for (auto& w : waiters)
    answer_waiter(w,
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
  answer(std::move(done), ServedPat{current_->value, current_->token_id, current_->expires});
}

void PatManager::answer_waiter(Waiter& w, Result<ServedPat> r) const {
  w.deadline->cancel();
  answer(std::move(w.done), std::move(r));
}

void PatManager::serve_waiter(Waiter& w) const {
  w.deadline->cancel();
  serve(std::move(w.done));
}

void PatManager::expire_waiter(std::uint64_t id) {
  auto it =
      std::find_if(waiters_.begin(), waiters_.end(), [id](const Waiter& w) { return w.id == id; });
  if (it == waiters_.end()) return;
  Waiter w = std::move(*it);
  waiters_.erase(it);
  std::string msg = "timed out after " + format_duration(deadline_) +
                    " waiting for Databricks to mint a PAT for workspace '" + workspace_ + "'";
  if (last_error_) msg += " (last error: " + last_error_->message + ")";
  msg += "; dbxcred keeps trying in the background: retry shortly";
  answer_waiter(w, make_error(ErrorCode::upstream_unavailable, std::move(msg)));
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
  const std::uint64_t id = next_waiter_id_++;
  auto timer = rt_.after(std::chrono::duration_cast<Millis>(deadline_),
                         guarded([this, id] { expire_waiter(id); }));
  waiters_.push_back(Waiter{min_valid, std::move(done), mint_seq_, id, std::move(timer)});
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

// ---- Minting ------------------------------------------------------------------------------------

void PatManager::begin_mint() {
  if (minting_ || stopped_) return;
  const TimePoint now = rt_.now();
  minting_ = true;
  const std::uint64_t seq = ++mint_seq_;

  if (!policy_.enabled) return mint_failed(disabled_error());
  if (!ledger_.usable()) return mint_failed(*ledger_.load_error());
  if (not_before_ && now < *not_before_) {
    auto e = make_error(
        ErrorCode::upstream_unavailable,
        "Databricks asked dbxcred to wait before minting another PAT for workspace '" + workspace_ +
            "'; retry in " + format_duration(std::chrono::ceil<Seconds>(*not_before_ - now)));
    e.retry_after = std::chrono::ceil<Seconds>(*not_before_ - now);
    return mint_failed(std::move(e));
  }

  // The lifetime for the most demanding waiter (a background rotation has none: min_valid 0).
  Seconds largest{0};
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (auto l = pat::lifetime_to_request(policy_, it->min_valid); !l) {
      // Valid when it arrived, but the policy has since been reloaded.
      answer_waiter(*it, l.error());
      it = waiters_.erase(it);
    } else {
      largest = std::max(largest, it->min_valid);
      ++it;
    }
  }
  const Seconds lifetime = *pat::lifetime_to_request(policy_, largest);

  const auto plan = pat::plan_mint(now, policy_.max_active, ledger_.records(),
                                   current_ ? std::optional(current_->nonce) : std::nullopt);
  if (!plan.can_mint) return mint_failed(quota_error(largest));
  if (plan.delete_first.empty()) return create(seq, lifetime);
  make_room_then_create(seq, lifetime, plan.delete_first);
}

void PatManager::make_room_then_create(std::uint64_t seq, Seconds lifetime,
                                       std::vector<std::string> nonces) {
  auto remaining = std::make_shared<std::size_t>(nonces.size());
  auto failure = std::make_shared<std::optional<Error>>();
  for (const auto& nonce : nonces) {
    const auto* rec = ledger_.find(nonce);
    if (!rec || !rec->token_id) {  // forgotten meanwhile (reconcile): nothing to delete
      if (--*remaining == 0) create(seq, lifetime);
      continue;
    }
    spdlog::info("pat {}: deleting superseded token {} to stay within max_active {}", workspace_,
                 *rec->token_id, policy_.max_active);
    delete_token(*rec->token_id, nonce, [this, seq, lifetime, remaining, failure](Status s) {
      if (!s && !*failure) *failure = s.error();
      if (--*remaining > 0) return;
      if (*failure) return mint_failed(**failure);
      create(seq, lifetime);
    });
  }
}

void PatManager::create(std::uint64_t seq, Seconds lifetime) {
  if (stopped_) return mint_failed(make_error(ErrorCode::upstream_unavailable, "shutting down"));
  // Authenticate first: when the AAD token cannot be had, token/create is never sent, and an
  // intent written for it would count against max_active until a reconcile — which needs the
  // same AAD token — forgets it.
  api_.authenticate(guarded([this, seq, lifetime](Status s) {
    if (stopped_) return mint_failed(make_error(ErrorCode::upstream_unavailable, "shutting down"));
    if (!s) return mint_failed(s.error());
    create_authenticated(seq, lifetime);
  }));
}

void PatManager::create_authenticated(std::uint64_t seq, Seconds lifetime) {
  const TimePoint now = rt_.now();
  // The invariant, checked right before token/create whatever happened while deletes ran.
  if (pat::active_count(now, ledger_.records()) + 1 > policy_.max_active) {
    Seconds largest{0};
    for (const auto& w : waiters_) largest = std::max(largest, w.min_valid);
    return mint_failed(quota_error(largest));
  }
  const auto random = new_nonce();
  if (!random) {
    // Without randomness a nonce could match another mint's: refuse rather than guess.
    return mint_failed(make_error(ErrorCode::internal,
                                  "no randomness for a PAT nonce (OpenSSL RAND_bytes failed)"));
  }
  const std::string& nonce = *random;
  if (auto s = ledger_.record_intent(nonce, now); !s) return mint_failed(s.error());
  inflight_nonce_ = nonce;
  spdlog::info("pat {}: minting a PAT for {} (nonce {})", workspace_, format_duration(lifetime),
               nonce);
  api_.create(lifetime, pat::make_comment(instance_, workspace_, nonce),
              guarded([this, seq, nonce, lifetime](Result<MintedPat> r) {
                on_created(seq, nonce, lifetime, std::move(r));
              }));
}

void PatManager::on_created(std::uint64_t seq, const std::string& nonce, Seconds lifetime,
                            Result<MintedPat> r) {
  inflight_nonce_.reset();
  if (listing_) finished_during_list_.insert(nonce);
  if (!r) {
    Error e = r.error();
    if (create_surely_failed(e)) {
      if (auto s = ledger_.remove(nonce); !s)
        spdlog::warn("pat {}: {}", workspace_, s.error().message);  // reconcile forgets it later
    } else {
      spdlog::warn("pat {}: token/create outcome unknown ({}); reconciling in {}", workspace_,
                   e.message, format_duration(kReconcileAfterUnknownCreate));
      schedule_reconcile(kReconcileAfterUnknownCreate);
    }
    if (e.code == ErrorCode::quota_exhausted) {
      e.message = "workspace '" + workspace_ +
                  "': Databricks refused a new PAT because the service principal has reached its "
                  "token quota (600 per workspace, shared with humans and other agents using it). "
                  "Delete unused PATs of this service principal or lower pat.max_active on other "
                  "agents; AAD tokens (dbxcred aad) still work. Upstream: " +
                  e.message;
    }
    if (e.retry_after) not_before_ = rt_.now() + *e.retry_after;
    return mint_failed(std::move(e));
  }
  MintedPat minted = std::move(r).value();
  if (auto s = ledger_.record_minted(nonce, minted.info); !s) {
    // The ledger does not know this PAT's id: it must not be handed out. Delete it now; if that
    // fails too, the intent makes the next reconcile delete it.
    delete_token(minted.info.token_id, nonce);
    return mint_failed(s.error());
  }
  ++mints_;
  minting_ = false;
  last_error_.reset();
  not_before_.reset();
  retry_rotation_at_.reset();
  // A PAT without expiry (-1) was not asked for; schedule it as if it had the lifetime asked for.
  const TimePoint created = minted.info.created;
  const TimePoint expires = minted.info.expires.value_or(rt_.now() + lifetime);
  if (current_) spdlog::info("pat {}: token {} superseded", workspace_, current_->token_id);
  current_ = Current{std::move(minted.value), minted.info.token_id, nonce, created, expires};
  spdlog::info("pat {}: minted token {} expiring at {}", workspace_, current_->token_id,
               unix_text(expires));
  schedule_rotation();
  schedule_reap();

  const TimePoint now = rt_.now();
  auto waiters = std::move(waiters_);
  waiters_.clear();
  for (auto& w : waiters) {
    if (pat::satisfies(now, current_->expires, w.min_valid)) {
      serve_waiter(w);
    } else if (w.joined < seq) {
      // This mint was sized for it and still falls short: Databricks shortened the lifetime.
      answer_waiter(
          w, make_error(ErrorCode::upstream_unavailable,
                        "Databricks issued a PAT for workspace '" + workspace_ + "' valid for " +
                            format_duration(std::chrono::duration_cast<Seconds>(expires - now)) +
                            ", less than the " + format_duration(w.min_valid) +
                            " asked for; the workspace may cap token lifetimes: lower min_valid "
                            "or pat.lifetime"));
    } else {
      waiters_.push_back(std::move(w));  // arrived during the mint with a larger min_valid
    }
  }
  if (!waiters_.empty()) begin_mint();
}

void PatManager::mint_failed(Error e) {
  minting_ = false;
  ++mint_failures_;
  last_error_ = e;
  spdlog::warn("pat {}: no new PAT: {}", workspace_, e.message);
  auto waiters = std::move(waiters_);
  waiters_.clear();
  const TimePoint now = rt_.now();
  for (auto& w : waiters) {
    if (current_ && pat::satisfies(now, current_->expires, w.min_valid))
      serve_waiter(w);  // the current PAT still does for this caller
    else
      answer_waiter(w, e);
  }
  // A background rotation retries later, unless the upstream asked for longer.
  Seconds backoff = pat::kRetryAfterFailure;
  if (e.retry_after) backoff = std::max(backoff, *e.retry_after);
  retry_rotation_at_ = now + backoff;
  schedule_rotation();
}

// ---- Reconcile and reaping ----------------------------------------------------------------------

void PatManager::reconcile() {
  if (listing_ || stopped_) return;
  if (!ledger_.usable()) return;
  listing_ = true;
  finished_during_list_.clear();
  api_.list(guarded([this](Result<std::vector<PatInfo>> r) { on_listed(std::move(r)); }));
}

void PatManager::on_listed(Result<std::vector<PatInfo>> r) {
  listing_ = false;
  if (!r) {
    last_error_ = r.error();
    // Soon again, not in kReconcileInterval: an intent whose create has an unknown outcome counts
    // against max_active until a list settles it.
    Seconds retry = pat::kRetryAfterFailure;
    if (r.error().retry_after) retry = std::max(retry, *r.error().retry_after);
    schedule_reconcile(retry);
    spdlog::warn("pat {}: reconcile: token/list failed: {}; retrying in {}s", workspace_,
                 r.error().message, retry.count());
    return;
  }
  schedule_reconcile(pat::kReconcileInterval);
  std::set<std::string> protect = std::move(finished_during_list_);
  finished_during_list_.clear();
  if (inflight_nonce_) protect.insert(*inflight_nonce_);
  const TimePoint now = rt_.now();
  const auto plan = pat::plan_reconcile(now, instance_, workspace_, ledger_.records(), *r, protect);
  last_reconcile_ = now;
  if (!plan.forget.empty()) {
    spdlog::info("pat {}: reconcile: forgetting {} ledger record(s) whose token is gone",
                 workspace_, plan.forget.size());
    forget(plan.forget);
  }
  for (const auto& d : plan.deletions) {
    spdlog::info("pat {}: reconcile: deleting token {} ({})", workspace_, d.token_id, d.reason);
    delete_token(d.token_id, d.forget_nonce);
  }
  schedule_reap();
}

void PatManager::forget(const std::vector<std::string>& nonces) {
  if (current_ && std::find(nonces.begin(), nonces.end(), current_->nonce) != nonces.end()) {
    spdlog::warn("pat {}: current token {} is gone from the workspace", workspace_,
                 current_->token_id);
    current_.reset();
    schedule_rotation();
  }
  if (auto s = ledger_.remove(nonces); !s) {
    last_error_ = s.error();
    spdlog::warn("pat {}: {}", workspace_, s.error().message);
  }
}

void PatManager::delete_token(const std::string& token_id, std::optional<std::string> forget_nonce,
                              std::function<void(Status)> then) {
  if (!then) then = [](Status) {};
  if (current_ && current_->token_id == token_id) {
    current_.reset();  // never serve a PAT we are deleting
    schedule_rotation();
  }
  if (!deleting_.insert(token_id).second) {
    then(ok_status());  // already being deleted; that delete also forgets the record
    return;
  }
  api_.remove(token_id, guarded([this, token_id, forget_nonce, then](Status s) {
                deleting_.erase(token_id);
                if (!s) {
                  last_error_ = s.error();
                  spdlog::warn("pat {}: deleting token {} failed: {}", workspace_, token_id,
                               s.error().message);
                  return then(s);
                }
                ++deletions_;
                if (forget_nonce) forget({*forget_nonce});
                then(ok_status());
              }));
}

void PatManager::reap_expired() {
  const TimePoint now = rt_.now();
  if (current_ && current_->expires <= now) {
    current_.reset();
    schedule_rotation();
  }
  for (const auto& r : pat::expired_records(now, ledger_.records())) {
    spdlog::info("pat {}: token {} expired; deleting it", workspace_, *r.token_id);
    delete_token(*r.token_id, r.nonce);
  }
  schedule_reap();
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
