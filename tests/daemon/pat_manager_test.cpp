// PatManager driven by a manual clock and a fake workspace: single-flight, rotation, max_active,
// quota, and recovery from a crash at every point of a mint (a "crash" destroys the manager and
// ledger objects mid-call; a new pair is built from the file on disk and the workspace's tokens).
#include "daemon/pat/pat_manager.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>

#include "tests/daemon/fake_runtime.h"
#include "tests/daemon/fake_token_api.h"

namespace dbx {
namespace {

namespace fs = std::filesystem;
using testing::FakeRuntime;
using testing::FakeTokenApi;

// The agent id the tests' state dir holds (written in SetUp, as a first start would).
const std::string kAgent = "0123456789abcdef0123456789abcdef";
const std::string kOurs = "dbxcred:agent-1:prod:" + kAgent + ":";

PatPolicy policy(int lifetime_s = 3600, int rotate_s = 1200, int max_s = 86400,
                 int max_active = 10) {
  PatPolicy p;
  p.lifetime = Seconds(lifetime_s);
  p.rotate_before = Seconds(rotate_s);
  p.max_lifetime = Seconds(max_s);
  p.max_active = max_active;
  return p;
}

// The answer of one get(), once the loop has run.
struct Got {
  std::optional<Result<ServedPat>> r;
  bool ok() const { return r && r->ok(); }
};

class PatManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pat_manager_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::ofstream(dir_ + "/agent_id") << kAgent << "\n";
    spdlog::set_level(spdlog::level::err);  // the manager logs every mint; keep test output short
  }
  void TearDown() override {
    spdlog::set_level(spdlog::level::info);
    mgr_.reset();
    fs::remove_all(dir_);
  }

  // (Re)starts the daemon's PAT part from what is on disk and in the workspace.
  void boot(PatPolicy p = policy()) {
    ledger_ = std::make_unique<PatLedger>(dir_, "prod");
    load_status_ = ledger_->load();
    mgr_ = std::make_unique<PatManager>(rt_, api_, *ledger_, p, "agent-1", "prod");
    mgr_->start();
    rt_.run_ready();
  }
  // SIGKILL: the process and every answer it was waiting for are gone.
  void crash() {
    api_.drop_held();
    mgr_.reset();
    ledger_.reset();
  }

  std::shared_ptr<Got> get(int min_valid_s = 300) {
    auto g = std::make_shared<Got>();
    mgr_->get(Seconds(min_valid_s), uid_, [g](Result<ServedPat> r) { g->r = std::move(r); });
    return g;
  }
  std::shared_ptr<Got> get_now(int min_valid_s = 300) {
    auto g = get(min_valid_s);
    rt_.run_ready();
    return g;
  }

  // No orphan (a PAT of ours the ledger does not know by id) and no lost token (a ledger id the
  // workspace does not have), and no unresolved intent.
  void expect_consistent() {
    for (const auto& info : api_.valid_infos()) {
      if (info.comment.rfind(kOurs, 0) != 0) continue;
      const auto* rec = ledger_->find(info.comment.substr(kOurs.size()));
      ASSERT_NE(rec, nullptr) << "orphan " << info.token_id;
      EXPECT_EQ(rec->token_id, info.token_id);
    }
    for (const auto& rec : ledger_->records()) {
      ASSERT_TRUE(rec.token_id) << "unresolved intent " << rec.nonce;
      EXPECT_TRUE(api_.tokens.count(*rec.token_id)) << "lost token " << *rec.token_id;
    }
    // And what is in memory is what is on disk.
    PatLedger reread(dir_, "prod");
    ASSERT_TRUE(reread.load());
    EXPECT_EQ(reread.records().size(), ledger_->records().size());
  }

  int ours() const { return api_.count_unexpired_with_prefix(kOurs); }

  // A ledger file that exists (written by an earlier start): PATs of ours it lacks are orphans.
  void write_empty_ledger() {
    fs::create_directories(dir_ + "/pats");
    std::ofstream(dir_ + "/pats/prod.json")
        << R"({"version":1,"workspace":"prod","adopting":false,"entries":[]})"
        << "\n";
  }

  std::string dir_;
  FakeRuntime rt_;
  FakeTokenApi api_{rt_};
  std::unique_ptr<PatLedger> ledger_;
  std::unique_ptr<PatManager> mgr_;
  Status load_status_ = ok_status();
  std::optional<std::uint32_t> uid_ = 1000;  // the caller of get()
};

TEST_F(PatManagerTest, FirstGetMintsOnceWithOurCommentAndRecordsTheId) {
  boot();
  EXPECT_EQ(api_.list_calls, 1);  // reconcile at start
  auto g = get_now();
  ASSERT_TRUE(g->ok());
  EXPECT_EQ(api_.create_calls, 1);
  EXPECT_EQ(api_.lifetimes[0], Seconds(3600));
  const auto& served = g->r->value();
  EXPECT_EQ(served.expires_at, rt_.now() + Seconds(3600));
  const auto& tok = api_.tokens.at(served.token_id);
  EXPECT_EQ(tok.value, served.token);
  ASSERT_EQ(tok.info.comment.rfind(kOurs, 0), 0u) << tok.info.comment;
  const auto* rec = ledger_->find(tok.info.comment.substr(kOurs.size()));
  ASSERT_NE(rec, nullptr);
  EXPECT_EQ(rec->token_id, served.token_id);
  // The value is never on disk.
  std::ifstream in(ledger_->path());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text.find(served.token), std::string::npos);
  // A second get is served from memory.
  auto g2 = get_now();
  ASSERT_TRUE(g2->ok());
  EXPECT_EQ(g2->r->value().token_id, served.token_id);
  EXPECT_EQ(api_.create_calls, 1);
  expect_consistent();
}

