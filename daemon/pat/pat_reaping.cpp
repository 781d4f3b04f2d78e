// PatManager, reconcile and reaping: ReconcileFsm's actions carried out (token/list matched
// against the ledger, orphans deleted), expired PATs deleted and forgotten, and the operator's
// reaping of another agent's PATs. See pat_manager.h.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/duration.h"
#include "daemon/pat/pat_manager.h"

namespace dbx {

// ---- Reconcile and reaping ----------------------------------------------------------------------

void PatManager::reconcile() {
  carry_out(reconcile_.resume(pat::reconcile::Wanted{ledger_.usable()}));
}

void PatManager::carry_out(pat::ReconcileAction a) {
  using Kind = pat::ReconcileAction::Kind;
  switch (a.kind) {
    case Kind::none:
      return;
    case Kind::list:
      api_.list(guarded([this](Result<std::vector<PatInfo>> r) {
        carry_out(reconcile_.resume(pat::reconcile::Listed{
            std::move(r), rt_.now(), pat::Identity{instance_, workspace_, ledger_.agent_id()},
            ledger_.records(), mint_.inflight_nonce(), ledger_.adopting()}));
      }));
      return;
    case Kind::retry:
      last_error_ = a.error;
      if (a.next) schedule_reconcile(*a.next);
      spdlog::warn("pat {}: reconcile: token/list failed: {}; retrying in {}s", workspace_,
                   a.error.message, a.next.value_or(pat::kRetryAfterFailure).count());
      return;
    case Kind::apply:
      break;
  }
  if (a.next) schedule_reconcile(*a.next);
  last_reconcile_ = rt_.now();
  if (a.adopting) adopt(a.plan.adopt);
  if (!a.plan.forget.empty()) {
    spdlog::info("pat {}: reconcile: forgetting {} ledger record(s) whose token is gone",
                 workspace_, a.plan.forget.size());
    forget(a.plan.forget);
  }
  for (const auto& d : a.plan.deletions) {
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

// ---- Another agent's PATs, on the operator's word
// ------------------------------------------------

void PatManager::reap_agent(const std::string& agent,
                            std::function<void(Result<ReapResult>)> done) {
  auto later = [this](std::function<void(Result<ReapResult>)> done, Result<ReapResult> r) {
    rt_.post([done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
  };
  if (mint_.stopped())
    return later(std::move(done),
                 make_error(ErrorCode::upstream_unavailable, "the daemon is stopping"));
  if (!ledger_.usable()) return later(std::move(done), *ledger_.load_error());
  if (auto checked = pat::plan_reap(agent, ledger_.agent_id(), {}, {}); !checked)
    return later(std::move(done), checked.error());
  api_.list(
      guarded([this, agent, done = std::move(done)](Result<std::vector<PatInfo>> listed) mutable {
        if (!listed) return done(listed.error());
        std::set<std::string> ours;
        for (const auto& r : ledger_.records())
          if (r.token_id) ours.insert(*r.token_id);
        if (current_) ours.insert(current_->token_id);
        auto plan = pat::plan_reap(agent, ledger_.agent_id(), *listed, ours);
        if (!plan) return done(plan.error());
        spdlog::warn("pat {}: reaping {} PAT(s) of agent {} on the operator's request", workspace_,
                     plan->token_ids.size(), agent);
        auto progress = std::make_shared<ReapProgress>();
        progress->agent = agent;
        progress->result.kept = plan->kept;
        progress->left.assign(plan->token_ids.rbegin(), plan->token_ids.rend());
        progress->done = std::move(done);
        reap_next(std::move(progress));
      }));
}

// One delete at a time: a failure stops the rest, and the answer says how far it got.
void PatManager::reap_next(std::shared_ptr<ReapProgress> p) {
  if (p->left.empty()) return p->done(std::move(p->result));
  const std::string id = p->left.back();
  p->left.pop_back();
  api_.remove(id, guarded([this, id, p](Status s) {
                if (!s) {
                  const std::size_t total = p->result.deleted.size() + p->left.size() + 1;
                  return p->done(make_error(
                      s.error().code, "reaped " + std::to_string(p->result.deleted.size()) +
                                          " of " + std::to_string(total) + " PAT(s) of agent " +
                                          p->agent + "; deleting token " + id +
                                          " failed: " + s.error().message + "; run it again"));
                }
                ++deletions_;
                spdlog::info("pat {}: reaped token {} of agent {}", workspace_, id, p->agent);
                p->result.deleted.push_back(id);
                reap_next(p);
              }));
}

}  // namespace dbx
