// Pure decisions of the PAT lifecycle (STYLE.md habit 1): functions of (now, policy, what we know)
// that say WHAT to do — rotate? how long a PAT to ask for? which of our PATs to delete first so a
// mint stays within pat.max_active? what does a token/list answer mean for the ledger? — and never
// do it. PatManager (pat_manager.h) carries the decisions out. Also owns the PAT comment format.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/config.h"
#include "common/result.h"
#include "daemon/databricks/token_api.h"

namespace dbx::pat {

// Databricks rejects tokens within 30 s of their expiry; 10 s more covers the hop from us to the
// client and from the client to Databricks. No PAT with less left is ever served.
inline constexpr Seconds kMinServeRemaining{40};

// A PAT minted for a client's min_valid lives min_valid + this long, so that the next client with
// the same min_valid can still be served the same PAT for a minute instead of forcing another mint.
inline constexpr Seconds kMintMargin{60};

// How often token/list is compared with the ledger. Reconcile is a safety net (the ledger is
// authoritative for our own mints); 10 min keeps a fleet of 100 agents under one list call per 6 s.
inline constexpr Seconds kReconcileInterval{600};

// After a failed background rotation (no client waiting), when to try again unless the upstream
// asked for longer with Retry-After. Short enough to rotate well before expiry with the default
// rotate_before of 20 min, long enough not to hammer a failing upstream.
inline constexpr Seconds kRetryAfterFailure{30};

// ---- The comment of every PAT we mint -------------------------------------------------------
// Format: "dbxcred:<instance>:<workspace>:<agent>:<nonce>"
//   instance, workspace: percent-encoded so that ':' '%' and anything outside printable ASCII
//                        cannot break the split (a host name is left as is);
//   agent:               the agent id, 32 lowercase hex digits created once in state_dir
//                        (PatLedger::agent_id): tells apart daemons with the same instance;
//   nonce:               32 lowercase hex digits (128 random bits), unique per mint.
// The older format without the agent field ("dbxcred:<instance>:<workspace>:<nonce>") parses
// with an empty agent: such a PAT is ours only if its nonce is in our ledger (plan_reconcile).
// A comment that does not parse exactly like this is not ours: such a PAT is never touched.
inline constexpr std::string_view kCommentProduct = "dbxcred";

std::string make_comment(std::string_view instance, std::string_view workspace,
                         std::string_view agent, std::string_view nonce);

struct CommentParts {
  std::string instance;   // decoded
  std::string workspace;  // decoded
  std::string agent;      // empty: the older format without an agent id
  std::string nonce;
};
std::optional<CommentParts> parse_comment(std::string_view comment);

// 32 lowercase hex digits: a nonce, and the format of an agent id.
bool is_valid_nonce(std::string_view nonce);

// ---- Promises (SPEC "Socket API") ------------------------------------------------------------
// A PAT served with min_valid M at `now` is promised until now + M: dbxcred never deletes it
// before then. The ledger keeps a promise rounded up by kPromiseStep (never past the PAT's
// expiry), so that a stream of clients costs one ledger write per PAT per kPromiseStep, not one
// per request; the fast path (PatManager::peek) serves only within the recorded promise.
inline constexpr Seconds kPromiseStep{60};

// ---- Forced early rotations (per uid) --------------------------------------------------------
// A request forces an early rotation when the current PAT cannot serve its min_valid although its
// own rotation is not due yet. Each uid may force kForcedBurst such mints at once and one more
// every kForcedRefill (a token bucket: 3 at once, 6 an hour sustained); beyond that it gets
// rate_limited with Retry-After. A job that needs long PATs should get them from pat.lifetime.
inline constexpr int kForcedBurst = 3;
inline constexpr Seconds kForcedRefill{600};

struct ForcedBucket {
  double tokens = kForcedBurst;
  TimePoint updated{};
};
// Takes one token from `b` at `now` (refilling first); false when none is left.
bool take_forced(ForcedBucket& b, TimePoint now);
// When the next token will be there (>= 1 s).
Seconds forced_retry_after(const ForcedBucket& b, TimePoint now);

// ---- Revocation ------------------------------------------------------------------------------
// Every pat.check_interval (default 50 s) while a PAT is current, it is used once against the
// workspace (token/list authenticated with the PAT itself): an answer proving it no longer works
// (401/403, or the list no longer shows it) makes the manager stop serving it and mint another.

// ---- Serving and rotation ---------------------------------------------------------------------

// True if a PAT expiring at `expires` may be served to a client asking for `min_valid`.
bool satisfies(TimePoint now, TimePoint expires, Seconds min_valid);

// rotate_before as applied to one PAT: never more than half the PAT's own lifetime, so that a
// policy with rotate_before >= lifetime (or a min_valid-driven short PAT) cannot make every fresh
// PAT due for rotation at once and mint in a loop.
Seconds effective_rotate_before(const PatPolicy& policy, TimePoint created, TimePoint expires);

// When the current PAT (created, expires) should be replaced proactively.
TimePoint rotation_due_at(const PatPolicy& policy, TimePoint created, TimePoint expires);

// When the rotation timer fires: up to kRotationJitter of the applied rotate_before before it is
// due (`jitter_unit` uniform in [0,1), drawn once per PAT), so that a fleet started together does
// not mint in the same second every rotation (the fleet benchmark saw 50 token/create in one
// second). Never later than due: a later rotation would make clients asking rotate_before force
// one.
inline constexpr double kRotationJitter = 0.10;
TimePoint rotation_start_at(const PatPolicy& policy, TimePoint created, TimePoint expires,
                            double jitter_unit);

// The lifetime to ask token/create for, given the largest min_valid among the waiting clients:
// max(lifetime, min_valid + kMintMargin), capped by max_lifetime. A min_valid that even a PAT of
// max_lifetime cannot give with the margin is a bad_request naming the limit.
Result<Seconds> lifetime_to_request(const PatPolicy& policy, Seconds min_valid);

// ---- Quota (pat.max_active) -------------------------------------------------------------------

// One PAT of ours as the ledger knows it. token_id is empty while only the intent is recorded.
struct PatRecord {
  std::string nonce;
  std::optional<std::string> token_id;
  TimePoint created;                 // the intent's time; the server's creation_time once minted
  std::optional<TimePoint> expires;  // nullopt: unknown (intent); a -1 PAT gets created+lifetime
  // Served with a min_valid until this time at least (see kPromiseStep): never deleted by us
  // before. TimePoint{} when never served.
  TimePoint promised{};
};

bool is_expired(TimePoint now, const PatRecord& r);

// How many of our PATs count against max_active: every record not known to be expired, intents
// included (an intent's token may exist server-side until reconcile proves otherwise).
int active_count(TimePoint now, const std::vector<PatRecord>& records);

struct MintPlan {
  bool can_mint = false;
  // Nonces of superseded PATs to delete (oldest first) before token/create; only when can_mint.
  std::vector<std::string> delete_first;
  int active = 0;  // our PATs counted against max_active now
};

// Before a mint: our unexpired count must stay <= max_active after it. Frees room by deleting the
// oldest superseded minted PATs; never the current one (`current_nonce`), never an intent whose id
// is unknown, never an already expired one (those are reaped, they do not count), never one whose
// promise still runs (can_mint false: the request is quota_exhausted).
MintPlan plan_mint(TimePoint now, int max_active, const std::vector<PatRecord>& records,
                   const std::optional<std::string>& current_nonce);

// Minted records whose expiry has passed: delete from the workspace, then forget.
std::vector<PatRecord> expired_records(TimePoint now, const std::vector<PatRecord>& records);

// ---- Reconcile (token/list against the ledger) -------------------------------------------------

struct Deletion {
  std::string token_id;
  std::optional<std::string> forget_nonce;  // ledger record to drop once the delete succeeded
  std::string reason;                       // for the log
};

struct ReconcilePlan {
  std::vector<Deletion> deletions;  // token/delete these (ours only)
  std::vector<std::string> forget;  // drop these ledger records now (their token is gone)
  // PATs of this agent the ledger does not know, while it is recovering from a lost file: taken
  // into the ledger as promised until expiry (left to expire, counted against max_active).
  std::vector<PatInfo> adopt;
  int foreign = 0;  // listed PATs that are not ours (never touched)
};

// Who we are, for telling our PATs from others'.
struct Identity {
  std::string_view instance;
  std::string_view workspace;
  std::string_view agent;
};

// `listed` is the complete token/list answer; `protected_nonces` are mints this process has in
// flight or finished while the list was in flight (the list may predate them). `adopting`: the
// ledger file was lost, so a PAT of ours it does not know may be in use (adopt, never delete).
// A PAT is ours when its comment carries our instance, workspace and agent id; one in the older
// format without an agent id only when the ledger knows its nonce (else it may be another
// daemon's with the same instance: left alone to expire).
ReconcilePlan plan_reconcile(TimePoint now, const Identity& us,
                             const std::vector<PatRecord>& records,
                             const std::vector<PatInfo>& listed,
                             const std::set<std::string>& protected_nonces, bool adopting = false);

// ---- Reaping another agent's PATs (`dbxcred pat reap --agent ID`) ---------------------------

// The operator's answer to a cloned or retired agent: the listed PATs whose comment carries agent
// id `agent` (whatever its instance and workspace field: an agent id is 128 random bits), for
// token/delete. Never a PAT of this daemon: `agent` equal to our own id is a bad_request (our
// PATs are ours to manage, and some hold promises), and a PAT our ledger knows (`ours`: token
// ids) is left out whatever its comment says. A malformed id is a bad_request.
struct ReapPlan {
  std::vector<std::string> token_ids;  // to delete
  int kept = 0;                        // listed PATs not of that agent (never touched)
};
Result<ReapPlan> plan_reap(std::string_view agent, std::string_view own_agent,
                           const std::vector<PatInfo>& listed, const std::set<std::string>& ours);

}  // namespace dbx::pat