TEST_F(PatManagerTest, AFailedReconcileIsRetriedSoonNotInTenMinutes) {
  api_.fail_next_list = make_error(ErrorCode::upstream_unavailable, "token/list: HTTP 503");
  boot();
  EXPECT_EQ(api_.list_calls, 1);
  rt_.advance(pat::kRetryAfterFailure - Seconds(1));
  EXPECT_EQ(api_.list_calls, 1);
  rt_.advance(Seconds(1));
  EXPECT_EQ(api_.list_calls, 2);
  // Once a list succeeds, the regular interval applies again.
  rt_.advance(pat::kRetryAfterFailure);
  EXPECT_EQ(api_.list_calls, 2);
}

TEST_F(PatManagerTest, FiftyConcurrentGetsCauseOneCreate) {
  boot();
  api_.hold_creates = true;
  std::vector<std::shared_ptr<Got>> gots;
  for (int i = 0; i < 50; ++i) gots.push_back(get(60 + i));
  rt_.run_ready();
  EXPECT_EQ(api_.create_calls, 1);
  EXPECT_TRUE(mgr_->status().mint_in_flight);
  for (const auto& g : gots) EXPECT_FALSE(g->r);  // all waiting for the one mint
  api_.answer_create();
  rt_.run_ready();
  for (const auto& g : gots) {
    ASSERT_TRUE(g->ok());
    EXPECT_EQ(g->r->value().token_id, gots[0]->r->value().token_id);
  }
  EXPECT_EQ(api_.create_calls, 1);
}

TEST_F(PatManagerTest, AHangingCreateFailsTheClientAtTheDeadlineAndServesLater) {
  boot();
  api_.hold_creates = true;
  auto first = get_now(300);
  rt_.advance(Seconds(15) - Millis(1));
  EXPECT_FALSE(first->r);      // still within the default 15 s deadline
  auto second = get_now(300);  // joins the same mint, with its own deadline
  rt_.advance(Millis(1));
  ASSERT_TRUE(first->r);
  ASSERT_FALSE(first->ok());
  EXPECT_EQ(first->r->error().code, ErrorCode::upstream_unavailable);
  EXPECT_NE(first->r->error().message.find("timed out after"), std::string::npos);
  EXPECT_FALSE(second->r);
  EXPECT_TRUE(mgr_->status().mint_in_flight);  // the mint goes on in the background
  api_.answer_create();
  rt_.run_ready();
  ASSERT_TRUE(second->ok());
  auto third = get_now(300);  // served from the background mint, no second create
  ASSERT_TRUE(third->ok());
  EXPECT_EQ(third->r->value().token_id, second->r->value().token_id);
  EXPECT_EQ(api_.create_calls, 1);
  rt_.advance(Seconds(60));  // answered waiters' deadlines were cancelled: nothing fires twice
  expect_consistent();
}

TEST_F(PatManagerTest, DeadlineComesFromTheConfiguration) {
  ledger_ = std::make_unique<PatLedger>(dir_, "prod");
  ASSERT_TRUE(ledger_->load());
  mgr_ = std::make_unique<PatManager>(rt_, api_, *ledger_, policy(), "agent-1", "prod", Seconds(3));
  mgr_->start();
  rt_.run_ready();
  api_.hold_creates = true;
  auto g = get_now(300);
  rt_.advance(Seconds(3));
  ASSERT_TRUE(g->r);
  EXPECT_EQ(g->r->error().code, ErrorCode::upstream_unavailable);
}

TEST_F(PatManagerTest, NoAadTokenMeansNoIntentAndNoCreate) {
  boot(policy(3600, 1200, 86400, 3));
  Error aad_down = make_error(ErrorCode::upstream_unavailable, "Entra ID: HTTP 503");
  aad_down.upstream_status = 503;
  api_.fail_auth = aad_down;
  // More failed attempts than max_active: none may leave an intent that counts against it.
  for (int i = 0; i < 5; ++i) {
    auto g = get_now(300);
    ASSERT_TRUE(g->r);
    ASSERT_FALSE(g->ok());
    EXPECT_EQ(g->r->error().code, ErrorCode::upstream_unavailable);
    EXPECT_NE(g->r->error().message.find("503"), std::string::npos);
  }
  EXPECT_EQ(api_.create_calls, 0);
  EXPECT_TRUE(ledger_->records().empty());
  EXPECT_EQ(mgr_->status().active, 0);
  api_.fail_auth.reset();
  auto g = get_now(300);  // AAD is back: a mint at once, not quota_exhausted
  ASSERT_TRUE(g->ok()) << g->r->error().message;
  EXPECT_EQ(api_.create_calls, 1);
  expect_consistent();
}

TEST_F(PatManagerTest, ALargerMinValidArrivingDuringAMintGetsItsOwnMint) {
  boot();
  api_.hold_creates = true;
  auto small = get_now(300);
  auto large = get_now(7200);  // the held mint asks for 3600 s: not enough for this one
  api_.answer_create();
  rt_.run_ready();
  ASSERT_TRUE(small->ok());
  EXPECT_FALSE(large->r);
  ASSERT_EQ(api_.create_calls, 2);
  EXPECT_EQ(api_.lifetimes[1], Seconds(7200) + pat::kMintMargin);
  api_.answer_create();
  rt_.run_ready();
  ASSERT_TRUE(large->ok());
  EXPECT_GE(large->r->value().expires_at - rt_.now(), Seconds(7200));
}

