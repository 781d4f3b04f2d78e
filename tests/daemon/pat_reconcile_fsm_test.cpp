// ReconcileFsm and CheckFsm driven by hand, event by event: one list at a time, mints answered
// during a list protected from its plan, the retry delays, stop; what a revocation check's answer
// means. No ledger, no token API, no clock.
#include "daemon/pat/pat_reconcile_fsm.h"

#include <gtest/gtest.h>

#include "daemon/pat/pat_check_fsm.h"

namespace dbx::pat {
namespace {

using Kind = ReconcileAction::Kind;
const TimePoint kNow = from_unix_millis(1'800'000'000'000);
const std::string kAgent = "0123456789abcdef0123456789abcdef";
const Identity kUs{"agent-1", "prod", kAgent};

std::string nonce(char c) {
  return std::string(32, c);
}

PatInfo ours(const std::string& id, char n) {
  return PatInfo{id, make_comment("agent-1", "prod", kAgent, nonce(n)), kNow, kNow + Seconds(3600)};
}

reconcile::Listed listed(Result<std::vector<PatInfo>> r,
                         std::optional<std::string> inflight = std::nullopt) {
  return reconcile::Listed{std::move(r), kNow, kUs, {}, std::move(inflight), false};
}

TEST(ReconcileFsm, OneListAtATime) {
  ReconcileFsm fsm;
  EXPECT_EQ(fsm.resume(reconcile::Wanted{}).kind, Kind::list);
  EXPECT_TRUE(fsm.listing());
  EXPECT_EQ(fsm.resume(reconcile::Wanted{}).kind, Kind::none);
  EXPECT_EQ(fsm.resume(listed(std::vector<PatInfo>{})).kind, Kind::apply);
  EXPECT_FALSE(fsm.listing());
  EXPECT_EQ(fsm.resume(reconcile::Wanted{}).kind, Kind::list);
  // A stray answer with no list in flight is nothing.
  ReconcileFsm idle;
  EXPECT_EQ(idle.resume(listed(std::vector<PatInfo>{})).kind, Kind::none);
}

TEST(ReconcileFsm, AnUnusableLedgerIsNeverReconciled) {
  ReconcileFsm fsm;
  EXPECT_EQ(fsm.resume(reconcile::Wanted{false}).kind, Kind::none);
  EXPECT_FALSE(fsm.listing());
}

// The list may predate a mint answered while it was in flight, or the mint still in flight: their
// PATs (unknown to the ledger by id, or not at all) are not orphans for this list's plan.
TEST(ReconcileFsm, MintsAnsweredDuringTheListAndTheOneInFlightAreProtected) {
  ReconcileFsm fsm;
  fsm.resume(reconcile::MintAnswered{nonce('a')});  // before the list: not protected
  ASSERT_EQ(fsm.resume(reconcile::Wanted{}).kind, Kind::list);
  fsm.resume(reconcile::MintAnswered{nonce('b')});
  const auto a = fsm.resume(
      listed(std::vector<PatInfo>{ours("ta", 'a'), ours("tb", 'b'), ours("tc", 'c')}, nonce('c')));
  ASSERT_EQ(a.kind, Kind::apply);
  ASSERT_EQ(a.plan.deletions.size(), 1u);  // the ledger (empty) knows none: only a is an orphan
  EXPECT_EQ(a.plan.deletions[0].token_id, "ta");
  EXPECT_EQ(a.next, kReconcileInterval);

  // The protection lasts one list.
  ASSERT_EQ(fsm.resume(reconcile::Wanted{}).kind, Kind::list);
  const auto b = fsm.resume(listed(std::vector<PatInfo>{ours("tb", 'b')}));
  ASSERT_EQ(b.plan.deletions.size(), 1u);
  EXPECT_EQ(b.plan.deletions[0].token_id, "tb");
}

TEST(ReconcileFsm, AFailedListRetriesSoonOrAfterRetryAfter) {
  ReconcileFsm fsm;
  fsm.resume(reconcile::Wanted{});
  Error e = make_error(ErrorCode::upstream_unavailable, "HTTP 503");
  auto a = fsm.resume(listed(e));
  ASSERT_EQ(a.kind, Kind::retry);
  EXPECT_EQ(a.error.message, "HTTP 503");
  EXPECT_EQ(a.next, kRetryAfterFailure);

  fsm.resume(reconcile::Wanted{});
  e.retry_after = Seconds(300);
  a = fsm.resume(listed(e));
  EXPECT_EQ(a.next, Seconds(300));
  e.retry_after = Seconds(1);
  fsm.resume(reconcile::Wanted{});
  EXPECT_EQ(fsm.resume(listed(e)).next, kRetryAfterFailure);
}

TEST(ReconcileFsm, StopStartsNoListButALateAnswerIsAppliedWithoutATimer) {
  ReconcileFsm fsm;
  ASSERT_EQ(fsm.resume(reconcile::Wanted{}).kind, Kind::list);
  fsm.resume(reconcile::Stop{});
  const auto a = fsm.resume(listed(std::vector<PatInfo>{ours("ta", 'a')}));
  ASSERT_EQ(a.kind, Kind::apply);
  EXPECT_EQ(a.plan.deletions.size(), 1u);
  EXPECT_FALSE(a.next);
  EXPECT_EQ(fsm.resume(reconcile::Wanted{}).kind, Kind::none);
  EXPECT_TRUE(fsm.stopped());
}

TEST(ReconcileFsm, AdoptingTakesInOurUnknownPatsInsteadOfDeletingThem) {
  ReconcileFsm fsm;
  fsm.resume(reconcile::Wanted{});
  auto l = listed(std::vector<PatInfo>{ours("ta", 'a')});
  l.adopting = true;
  const auto a = fsm.resume(std::move(l));
  ASSERT_EQ(a.kind, Kind::apply);
  EXPECT_TRUE(a.adopting);
  EXPECT_TRUE(a.plan.deletions.empty());
  ASSERT_EQ(a.plan.adopt.size(), 1u);
  EXPECT_EQ(a.plan.adopt[0].token_id, "ta");
}

// ---- CheckFsm ----------------------------------------------------------------------------------

using CKind = CheckAction::Kind;

TEST(CheckFsm, ACheckOfTheCurrentPatAndWhatItsAnswerMeans) {
  CheckFsm fsm;
  EXPECT_EQ(fsm.resume(check::Due{std::nullopt}).kind, CKind::none);  // nothing to check
  ASSERT_EQ(fsm.resume(check::Due{"t1"}).kind, CKind::check);
  EXPECT_TRUE(fsm.checking());
  EXPECT_EQ(fsm.resume(check::Due{"t1"}).kind, CKind::rearm);  // one check at a time
  EXPECT_EQ(fsm.resume(check::Checked{"t1", true, "t1"}).kind, CKind::rearm);
  EXPECT_FALSE(fsm.checking());

  fsm.resume(check::Due{"t1"});
  const auto unknown = fsm.resume(
      check::Checked{"t1", make_error(ErrorCode::upstream_unavailable, "HTTP 502"), "t1"});
  ASSERT_EQ(unknown.kind, CKind::rearm);  // nothing proved: keep serving it
  ASSERT_TRUE(unknown.error);
  EXPECT_EQ(unknown.error->message, "HTTP 502");

  fsm.resume(check::Due{"t1"});
  EXPECT_EQ(fsm.resume(check::Checked{"t1", false, "t2"}).kind, CKind::none);  // rotated
  fsm.resume(check::Due{"t2"});
  EXPECT_EQ(fsm.resume(check::Checked{"t2", false, "t2"}).kind, CKind::revoked);
}

TEST(CheckFsm, StopStartsNoCheck) {
  CheckFsm fsm;
  fsm.resume(check::Stop{});
  EXPECT_EQ(fsm.resume(check::Due{"t1"}).kind, CKind::none);
  EXPECT_TRUE(fsm.stopped());
}

}  // namespace
}  // namespace dbx::pat
