// Audit records: the JSON line, the journal datagram, the file's safety and reopening, buffering
// and the ring behind /v1/audit (daemon/audit/audit_log.h).
#include "daemon/audit/audit_log.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "tests/daemon/fake_runtime.h"

namespace dbx {
namespace {

namespace json = boost::json;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

AuditRecord served_pat() {
  AuditRecord r;
  r.uid = 1001;
  r.gid = 1001;
  r.pid = 4242;
  r.exe = "/usr/bin/databricks";
  r.workspace = "prod";
  r.kind = "pat";
  r.token_id = "tok-1";
  r.min_valid = 300;
  return r;
}

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char d[] = "/tmp/dbxcred-audit-XXXXXX";
    ASSERT_NE(::mkdtemp(d), nullptr);
    dir_ = d;
    path_ = dir_ + "/audit.jsonl";
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string dir_;
  std::string path_;
  testing::FakeRuntime rt_;
};

TEST(AuditRecordFormat, JsonLineHasEveryFieldAndNullsForUnknowns) {
  AuditRecord r = served_pat();
  r.time = from_unix_seconds(1'800'000'000) + Millis(5);
  const std::string line = audit_json_line(r);
  ASSERT_EQ(line.back(), '\n');
  const json::object o = json::parse(line).as_object();
  EXPECT_EQ(o.at("time").as_string(), "2027-01-15T08:00:00.005Z");
  EXPECT_EQ(o.at("uid").as_int64(), 1001);
  EXPECT_EQ(o.at("exe").as_string(), "/usr/bin/databricks");
  EXPECT_EQ(o.at("token_id").as_string(), "tok-1");
  EXPECT_TRUE(o.at("fingerprint").is_null());
  EXPECT_EQ(o.at("min_valid").as_int64(), 300);
  EXPECT_EQ(o.at("outcome").as_string(), "served");
  EXPECT_TRUE(o.at("reason").is_null());
  AuditRecord loop;
  loop.kind = "metadata_service";
  loop.endpoint = "127.0.0.1:8765";
  loop.outcome = AuditOutcome::denied;
  loop.reason = "not_found: wrong secret";
  const json::object l = json::parse(audit_json_line(loop)).as_object();
  EXPECT_TRUE(l.at("uid").is_null());
  EXPECT_TRUE(l.at("pid").is_null());
  EXPECT_TRUE(l.at("exe").is_null());
  EXPECT_EQ(l.at("endpoint").as_string(), "127.0.0.1:8765");
  EXPECT_EQ(l.at("outcome").as_string(), "denied");
}

TEST(AuditRecordFormat, JsonLineEscapesWhatClientsSent) {
  AuditRecord r;
  r.kind = "pat";
  r.workspace = "\"w\"x\\y\x7f";  // an escape first, in the middle and last
  r.reason = std::string("line\nbreak \x01 tab\t");
  r.outcome = AuditOutcome::denied;
  const std::string line = audit_json_line(r);
  EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1);
  const json::object o = json::parse(line).as_object();
  EXPECT_EQ(o.at("workspace").as_string(), r.workspace);
  EXPECT_EQ(o.at("reason").as_string(), r.reason);
}

TEST(AuditRecordFormat, JournalDatagramUsesTheBinaryFormForNewlines) {
  AuditRecord r = served_pat();
  r.reason = "two\nlines";
  r.outcome = AuditOutcome::failed;
  const std::string d = journal_datagram(r, "dbxcredd");
  EXPECT_NE(d.find("SYSLOG_IDENTIFIER=dbxcredd\n"), std::string::npos);
  EXPECT_NE(d.find("DBXCRED_UID=1001\n"), std::string::npos);
  EXPECT_NE(d.find("DBXCRED_TOKEN_ID=tok-1\n"), std::string::npos);
  EXPECT_NE(d.find("DBXCRED_OUTCOME=failed\n"), std::string::npos);
  const std::string binary =
      std::string("DBXCRED_REASON\n") + '\x09' + std::string(7, '\0') + "two\nlines\n";
  EXPECT_NE(d.find(binary), std::string::npos);
}

TEST_F(AuditLogTest, BufferedUntilTheTimerThenOneLinePerRecord) {
  AuditLog log(rt_, "");
  ASSERT_TRUE(log.open_file(path_).ok());
  log.record(served_pat());
  log.record(served_pat());
  EXPECT_EQ(slurp(path_), "");  // nothing written on the request path
  rt_.advance(AuditLog::kFlushInterval);
  const std::string text = slurp(path_);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(AuditLogTest, AFullBatchIsWrittenAtOnce) {
  AuditLog log(rt_, "");
  ASSERT_TRUE(log.open_file(path_).ok());
  for (std::size_t i = 0; i < AuditLog::kFlushBatch; ++i) log.record(served_pat());
  const std::string text = slurp(path_);
  EXPECT_EQ(static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')),
            AuditLog::kFlushBatch);
}

TEST_F(AuditLogTest, FlushedAtDestruction) {
  {
    AuditLog log(rt_, "");
    ASSERT_TRUE(log.open_file(path_).ok());
    log.record(served_pat());
  }
  EXPECT_NE(slurp(path_).find("\"tok-1\""), std::string::npos);
}

TEST_F(AuditLogTest, SymlinkAtThePathIsRefused) {
  const std::string target = dir_ + "/elsewhere";
  ASSERT_EQ(::symlink(target.c_str(), path_.c_str()), 0);
  AuditLog log(rt_, "");
  const Status s = log.open_file(path_);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("symlink"), std::string::npos) << s.error().message;
  struct stat st {};
  EXPECT_NE(::stat(target.c_str(), &st), 0);  // nothing created through the link
}

TEST_F(AuditLogTest, LooseModeIsTightenedAndAForeignFileRefused) {
  std::ofstream(path_) << "";
  ::chmod(path_.c_str(), 0644);
  {
    AuditLog log(rt_, "");
    ASSERT_TRUE(log.open_file(path_).ok());
  }
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  if (::geteuid() != 0) GTEST_SKIP() << "chown needs root";
  ASSERT_EQ(::chown(path_.c_str(), 65534, 65534), 0);
  AuditLog log(rt_, "");
  const Status s = log.open_file(path_);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("owned by uid 65534"), std::string::npos) << s.error().message;
}