TEST_F(PatManagerTest, RotatesRotateBeforeAheadAndKeepsSupersededUntilExpiry) {
  rt_.set_random(0.0);  // the latest the rotation jitter allows: exactly rotate_before ahead
  boot(policy(3600, 1200));
  auto first = get_now();
  ASSERT_TRUE(first->ok());
  const std::string a = first->r->value().token_id;
  EXPECT_EQ(mgr_->status().next_rotation, rt_.now() + Seconds(2400));
  rt_.advance(Seconds(2399));
  EXPECT_EQ(api_.create_calls, 1);
  rt_.advance(Seconds(1));  // proactive rotation, no client waiting
  EXPECT_EQ(api_.create_calls, 2);
  auto second = get_now();
  ASSERT_TRUE(second->ok());
  EXPECT_NE(second->r->value().token_id, a);
  EXPECT_TRUE(api_.tokens.count(a));  // superseded, still valid for jobs holding it
  EXPECT_EQ(mgr_->status().active, 2);
  rt_.advance(Seconds(1200));  // a expires: deleted from the workspace and forgotten
  EXPECT_EQ(api_.removed, std::vector<std::string>{a});
  EXPECT_EQ(mgr_->status().active, 1);
  expect_consistent();
}

// Found by the fleet benchmark: 50 agents started together minted in the same second at every
// rotation (no jitter). Each PAT's rotation now starts up to 10 % of rotate_before early.
TEST_F(PatManagerTest, RotationStartsUpToATenthOfRotateBeforeEarlySoAFleetSpreadsOut) {
  rt_.set_random(0.75);  // drawn at the mint: 0.75 x 10 % x 1200 s = 90 s early
  boot(policy(3600, 1200));
  ASSERT_TRUE(get_now()->ok());
  const TimePoint created = rt_.now();
  EXPECT_EQ(mgr_->status().next_rotation, created + Seconds(2310));
  rt_.set_random(0.0);
  rt_.advance(Seconds(2309));
  EXPECT_EQ(api_.create_calls, 1);
  rt_.advance(Seconds(1));  // proactive, 90 s before the rotation is due; no client is forced
  EXPECT_EQ(api_.create_calls, 2);
  // The successor drew 0: its rotation is due exactly rotate_before before its expiry.
  EXPECT_EQ(mgr_->status().next_rotation, rt_.now() + Seconds(2400));
  expect_consistent();
}

TEST_F(PatManagerTest, MinValidForcesEarlyRotationAndTooLargeIsBadRequest) {
  boot(policy(3600, 1200, 4 * 3600));
  ASSERT_TRUE(get_now(300)->ok());
  rt_.advance(Seconds(600));  // 3000 s left
  auto g = get_now(3300);
  ASSERT_TRUE(g->ok());
  EXPECT_EQ(api_.create_calls, 2);
  EXPECT_EQ(api_.lifetimes[1], Seconds(3600));  // policy lifetime already covers 3300 + 60
  EXPECT_GE(g->r->value().expires_at - rt_.now(), Seconds(3300));
  auto too_much = get_now(4 * 3600);
  ASSERT_TRUE(too_much->r);
  ASSERT_FALSE(too_much->r->ok());
  EXPECT_EQ(too_much->r->error().code, ErrorCode::bad_request);
  EXPECT_NE(too_much->r->error().message.find("pat.max_lifetime"), std::string::npos);
  EXPECT_EQ(api_.create_calls, 2);
}

TEST_F(PatManagerTest, MaxActiveAndPromisesHoldOverADayOfShortLivedRotations) {
  const int kMaxActive = 3;
  boot(policy(600, 240, 3600, kMaxActive));
  int served = 0;
  int refused = 0;
  int step = 0;
  std::map<std::string, TimePoint> promised;  // token id -> the latest min_valid promised
  // Every 7 s a client; every 97th asks for 25 min, forcing an early, longer-lived mint.
  for (auto t = Seconds(0); t < Seconds(24 * 3600); t += Seconds(7), ++step) {
    const int min_valid = step % 97 == 0 ? 1500 : (step % 5 == 0 ? 540 : 300);
    auto g = get_now(min_valid);
    ASSERT_TRUE(g->r) << "step " << step;
    if (g->r->ok()) {
      ++served;
      EXPECT_GE(g->r->value().expires_at - rt_.now(), Seconds(min_valid));
      auto& p = promised[g->r->value().token_id];
      p = std::max(p, rt_.now() + Seconds(min_valid));
    } else {
      // Only ever for lack of room (every PAT promised) or for forcing too often.
      const ErrorCode c = g->r->error().code;
      ASSERT_TRUE(c == ErrorCode::quota_exhausted || c == ErrorCode::rate_limited)
          << "step " << step << ": " << g->r->error().message;
      ++refused;
    }
    ASSERT_LE(ours(), kMaxActive) << "step " << step;
    rt_.advance(Seconds(7));
    ASSERT_LE(ours(), kMaxActive) << "step " << step;
    for (const auto& [id, until] : promised)
      if (until > rt_.now()) {
        ASSERT_TRUE(api_.tokens.count(id)) << "promise broken: " << id;
      }
  }
  EXPECT_GT(api_.create_calls, 24 * 4);  // rotated all day, at least every 15 min
  EXPECT_GT(served, step * 9 / 10);
  EXPECT_EQ(served + refused, step);
  expect_consistent();
}

TEST_F(PatManagerTest, DeletesOldestSupersededToStayWithinMaxActive) {
  boot(policy(3600, 1200, 86400, 2));
  auto a = get_now(300);
  rt_.advance(Seconds(60));
  auto b = get_now(3570);  // a has 3540 s left: rotate early -> b current, a superseded
  ASSERT_TRUE(b->ok());
  EXPECT_EQ(ours(), 2);
  rt_.advance(Seconds(360));
  auto c = get_now(3600);  // b has too little left: needs a third; a (promise over) goes first
  ASSERT_TRUE(c->ok());
  EXPECT_EQ(api_.removed, std::vector<std::string>{a->r->value().token_id});
  EXPECT_EQ(ours(), 2);
  EXPECT_TRUE(api_.tokens.count(b->r->value().token_id));
  expect_consistent();
}

