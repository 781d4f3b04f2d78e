// The doctor's loopback-port findings over a fake /proc tree.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "daemon/doctor/daemon_findings.h"
#include "tests/temp_dir.h"

namespace dbx {
namespace {

namespace fs = std::filesystem;

class LoopbackFindingsTest : public ::testing::Test {
 protected:
  LoopbackFindingsTest() {
    config.listen.metadata_service = MetadataServiceListen{8765};  // 0x223D
    fs::create_directories(dir / "net");
  }
  void listening(unsigned uid) {
    dir.write("net/tcp",
              "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
              "timeout inode\n"
              "   0: 0100007F:223D 00000000:0000 0A 00000000:00000000 00:00000000 00000000  " +
                  std::to_string(uid) + "        0 111 1 0000000000000000 100 0 0 10 0\n");
  }
  void holds(const std::string& pid, const std::string& comm = "") {
    fs::create_directories(dir / (pid + "/fd"));
    fs::create_symlink("socket:[111]", dir / (pid + "/fd/3"));
    if (!comm.empty()) dir.write(pid + "/comm", comm + "\n");
  }
  std::vector<Finding> run() { return loopback_findings(config, dir.path()); }

  testing::TempDir dir;
  Config config;
};

TEST_F(LoopbackFindingsTest, APortThisDaemonAndSystemdHoldIsOk) {
  listening(0);
  holds("self");
  holds("1");
  auto f = run();
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].verdict, Verdict::ok);
  EXPECT_NE(f[0].message.find("held by this daemon and by systemd"), std::string::npos)
      << f[0].message;
}

TEST_F(LoopbackFindingsTest, APortSomeoneElseListensOnFailsNamingThem) {
  listening(1000);
  holds("4242", "nc");
  auto f = run();
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].verdict, Verdict::fail);
  EXPECT_NE(f[0].message.find("taken by pid 4242 (nc) of uid 1000"), std::string::npos)
      << f[0].message;
  EXPECT_NE(f[0].fix.find("rotate-secrets"), std::string::npos);
}

TEST_F(LoopbackFindingsTest, APortNobodyListensOnFails) {
  dir.write("net/tcp", "header\n");
  auto f = run();
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].verdict, Verdict::fail);
  EXPECT_NE(f[0].message.find("nothing listens on 127.0.0.1:8765 (listen.metadata_service)"),
            std::string::npos);
}

TEST_F(LoopbackFindingsTest, NoListenersNoFindings) {
  config.listen.metadata_service.reset();
  EXPECT_TRUE(run().empty());
}

}  // namespace
}  // namespace dbx