TEST_F(AuditLogTest, ReopenAfterRotationWritesTheNewFile) {
  AuditLog log(rt_, "");
  ASSERT_TRUE(log.open_file(path_).ok());
  log.record(served_pat());
  ASSERT_EQ(::rename(path_.c_str(), (path_ + ".1").c_str()), 0);  // logrotate
  ASSERT_TRUE(log.open_file(path_).ok());  // SIGHUP: the first record went to the old file
  AuditRecord second = served_pat();
  second.token_id = "tok-2";
  log.record(second);
  log.flush();
  EXPECT_NE(slurp(path_ + ".1").find("tok-1"), std::string::npos);
  EXPECT_EQ(slurp(path_ + ".1").find("tok-2"), std::string::npos);
  EXPECT_NE(slurp(path_).find("tok-2"), std::string::npos);
}

TEST_F(AuditLogTest, UnopenableNewPathKeepsTheOldFile) {
  AuditLog log(rt_, "");
  ASSERT_TRUE(log.open_file(path_).ok());
  EXPECT_FALSE(log.open_file(dir_ + "/no/such/dir/audit.jsonl").ok());
  log.record(served_pat());
  log.flush();
  EXPECT_NE(slurp(path_).find("tok-1"), std::string::npos);
}

TEST_F(AuditLogTest, RingAnswersSinceAndForgetsTheOldest) {
  AuditLog log(rt_, "");
  AuditRecord old = served_pat();
  old.token_id = "old";
  old.time = rt_.now();
  log.record(old);
  rt_.advance(Millis(60'000));
  AuditRecord fresh = served_pat();
  fresh.token_id = "fresh";
  fresh.time = rt_.now();
  log.record(fresh);
  auto recent = log.since(rt_.now() - Seconds(30));
  ASSERT_EQ(recent.size(), 1u);
  EXPECT_EQ(recent[0].token_id, "fresh");
  EXPECT_EQ(log.since(rt_.now() - Seconds(3600)).size(), 2u);
  for (std::size_t i = 0; i < AuditLog::kRingCapacity + 10; ++i) {
    AuditRecord r = served_pat();
    r.time = rt_.now();
    log.record(r);
  }
  EXPECT_EQ(log.since(rt_.now() - Seconds(3600)).size(), AuditLog::kRingCapacity);
}

TEST_F(AuditLogTest, JournalGetsOneDatagramPerRecord) {
  const std::string sock = dir_ + "/journal.sock";
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  AuditLog log(rt_, sock);
  log.record(served_pat());
  log.flush();
  char buf[4096];
  const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  ASSERT_GT(n, 0);
  const std::string d(buf, static_cast<std::size_t>(n));
  EXPECT_NE(d.find("DBXCRED_WORKSPACE=prod\n"), std::string::npos);
  EXPECT_NE(d.find("MESSAGE=audit: served pat of workspace prod to uid 1001"), std::string::npos);
  ::close(fd);
}

}  // namespace
}  // namespace dbx