TEST_F(PatManagerTest, WhenNothingCanGoServesCurrentIfItSatisfiesElseQuotaExhausted) {
  boot(policy(3600, 1200, 86400, 1));
  auto a = get_now(300);
  ASSERT_TRUE(a->ok());
  rt_.advance(Seconds(2500));  // rotation due, but max_active 1 and the only PAT is current
  EXPECT_EQ(api_.create_calls, 1);
  auto ok = get_now(600);  // 1100 s left: still satisfies
  ASSERT_TRUE(ok->ok());
  EXPECT_EQ(ok->r->value().token_id, a->r->value().token_id);
  auto no = get_now(1800);
  ASSERT_FALSE(no->r->ok());
  EXPECT_EQ(no->r->error().code, ErrorCode::quota_exhausted);
  EXPECT_NE(no->r->error().message.find("pat.max_active"), std::string::npos);
  EXPECT_NE(no->r->error().message.find("'prod'"), std::string::npos);
  EXPECT_EQ(api_.create_calls, 1);
  EXPECT_EQ(ours(), 1);
}

TEST_F(PatManagerTest, DatabricksQuotaExceededIsQuotaExhaustedAndNothingLeaks) {
  api_.quota = 600;
  for (int i = 0; i < 600; ++i)
    api_.add_foreign("human token " + std::to_string(i), Seconds(86400));
  boot();
  auto g = get_now();
  ASSERT_TRUE(g->r);
  ASSERT_FALSE(g->r->ok());
  EXPECT_EQ(g->r->error().code, ErrorCode::quota_exhausted);
  const auto& msg = g->r->error().message;
  EXPECT_NE(msg.find("workspace 'prod'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("lower pat.max_active on other agents"), std::string::npos) << msg;
  EXPECT_NE(msg.find("QUOTA_EXCEEDED"), std::string::npos) << msg;
  EXPECT_TRUE(ledger_->records().empty());  // a refused create leaves no intent
  EXPECT_EQ(mgr_->status().last_error, msg);
  // 599 foreign PATs: room for one of ours.
  api_.tokens.erase("foreign-1");
  ASSERT_TRUE(get_now()->ok());
  EXPECT_EQ(api_.count_unexpired_with_prefix("human"), 599);
  EXPECT_TRUE(api_.removed.empty());
}

TEST_F(PatManagerTest, RetryAfterIsRespected) {
  boot();
  Error throttled = make_error(ErrorCode::upstream_unavailable, "HTTP 429 REQUEST_LIMIT_EXCEEDED");
  throttled.upstream_status = 429;
  throttled.retry_after = Seconds(60);
  api_.fail_next_create = throttled;
  auto g = get_now();
  ASSERT_FALSE(g->r->ok());
  EXPECT_EQ(g->r->error().retry_after, Seconds(60));
  auto again = get_now();
  ASSERT_FALSE(again->r->ok());
  EXPECT_EQ(api_.create_calls, 1);  // not sent before Retry-After
  rt_.advance(Seconds(60));
  ASSERT_TRUE(get_now()->ok());
  EXPECT_EQ(api_.create_calls, 2);
  EXPECT_TRUE(ledger_->records().size() == 1);
}

TEST_F(PatManagerTest, UnwritableLedgerMeansNoMint) {
  boot();
  fs::create_directories(ledger_->path() + ".tmp");
  auto g = get_now();
  ASSERT_FALSE(g->r->ok());
  EXPECT_EQ(g->r->error().code, ErrorCode::internal);
  EXPECT_NE(g->r->error().message.find(ledger_->path()), std::string::npos);
  EXPECT_EQ(api_.create_calls, 0);
}

TEST_F(PatManagerTest, CorruptLedgerStopsMintingAndTouchesNothing) {
  fs::create_directories(dir_ + "/pats");
  std::ofstream(dir_ + "/pats/prod.json") << "{\"version\":1, truncated";
  const std::string orphan_nonce(32, 'e');
  api_.add_foreign(kOurs + orphan_nonce, Seconds(3600));  // looks like an orphan of ours
  boot();
  EXPECT_FALSE(load_status_);
  EXPECT_EQ(api_.list_calls, 0);
  auto g = get_now();
  ASSERT_FALSE(g->r->ok());
  EXPECT_NE(g->r->error().message.find("corrupt"), std::string::npos);
  EXPECT_EQ(api_.create_calls, 0);
  EXPECT_TRUE(api_.removed.empty());
  EXPECT_FALSE(mgr_->status().ledger_ok);
  ASSERT_TRUE(mgr_->status().last_error);
}

TEST_F(PatManagerTest, ForeignPatsAreNeverTouchedOurOrphansAre) {
  const std::string n(32, 'f');
  const std::vector<std::string> foreign = {
      api_.add_foreign("alice's laptop", Seconds(600)),
      api_.add_foreign("dbxcred:agent-2:prod:" + n, Seconds(600)),     // another agent
      api_.add_foreign("dbxcred:agent-1:staging:" + n, Seconds(600)),  // another workspace
      api_.add_foreign("dbxcred:agent-1:prod:not-a-nonce", Seconds(600)),
      api_.add_foreign("", Seconds(600)),
  };
  const std::string orphan = api_.add_foreign(kOurs + n, Seconds(600));
  write_empty_ledger();
  boot(policy(300, 120, 3600, 2));
  EXPECT_EQ(api_.removed, std::vector<std::string>{orphan});
  for (int i = 0; i < 200; ++i) {  // rotations, reaping and reconciles for ~1.5 h
    ASSERT_TRUE(get_now(100)->ok());
    rt_.advance(Seconds(29));
  }
  for (const auto& id : foreign)
    EXPECT_EQ(std::count(api_.removed.begin(), api_.removed.end(), id), 0) << id;
  expect_consistent();
}

TEST_F(PatManagerTest, CurrentDeletedByAHumanIsDroppedAtReconcile) {
  boot();
  auto a = get_now();
  api_.tokens.erase(a->r->value().token_id);
  rt_.advance(pat::kReconcileInterval);
  // Found by the revocation check well before the reconcile, and replaced.
  EXPECT_NE(mgr_->status().current_token_id, a->r->value().token_id);
  auto b = get_now();
  ASSERT_TRUE(b->ok());
  EXPECT_NE(b->r->value().token_id, a->r->value().token_id);
  expect_consistent();
}

TEST_F(PatManagerTest, DroppedConnectionLeavesTheIntentAndReconcileDeletesTheToken) {
  boot();
  api_.hold_creates = true;
  auto g = get_now();
  Error dropped = make_error(ErrorCode::upstream_unavailable, "connection reset by peer");
  api_.apply_create_and_fail(dropped);  // the PAT exists server-side; its value is lost
  rt_.run_ready();
  ASSERT_FALSE(g->r->ok());
  ASSERT_EQ(ledger_->records().size(), 1u);  // the intent stays: the outcome is unknown
  EXPECT_EQ(ours(), 1);
  rt_.advance(Seconds(31));  // reconcile soon after an unknown outcome
  EXPECT_EQ(ours(), 0);
  EXPECT_TRUE(ledger_->records().empty());
  expect_consistent();
}

TEST_F(PatManagerTest, LedgerFailingAfterCreateDeletesTheUnrecordedPat) {
  boot();
  api_.hold_creates = true;
  auto g = get_now();
  fs::create_directories(ledger_->path() + ".tmp");  // the disk fails between intent and id
  api_.answer_create();
  rt_.run_ready();
  ASSERT_FALSE(g->r->ok());
  EXPECT_EQ(g->r->error().code, ErrorCode::internal);
  EXPECT_EQ(api_.removed.size(), 1u);  // never handed out, deleted at once
  EXPECT_EQ(ours(), 0);
}

// ---- Crash points of a mint ----------------------------------------------------------------

// Before the intent is written: here, while the room-making delete of a superseded PAT is in
// flight. Nothing about the new mint is on disk or in the workspace.
TEST_F(PatManagerTest, CrashBeforeIntentWritten) {
  boot(policy(3600, 1200, 86400, 2));
  auto a = get_now(300);
  rt_.advance(Seconds(60));
  auto b = get_now(3570);
  ASSERT_TRUE(b->ok());
  rt_.advance(Seconds(360));  // a's promise (300 s + the ledger's step) has passed
  api_.hold_removes = true;
  auto c = get_now(3600);  // must delete a first
  ASSERT_EQ(api_.held_removes.size(), 1u);
  crash();
  boot(policy(3600, 1200, 86400, 2));
  expect_consistent();
  EXPECT_EQ(ours(), 2);  // a and b kept: jobs may hold them
  EXPECT_EQ(ledger_->records().size(), 2u);
  api_.hold_removes = false;
  auto d = get_now(300);  // values were memory-only: a new PAT, after deleting the oldest
  ASSERT_TRUE(d->ok());
  EXPECT_LE(ours(), 2);
  expect_consistent();
}

// Same point, but the delete took effect server-side before the crash.
TEST_F(PatManagerTest, CrashAfterRoomMakingDeleteTookEffect) {
  boot(policy(3600, 1200, 86400, 2));
  auto a = get_now(300);
  rt_.advance(Seconds(60));
  ASSERT_TRUE(get_now(3570)->ok());
  rt_.advance(Seconds(360));
  api_.hold_removes = true;
  get_now(3600);
  api_.tokens.erase(api_.held_removes.front().token_id);
  crash();
  boot(policy(3600, 1200, 86400, 2));
  expect_consistent();  // the record of the deleted PAT was forgotten
  EXPECT_EQ(ledger_->records().size(), 1u);
}

// After the intent is written, before token/create reached Databricks.
TEST_F(PatManagerTest, CrashAfterIntentWritten) {
  boot();
  api_.hold_creates = true;
  get_now();
  ASSERT_EQ(ledger_->records().size(), 1u);
  EXPECT_FALSE(ledger_->records()[0].token_id);
  crash();
  api_.hold_creates = false;
  boot();
  EXPECT_TRUE(ledger_->records().empty());  // no such token: the intent is forgotten
  EXPECT_EQ(ours(), 0);
  expect_consistent();
  ASSERT_TRUE(get_now()->ok());
  EXPECT_EQ(ours(), 1);
}

// After token/create was answered (the PAT exists) but before its id reached the ledger: on disk
// this is the same as an answer lost on the wire. The PAT was never handed out: it is deleted.
TEST_F(PatManagerTest, CrashAfterCreateAnsweredBeforeIdWritten) {
  boot();
  api_.hold_creates = true;
  get_now();
  api_.apply_create_and_drop();
  EXPECT_EQ(ours(), 1);
  crash();
  api_.hold_creates = false;
  boot();
  EXPECT_EQ(ours(), 0);
  EXPECT_EQ(api_.removed.size(), 1u);
  EXPECT_TRUE(ledger_->records().empty());
  expect_consistent();
}

// After the id was written (and the PAT served). The PAT stays until it expires — a job may hold
// it — but cannot be served again (its value was memory-only); it is deleted at expiry.
TEST_F(PatManagerTest, CrashAfterIdWritten) {
  boot();
  auto a = get_now();
  ASSERT_TRUE(a->ok());
  rt_.advance(Seconds(600));
  crash();
  boot();
  expect_consistent();
  EXPECT_EQ(ours(), 1);
  EXPECT_TRUE(api_.removed.empty());
  auto b = get_now();
  ASSERT_TRUE(b->ok());
  EXPECT_NE(b->r->value().token_id, a->r->value().token_id);
  EXPECT_EQ(ours(), 2);
  rt_.advance(Seconds(3000));  // a expires and is reaped
  EXPECT_EQ(api_.removed, std::vector<std::string>{a->r->value().token_id});
  expect_consistent();
}

TEST_F(PatManagerTest, RestartLoopDuringSlowCreatesLeavesNoOrphans) {
  api_.hold_creates = true;
  for (int i = 0; i < 20; ++i) {
    boot(policy(3600, 1200, 86400, 3));
    get_now();
    if (!api_.held_creates.empty()) {
      if (i % 2) api_.apply_create_and_drop();  // alternate: reached the server or not
    }
    crash();
    rt_.advance(Seconds(10));
  }
  api_.hold_creates = false;
  boot(policy(3600, 1200, 86400, 3));
  EXPECT_EQ(ours(), 0);
  expect_consistent();
  ASSERT_TRUE(get_now()->ok());
  EXPECT_EQ(ours(), 1);
}

TEST_F(PatManagerTest, StatusShowsIdsAndTimesNeverValues) {
  boot();
  auto a = get_now();
  const auto s = mgr_->status();
  EXPECT_EQ(s.current_token_id, a->r->value().token_id);
  EXPECT_EQ(s.current_expires_at, a->r->value().expires_at);
  EXPECT_EQ(s.active, 1);
  EXPECT_EQ(s.mints, 1u);
  EXPECT_TRUE(s.next_rotation);
  EXPECT_FALSE(s.mint_in_flight);
  EXPECT_TRUE(s.last_reconcile);
}

// A workspace with "pat": false has no PatManager (Workspace::pat answers bad_request:
// RouterPatTest.PatRouteServesTheWorkspacesPat, "closed"); a stopped manager fails its waiters.
TEST_F(PatManagerTest, Stopped) {
  boot();
  api_.hold_creates = true;
  auto w = get_now();
  mgr_->stop();
  rt_.run_ready();
  ASSERT_TRUE(w->r);
  EXPECT_FALSE(w->r->ok());
}

// ---- Promises, forced rotations, revocation, ledger loss (issues 12 and 15) ------------------

TEST_F(PatManagerTest, APromisedPatIsNeverDeletedForAnotherClientsForcedRotations) {
  boot(policy(120, 60, 1200, 3));
  auto a = get_now(400);  // job A: minted for 460 s, promised 400
  ASSERT_TRUE(a->ok());
  const std::string a_id = a->r->value().token_id;
  uid_ = 2000;  // user B
  std::vector<ErrorCode> refused;
  for (int i = 0; i < 5; ++i) {
    rt_.advance(Seconds(5));
    // Just above what the current PAT has left.
    const auto left =
        std::chrono::duration_cast<Seconds>(*mgr_->status().current_expires_at - rt_.now());
    auto b = get_now(static_cast<int>(left.count()) + 5);
    ASSERT_TRUE(b->r);
    if (!b->r->ok()) {
      refused.push_back(b->r->error().code);
      if (b->r->error().code == ErrorCode::quota_exhausted) {
        EXPECT_NE(b->r->error().message.find("max_active"), std::string::npos);
      }
      if (b->r->error().code == ErrorCode::rate_limited) {
        ASSERT_TRUE(b->r->error().retry_after);
        EXPECT_GE(*b->r->error().retry_after, Seconds(1));
      }
    }
    EXPECT_TRUE(api_.tokens.count(a_id)) << "A's PAT deleted at round " << i;
    EXPECT_LE(ours(), 3);
  }
  EXPECT_EQ(refused, (std::vector<ErrorCode>{ErrorCode::quota_exhausted, ErrorCode::rate_limited,
                                             ErrorCode::rate_limited}));
  EXPECT_EQ(mgr_->status().rate_limited, 2u);
  // Another uid still has its own budget; A is served its PAT as before.
  uid_ = 1000;
  auto again = get_now(60);
  ASSERT_TRUE(again->ok());
}

TEST_F(PatManagerTest, APromiseSurvivesARestartAndEndsWhenItsTimeHasPassed) {
  boot(policy(120, 60, 1200, 2));
  auto a = get_now(400);
  ASSERT_TRUE(a->ok());
  const std::string a_id = a->r->value().token_id;
  crash();
  boot(policy(120, 60, 1200, 2));
  auto b = get_now(100);  // no current after a restart: a second PAT
  ASSERT_TRUE(b->ok());
  rt_.advance(Seconds(100));
  auto c = get_now(400);  // a third would need A's place: A is promised for 300 s more
  ASSERT_FALSE(c->r->ok());
  EXPECT_EQ(c->r->error().code, ErrorCode::quota_exhausted);
  EXPECT_TRUE(api_.tokens.count(a_id));
  rt_.advance(Seconds(301 + pat::kPromiseStep.count()));  // A's recorded promise has passed
  auto d = get_now(300);
  ASSERT_TRUE(d->ok()) << d->r->error().message;
  EXPECT_FALSE(api_.tokens.count(a_id));
}

TEST_F(PatManagerTest, TheFastPathServesOnlyWithinTheRecordedPromise) {
  boot();
  ASSERT_TRUE(get_now(300)->ok());
  EXPECT_TRUE(mgr_->peek(Seconds(300)));
  rt_.advance(pat::kPromiseStep + Seconds(1));
  EXPECT_FALSE(mgr_->peek(Seconds(300)));  // would promise past what the ledger holds
  ASSERT_TRUE(get_now(300)->ok());         // the slow path records it
  EXPECT_TRUE(mgr_->peek(Seconds(300)));
  const auto* rec = ledger_->records().data();
  EXPECT_GE(rec->promised, rt_.now() + Seconds(300));
}

TEST_F(PatManagerTest, ARevokedCurrentPatIsReplacedWithinTheCheckInterval) {
  PatPolicy p = policy();
  p.check_interval = Seconds(50);
  boot(p);
  auto a = get_now(300);
  ASSERT_TRUE(a->ok());
  const std::string a_id = a->r->value().token_id;
  api_.tokens.erase(a_id);  // an admin deletes it at the workspace
  rt_.advance(Seconds(50));
  EXPECT_GE(api_.check_calls, 1);
  const auto s = mgr_->status();
  EXPECT_EQ(s.revocations, 1u);
  ASSERT_TRUE(s.last_revocation);
  EXPECT_NE(s.last_revocation->find(a_id), std::string::npos);
  ASSERT_TRUE(s.current_token_id);  // minted at once, before anyone asks
  EXPECT_NE(*s.current_token_id, a_id);
  auto b = get_now(300);
  ASSERT_TRUE(b->ok());
  EXPECT_NE(b->r->value().token_id, a_id);
  expect_consistent();
}

TEST_F(PatManagerTest, APatListedButRefusedIsRevokedAndAFailedCheckIsNot) {
  PatPolicy p = policy();
  p.check_interval = Seconds(30);
  boot(p);
  auto a = get_now(300);
  const std::string a_id = a->r->value().token_id;
  api_.fail_next_check = make_error(ErrorCode::upstream_unavailable, "HTTP 503");
  rt_.advance(Seconds(30));
  EXPECT_EQ(mgr_->status().revocations, 0u);  // nothing proved: still served
  EXPECT_EQ(mgr_->peek(Seconds(300))->token_id, a_id);
  api_.broken.push_back(a_id);
  rt_.advance(Seconds(30));
  EXPECT_EQ(mgr_->status().revocations, 1u);
  EXPECT_NE(std::find(api_.removed.begin(), api_.removed.end(), a_id), api_.removed.end());
  EXPECT_NE(get_now(300)->r->value().token_id, a_id);
}

// The serialised answer a server keeps for the fast path lives with the PAT: a fresh PAT starts
// with none, and a revoked PAT's answer (holding its value) is gone with it.
TEST_F(PatManagerTest, TheCachedAnswerGoesWithThePat) {
  PatPolicy p = policy();
  p.check_interval = Seconds(50);
  boot(p);
  const std::string a_id = get_now(300)->r->value().token_id;
  auto hit = mgr_->peek(Seconds(60));
  ASSERT_TRUE(hit);
  ASSERT_NE(hit->answer, nullptr);
  EXPECT_TRUE(hit->answer->body.empty());
  hit->answer->host = "https://adb-1.azuredatabricks.net";
  hit->answer->body = std::string("{\"token\":\"") + std::string(hit->token) + "\"}";
  EXPECT_EQ(mgr_->peek(Seconds(60))->answer->body, hit->answer->body);  // kept for the next hit

  api_.tokens.erase(a_id);  // revoked at the workspace
  rt_.advance(Seconds(50));
  ASSERT_EQ(mgr_->status().revocations, 1u);
  ASSERT_TRUE(get_now(300)->ok());
  auto next = mgr_->peek(Seconds(60));
  ASSERT_TRUE(next);
  EXPECT_NE(next->token_id, a_id);
  EXPECT_TRUE(next->answer->body.empty());  // nothing of the revoked PAT's answer is left
}

// token/create is sent with the headers the authenticate right before it answered.
TEST_F(PatManagerTest, EachCreateCarriesTheHeadersOfItsOwnAuthenticate) {
  boot(policy(3600, 1200));
  ASSERT_TRUE(get_now()->ok());
  rt_.advance(Seconds(2400));  // rotated
  ASSERT_EQ(api_.create_calls, 2);
  EXPECT_EQ(api_.auth_calls, 2);
  EXPECT_EQ(api_.create_auth, (std::vector<std::string>{"Bearer aad-1", "Bearer aad-2"}));
}

TEST_F(PatManagerTest, ANeverExpiringPatIsReapedByCreationTimePlusLifetime) {
  api_.never_expire = true;
  boot(policy(3600, 1200, 86400, 10));
  auto a = get_now(300);
  ASSERT_TRUE(a->ok());
  const std::string id = a->r->value().token_id;
  EXPECT_EQ(a->r->value().expires_at, rt_.now() + Seconds(3600));
  EXPECT_EQ(ledger_->records()[0].expires, rt_.now() + Seconds(3600));
  rt_.advance(Seconds(3601));
  EXPECT_NE(std::find(api_.removed.begin(), api_.removed.end(), id), api_.removed.end());
  EXPECT_FALSE(api_.tokens.count(id));
}

TEST_F(PatManagerTest, AnOlderLedgerRecordWithoutExpiryIsGivenMaxLifetime) {
  fs::create_directories(dir_ + "/pats");
  const std::string n(32, 'c');
  const auto created = std::chrono::duration_cast<Millis>(rt_.now().time_since_epoch()).count();
  std::ofstream(dir_ + "/pats/prod.json")
      << R"({"version":1,"workspace":"prod","entries":[{"nonce":")" << n
      << R"(","state":"minted","token_id":"old-1","created_ms":)" << created
      << R"(,"expires_ms":null}]})";
  api_.tokens["old-1"] = {PatInfo{"old-1", kOurs + n, rt_.now(), std::nullopt}, "dapi-old"};
  boot(policy(3600, 1200, 7200, 10));
  ASSERT_TRUE(ledger_->records()[0].expires);
  EXPECT_EQ(*ledger_->records()[0].expires, rt_.now() + Seconds(7200));
  rt_.advance(Seconds(7201));
  EXPECT_FALSE(api_.tokens.count("old-1"));
}

