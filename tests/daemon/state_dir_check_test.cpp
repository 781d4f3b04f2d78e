// The state_dir ownership rule (issue 21): state_dir, pats/, agent_id and machine owned by the
// daemon's uid and not group- or world-writable; one line naming the path, owner and mode.
#include "daemon/state_dir_check.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/temp_dir.h"

namespace dbx {
namespace {

class StateDirCheckTest : public ::testing::Test {
 protected:
  testing::TempDir dir;
  std::string state = dir / "state";
  void SetUp() override {
    ::mkdir(state.c_str(), 0700);
    ::mkdir((state + "/pats").c_str(), 0700);
    dir.write("state/agent_id", std::string(32, 'a') + "\n", 0600);
  }
  std::string refusal(uid_t uid = ::geteuid()) {
    auto s = check_state_dir_ownership(state, uid);
    return s ? std::string() : s.error().message;
  }
};

TEST_F(StateDirCheckTest, TheServiceUsersPrivateDirPasses) {
  EXPECT_EQ(refusal(), "");
  ::rmdir((state + "/pats").c_str());  // not made yet: fine
  EXPECT_EQ(refusal(), "");
}

TEST_F(StateDirCheckTest, GroupOrWorldWritableIsRefusedNamingPathAndMode) {
  ::chmod(state.c_str(), 0770);
  auto m = refusal();
  EXPECT_NE(m.find(state + " is owned by uid"), std::string::npos) << m;
  EXPECT_NE(m.find("mode 0770"), std::string::npos) << m;
  EXPECT_EQ(m.find('\n'), std::string::npos);
  ::chmod(state.c_str(), 0700);
  ::chmod((state + "/pats").c_str(), 0702);
  m = refusal();
  EXPECT_NE(m.find(state + "/pats"), std::string::npos) << m;
  EXPECT_NE(m.find("0702"), std::string::npos) << m;
  ::chmod((state + "/pats").c_str(), 0755);  // readable by others is not the rule's business
  EXPECT_EQ(refusal(), "");
  ::chmod((state + "/agent_id").c_str(), 0620);
  EXPECT_NE(refusal().find(state + "/agent_id"), std::string::npos);
}

TEST_F(StateDirCheckTest, AnotherOwnerIsRefused) {
  const uid_t other = ::geteuid() + 1;
  auto m = refusal(other);
  EXPECT_NE(m.find("owned by uid " + std::to_string(::geteuid())), std::string::npos) << m;
  EXPECT_NE(m.find("(uid " + std::to_string(other) + ")"), std::string::npos) << m;
}

TEST_F(StateDirCheckTest, ASymlinkInsideIsRefused) {
  ::unlink((state + "/agent_id").c_str());
  ASSERT_EQ(::symlink((dir / "elsewhere").c_str(), (state + "/agent_id").c_str()), 0);
  EXPECT_NE(refusal().find("symlink"), std::string::npos);
}

}  // namespace
}  // namespace dbx
