// PatManager, minting: MintFsm's actions carried out — the room-making deletes, authenticate, the
// write-ahead intent, token/create, recording the PAT and answering the waiters. What the answers
// mean is the machine's (pat_mint_fsm.h). See pat_manager.h.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/duration.h"
#include "common/encoding.h"
#include "daemon/pat/pat_manager.h"

namespace dbx {
namespace {

// 128 random bits as 32 lowercase hex digits: unique per mint, so a token/list entry can be matched
// to exactly one ledger intent. nullopt if the system has no randomness to give.
std::optional<std::string> new_nonce() {
  return random_hex(16);
}

std::string unix_text(TimePoint t) {
  return std::to_string(to_unix_seconds(t));
}

}  // namespace

// ---- Minting ------------------------------------------------------------------------------------

void PatManager::want_mint() {
  carry_out(mint_.resume(pat::mint::Wanted{}));
}

// Actions whose answer is at hand (the ledger, the clock) resume the machine at once; the others
// start I/O whose callback resumes it.
void PatManager::carry_out(pat::MintAction a) {
  using Kind = pat::MintAction::Kind;
  for (;;) {
    switch (a.kind) {
      case Kind::none:
        return;
      case Kind::check_ledger:
        a = mint_.resume(check_ledger());
        continue;
      case Kind::size:
        a = mint_.resume(size_mint());
        continue;
      case Kind::make_room:
        return make_room(a.nonces);
      case Kind::authenticate:
        return authenticate();
      case Kind::write_intent:
        a = mint_.resume(write_intent());
        continue;
      case Kind::create:
        return send_create(std::move(*a.auth), a.nonce, a.lifetime);
      case Kind::create_failed:
        return create_failed(std::move(a));
      case Kind::record:
        a = mint_.resume(pat::mint::Recorded{ledger_.record_minted(a.nonce, a.pat->info)});
        continue;
      case Kind::minted:
        return minted(std::move(a));
      case Kind::discard:
        // Delete it now; if that fails too, the intent makes the next reconcile delete it.
        delete_token(a.pat->info.token_id, a.nonce);
        return mint_failed(std::move(a.error));
      case Kind::failed:
        return mint_failed(refusal_error(a));
    }
  }
}

pat::mint::LedgerChecked PatManager::check_ledger() const {
  pat::mint::LedgerChecked c{rt_.now(), std::nullopt};
  if (!ledger_.usable()) c.ledger_error = *ledger_.load_error();
  return c;
}

pat::mint::Sized PatManager::size_mint() {
  // The lifetime for the most demanding waiter (a background rotation has none: min_valid 0).
  // A waiter valid when it arrived may not be since a reload changed the policy: it gets why.
  waiters_.settle_if([this](const PatWait& w) -> std::optional<Result<ServedPat>> {
    if (auto l = pat::lifetime_to_request(policy_, w.min_valid); !l) return l.error();
    return std::nullopt;
  });
  return pat::mint::Sized{*pat::lifetime_to_request(policy_, largest_min_valid()),
                          pat::plan_mint(rt_.now(), policy_.max_active, ledger_.records(),
                                         current_ ? std::optional(current_->nonce) : std::nullopt)};
}

void PatManager::make_room(const std::vector<std::string>& nonces) {
  for (const auto& nonce : nonces) {
    const auto* rec = ledger_.find(nonce);
    if (!rec || !rec->token_id) {  // forgotten meanwhile (reconcile): nothing to delete
      carry_out(mint_.resume(pat::mint::Deleted{ok_status()}));
      continue;
    }
    spdlog::info("pat {}: deleting superseded token {} to stay within max_active {}", workspace_,
                 *rec->token_id, policy_.max_active);
    delete_token(*rec->token_id, nonce,
                 [this](Status s) { carry_out(mint_.resume(pat::mint::Deleted{std::move(s)})); });
  }
}

void PatManager::authenticate() {
  api_.authenticate(guarded([this](Result<WorkspaceHeaders> auth) {
    const bool room = pat::active_count(rt_.now(), ledger_.records()) + 1 <= policy_.max_active;
    carry_out(mint_.resume(pat::mint::Authenticated{std::move(auth), room}));
  }));
}

pat::mint::IntentWritten PatManager::write_intent() {
  auto nonce = new_nonce();
  if (!nonce) {
    // Without randomness a nonce could match another mint's: refuse rather than guess.
    return {make_error(ErrorCode::internal,
                       "no randomness for a PAT nonce (OpenSSL RAND_bytes failed)")};
  }
  if (auto s = ledger_.record_intent(*nonce, rt_.now()); !s) return {s.error()};
  return {std::move(*nonce)};
}

void PatManager::send_create(WorkspaceHeaders auth, const std::string& nonce, Seconds lifetime) {
  spdlog::info("pat {}: minting a PAT for {} (nonce {})", workspace_, format_duration(lifetime),
               nonce);
  api_.create(std::move(auth), lifetime,
              pat::make_comment(instance_, workspace_, ledger_.agent_id(), nonce),
              guarded([this, nonce](Result<MintedPat> r) {
                reconcile_.resume(pat::reconcile::MintAnswered{nonce});
                carry_out(mint_.resume(pat::mint::Created{rt_.now(), std::move(r)}));
              }));
}

void PatManager::create_failed(pat::MintAction a) {
  Error e = std::move(a.error);
  if (a.surely_failed) {
    if (auto s = ledger_.remove(a.nonce); !s)
      spdlog::warn("pat {}: {}", workspace_, s.error().message);  // reconcile forgets it later
  } else {
    spdlog::warn("pat {}: token/create outcome unknown ({}); reconciling in {}", workspace_,
                 e.message, format_duration(pat::kReconcileAfterUnknownCreate));
    schedule_reconcile(pat::kReconcileAfterUnknownCreate);
  }
  if (e.code == ErrorCode::quota_exhausted) {
    e.message = "workspace '" + workspace_ +
                "': Databricks refused a new PAT because the service principal has reached its "
                "token quota (600 per workspace, shared with humans and other agents using it). "
                "Delete unused PATs of this service principal or lower pat.max_active on other "
                "agents; AAD tokens (dbxcred aad) still work. Upstream: " +
                e.message;
  }
  mint_failed(std::move(e));
}

void PatManager::minted(pat::MintAction a) {
  MintedPat pat = std::move(*a.pat);
  ++mints_;
  last_error_.reset();
  retry_rotation_at_.reset();
  const TimePoint created = pat.info.created;
  const TimePoint expires = *pat.info.expires;
  if (current_) spdlog::info("pat {}: token {} superseded", workspace_, current_->token_id);
  current_ = Current{std::move(pat.value), pat.info.token_id, a.nonce, created, expires};
  current_->rotation_jitter = rt_.random_unit();
  spdlog::info("pat {}: minted token {} expiring at {}", workspace_, current_->token_id,
               unix_text(expires));
  schedule_rotation();
  schedule_reap();
  schedule_check();

  const TimePoint now = rt_.now();
  const std::uint64_t seq = a.seq;
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
  if (!waiters_.empty()) want_mint();
}

Error PatManager::refusal_error(const pat::MintAction& a) const {
  switch (a.refusal) {
    case pat::MintRefusal::error:
      return a.error;
    case pat::MintRefusal::quota:
      return quota_error(largest_min_valid());
    case pat::MintRefusal::shutting_down:
      return make_error(ErrorCode::upstream_unavailable, "shutting down");
    case pat::MintRefusal::throttled:
      break;
  }
  const auto wait = std::chrono::ceil<Seconds>(a.not_before.value_or(rt_.now()) - rt_.now());
  auto e =
      make_error(ErrorCode::upstream_unavailable,
                 "Databricks asked dbxcred to wait before minting another PAT for workspace '" +
                     workspace_ + "'; retry in " + format_duration(wait));
  e.retry_after = wait;
  return e;
}

Seconds PatManager::largest_min_valid() const {
  Seconds largest{0};
  waiters_.for_each([&](const PatWait& w) { largest = std::max(largest, w.min_valid); });
  return largest;
}

void PatManager::mint_failed(Error e) {
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
