// Pure PAT decisions: comment format, rotation boundaries, lifetimes, max_active, reconcile.
#include "daemon/pat/pat_decisions.h"

#include <gtest/gtest.h>

namespace dbx::pat {
namespace {

const TimePoint kT0 = from_unix_seconds(1'800'000'000);
const std::string kNonceA(32, 'a');
const std::string kNonceB(32, 'b');
const std::string kNonceC(32, 'c');
const std::string kNonceD(32, 'd');
const std::string kAgent(32, '7');
const Identity kUs{"agent", "prod", kAgent};

PatPolicy policy(int lifetime_s = 3600, int rotate_s = 1200, int max_s = 86400,
                 int max_active = 3) {
  PatPolicy p;
  p.lifetime = Seconds(lifetime_s);
  p.rotate_before = Seconds(rotate_s);
  p.max_lifetime = Seconds(max_s);
  p.max_active = max_active;
  return p;
}

PatRecord minted(const std::string& nonce, const std::string& id, int created_s, int expires_s) {
  return PatRecord{nonce, id, kT0 + Seconds(created_s), kT0 + Seconds(expires_s)};
}
PatRecord intent(const std::string& nonce, int at_s) {
  return PatRecord{nonce, std::nullopt, kT0 + Seconds(at_s), std::nullopt};
}

TEST(PatComment, RoundTrip) {
  const std::string c = make_comment("build-agent-07", "prod", kAgent, kNonceA);
  EXPECT_EQ(c, "dbxcred:build-agent-07:prod:" + kAgent + ":" + kNonceA);
  auto p = parse_comment(c);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->instance, "build-agent-07");
  EXPECT_EQ(p->workspace, "prod");
  EXPECT_EQ(p->agent, kAgent);
  EXPECT_EQ(p->nonce, kNonceA);
}

TEST(PatComment, OlderFormatWithoutAgentParsesWithAnEmptyAgent) {
  auto p = parse_comment("dbxcred:build-agent-07:prod:" + kNonceA);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->agent, "");
  EXPECT_EQ(p->nonce, kNonceA);
  EXPECT_FALSE(parse_comment("dbxcred:a:b:not-an-agent:" + kNonceA));
  EXPECT_FALSE(parse_comment("dbxcred:a:b:" + kAgent + ":" + kNonceA + ":" + kNonceB));
}

TEST(PatComment, ColonsAndPercentInNamesAreEncoded) {
  const std::string c = make_comment("host:1 %x", "ws:a", kAgent, kNonceB);
  EXPECT_EQ(c, "dbxcred:host%3A1%20%25x:ws%3Aa:" + kAgent + ":" + kNonceB);
  auto p = parse_comment(c);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->instance, "host:1 %x");
  EXPECT_EQ(p->workspace, "ws:a");
}

TEST(PatComment, ForeignCommentsDoNotParse) {
  for (const std::string& c : std::vector<std::string>{
           std::string(""), std::string("my laptop token"), std::string("dbxcred"), "dbxcred:a:b",
           "dbxcred:a:b:" + kNonceA + ":extra", "dbxcred:a:b:" + kNonceA.substr(1),
           "dbxcred:a:b:" + std::string(32, 'A'), "dbxcred::b:" + kNonceA, "dbxcred:a::" + kNonceA,
           "dbxcred:a%3:b:" + kNonceA, "dbxcred:a%zz:b:" + kNonceA, "DBXCRED:a:b:" + kNonceA,
           "terraform:a:b:" + kNonceA}) {
    EXPECT_FALSE(parse_comment(c)) << c;
  }
}

TEST(PatServe, NeverServesWithinFortySecondsOrBelowMinValid) {
  const TimePoint exp = kT0 + Seconds(300);
  EXPECT_TRUE(satisfies(kT0, exp, Seconds(300)));
  EXPECT_FALSE(satisfies(kT0, exp, Seconds(301)));
  // min_valid 0 still needs 40 s left.
  EXPECT_TRUE(satisfies(exp - Seconds(40), exp, Seconds(0)));
  EXPECT_FALSE(satisfies(exp - Seconds(39), exp, Seconds(0)));
}

TEST(PatRotation, DueRotateBeforeBeforeExpiry) {
  const auto p = policy(3600, 1200);
  EXPECT_EQ(rotation_due_at(p, kT0, kT0 + Seconds(3600)), kT0 + Seconds(2400));
}

TEST(PatRotation, RotateBeforeCappedAtHalfTheLifetime) {
  // rotate_before >= lifetime would make every fresh PAT due at once: cap at half.
  const auto p = policy(120, 300);
  EXPECT_EQ(effective_rotate_before(p, kT0, kT0 + Seconds(120)), Seconds(60));
  EXPECT_EQ(rotation_due_at(p, kT0, kT0 + Seconds(120)), kT0 + Seconds(60));
}

