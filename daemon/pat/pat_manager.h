// PatManager: one workspace's PAT lifecycle — mint on demand (single-flight), rotate before expiry,
// keep our unexpired PATs within pat.max_active, reap expired ones, and reconcile the write-ahead
// ledger with token/list so that a crash at any point leaves no orphan and loses no token.
// A thin driver: the order of a mint, a reconcile and a revocation check are the sans-I/O machines
// of pat_mint_fsm.h, pat_reconcile_fsm.h and pat_check_fsm.h, the decisions inside them the pure
// planners of pat_decisions.h; PatManager carries their actions out against the ledger and the
// token API and owns the timers. Runs on the loop thread (no locks).
//
// Crash safety, in order of a mint:
//   1. (room) delete our oldest superseded PATs if the mint would exceed max_active
//   2. the token API can authenticate (the workspace's AAD or Databricks OAuth token at hand;
//      those headers go with the create); fails: no intent, no mint
//      ledger.record_intent(nonce)          — durable before token/create is sent; fails: no mint
//   3. token/create with comment dbxcred:<instance>:<workspace>:<agent id>:<nonce>
//   4. ledger.record_minted(nonce, id)      — only then is the value handed to anyone
// start() and every kReconcileInterval: token/list; a token of ours whose nonce the ledger lacks,
// or whose id it lacks, was never handed out and is deleted; ledger records whose token is gone are
// forgotten; ledger-known tokens stay until they expire (running jobs may hold them) and are then
// deleted. PATs whose comment is not ours (humans, other tools, other instances, other agents with
// the same instance) are never touched.
//
// Promises: a PAT served with min_valid M is never deleted before M has passed (the promise is in
// the ledger, so a restart keeps it); a mint that could only make room by breaking one is
// quota_exhausted. Forced early rotations are limited per uid (pat_decisions.h, kForcedBurst).
// Revocation: the current PAT is tried every pat.check_interval; once it no longer works it is
// not served again, and a replacement is minted at once (status: revocations, last_revocation).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/result.h"
#include "daemon/cache/waiters.h"
#include "daemon/databricks/token_api.h"
#include "daemon/pat/pat_check_fsm.h"
#include "daemon/pat/pat_ledger.h"
#include "daemon/pat/pat_mint_fsm.h"
#include "daemon/pat/pat_reconcile_fsm.h"
#include "daemon/runtime.h"

namespace dbx {

struct ServedPat {
  std::string token;  // the dapi… value: hand to the client, never log
  std::string token_id;
  TimePoint expires_at;
};

// The answer a server serialised for the current PAT (its JSON, holding the token) and the host it
// names, kept with that PAT by the manager so that no copy outlives it: dropped when the PAT is
// superseded, revoked, deleted or expires. Empty until the server first fills it.
struct ServedPatAnswer {
  std::string host;
  std::string body;
};

// The PAT being served, as PatManager::peek() shows it: views into the manager, valid until the
// loop runs again.
struct ServedPatView {
  std::string_view token;
  std::string_view token_id;
  TimePoint expires_at;
  ServedPatAnswer* answer;  // this PAT's cached answer, for the server to fill and reuse
};

// For /v1/status and metrics: never a token value.
struct PatStatus {
  bool enabled = true;
  bool ledger_ok = true;
  std::optional<std::string> current_token_id;
  std::optional<TimePoint> current_expires_at;
  int active = 0;  // our unexpired PATs in this workspace as the ledger knows them
  int max_active = 0;
  std::optional<TimePoint> next_rotation;
  std::optional<std::string> last_error;
  bool mint_in_flight = false;
  std::optional<TimePoint> last_reconcile;
  std::uint64_t mints = 0;          // token/create answered with a PAT
  std::uint64_t mint_failures = 0;  // mints that failed (upstream, quota, ledger)
  std::uint64_t deletions = 0;      // token/delete succeeded (superseded, expired, orphans)
  std::uint64_t revocations = 0;    // current PATs found no longer working at the workspace
  std::optional<std::string> last_revocation;  // what was found, when, and what was done
  std::uint64_t rate_limited = 0;  // requests refused for forcing too many early rotations
  // Set while the ledger recovers from a lost file, or once it has: what happened, what to do.
  std::optional<std::string> ledger_note;
};

// What `dbxcred pat reap --agent ID` did (PatManager::reap_agent).
struct ReapResult {
  std::vector<std::string> deleted;  // token ids
  int kept = 0;                      // listed PATs not of that agent
};

class PatManager {
 public:
  using Callback = std::function<void(Result<ServedPat>)>;