TEST_F(PatManagerTest, ALostLedgerDeletesNothingItsPatsAreLeftToExpireAndCount) {
  boot(policy(3600, 1200, 86400, 2));
  auto a = get_now(100);
  ASSERT_TRUE(a->ok());
  const std::string a_id = a->r->value().token_id;
  crash();
  fs::remove(dir_ + "/pats/prod.json");
  boot(policy(3600, 1200, 86400, 2));
  EXPECT_TRUE(api_.removed.empty());
  EXPECT_TRUE(api_.tokens.count(a_id));
  const auto s = mgr_->status();
  EXPECT_EQ(s.active, 1);
  ASSERT_TRUE(s.ledger_note);
  EXPECT_NE(s.ledger_note->find("left to expire"), std::string::npos);
  EXPECT_FALSE(ledger_->adopting());
  // max_active 2: one new PAT fits, a third does not (the adopted one is promised to expiry).
  ASSERT_TRUE(get_now(300)->ok());
  rt_.advance(Seconds(10));
  auto no = get_now(3595);
  ASSERT_FALSE(no->r->ok());
  EXPECT_EQ(no->r->error().code, ErrorCode::quota_exhausted);
  EXPECT_TRUE(api_.tokens.count(a_id));
  rt_.advance(Seconds(3600));  // expired: reaped like any other
  EXPECT_FALSE(api_.tokens.count(a_id));
  // A restart after the recovery: the ledger is authoritative again (no second adoption).
  crash();
  boot(policy(3600, 1200, 86400, 2));
  EXPECT_FALSE(ledger_->adopting());
}