TEST(PatRotation, StartsUpToATenthOfRotateBeforeEarlyNeverLate) {
  const auto p = policy(3600, 1200);
  const TimePoint exp = kT0 + Seconds(3600);
  EXPECT_EQ(rotation_start_at(p, kT0, exp, 0.0), kT0 + Seconds(2400));
  EXPECT_EQ(rotation_start_at(p, kT0, exp, 0.5), kT0 + Seconds(2340));
  EXPECT_EQ(rotation_start_at(p, kT0, exp, 1.0), kT0 + Seconds(2280));
  EXPECT_EQ(rotation_start_at(p, kT0, exp, 7.0), kT0 + Seconds(2280));  // clamped
  EXPECT_EQ(rotation_start_at(p, kT0, exp, -1.0), kT0 + Seconds(2400));
  // Of the applied (capped) rotate_before: 60 s of a 120 s PAT, so at most 6 s early.
  const auto capped = policy(120, 300);
  EXPECT_EQ(rotation_start_at(capped, kT0, kT0 + Seconds(120), 1.0), kT0 + Seconds(54));
}

TEST(PatLifetime, PolicyLifetimeWhenMinValidIsSmall) {
  auto l = lifetime_to_request(policy(3600), Seconds(300));
  ASSERT_TRUE(l);
  EXPECT_EQ(*l, Seconds(3600));
}

TEST(PatLifetime, MinValidPlusMarginWhenLarger) {
  auto l = lifetime_to_request(policy(3600), Seconds(7200));
  ASSERT_TRUE(l);
  EXPECT_EQ(*l, Seconds(7200) + kMintMargin);
}

TEST(PatLifetime, CappedByMaxLifetime) {
  auto l = lifetime_to_request(policy(7200, 1200, 3600), Seconds(300));
  ASSERT_TRUE(l);
  EXPECT_EQ(*l, Seconds(3600));
  auto edge = lifetime_to_request(policy(3600, 1200, 3600), Seconds(3600) - kMintMargin);
  ASSERT_TRUE(edge);
  EXPECT_EQ(*edge, Seconds(3600));
}

TEST(PatLifetime, AboveMaxLifetimeIsBadRequestNamingTheLimit) {
  auto l = lifetime_to_request(policy(3600, 1200, 3600), Seconds(3600) - kMintMargin + Seconds(1));
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().code, ErrorCode::bad_request);
  EXPECT_NE(l.error().message.find("pat.max_lifetime"), std::string::npos) << l.error().message;
  EXPECT_NE(l.error().message.find("3540 s"), std::string::npos) << l.error().message;
  EXPECT_FALSE(lifetime_to_request(policy(), Seconds(-1)));
}

TEST(PatQuota, MintsWithoutDeletingBelowMaxActive) {
  std::vector<PatRecord> r = {minted(kNonceA, "1", 0, 3600), minted(kNonceB, "2", 100, 3700)};
  auto plan = plan_mint(kT0 + Seconds(200), 3, r, kNonceB);
  EXPECT_TRUE(plan.can_mint);
  EXPECT_TRUE(plan.delete_first.empty());
  EXPECT_EQ(plan.active, 2);
}

TEST(PatQuota, DeletesOldestSupersededNeverCurrent) {
  std::vector<PatRecord> r = {minted(kNonceC, "3", 200, 3800), minted(kNonceA, "1", 0, 3600),
                              minted(kNonceB, "2", 100, 3700)};
  auto plan = plan_mint(kT0 + Seconds(300), 3, r, kNonceA);  // A is current, though oldest
  ASSERT_TRUE(plan.can_mint);
  EXPECT_EQ(plan.delete_first, std::vector<std::string>{kNonceB});
}

TEST(PatQuota, ExpiredDoNotCountAndIntentsDo) {
  std::vector<PatRecord> r = {minted(kNonceA, "1", 0, 100), intent(kNonceB, 50),
                              minted(kNonceC, "3", 60, 3600)};
  auto plan = plan_mint(kT0 + Seconds(200), 3, r, kNonceC);
  EXPECT_EQ(plan.active, 2);
  EXPECT_TRUE(plan.can_mint);
  // With max_active 2 the intent cannot be deleted (no id) and C is current: nothing can go.
  auto blocked = plan_mint(kT0 + Seconds(200), 2, r, kNonceC);
  EXPECT_FALSE(blocked.can_mint);
  EXPECT_TRUE(blocked.delete_first.empty());
}

TEST(PatQuota, MaxActiveOneCannotRotateUntilCurrentExpires) {
  std::vector<PatRecord> r = {minted(kNonceA, "1", 0, 3600)};
  EXPECT_FALSE(plan_mint(kT0 + Seconds(3000), 1, r, kNonceA).can_mint);
  EXPECT_TRUE(plan_mint(kT0 + Seconds(3600), 1, r, kNonceA).can_mint);
}

