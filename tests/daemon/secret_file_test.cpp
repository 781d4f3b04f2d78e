// read_secret_file / read_token_file: the checks on the descriptor actually read (issue 15).
#include "daemon/credentials/secret_file.h"
#include "tests/temp_dir.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace dbx {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

class SecretFileTest : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& content, mode_t mode = 0600) {
    return files.write(name, content, mode);
  }
  testing::TempDir files;
  const std::string dir = files.path();
};

TEST_F(SecretFileTest, PrivateRegularFileIsReadAndTrimmed) {
  auto s = read_secret_file(write("s", "dose-1\n"));
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s.value(), "dose-1");
}

TEST_F(SecretFileTest, SymlinkIsRefusedEvenToAPrivateFile) {
  std::string target = write("real", "dose-1");
  std::string link = dir + "/link";
  fs::create_symlink(target, link);
  auto s = read_secret_file(link);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message,
            link + " is a symbolic link: refused (a secret file must be the file itself)");
}

TEST_F(SecretFileTest, GroupOrOtherBitsAreRefused) {
  for (mode_t mode : {0640, 0604, 0620, 0601, 0644}) {
    std::string p = write("s", "dose-1", mode);
    auto s = read_secret_file(p);
    ASSERT_FALSE(s.ok()) << std::oct << mode;
    EXPECT_THAT(s.error().message, HasSubstr(p + " has group or other permission bits (mode 0"));
    EXPECT_THAT(s.error().message, Not(HasSubstr("dose-1")));
  }
}

TEST_F(SecretFileTest, ForeignOwnerIsRefused) {
  std::string p = write("s", "dose-1");
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to chown a file to another uid";
  ASSERT_EQ(::chown(p.c_str(), 4242, 4242), 0);
  auto s = read_secret_file(p);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message,
              HasSubstr(p + " is owned by uid 4242, not root or the service user (uid 0)"));
}

TEST_F(SecretFileTest, DirectoryFifoAndEmptyAreRefused) {
  EXPECT_THAT(read_secret_file(dir).error().message, HasSubstr("is not a regular file"));
  std::string fifo = dir + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // Opened non-blocking: a FIFO with no writer must not hang the loop.
  EXPECT_THAT(read_token_file(fifo).error().message, HasSubstr("is not a regular file"));
  EXPECT_THAT(read_secret_file(write("e", "\n")).error().message, HasSubstr("is empty"));
  EXPECT_THAT(read_secret_file(dir + "/none").error().message, HasSubstr("cannot read"));
}

TEST_F(SecretFileTest, TokenFileIsExemptFromModeAndFollowsSymlinks) {
  // kubelet's projected token: a symlink into ..data/, mode 0644.
  fs::create_directories(dir + "/..data");
  std::string real = write("..data/token", "a.b.c\n", 0644);
  std::string link = dir + "/token";
  fs::create_symlink(real, link);
  auto t = read_token_file(link);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t.value(), "a.b.c");
}

}  // namespace
}  // namespace dbx
