// ReconcileFsm: the order of reconciling the ledger with token/list, as a sans-I/O state machine
// (the shape of pat_mint_fsm.h): PatManager feeds it what happened and carries out what it
// returns; what a list means for the ledger is pat::plan_reconcile's (pat_decisions.h).
//
//   Wanted       (start, the reconcile timer, a create whose outcome is unknown) idle: list;
//                a list in flight, a stopped manager or an unusable ledger: nothing
//   MintAnswered a create was answered while the list is in flight: the list may predate that
//                PAT, so it is protected from this list's plan
//   Listed       an error: retry after max(kRetryAfterFailure, Retry-After); a list: apply the
//                plan, then reconcile again in kReconcileInterval
//   Stop         no new list; a list in flight is still applied (it only updates the ledger)
#pragma once

#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "daemon/databricks/token_api.h"
#include "daemon/pat/pat_decisions.h"

namespace dbx::pat {

namespace reconcile {
struct Wanted {
  bool ledger_usable = true;
};
struct MintAnswered {
  std::string nonce;
};
struct Listed {
  Result<std::vector<PatInfo>> listed;  // token/list's answer
  TimePoint now;
  Identity us;
  std::vector<PatRecord> records;       // the ledger's, as of now
  std::optional<std::string> inflight;  // the mint whose create has not been answered yet
  bool adopting = false;                // PatLedger::adopting
};
struct Stop {};
}  // namespace reconcile

using ReconcileEvent =
    std::variant<reconcile::Wanted, reconcile::MintAnswered, reconcile::Listed, reconcile::Stop>;

struct ReconcileAction {
  enum class Kind {
    none,   // nothing to do until the next event
    list,   // token/list, then resume with reconcile::Listed
    retry,  // the list failed (`error`): reconcile again in `next`
    apply   // carry out `plan` (adopt when `adopting`, forget, delete), reconcile again in `next`
  };
  Kind kind = Kind::none;
  Error error;                  // retry
  ReconcilePlan plan;           // apply
  bool adopting = false;        // apply
  std::optional<Seconds> next;  // retry, apply: nullopt once stopped (no timer)
};

class ReconcileFsm {
 public:
  ReconcileAction resume(ReconcileEvent event);

  bool listing() const { return listing_; }
  bool stopped() const { return stopped_; }

 private:
  ReconcileAction on(const reconcile::Wanted&);
  ReconcileAction on(reconcile::MintAnswered&);
  ReconcileAction on(reconcile::Listed&);
  ReconcileAction on(const reconcile::Stop&);

  bool listing_ = false;
  bool stopped_ = false;
  std::set<std::string> finished_during_list_;  // the list may predate these mints
};

}  // namespace dbx::pat