  // A client that must wait for a mint gives up after `deadline` (config request_deadline) with
  // upstream_unavailable; the mint goes on in the background and serves whoever asks next.
  // Built only for a workspace with PATs on (policy.enabled: Workspace answers for the others).
  PatManager(Runtime& runtime, TokenApi& api, PatLedger& ledger, PatPolicy policy,
             std::string instance, std::string workspace, Seconds deadline = Seconds(15));
  ~PatManager();
  PatManager(const PatManager&) = delete;
  PatManager& operator=(const PatManager&) = delete;

  // Reconciles with token/list now, then every kReconcileInterval; reaps expired PATs as they
  // expire. The ledger must have been load()ed (an unusable ledger: nothing is minted or deleted,
  // status() and get() report why).
  void start();

  // A PAT valid for at least max(min_valid, 40 s), promised to the caller for min_valid.
  // Single-flight: callers arriving while a mint is in flight wait for it, at most `deadline`.
  // `uid`: the caller (nullopt: a loopback client, one shared budget), for the limit on forced
  // early rotations. `done` is always called later on the loop, never inline: one rule for every
  // answer, whether it is at hand or waits for a mint (the inline answer is peek()).
  void get(Seconds min_valid, std::optional<std::uint32_t> uid, Callback done);

  // The cache-hit path: what get() would answer when the current PAT serves `min_valid` now within
  // the promise already recorded for it, but inline: views, no post, no allocation here (the
  // caller's answer, ServedPatView::answer, is serialised once per PAT and host). nullopt
  // whenever get() has something else to do (mint, wait, record a promise, report an error).
  std::optional<ServedPatView> peek(Seconds min_valid) const;

  PatStatus status() const;

  // New policy from a config reload: applies to the next decisions; reschedules rotation.
  void reconfigure(PatPolicy policy);

  // After the wall clock stepped by `step` (ClockWatch): re-arms rotation and reaping by the wall
  // clock at once; a backward step moves the Retry-After and rotation backoff waits back with it.
  void reschedule(Millis step);

  // The operator's reaping of another agent's PATs (a clone's, a retired agent's): token/list,
  // then token/delete of each PAT whose comment carries agent id `agent` (pat::plan_reap: never
  // this agent's own, never one the ledger knows). An error when the id is malformed or ours, the
  // list fails, or a delete fails (naming how many were deleted before). `done` runs later.
  void reap_agent(const std::string& agent, std::function<void(Result<ReapResult>)> done);

  // Cancels timers and fails waiting callers; answers still in flight only update the ledger.
  void stop();
  // At exit, once the loop has stopped: drops the waiting callbacks unanswered (they may hold the
  // broker that owns this manager).
  void abandon_waiters() { waiters_.abandon(); }

 private:
  struct Current {
    std::string value;
    std::string token_id;
    std::string nonce;
    TimePoint created;
    TimePoint expires;
    TimePoint promised{};        // as recorded in the ledger
    double rotation_jitter = 0;  // drawn at mint: how early its rotation starts (pat_decisions.h)
    // A cache the cache-hit path (peek(), const) fills: it goes with the PAT.
    mutable ServedPatAnswer answer{};
  };
  struct PatWait {
    Seconds min_valid;
    std::uint64_t joined;  // mint_.seq() when it started waiting
  };

