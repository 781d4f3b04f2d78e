// MintFsm driven by hand, event by event (as Boost.Redis test_exec_fsm.cpp drives exec_fsm): the
// order of a mint, single-flight, every refusal, the create outcomes and stop — no ledger, no
// token API, no clock.
#include "daemon/pat/pat_mint_fsm.h"

#include <gtest/gtest.h>

namespace dbx::pat {
namespace {

using Kind = MintAction::Kind;
const TimePoint kNow = from_unix_millis(1'800'000'000'000);

MintPlan room(std::vector<std::string> delete_first = {}) {
  MintPlan p;
  p.can_mint = true;
  p.delete_first = std::move(delete_first);
  return p;
}

WorkspaceHeaders headers(const std::string& bearer) {
  return WorkspaceHeaders{"https://adb-1.azuredatabricks.net",
                          TimePoint::max(),
                          {{"Authorization", "Bearer " + bearer}}};
}

MintedPat pat(const std::string& id, std::optional<TimePoint> expires) {
  return MintedPat{"dapi-" + id, PatInfo{id, "c", kNow, expires}};
}

Error upstream(int status, std::optional<Seconds> retry_after = std::nullopt) {
  Error e = make_error(ErrorCode::upstream_unavailable, "HTTP " + std::to_string(status));
  e.upstream_status = status;
  e.retry_after = retry_after;
  return e;
}

class MintFsmTest : public ::testing::Test {
 protected:
  // Wanted .. create, with no room to make: the machine's state right after token/create is sent.
  MintAction to_create(Seconds lifetime = Seconds(3600), const std::string& nonce = "n1") {
    EXPECT_EQ(fsm.resume(mint::Wanted{}).kind, Kind::check_ledger);
    EXPECT_EQ(fsm.resume(mint::LedgerChecked{kNow, std::nullopt}).kind, Kind::size);
    EXPECT_EQ(fsm.resume(mint::Sized{lifetime, room()}).kind, Kind::authenticate);
    EXPECT_EQ(fsm.resume(mint::Authenticated{headers("aad-1"), true}).kind, Kind::write_intent);
    return fsm.resume(mint::IntentWritten{nonce});
  }