TEST_F(PatManagerTest, SameInstanceAnotherAgentsPatsAreNeverTouched) {
  const std::string n(32, 'f');
  const std::string other =
      api_.add_foreign("dbxcred:agent-1:prod:" + std::string(32, '9') + ":" + n, Seconds(600));
  const std::string older = api_.add_foreign("dbxcred:agent-1:prod:" + n, Seconds(600));
  write_empty_ledger();
  boot(policy(300, 120, 3600, 2));
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(get_now(100)->ok());
    rt_.advance(Seconds(31));
  }
  EXPECT_EQ(std::count(api_.removed.begin(), api_.removed.end(), other), 0);
  EXPECT_EQ(std::count(api_.removed.begin(), api_.removed.end(), older), 0);
}

// ---- Clock jumps (issue 15): timers count monotonic time, expiries are wall-clock instants ----

TEST_F(PatManagerTest, NeverServesAPatPastItsWallClockExpiryAfterASuspend) {
  boot(policy(3600, 1200));
  auto first = get_now();
  ASSERT_TRUE(first->ok());
  const std::string a = first->r->value().token_id;
  rt_.suspend(std::chrono::hours(2));  // no timer fired: rotation and reaping were slept through
  EXPECT_EQ(api_.create_calls, 1);
  EXPECT_FALSE(mgr_->peek(Seconds(60)));  // the cache-hit path refuses the dead PAT
  auto g = get_now();
  ASSERT_TRUE(g->ok());
  EXPECT_NE(g->r->value().token_id, a);
  EXPECT_EQ(api_.create_calls, 2);
}

