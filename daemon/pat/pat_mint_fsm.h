// MintFsm: the order of one PAT mint as a sans-I/O state machine (STYLE.md habit 2, the shape of
// Boost.Redis detail/exec_fsm.hpp): PatManager feeds it what happened (`resume(event)`) and carries
// out the action it returns; the machine itself touches no ledger, socket, clock or timer. The
// decisions inside a step (plan_mint, the quota arithmetic) stay the pure planners of
// pat_decisions.h; the wording of errors stays in PatManager, which knows the workspace.
//
// One mint, as the events arrive (crash safety: pat_manager.h):
//   Wanted        idle: check_ledger; busy: nothing (single-flight: the mint in flight serves
//                 whoever waits); stopped: nothing
//   LedgerChecked refused (ledger unusable, Databricks' Retry-After running): failed; else size
//                 (the lifetime for the waiters, plan_mint)
//   Sized         no room under max_active: failed; superseded PATs to delete first: make_room;
//                 else authenticate
//   Deleted       one room-making delete answered; the last: authenticate (or failed on an error)
//   Authenticated the token API's headers are at hand and max_active still holds: write_intent
//   IntentWritten the nonce's intent is durable: create (token/create with the headers)
//   Created       an error: create_failed (remove the intent when the create surely did nothing,
//                 else reconcile soon); a PAT: record it
//   Recorded      the ledger has its id: minted (serve it); else discard (delete it, failed)
//   Stop          no new step starts; an answer in flight still updates the ledger
//   ClockStepped  the wall clock stepped: Databricks' Retry-After moves with it
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "daemon/databricks/token_api.h"
#include "daemon/pat/pat_decisions.h"

namespace dbx::pat {

// After a create whose outcome is unknown, reconcile this soon: long enough for the server to have
// finished the request, short enough that a lost PAT does not hold quota for long.
inline constexpr Seconds kReconcileAfterUnknownCreate{30};

// An answer proving token/create did nothing: a 4xx (refused, quota, throttled). Anything else —
// no answer (dropped connection, timeout), 5xx from a gateway, a 2xx we could not parse — may hide
// a PAT created server-side: the intent stays until reconcile has seen token/list.
bool create_surely_failed(const Error& e);

namespace mint {
struct Wanted {};       // a client waits, a rotation is due, or the current PAT was revoked
struct LedgerChecked {  // the mint just begun
  TimePoint now;
  std::optional<Error> ledger_error;  // the ledger is unusable: why
};
struct Sized {
  Seconds lifetime{0};  // lifetime_to_request for the most demanding waiter
  MintPlan plan;        // plan_mint for now
};
struct Deleted {  // one of the room-making deletes answered
  Status status;
};
struct Authenticated {
  Result<WorkspaceHeaders> auth;  // the token API's authenticate()
  bool room = false;  // active_count(now) + 1 <= max_active, checked right before the intent
};
struct IntentWritten {
  Result<std::string> nonce;  // the nonce whose intent is durable, or why there is none
};
struct Created {
  TimePoint now;
  Result<MintedPat> pat;  // token/create's answer
};
struct Recorded {  // ledger.record_minted of the PAT just created
  Status status;
};
struct Stop {};
struct ClockStepped {
  Millis step;
};
}  // namespace mint

using MintEvent = std::variant<mint::Wanted, mint::LedgerChecked, mint::Sized, mint::Deleted,
                               mint::Authenticated, mint::IntentWritten, mint::Created,
                               mint::Recorded, mint::Stop, mint::ClockStepped>;

// Why a mint did not happen, for PatManager to word: `refusal` says which kind, `error` carries
// the upstream's or ledger's own Error when there is one.
enum class MintRefusal {
  error,         // `error` as it is (an upstream or ledger failure)
  quota,         // max_active leaves no room (quota_error)
  throttled,     // Databricks' Retry-After runs until `not_before`
  shutting_down  // stop() came first
};

struct MintAction {
  enum class Kind {
    none,          // nothing to do until the next event
    check_ledger,  // resume with mint::LedgerChecked
    size,          // settle waiters the policy no longer allows, resume with mint::Sized
    make_room,     // token/delete each of `nonces` (resume with one mint::Deleted each)
    authenticate,  // TokenApi::authenticate, then resume with mint::Authenticated
    write_intent,  // draw a nonce, ledger.record_intent, resume with mint::IntentWritten
    create,  // token/create with `auth` for `lifetime`, the comment of `nonce` (mint::Created)
    create_failed,  // `surely_failed`: ledger.remove(nonce), else reconcile in
                    // kReconcileAfterUnknownCreate; then as failed with `error`
    record,         // ledger.record_minted(nonce, `pat`), resume with mint::Recorded
    minted,         // `pat` is the new current PAT (mint number `seq`): serve it
    discard,        // the ledger could not record `pat`: token/delete it, then as failed
    failed          // no new PAT: `refusal` / `error`; answer the waiters, back off rotation
  };
  Kind kind = Kind::none;
  std::vector<std::string> nonces;  // make_room
  std::string nonce;                // create, create_failed, record, discard
  Seconds lifetime{0};              // create, record (a PAT without expiry gets it), minted
  bool surely_failed = false;       // create_failed
  MintRefusal refusal = MintRefusal::error;  // failed, create_failed
  Error error;                               // failed, create_failed, discard
  std::optional<TimePoint> not_before;       // failed with refusal throttled
  std::optional<MintedPat> pat;              // record, minted, discard
  std::optional<WorkspaceHeaders> auth;      // create: the headers authenticate() answered
  std::uint64_t seq = 0;                     // minted
};

class MintFsm {
 public:
  enum class Stage {
    idle,
    checking_ledger,
    sizing,
    making_room,
    authenticating,
    writing_intent,
    creating,
    recording
  };

  MintAction resume(MintEvent event);

  Stage stage() const { return stage_; }
  bool in_flight() const { return stage_ != Stage::idle; }
  bool stopped() const { return stopped_; }
  // The number of the mint in flight, or of the last one: a waiter that joined before mint N
  // and is not served by it was asked for and fell short.
  std::uint64_t seq() const { return seq_; }
  // The nonce whose intent is written and whose create has not been answered yet.
  const std::optional<std::string>& inflight_nonce() const { return inflight_nonce_; }
  // Databricks' Retry-After: no token/create before this.
  const std::optional<TimePoint>& not_before() const { return not_before_; }

 private:
  MintAction on(const mint::Wanted&);
  MintAction on(const mint::LedgerChecked&);
  MintAction on(const mint::Sized&);
  MintAction on(const mint::Deleted&);
  MintAction on(mint::Authenticated&);
  MintAction on(mint::IntentWritten&);
  MintAction on(mint::Created&);
  MintAction on(const mint::Recorded&);
  MintAction on(const mint::Stop&);
  MintAction on(const mint::ClockStepped&);

  MintAction authenticate();
  MintAction fail(MintRefusal refusal, Error error = {});

  Stage stage_ = Stage::idle;
  bool stopped_ = false;
  std::uint64_t seq_ = 0;
  Seconds lifetime_{0};
  std::size_t deletes_left_ = 0;
  std::optional<Error> delete_failure_;
  std::optional<WorkspaceHeaders> auth_;  // between Authenticated and IntentWritten
  std::optional<std::string> inflight_nonce_;
  std::optional<MintedPat> created_;  // between Created and Recorded
  std::string created_nonce_;
  std::optional<TimePoint> not_before_;
};

}  // namespace dbx::pat