  MintFsm fsm;
};

TEST_F(MintFsmTest, AMintGoesPlanAuthenticateIntentCreateRecordMinted) {
  EXPECT_FALSE(fsm.in_flight());
  const MintAction create = to_create(Seconds(3600), "n1");
  ASSERT_EQ(create.kind, Kind::create);
  EXPECT_EQ(create.nonce, "n1");
  EXPECT_EQ(create.lifetime, Seconds(3600));
  // token/create carries exactly the headers authenticate answered.
  ASSERT_TRUE(create.auth);
  EXPECT_EQ(create.auth->headers, headers("aad-1").headers);
  EXPECT_EQ(fsm.stage(), MintFsm::Stage::creating);
  EXPECT_EQ(fsm.inflight_nonce(), "n1");

  const MintAction record = fsm.resume(mint::Created{kNow, pat("t1", kNow + Seconds(3600))});
  ASSERT_EQ(record.kind, Kind::record);
  EXPECT_EQ(record.nonce, "n1");
  ASSERT_TRUE(record.pat);
  EXPECT_EQ(record.pat->info.token_id, "t1");
  EXPECT_FALSE(fsm.inflight_nonce());  // answered: no longer protected as in flight
  EXPECT_TRUE(fsm.in_flight());        // but not served before the ledger has its id

  const MintAction minted = fsm.resume(mint::Recorded{ok_status()});
  ASSERT_EQ(minted.kind, Kind::minted);
  EXPECT_EQ(minted.pat->value, "dapi-t1");
  EXPECT_EQ(minted.nonce, "n1");
  EXPECT_EQ(minted.seq, 1u);
  EXPECT_FALSE(fsm.in_flight());
}

TEST_F(MintFsmTest, SingleFlightAWantedMintDuringOneIsNothing) {
  ASSERT_EQ(to_create().kind, Kind::create);
  EXPECT_EQ(fsm.resume(mint::Wanted{}).kind, Kind::none);
  EXPECT_EQ(fsm.seq(), 1u);  // no second mint begun
  fsm.resume(mint::Created{kNow, pat("t1", kNow + Seconds(3600))});
  fsm.resume(mint::Recorded{ok_status()});
  EXPECT_EQ(fsm.resume(mint::Wanted{}).kind, Kind::check_ledger);
  EXPECT_EQ(fsm.seq(), 2u);
}

TEST_F(MintFsmTest, EventsOutOfOrderAreIgnored) {
  EXPECT_EQ(fsm.resume(mint::Created{kNow, pat("t1", kNow)}).kind, Kind::none);
  EXPECT_EQ(fsm.resume(mint::Recorded{ok_status()}).kind, Kind::none);
  EXPECT_EQ(fsm.resume(mint::Authenticated{headers("x"), true}).kind, Kind::none);
  EXPECT_EQ(fsm.resume(mint::Deleted{ok_status()}).kind, Kind::none);
  EXPECT_EQ(fsm.resume(mint::IntentWritten{std::string("n")}).kind, Kind::none);
  EXPECT_FALSE(fsm.in_flight());
}

TEST_F(MintFsmTest, AnUnusableLedgerRefusesBeforeAnything) {
  fsm.resume(mint::Wanted{});
  const auto a =
      fsm.resume(mint::LedgerChecked{kNow, make_error(ErrorCode::internal, "ledger unreadable")});
  ASSERT_EQ(a.kind, Kind::failed);
  EXPECT_EQ(a.refusal, MintRefusal::error);
  EXPECT_EQ(a.error.message, "ledger unreadable");
  EXPECT_FALSE(fsm.in_flight());
}

TEST_F(MintFsmTest, NoRoomIsQuotaBeforeAndAfterAuthenticate) {
  fsm.resume(mint::Wanted{});
  fsm.resume(mint::LedgerChecked{kNow, std::nullopt});
  auto a = fsm.resume(mint::Sized{Seconds(3600), MintPlan{}});  // can_mint false
  ASSERT_EQ(a.kind, Kind::failed);
  EXPECT_EQ(a.refusal, MintRefusal::quota);

  // The invariant again right before the intent: a reconcile or another path filled the room.
  fsm.resume(mint::Wanted{});
  fsm.resume(mint::LedgerChecked{kNow, std::nullopt});
  fsm.resume(mint::Sized{Seconds(3600), room()});
  a = fsm.resume(mint::Authenticated{headers("aad"), false});
  ASSERT_EQ(a.kind, Kind::failed);
  EXPECT_EQ(a.refusal, MintRefusal::quota);
}

TEST_F(MintFsmTest, NoAadTokenMeansNoIntent) {
  fsm.resume(mint::Wanted{});
  fsm.resume(mint::LedgerChecked{kNow, std::nullopt});
  fsm.resume(mint::Sized{Seconds(3600), room()});
  const auto a = fsm.resume(
      mint::Authenticated{make_error(ErrorCode::upstream_unavailable, "AADSTS7000215"), true});
  ASSERT_EQ(a.kind, Kind::failed);  // not write_intent
  EXPECT_EQ(a.error.message, "AADSTS7000215");
}

TEST_F(MintFsmTest, NoNonceOrNoIntentIsAFailureWithoutCreate) {
  fsm.resume(mint::Wanted{});
  fsm.resume(mint::LedgerChecked{kNow, std::nullopt});
  fsm.resume(mint::Sized{Seconds(3600), room()});
  fsm.resume(mint::Authenticated{headers("aad"), true});
  const auto a = fsm.resume(mint::IntentWritten{make_error(ErrorCode::internal, "disk full")});
  ASSERT_EQ(a.kind, Kind::failed);
  EXPECT_EQ(a.error.message, "disk full");
  EXPECT_FALSE(fsm.inflight_nonce());
}

TEST_F(MintFsmTest, RoomIsMadeByAllDeletesBeforeAuthenticating) {
  fsm.resume(mint::Wanted{});
  fsm.resume(mint::LedgerChecked{kNow, std::nullopt});
  auto a = fsm.resume(mint::Sized{Seconds(3600), room({"old1", "old2"})});
  ASSERT_EQ(a.kind, Kind::make_room);
  EXPECT_EQ(a.nonces, (std::vector<std::string>{"old1", "old2"}));
  EXPECT_EQ(fsm.resume(mint::Deleted{ok_status()}).kind, Kind::none);  // one still running
  EXPECT_EQ(fsm.resume(mint::Deleted{ok_status()}).kind, Kind::authenticate);
}

TEST_F(MintFsmTest, AFailedRoomMakingDeleteFailsTheMintOnceAllAnswered) {
  fsm.resume(mint::Wanted{});
  fsm.resume(mint::LedgerChecked{kNow, std::nullopt});
  fsm.resume(mint::Sized{Seconds(3600), room({"old1", "old2"})});
  EXPECT_EQ(fsm.resume(mint::Deleted{Status(upstream(503))}).kind, Kind::none);
  const auto a = fsm.resume(mint::Deleted{ok_status()});
  ASSERT_EQ(a.kind, Kind::failed);
  EXPECT_EQ(a.error.upstream_status, 503);
  EXPECT_EQ(fsm.resume(mint::Deleted{ok_status()}).kind, Kind::none);  // a stray answer
}

TEST_F(MintFsmTest, A4xxCreateSurelyFailedAnythingElseMayHideAPat) {
  ASSERT_EQ(to_create(Seconds(3600), "n1").kind, Kind::create);
  auto a = fsm.resume(mint::Created{kNow, upstream(400)});
  ASSERT_EQ(a.kind, Kind::create_failed);
  EXPECT_TRUE(a.surely_failed);  // drop the intent
  EXPECT_EQ(a.nonce, "n1");
  EXPECT_FALSE(fsm.in_flight());

  for (int status : {0, 502, 200}) {
    ASSERT_EQ(to_create(Seconds(3600), "n2").kind, Kind::create);
    a = fsm.resume(mint::Created{kNow, upstream(status)});
    ASSERT_EQ(a.kind, Kind::create_failed);
    EXPECT_FALSE(a.surely_failed) << status;  // the intent stays for reconcile
  }
}

TEST_F(MintFsmTest, RetryAfterHoldsTheNextCreateUntilItPasses) {
  ASSERT_EQ(to_create().kind, Kind::create);
  fsm.resume(mint::Created{kNow, upstream(429, Seconds(120))});
  ASSERT_EQ(fsm.not_before(), kNow + Seconds(120));

  fsm.resume(mint::Wanted{});
  auto a = fsm.resume(mint::LedgerChecked{kNow + Seconds(60), std::nullopt});
  ASSERT_EQ(a.kind, Kind::failed);
  EXPECT_EQ(a.refusal, MintRefusal::throttled);
  EXPECT_EQ(a.not_before, kNow + Seconds(120));

  // The wall clock stepped back 30 s: the wait moves with it.
  fsm.resume(mint::ClockStepped{Millis(-30'000)});
  EXPECT_EQ(fsm.not_before(), kNow + Seconds(90));
  fsm.resume(mint::ClockStepped{Millis(30'000)});  // forward: already shorter
  EXPECT_EQ(fsm.not_before(), kNow + Seconds(90));

  fsm.resume(mint::Wanted{});
  EXPECT_EQ(fsm.resume(mint::LedgerChecked{kNow + Seconds(90), std::nullopt}).kind, Kind::size);
  fsm.resume(mint::Sized{Seconds(3600), room()});
  fsm.resume(mint::Authenticated{headers("aad"), true});
  fsm.resume(mint::IntentWritten{std::string("n3")});
  fsm.resume(mint::Created{kNow + Seconds(90), pat("t3", kNow + Seconds(3690))});
  fsm.resume(mint::Recorded{ok_status()});
  EXPECT_FALSE(fsm.not_before());  // a mint went through
}

TEST_F(MintFsmTest, APatWithoutExpiryGetsTheLifetimeAskedFor) {
  ASSERT_EQ(to_create(Seconds(7200)).kind, Kind::create);
  const auto a = fsm.resume(mint::Created{kNow, pat("t1", std::nullopt)});
  ASSERT_EQ(a.kind, Kind::record);
  EXPECT_EQ(a.pat->info.expires, kNow + Seconds(7200));
}

TEST_F(MintFsmTest, APatTheLedgerCannotRecordIsDiscardedNotServed) {
  ASSERT_EQ(to_create().kind, Kind::create);
  fsm.resume(mint::Created{kNow, pat("t1", kNow + Seconds(3600))});
  const auto a = fsm.resume(mint::Recorded{Status(make_error(ErrorCode::internal, "EIO"))});
  ASSERT_EQ(a.kind, Kind::discard);
  EXPECT_EQ(a.pat->info.token_id, "t1");
  EXPECT_EQ(a.nonce, "n1");
  EXPECT_EQ(a.error.message, "EIO");
  EXPECT_FALSE(fsm.in_flight());
}

TEST_F(MintFsmTest, StopEndsTheMintAtItsNextStepButACreateInFlightIsStillRecorded) {
  // Stopped while authenticating: no intent is written.
  fsm.resume(mint::Wanted{});
  fsm.resume(mint::LedgerChecked{kNow, std::nullopt});
  fsm.resume(mint::Sized{Seconds(3600), room()});
  fsm.resume(mint::Stop{});
  auto a = fsm.resume(mint::Authenticated{headers("aad"), true});
  ASSERT_EQ(a.kind, Kind::failed);
  EXPECT_EQ(a.refusal, MintRefusal::shutting_down);
  EXPECT_EQ(fsm.resume(mint::Wanted{}).kind, Kind::none);  // and nothing new begins

  // Stopped while deletes make room: no authenticate.
  MintFsm deleting;
  deleting.resume(mint::Wanted{});
  deleting.resume(mint::LedgerChecked{kNow, std::nullopt});
  deleting.resume(mint::Sized{Seconds(3600), room({"old"})});
  deleting.resume(mint::Stop{});
  a = deleting.resume(mint::Deleted{ok_status()});
  ASSERT_EQ(a.kind, Kind::failed);
  EXPECT_EQ(a.refusal, MintRefusal::shutting_down);

  // Stopped while token/create is in flight: its answer still reaches the ledger.
  MintFsm creating;
  creating.resume(mint::Wanted{});
  creating.resume(mint::LedgerChecked{kNow, std::nullopt});
  creating.resume(mint::Sized{Seconds(3600), room()});
  creating.resume(mint::Authenticated{headers("aad"), true});
  creating.resume(mint::IntentWritten{std::string("n1")});
  creating.resume(mint::Stop{});
  EXPECT_TRUE(creating.stopped());
  EXPECT_EQ(creating.resume(mint::Created{kNow, pat("t1", kNow + Seconds(3600))}).kind,
            Kind::record);
  EXPECT_EQ(creating.resume(mint::Recorded{ok_status()}).kind, Kind::minted);
}

}  // namespace
}  // namespace dbx::pat
