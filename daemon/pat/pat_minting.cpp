// PatManager, minting: the write-ahead intent, room-making deletes, token/create and what its
// answer (or its absence) means for the ledger. See pat_manager.h.
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/duration.h"
#include "daemon/pat/pat_manager.h"

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
  // A waiter valid when it arrived may not be since a reload changed the policy: it gets why.
  waiters_.settle_if([this](const PatWait& w) -> std::optional<Result<ServedPat>> {
    if (auto l = pat::lifetime_to_request(policy_, w.min_valid); !l) return l.error();
    return std::nullopt;
  });
  const Seconds largest = largest_min_valid();
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
    return mint_failed(quota_error(largest_min_valid()));
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
  api_.create(lifetime, pat::make_comment(instance_, workspace_, ledger_.agent_id(), nonce),
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
  // A PAT without expiry (-1: a workspace policy or an older API) was not asked for: it is
  // scheduled, reaped and counted as if it had the lifetime asked for.
  if (!minted.info.expires) minted.info.expires = minted.info.created + lifetime;
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
  const TimePoint created = minted.info.created;
  const TimePoint expires = *minted.info.expires;
  if (current_) spdlog::info("pat {}: token {} superseded", workspace_, current_->token_id);
  current_ = Current{std::move(minted.value), minted.info.token_id, nonce, created, expires};
  current_->rotation_jitter = rt_.random_unit();
  spdlog::info("pat {}: minted token {} expiring at {}", workspace_, current_->token_id,
               unix_text(expires));
  schedule_rotation();
  schedule_reap();
  schedule_check();

  const TimePoint now = rt_.now();
  waiters_.settle_if([&](const PatWait& w) -> std::optional<Result<ServedPat>> {
    if (pat::satisfies(now, current_->expires, w.min_valid)) return served_for(w.min_valid);
    // This mint was sized for it and still falls short: Databricks shortened the lifetime.
    if (w.joined < seq)
      return make_error(ErrorCode::upstream_unavailable,
                        "Databricks issued a PAT for workspace '" + workspace_ + "' valid for " +
                            format_duration(std::chrono::duration_cast<Seconds>(expires - now)) +
                            ", less than the " + format_duration(w.min_valid) +
                            " asked for; the workspace may cap token lifetimes: lower min_valid "
                            "or pat.lifetime");
    return std::nullopt;  // arrived during the mint with a larger min_valid
  });
  if (!waiters_.empty()) begin_mint();
}

Seconds PatManager::largest_min_valid() const {
  Seconds largest{0};
  waiters_.for_each([&](const PatWait& w) { largest = std::max(largest, w.min_valid); });
  return largest;
}

void PatManager::mint_failed(Error e) {
  minting_ = false;
  ++mint_failures_;
  last_error_ = e;
  spdlog::warn("pat {}: no new PAT: {}", workspace_, e.message);
  const TimePoint now = rt_.now();
  waiters_.settle_if([&](const PatWait& w) -> std::optional<Result<ServedPat>> {
    if (current_ && pat::satisfies(now, current_->expires, w.min_valid))
      return served_for(w.min_valid);  // the current PAT still does for this caller
    return e;
  });
  // A background rotation retries later, unless the upstream asked for longer.
  Seconds backoff = pat::kRetryAfterFailure;
  if (e.retry_after) backoff = std::max(backoff, *e.retry_after);
  retry_rotation_at_ = now + backoff;
  schedule_rotation();
}

}  // namespace dbx
