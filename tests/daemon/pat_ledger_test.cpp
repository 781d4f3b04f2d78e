// PatLedger: round trip through the file, atomic replace, corrupt files, unwritable directories.
#include "daemon/pat/pat_ledger.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace dbx {
namespace {

namespace fs = std::filesystem;
const TimePoint kT0 = from_unix_seconds(1'800'000'000);
const std::string kNonceA(32, 'a');
const std::string kNonceB(32, 'b');

class PatLedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pat_ledger_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  void write(const std::string& path, const std::string& text) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path) << text;
  }

  std::string dir_;
};

TEST_F(PatLedgerTest, MissingFileIsEmptyAndDirIsPrivate) {
  PatLedger ledger(dir_, "prod");
  ASSERT_TRUE(ledger.load());
  EXPECT_TRUE(ledger.records().empty());
  EXPECT_EQ(ledger.path(), dir_ + "/pats/prod.json");
  struct stat st {};
  ASSERT_EQ(::stat((dir_ + "/pats").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(PatLedgerTest, RoundTripThroughTheFile) {
  {
    PatLedger ledger(dir_, "prod");
    ASSERT_TRUE(ledger.load());
    ASSERT_TRUE(ledger.record_intent(kNonceA, kT0));
    ASSERT_TRUE(ledger.record_intent(kNonceB, kT0 + Seconds(1)));
    PatInfo info{"tok-1", "c", kT0 + Millis(1500), kT0 + Seconds(3600)};
    ASSERT_TRUE(ledger.record_minted(kNonceA, info));
  }
  struct stat st {};
  ASSERT_EQ(::stat((dir_ + "/pats/prod.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(fs::exists(dir_ + "/pats/prod.json.tmp"));
  // No token value can be in the file: the ledger API never receives one. Ids and nonces only.
  const std::string text = read(dir_ + "/pats/prod.json");
  EXPECT_NE(text.find("\"state\":\"intent\""), std::string::npos) << text;

  PatLedger again(dir_, "prod");
  ASSERT_TRUE(again.load());
  ASSERT_EQ(again.records().size(), 2u);
  const auto* a = again.find(kNonceA);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->token_id, "tok-1");
  EXPECT_EQ(a->created, kT0 + Millis(1500));
  EXPECT_EQ(a->expires, kT0 + Seconds(3600));
  const auto* b = again.find(kNonceB);
  ASSERT_NE(b, nullptr);
  EXPECT_FALSE(b->token_id);
  EXPECT_FALSE(b->expires);

  ASSERT_TRUE(again.remove(kNonceA));
  PatLedger third(dir_, "prod");
  ASSERT_TRUE(third.load());
  ASSERT_EQ(third.records().size(), 1u);
  EXPECT_EQ(third.records()[0].nonce, kNonceB);
}

TEST_F(PatLedgerTest, WriteReplacesAtomicallyViaTempFile) {
  PatLedger ledger(dir_, "prod");
  ASSERT_TRUE(ledger.load());
  ASSERT_TRUE(ledger.record_intent(kNonceA, kT0));
  struct stat before {};
  ASSERT_EQ(::stat(ledger.path().c_str(), &before), 0);
  // A stale temp file from a crash mid-write is simply overwritten.
  write(ledger.path() + ".tmp", "garbage from a crash");
  ASSERT_TRUE(ledger.record_intent(kNonceB, kT0));
  struct stat after {};
  ASSERT_EQ(::stat(ledger.path().c_str(), &after), 0);
  // rename() put a new inode in place: readers never see a half-written file.
  EXPECT_NE(before.st_ino, after.st_ino);
  EXPECT_FALSE(fs::exists(ledger.path() + ".tmp"));
}

TEST_F(PatLedgerTest, CorruptFileIsReportedNotDiscarded) {
  const std::string path = dir_ + "/pats/prod.json";
  for (std::string bad :
       {std::string("{not json"), std::string("[]"),
        std::string(R"({"version":2,"workspace":"prod","entries":[]})"),
        std::string(R"({"version":1,"workspace":"staging","entries":[]})"),
        std::string(R"({"version":1,"workspace":"prod","entries":[{"nonce":"xyz","state":"intent",)"
                    R"("token_id":null,"created_ms":1,"expires_ms":null}]})"),
        std::string(R"({"version":1,"workspace":"prod","entries":[{"nonce":")") + kNonceA +
            R"(","state":"minted","token_id":null,"created_ms":1,"expires_ms":null}]})"}) {
    write(path, bad);
    PatLedger ledger(dir_, "prod");
    auto s = ledger.load();
    ASSERT_FALSE(s) << bad;
    EXPECT_EQ(s.error().code, ErrorCode::internal);
    EXPECT_NE(s.error().message.find(path), std::string::npos) << s.error().message;
    EXPECT_NE(s.error().message.find("corrupt"), std::string::npos) << s.error().message;
    EXPECT_FALSE(ledger.usable());
    // Refuses every change, so nothing is minted, and the file is left as it was.
    EXPECT_FALSE(ledger.record_intent(kNonceB, kT0));
    EXPECT_EQ(read(path), bad);
  }
}

TEST_F(PatLedgerTest, UnwritableLedgerRefusesTheIntentAndSaysWhere) {
  PatLedger ledger(dir_, "prod");
  ASSERT_TRUE(ledger.load());
  // A directory where the temp file must go makes the write fail even for root.
  fs::create_directories(ledger.path() + ".tmp");
  auto s = ledger.record_intent(kNonceA, kT0);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::internal);
  EXPECT_NE(s.error().message.find(ledger.path() + ".tmp"), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("no PAT is minted"), std::string::npos);
  EXPECT_TRUE(ledger.records().empty());  // memory still equals the disk
}

TEST_F(PatLedgerTest, StateDirThatIsAFileIsAClearError) {
  write(dir_ + "/state", "x");
  PatLedger ledger(dir_ + "/state", "prod");
  auto s = ledger.load();
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find(dir_ + "/state/pats"), std::string::npos) << s.error().message;
}