TEST_F(PatManagerTest, AResumeRotatesAndReapsAtOnceWhenRescheduled) {
  boot(policy(3600, 1200));
  const std::string a = get_now()->r->value().token_id;
  rt_.advance(Seconds(2400));  // rotated on time: b is current, a still valid for 20 min
  ASSERT_EQ(api_.create_calls, 2);
  rt_.suspend(std::chrono::minutes(50));  // past a's expiry and past b's rotation time
  mgr_->reschedule(std::chrono::minutes(50));
  rt_.advance(Millis(0));
  EXPECT_EQ(api_.create_calls, 3);                       // rotation at once
  EXPECT_EQ(api_.removed, std::vector<std::string>{a});  // reaping at once
  expect_consistent();
}

TEST_F(PatManagerTest, ABackwardStepDelaysRotationByTheWallClock) {
  boot(policy(3600, 1200));
  ASSERT_TRUE(get_now()->ok());
  rt_.step_wall(-std::chrono::minutes(30));
  mgr_->reschedule(-std::chrono::minutes(30));
  rt_.advance(Seconds(2400));  // where the monotonic timer would have rotated
  EXPECT_EQ(api_.create_calls, 1);
  rt_.advance(std::chrono::minutes(30));  // rotation time by the wall clock
  EXPECT_EQ(api_.create_calls, 2);
}

