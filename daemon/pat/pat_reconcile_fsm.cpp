// ReconcileFsm: the order of reconciling the ledger with token/list. See pat_reconcile_fsm.h.
#include "daemon/pat/pat_reconcile_fsm.h"

#include <algorithm>
#include <utility>

namespace dbx::pat {

ReconcileAction ReconcileFsm::resume(ReconcileEvent event) {
  return std::visit([this](auto& e) { return on(e); }, event);
}

ReconcileAction ReconcileFsm::on(const reconcile::Wanted& w) {
  if (listing_ || stopped_ || !w.ledger_usable) return {};
  listing_ = true;
  finished_during_list_.clear();
  ReconcileAction a;
  a.kind = ReconcileAction::Kind::list;
  return a;
}

ReconcileAction ReconcileFsm::on(reconcile::MintAnswered& m) {
  if (listing_) finished_during_list_.insert(std::move(m.nonce));
  return {};
}

ReconcileAction ReconcileFsm::on(reconcile::Listed& l) {
  if (!listing_) return {};
  listing_ = false;
  std::set<std::string> protect = std::move(finished_during_list_);
  finished_during_list_.clear();
  ReconcileAction a;
  if (!l.listed) {
    a.kind = ReconcileAction::Kind::retry;
    a.error = l.listed.error();
    // Soon again, not in kReconcileInterval: an intent whose create has an unknown outcome counts
    // against max_active until a list settles it.
    Seconds retry = kRetryAfterFailure;
    if (a.error.retry_after) retry = std::max(retry, *a.error.retry_after);
    if (!stopped_) a.next = retry;
    return a;
  }
  if (l.inflight) protect.insert(*l.inflight);
  a.kind = ReconcileAction::Kind::apply;
  a.adopting = l.adopting;
  a.plan = plan_reconcile(l.now, l.us, l.records, *l.listed, protect, l.adopting);
  if (!stopped_) a.next = kReconcileInterval;
  return a;
}

ReconcileAction ReconcileFsm::on(const reconcile::Stop&) {
  stopped_ = true;
  return {};
}

}  // namespace dbx::pat