TEST_F(PatLedgerTest, WorkspaceNamesCannotEscapeTheDirectory) {
  EXPECT_EQ(PatLedger::file_name("prod"), "prod.json");
  EXPECT_EQ(PatLedger::file_name("../etc/x"), "%2E.%2Fetc%2Fx.json");
  EXPECT_EQ(PatLedger::file_name(".hidden"), "%2Ehidden.json");
}

TEST_F(PatLedgerTest, AgentIdIsCreatedOncePrivateAndSharedByWorkspaces) {
  PatLedger a(dir_, "prod");
  ASSERT_TRUE(a.load());
  EXPECT_TRUE(pat::is_valid_nonce(a.agent_id())) << a.agent_id();
  struct stat st {};
  ASSERT_EQ(::stat((dir_ + "/agent_id").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  PatLedger b(dir_, "staging");
  ASSERT_TRUE(b.load());
  EXPECT_EQ(b.agent_id(), a.agent_id());
  PatLedger again(dir_, "prod");
  ASSERT_TRUE(again.load());
  EXPECT_EQ(again.agent_id(), a.agent_id());
  // Another state dir: another agent.
  char tmpl[] = "/tmp/pat_ledger_test.XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  PatLedger other(tmpl, "prod");
  ASSERT_TRUE(other.load());
  EXPECT_NE(other.agent_id(), a.agent_id());
  fs::remove_all(tmpl);
}

TEST_F(PatLedgerTest, ABadAgentIdIsAnErrorNotANewIdentity) {
  write(dir_ + "/agent_id", "not an id\n");
  PatLedger ledger(dir_, "prod");
  auto s = ledger.load();
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find(dir_ + "/agent_id"), std::string::npos);
  EXPECT_FALSE(ledger.usable());
}

TEST_F(PatLedgerTest, PromisesAndAdoptionAreKeptInTheFile) {
  {
    PatLedger ledger(dir_, "prod");
    ASSERT_TRUE(ledger.load());
    EXPECT_TRUE(ledger.adopting());  // no file: a new workspace or a lost ledger
    ASSERT_TRUE(ledger.record_intent(kNonceA, kT0));
    ASSERT_TRUE(ledger.record_minted(kNonceA, PatInfo{"1", "", kT0, kT0 + Seconds(3600)}));
    ASSERT_TRUE(ledger.record_promise(kNonceA, kT0 + Seconds(400)));
    ASSERT_TRUE(ledger.record_promise(kNonceA, kT0 + Seconds(100)));  // never lowered
    ASSERT_TRUE(
        ledger.record_adopted(kNonceB, PatInfo{"2", "", kT0, std::nullopt}, kT0 + Seconds(50)));
  }
  {
    PatLedger ledger(dir_, "prod");
    ASSERT_TRUE(ledger.load());
    EXPECT_TRUE(ledger.adopting());  // survives a restart until finished
    EXPECT_EQ(ledger.find(kNonceA)->promised, kT0 + Seconds(400));
    EXPECT_EQ(ledger.find(kNonceB)->promised, kT0 + Seconds(50));
    EXPECT_EQ(ledger.find(kNonceB)->expires, kT0 + Seconds(50));
    ASSERT_TRUE(ledger.finish_adoption());
  }
  PatLedger ledger(dir_, "prod");
  ASSERT_TRUE(ledger.load());
  EXPECT_FALSE(ledger.adopting());
}

TEST_F(PatLedgerTest, AnOlderFileWithoutPromisesIsPromisedUntilExpiry) {
  const auto ms = std::chrono::duration_cast<Millis>(kT0.time_since_epoch()).count();
  write(dir_ + "/pats/prod.json",
        R"({"version":1,"workspace":"prod","entries":[{"nonce":")" + kNonceA +
            R"(","state":"minted","token_id":"1","created_ms":)" + std::to_string(ms) +
            R"(,"expires_ms":)" + std::to_string(ms + 3600000) + "}]}");
  PatLedger ledger(dir_, "prod");
  ASSERT_TRUE(ledger.load());
  EXPECT_FALSE(ledger.adopting());
  EXPECT_EQ(ledger.find(kNonceA)->promised, kT0 + Seconds(3600));
}

}  // namespace
}  // namespace dbx