// `dbxcred pat reap --agent ID` (issue 21): exactly that agent's PATs are deleted, never ours,
// and our own agent id is refused before anything is listed.
TEST_F(PatManagerTest, ReapAgentDeletesExactlyThatAgentsPatsNeverOurs) {
  boot();
  auto g = get_now();
  ASSERT_TRUE(g->ok());
  const std::string clone(32, '9');
  const std::string clone_a =
      api_.add_foreign("dbxcred:agent-1:prod:" + clone + ":" + std::string(32, 'a'), Seconds(3600));
  const std::string clone_b = api_.add_foreign(
      "dbxcred:other:staging:" + clone + ":" + std::string(32, 'b'), Seconds(3600));
  const std::string third = api_.add_foreign(
      "dbxcred:agent-1:prod:" + std::string(32, '8') + ":" + std::string(32, 'c'), Seconds(3600));
  const std::string human = api_.add_foreign("created by alice", Seconds(3600));
  std::optional<Result<ReapResult>> own;
  mgr_->reap_agent(kAgent, [&](Result<ReapResult> r) { own = std::move(r); });
  const int lists = api_.list_calls;
  rt_.run_ready();
  ASSERT_TRUE(own && !*own);
  EXPECT_EQ(own->error().code, ErrorCode::bad_request);
  EXPECT_EQ(api_.list_calls, lists);
  std::optional<Result<ReapResult>> reaped;
  mgr_->reap_agent(clone, [&](Result<ReapResult> r) { reaped = std::move(r); });
  rt_.run_ready();
  ASSERT_TRUE(reaped && *reaped) << (reaped && !*reaped ? reaped->error().message : "");
  std::vector<std::string> deleted = (*reaped)->deleted;
  std::sort(deleted.begin(), deleted.end());
  std::vector<std::string> expected = {clone_a, clone_b};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(deleted, expected);
  EXPECT_FALSE(api_.tokens.count(clone_a));
  EXPECT_FALSE(api_.tokens.count(clone_b));
  EXPECT_TRUE(api_.tokens.count(third));
  EXPECT_TRUE(api_.tokens.count(human));
  EXPECT_TRUE(api_.tokens.count((*g->r)->token_id));
  EXPECT_EQ(ours(), 1);
  expect_consistent();
}

}  // namespace
}  // namespace dbx
