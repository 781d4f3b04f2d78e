// MintFsm: the order of one PAT mint. See pat_mint_fsm.h.
#include "daemon/pat/pat_mint_fsm.h"

#include <utility>

namespace dbx::pat {
namespace {
MintAction act(MintAction::Kind kind) {
  MintAction a;
  a.kind = kind;
  return a;
}
}  // namespace

bool create_surely_failed(const Error& e) {
  return e.upstream_status >= 400 && e.upstream_status < 500;
}

MintAction MintFsm::resume(MintEvent event) {
  return std::visit([this](auto& e) { return on(e); }, event);
}

MintAction MintFsm::fail(MintRefusal refusal, Error error) {
  stage_ = Stage::idle;
  MintAction a;
  a.kind = MintAction::Kind::failed;
  a.refusal = refusal;
  a.error = std::move(error);
  if (refusal == MintRefusal::throttled) a.not_before = not_before_;
  return a;
}

MintAction MintFsm::on(const mint::Wanted&) {
  if (stopped_ || stage_ != Stage::idle) return {};
  stage_ = Stage::checking_ledger;
  ++seq_;
  return act(MintAction::Kind::check_ledger);
}

MintAction MintFsm::on(const mint::LedgerChecked& c) {
  if (stage_ != Stage::checking_ledger) return {};
  if (c.ledger_error) return fail(MintRefusal::error, *c.ledger_error);
  if (not_before_ && c.now < *not_before_) return fail(MintRefusal::throttled);
  stage_ = Stage::sizing;
  return act(MintAction::Kind::size);
}

MintAction MintFsm::on(const mint::Sized& p) {
  if (stage_ != Stage::sizing) return {};
  if (!p.plan.can_mint) return fail(MintRefusal::quota);
  lifetime_ = p.lifetime;
  if (p.plan.delete_first.empty()) return authenticate();
  stage_ = Stage::making_room;
  deletes_left_ = p.plan.delete_first.size();
  delete_failure_.reset();
  return [&] {
    MintAction a = act(MintAction::Kind::make_room);
    a.nonces = p.plan.delete_first;
    return a;
  }();
}

MintAction MintFsm::on(const mint::Deleted& d) {
  if (stage_ != Stage::making_room || deletes_left_ == 0) return {};
  if (!d.status && !delete_failure_) delete_failure_ = d.status.error();
  if (--deletes_left_ > 0) return {};
  if (delete_failure_) return fail(MintRefusal::error, *std::exchange(delete_failure_, {}));
  return authenticate();
}

// Authenticate first: when the workspace's token (AAD or Databricks OAuth) cannot be had,
// token/create is never sent, and an intent written for it would count against max_active until
// a reconcile — which needs the same token — forgets it.
MintAction MintFsm::authenticate() {
  if (stopped_) return fail(MintRefusal::shutting_down);
  stage_ = Stage::authenticating;
  return act(MintAction::Kind::authenticate);
}

MintAction MintFsm::on(mint::Authenticated& a) {
  if (stage_ != Stage::authenticating) return {};
  if (stopped_) return fail(MintRefusal::shutting_down);
  if (!a.auth) return fail(MintRefusal::error, a.auth.error());
  // The invariant, checked right before the intent whatever happened while deletes ran.
  if (!a.room) return fail(MintRefusal::quota);
  stage_ = Stage::writing_intent;
  auth_ = std::move(a.auth).value();
  return act(MintAction::Kind::write_intent);
}

MintAction MintFsm::on(mint::IntentWritten& w) {
  if (stage_ != Stage::writing_intent) return {};
  std::optional<WorkspaceHeaders> auth = std::exchange(auth_, std::nullopt);
  if (!w.nonce) return fail(MintRefusal::error, w.nonce.error());
  stage_ = Stage::creating;
  inflight_nonce_ = std::move(w.nonce).value();
  MintAction a;
  a.kind = MintAction::Kind::create;
  a.nonce = *inflight_nonce_;
  a.lifetime = lifetime_;
  a.auth = std::move(auth);
  return a;
}

MintAction MintFsm::on(mint::Created& c) {
  if (stage_ != Stage::creating || !inflight_nonce_) return {};
  std::string nonce = std::move(*inflight_nonce_);
  inflight_nonce_.reset();
  if (!c.pat) {
    Error e = c.pat.error();
    if (e.retry_after) not_before_ = c.now + *e.retry_after;
    stage_ = Stage::idle;
    MintAction a;
    a.kind = MintAction::Kind::create_failed;
    a.surely_failed = create_surely_failed(e);
    a.nonce = std::move(nonce);
    a.error = std::move(e);
    return a;
  }
  stage_ = Stage::recording;
  MintedPat pat = std::move(c.pat).value();
  // A PAT without expiry (-1: a workspace policy or an older API) was not asked for: it is
  // scheduled, reaped and counted as if it had the lifetime asked for.
  if (!pat.info.expires) pat.info.expires = pat.info.created + lifetime_;
  created_nonce_ = nonce;
  MintAction a;
  a.kind = MintAction::Kind::record;
  a.nonce = std::move(nonce);
  a.lifetime = lifetime_;
  a.pat = pat;
  created_ = std::move(pat);
  return a;
}

MintAction MintFsm::on(const mint::Recorded& r) {
  if (stage_ != Stage::recording || !created_) return {};
  stage_ = Stage::idle;
  MintAction a;
  a.nonce = std::move(created_nonce_);
  a.pat = std::move(created_);
  a.lifetime = lifetime_;
  created_.reset();
  if (!r.status) {
    // The ledger does not know this PAT's id: it must not be handed out.
    a.kind = MintAction::Kind::discard;
    a.error = r.status.error();
    return a;
  }
  not_before_.reset();
  a.kind = MintAction::Kind::minted;
  a.seq = seq_;
  return a;
}

MintAction MintFsm::on(const mint::Stop&) {
  stopped_ = true;
  return {};
}

MintAction MintFsm::on(const mint::ClockStepped& s) {
  // A backward step moves the wait back with it; a forward one has already shortened it.
  if (s.step < Millis(0) && not_before_) not_before_ = *not_before_ + s.step;
  return {};
}

}  // namespace dbx::pat