TEST(PatQuota, ExpiredRecordsAreReaped) {
  std::vector<PatRecord> r = {minted(kNonceA, "1", 0, 100), intent(kNonceB, 50),
                              minted(kNonceC, "3", 60, 3600)};
  auto e = expired_records(kT0 + Seconds(100), r);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].nonce, kNonceA);
}

PatInfo listed(const std::string& id, const std::string& comment, int expires_s = 3600) {
  return PatInfo{id, comment, kT0, kT0 + Seconds(expires_s)};
}

TEST(PatReconcile, ClassifiesEveryCase) {
  const std::string ours = "dbxcred:agent:prod:" + kAgent + ":";
  std::vector<PatRecord> records = {
      minted(kNonceA, "1", 0, 3600),  // listed: keep
      intent(kNonceB, 10),            // listed under id 2: never served, delete then forget
      intent(kNonceC, 20),            // not listed: create never happened, forget
      minted(kNonceD, "4", 0, 3600),  // not listed: gone, forget
  };
  const std::string orphan(32, 'e');
  std::vector<PatInfo> infos = {
      listed("1", ours + kNonceA), listed("2", ours + kNonceB),
      listed("5", ours + orphan),                         // unknown nonce: orphan
      listed("6", "dbxcred:other-agent:prod:" + orphan),  // other instance: foreign
      // Same instance and workspace, another agent id (a cloned image): foreign.
      listed("9", "dbxcred:agent:prod:" + std::string(32, '1') + ":" + orphan),
      // Same instance, the older format, a nonce the ledger lacks: maybe another daemon's.
      listed("10", "dbxcred:agent:prod:" + orphan),
      listed("7", "dbxcred:agent:staging:" + orphan),  // other workspace: foreign
      listed("8", "created by alice"),                 // human: foreign
  };
  auto plan = plan_reconcile(kT0 + Seconds(100), kUs, records, infos, {});
  EXPECT_EQ(plan.foreign, 5);
  ASSERT_EQ(plan.deletions.size(), 2u);
  EXPECT_EQ(plan.deletions[0].token_id, "2");
  EXPECT_EQ(plan.deletions[0].forget_nonce, kNonceB);
  EXPECT_EQ(plan.deletions[1].token_id, "5");
  EXPECT_FALSE(plan.deletions[1].forget_nonce);
  EXPECT_EQ(plan.forget, (std::vector<std::string>{kNonceC, kNonceD}));
}

TEST(PatReconcile, ProtectedNoncesAreLeftAlone) {
  std::vector<PatRecord> records = {intent(kNonceA, 0), minted(kNonceB, "2", 0, 3600)};
  std::vector<PatInfo> infos = {listed("1", "dbxcred:agent:prod:" + kAgent + ":" + kNonceA)};
  auto plan = plan_reconcile(kT0, kUs, records, infos, {kNonceA, kNonceB});
  EXPECT_TRUE(plan.deletions.empty());
  EXPECT_TRUE(plan.forget.empty());
}

TEST(PatReconcile, ExpiredListedTokenIsDeletedThenForgotten) {
  std::vector<PatRecord> records = {minted(kNonceA, "1", 0, 100)};
  std::vector<PatInfo> infos = {listed("1", "dbxcred:agent:prod:" + kAgent + ":" + kNonceA, 100)};
  auto plan = plan_reconcile(kT0 + Seconds(100), kUs, records, infos, {});
  ASSERT_EQ(plan.deletions.size(), 1u);
  EXPECT_EQ(plan.deletions[0].forget_nonce, kNonceA);
  EXPECT_TRUE(plan.forget.empty());
}

TEST(PatReconcile, OlderFormatKnownToTheLedgerIsOurs) {
  std::vector<PatRecord> records = {minted(kNonceA, "1", 0, 100)};
  std::vector<PatInfo> infos = {listed("1", "dbxcred:agent:prod:" + kNonceA, 100)};
  auto plan = plan_reconcile(kT0 + Seconds(100), kUs, records, infos, {});
  ASSERT_EQ(plan.deletions.size(), 1u);  // expired: ours, reaped
  EXPECT_EQ(plan.foreign, 0);
}