  // Wraps a callback so that it does nothing once the manager is gone (shutdown, or a simulated
  // crash in tests).
  template <class F>
  auto guarded(F f) {
    return [weak = std::weak_ptr<int>(alive_), f = std::move(f)](auto&&... args) mutable {
      if (weak.expired()) return;
      f(std::forward<decltype(args)>(args)...);
    };
  }

  // Minting (pat_minting.cpp): MintFsm's actions carried out.
  void want_mint();
  void carry_out(pat::MintAction a);
  pat::mint::LedgerChecked check_ledger() const;
  pat::mint::Sized size_mint();
  void make_room(const std::vector<std::string>& nonces);
  void authenticate();
  pat::mint::IntentWritten write_intent();
  void send_create(WorkspaceHeaders auth, const std::string& nonce, Seconds lifetime);
  void create_failed(pat::MintAction a);
  void minted(pat::MintAction a);
  void mint_failed(Error e);
  Error refusal_error(const pat::MintAction& a) const;
  void serve(Seconds min_valid, Callback done);
  void keep_promise(Seconds min_valid);
  void answer(Callback done, Result<ServedPat> r) const;
  // The current PAT as answered to a client asking min_valid: its promise is recorded first.
  ServedPat served_for(Seconds min_valid);
  Seconds largest_min_valid() const;  // of the waiters
  std::optional<Error> limit_forced(Seconds min_valid, std::optional<std::uint32_t> uid);

  // Revocation (pat_revocation.cpp): CheckFsm's actions carried out.
  void schedule_check();
  void check_current();
  void carry_out(const pat::CheckAction& a, const std::string& token_id);
  void revoked();
  void adopt(const std::vector<PatInfo>& infos);

  struct ReapProgress {
    std::string agent;
    ReapResult result;
    std::vector<std::string> left;  // last first
    std::function<void(Result<ReapResult>)> done;
  };
  void reap_next(std::shared_ptr<ReapProgress> p);

  // Reconcile and reaping (pat_reaping.cpp): ReconcileFsm's actions carried out.
  void reconcile();
  void carry_out(pat::ReconcileAction a);
  void delete_token(const std::string& token_id, std::optional<std::string> forget_nonce,
                    std::function<void(Status)> then = nullptr);
  void forget(const std::vector<std::string>& nonces);
  void reap_expired();

  void schedule_rotation();
  void schedule_reap();
  void schedule_reconcile(Seconds delay);

  Error quota_error(Seconds min_valid) const;

  Runtime& rt_;
  TokenApi& api_;
  PatLedger& ledger_;
  PatPolicy policy_;
  std::string instance_;
  std::string workspace_;
  Seconds deadline_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // callbacks outliving us do nothing

  // The sequencing: what is in flight, and what the next answer means.
  pat::MintFsm mint_;
  pat::ReconcileFsm reconcile_;
  pat::CheckFsm check_;
  std::optional<Current> current_;              // the PAT served; its value exists only here
  std::set<std::string> deleting_;              // token ids with a token/delete in flight
  std::optional<TimePoint> retry_rotation_at_;  // backoff of a failed background rotation
  std::optional<Error> last_error_;
  std::optional<TimePoint> last_reconcile_;
  std::uint64_t mints_ = 0;
  std::uint64_t mint_failures_ = 0;
  std::uint64_t deletions_ = 0;
  std::uint64_t revocations_ = 0;
  std::optional<std::string> last_revocation_;
  std::uint64_t rate_limited_ = 0;
  std::optional<std::string> ledger_note_;
  std::map<std::uint32_t, pat::ForcedBucket> forced_;  // by uid; loopback clients: UINT32_MAX
  std::shared_ptr<Timer> check_timer_;

  std::shared_ptr<Timer> rotation_timer_;
  std::optional<TimePoint> rotation_at_;
  std::shared_ptr<Timer> reap_timer_;
  std::shared_ptr<Timer> reconcile_timer_;
  // Last: its expiry message reads the members above. Answers are posted (get() never inline).
  Waiters<Result<ServedPat>, PatWait> waiters_;
};

}  // namespace dbx
