// allow.executables matching and the hash cache (daemon/server/executable_check.h).
#include "daemon/server/executable_check.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <fstream>

namespace dbx {
namespace {

class ExecutableCheck : public ::testing::Test {
 protected:
  void SetUp() override {
    char d[] = "/tmp/dbxcred-exe-XXXXXX";
    ASSERT_NE(::mkdtemp(d), nullptr);
    char r[PATH_MAX];
    ASSERT_NE(::realpath(d, r), nullptr);
    dir_ = r;
    program_ = dir_ + "/tool";
    write(program_, "abc");
    ASSERT_EQ(::symlink(program_.c_str(), (dir_ + "/link").c_str()), 0);
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }

  static void write(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::trunc) << text;
  }
  // The process as peer_process.h would see it running `path`.
  static PeerProcess running(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0);
    PeerProcess p;
    p.pid = 1234;
    p.exe = path;
    p.file = file_key(st);
    return p;
  }

  std::string dir_;
  std::string program_;
  ExeHashCache hashes_;
};

// sha256("abc")
constexpr const char* kAbc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

TEST_F(ExecutableCheck, NoRulesAdmitsAnyProgram) {
  EXPECT_TRUE(check_executables({}, PeerProcess{}, hashes_).allowed);
}

TEST_F(ExecutableCheck, PathMatchesAfterResolvingTheRulesSymlink) {
  const auto v = check_executables({{dir_ + "/link", std::nullopt}}, running(program_), hashes_);
  EXPECT_TRUE(v.allowed) << v.reason;
}

TEST_F(ExecutableCheck, OtherProgramIsRefusedByName) {
  const auto v = check_executables({{"/usr/bin/true", std::nullopt}}, running(program_), hashes_);
  EXPECT_FALSE(v.allowed);
  EXPECT_EQ(v.reason, "program " + program_ + " is not in allow.executables");
}

TEST_F(ExecutableCheck, UnidentifiedProcessIsRefusedSayingWhy) {
  PeerProcess p;
  p.why = "process 77 has exited";
  const auto v = check_executables({{program_, std::nullopt}}, p, hashes_);
  EXPECT_FALSE(v.allowed);
  EXPECT_NE(v.reason.find("process 77 has exited"), std::string::npos) << v.reason;
}

TEST_F(ExecutableCheck, Sha256RightAdmitsWrongRefuses) {
  EXPECT_TRUE(check_executables({{program_, kAbc}}, running(program_), hashes_).allowed);
  const auto wrong =
      check_executables({{program_, std::string(64, '0')}}, running(program_), hashes_);
  EXPECT_FALSE(wrong.allowed);
  EXPECT_NE(wrong.reason.find("does not have the sha256"), std::string::npos) << wrong.reason;
}

// A containerised program: the daemon reads /proc/<pid>/exe as the container's path, which names
// nothing (or another file) in the daemon's mount namespace. Here: this test process, seen under
// a path that does not exist; a sha256-only rule matches its content, read through /proc.
TEST_F(ExecutableCheck, Sha256AloneMatchesTheContentUnderAnyPath) {
  struct stat st {};
  ASSERT_EQ(::stat("/proc/self/exe", &st), 0);
  PeerProcess self;
  self.pid = ::getpid();
  self.exe = "/var/lib/containers/overlay/abc/usr/bin/job";  // the container's view
  self.file = file_key(st);
  const int fd = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  const auto mine = sha256_of_fd(fd);
  ::close(fd);
  ASSERT_TRUE(mine);
  EXPECT_TRUE(check_executables({{"", *mine}}, self, hashes_).allowed);
  // By path and content, the container's path is not the daemon's: refused.
  EXPECT_FALSE(check_executables({{"/usr/bin/job", *mine}}, self, hashes_).allowed);
  const auto other = check_executables({{"", kAbc}}, self, hashes_);
  EXPECT_FALSE(other.allowed);
  EXPECT_NE(other.reason.find("sha256 is none of those listed"), std::string::npos) << other.reason;
  // A process whose /proc entry is another file (PID reuse) never matches by content.
  PeerProcess reused = self;
  reused.file.inode += 1;
  EXPECT_FALSE(check_executables({{"", *mine}}, reused, hashes_).allowed);
}

TEST_F(ExecutableCheck, HashIsCachedPerFileIdentityAndPrimedAtConfigLoad) {
  Config config;
  WorkspaceConfig ws;
  ws.allow = AllowList{};
  ws.allow->executables.push_back({dir_ + "/link", kAbc});
  config.workspaces.emplace("prod", ws);
  hashes_.prime(config);
  EXPECT_EQ(hashes_.files_hashed(), 1u);
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(check_executables(ws.allow->executables, running(program_), hashes_).allowed);
  EXPECT_EQ(hashes_.files_hashed(), 1u);  // the requests hashed nothing
}

TEST_F(ExecutableCheck, ReplacedFileIsHashedAgain) {
  const PeerProcess before = running(program_);
  EXPECT_TRUE(check_executables({{program_, kAbc}}, before, hashes_).allowed);
  write(program_, "abd");  // new content, new size/mtime: a new key
  const auto v = check_executables({{program_, kAbc}}, running(program_), hashes_);
  EXPECT_FALSE(v.allowed);
  EXPECT_EQ(hashes_.files_hashed(), 2u);
}

// The file's owner patches the program in place (same inode, same size) and sets its mtime back:
// ctime, which no one can set back, is in the cache key, so the old hash is not believed.
TEST_F(ExecutableCheck, PatchedInPlaceWithMtimeRestoredIsHashedAgain) {
  const PeerProcess before = running(program_);
  EXPECT_TRUE(check_executables({{program_, kAbc}}, before, hashes_).allowed);
  struct stat st {};
  ASSERT_EQ(::stat(program_.c_str(), &st), 0);
  ::usleep(20 * 1000);  // past the coarsest timestamp granularity, so that ctime moves
  const int fd = ::open(program_.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, "abd", 3, 0), 3);
  ::close(fd);
  const struct timespec times[2] = {st.st_atim, st.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, program_.c_str(), times, 0), 0);
  const PeerProcess after = running(program_);
  ASSERT_EQ(after.file.inode, before.file.inode);
  ASSERT_EQ(after.file.size, before.file.size);
  ASSERT_EQ(after.file.mtime_ns, before.file.mtime_ns);  // the owner's restore worked
  ASSERT_NE(after.file.ctime_ns, before.file.ctime_ns);
  const auto v = check_executables({{program_, kAbc}}, after, hashes_);
  EXPECT_FALSE(v.allowed);
  EXPECT_NE(v.reason.find("does not have the sha256"), std::string::npos) << v.reason;
  EXPECT_EQ(hashes_.files_hashed(), 2u);
}

TEST_F(ExecutableCheck, FileNoLongerTheOneTheProcessRunsIsNotHashed) {
  PeerProcess p = running(program_);
  p.file.inode += 1;  // the process runs another file than the path now names
  const auto v = check_executables({{program_, kAbc}}, p, hashes_);
  EXPECT_FALSE(v.allowed);
  EXPECT_NE(v.reason.find("cannot be read"), std::string::npos) << v.reason;
}

}  // namespace
}  // namespace dbx