TEST(PatReconcile, WhileAdoptingUnknownPatsOfOursAreAdoptedNotDeleted) {
  const std::string lost(32, 'e');
  std::vector<PatInfo> infos = {listed("5", "dbxcred:agent:prod:" + kAgent + ":" + lost),
                                listed("6", "dbxcred:agent:prod:" + lost)};  // older: not ours
  auto plan = plan_reconcile(kT0, kUs, {}, infos, {}, /*adopting=*/true);
  EXPECT_TRUE(plan.deletions.empty());
  ASSERT_EQ(plan.adopt.size(), 1u);
  EXPECT_EQ(plan.adopt[0].token_id, "5");
  EXPECT_EQ(plan.foreign, 1);
  // The same list with an intact ledger: an orphan that was never served, deleted.
  auto intact = plan_reconcile(kT0, kUs, {}, infos, {}, /*adopting=*/false);
  ASSERT_EQ(intact.deletions.size(), 1u);
  EXPECT_TRUE(intact.adopt.empty());
}

TEST(PatQuota, APromisedPatIsNeverDeletedToMakeRoom) {
  std::vector<PatRecord> records = {minted(kNonceA, "1", 0, 3600), minted(kNonceB, "2", 10, 3600),
                                    minted(kNonceC, "3", 20, 3600)};
  records[0].promised = kT0 + Seconds(400);  // served with min_valid 400 at kT0
  records[1].promised = kT0 + Seconds(300);
  // At 100 s: A and B promised, C current: no room.
  auto plan = plan_mint(kT0 + Seconds(100), 3, records, kNonceC);
  EXPECT_FALSE(plan.can_mint);
  // At 350 s B's promise has passed: B (not the older A) makes room.
  plan = plan_mint(kT0 + Seconds(350), 3, records, kNonceC);
  ASSERT_TRUE(plan.can_mint);
  EXPECT_EQ(plan.delete_first, std::vector<std::string>{kNonceB});
  plan = plan_mint(kT0 + Seconds(400), 3, records, kNonceC);
  EXPECT_EQ(plan.delete_first, std::vector<std::string>{kNonceA});
}

TEST(PatForcedBucket, BurstThenOnePerRefill) {
  ForcedBucket b;
  for (int i = 0; i < kForcedBurst; ++i) EXPECT_TRUE(take_forced(b, kT0)) << i;
  EXPECT_FALSE(take_forced(b, kT0));
  EXPECT_EQ(forced_retry_after(b, kT0), kForcedRefill);
  EXPECT_EQ(forced_retry_after(b, kT0 + Seconds(100)), kForcedRefill - Seconds(100));
  EXPECT_FALSE(take_forced(b, kT0 + kForcedRefill - Seconds(1)));
  EXPECT_TRUE(take_forced(b, kT0 + kForcedRefill));
  EXPECT_FALSE(take_forced(b, kT0 + kForcedRefill));
  // Idle for long: back to the burst, never more.
  ForcedBucket c;
  EXPECT_TRUE(take_forced(c, kT0));
  for (int i = 0; i < kForcedBurst; ++i) EXPECT_TRUE(take_forced(c, kT0 + Seconds(86400))) << i;
  EXPECT_FALSE(take_forced(c, kT0 + Seconds(86400)));
}

TEST(PatReap, DeletesExactlyThatAgentsPatsWhateverTheInstance) {
  const std::string clone(32, '1');
  const std::string orphan(32, 'e');
  std::vector<PatInfo> infos = {
      listed("1", "dbxcred:agent:prod:" + kAgent + ":" + kNonceA),    // ours: never
      listed("2", "dbxcred:agent:prod:" + clone + ":" + kNonceB),     // the clone's
      listed("3", "dbxcred:other:staging:" + clone + ":" + kNonceC),  // the clone's, elsewhere
      listed("4", "dbxcred:agent:prod:" + std::string(32, '2') + ":" + kNonceD),  // a third agent
      listed("5", "dbxcred:agent:prod:" + orphan),  // the older format: no agent id, never
      listed("6", "created by alice " + clone),     // not a dbxcred comment
      listed("7", "dbxcred:agent:prod:" + clone + ":" + orphan),  // the clone's, but our ledger's
  };
  auto plan = plan_reap(clone, kAgent, infos, {"7"});
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->token_ids, (std::vector<std::string>{"2", "3"}));
  EXPECT_EQ(plan->kept, 5);
}

TEST(PatReap, RefusesOurOwnAgentAndMalformedIds) {
  std::vector<PatInfo> infos = {listed("1", "dbxcred:agent:prod:" + kAgent + ":" + kNonceA)};
  auto own = plan_reap(kAgent, kAgent, infos, {});
  ASSERT_FALSE(own);
  EXPECT_EQ(own.error().code, ErrorCode::bad_request);
  EXPECT_NE(own.error().message.find("this daemon's own"), std::string::npos);
  for (const std::string& bad :
       std::vector<std::string>{"", "x", std::string(32, 'A'), std::string(33, 'a')}) {
    auto r = plan_reap(bad, kAgent, infos, {});
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::bad_request);
  }
}

}  // namespace
}  // namespace dbx::pat
