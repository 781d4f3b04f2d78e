// The process a request is judged on (daemon/server/peer_access.h): the sender the listener noted,
// through its pidfd or, without one (kernels before 6.5), by its pid; kept while the sender stays.
#include "daemon/server/peer_access.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <string>

namespace dbx {
namespace {

std::string self_exe() {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
}

pid_t sleeping_child() {
  const pid_t pid = ::fork();
  if (pid == 0) {
    for (;;) ::pause();
  }
  return pid;
}

void kill_and_reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
}

// The pid fallback: no pidfd from the kernel, the sender's pid from SCM_CREDENTIALS.
TEST(PeerAccess, SenderWithoutPidfdIsIdentifiedByItsPid) {
  const pid_t child = sleeping_child();
  ASSERT_GT(child, 0);
  PeerIdentity peer = make_peer(1000, 1000, ::getpid(), {});  // connected by this process
  note_sender(peer, RequestSender{child, nullptr});
  const PeerProcess& p = peer_process(peer);
  EXPECT_EQ(peer.pid, child);
  EXPECT_EQ(p.pid, child);
  EXPECT_EQ(p.exe, self_exe());
  EXPECT_FALSE(p.pidfd);
  kill_and_reap(child);
  note_sender(peer, RequestSender{::getpid(), nullptr});
  note_sender(peer, RequestSender{child, nullptr});  // a sender that has exited by now
  EXPECT_FALSE(peer_process(peer).known());
  EXPECT_NE(peer_process(peer).why.find("has exited"), std::string::npos) << peer_process(peer).why;
}

TEST(PeerAccess, IdentifyPidOfAnExitedOrUnknownPidSaysWhy) {
  const pid_t child = sleeping_child();
  ASSERT_GT(child, 0);
  kill_and_reap(child);
  EXPECT_NE(identify_pid(child).why.find("has exited"), std::string::npos);
  EXPECT_FALSE(identify_pid(0).known());
}

TEST(PeerAccess, SenderWithPidfdIsIdentifiedThroughIt) {
  const pid_t child = sleeping_child();
  ASSERT_GT(child, 0);
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, child, 0));
  ASSERT_GE(pidfd, 0);
  PeerIdentity peer = make_peer(1000, 1000, ::getpid(), {});
  note_sender(peer, RequestSender{child, own_fd(pidfd)});
  EXPECT_EQ(peer_process(peer).pid, child);
  EXPECT_EQ(peer_process(peer).exe, self_exe());
  EXPECT_TRUE(peer_process(peer).pidfd);
  kill_and_reap(child);
}

// A connection whose sender does not change pays no new lookup; another sender gets its own.
TEST(PeerAccess, SameSenderKeepsItsProcessAnotherIsLookedUpAgain) {
  PeerIdentity peer = make_peer(1000, 1000, ::getpid(), {});
  const RequestSender self{::getpid(), nullptr};
  note_sender(peer, self);
  ASSERT_EQ(peer_process(peer).exe, self_exe());
  peer.process->exe = "/looked/up/once";  // a new lookup would overwrite this
  note_sender(peer, self);
  EXPECT_EQ(peer_process(peer).exe, "/looked/up/once");
  const pid_t child = sleeping_child();
  ASSERT_GT(child, 0);
  note_sender(peer, RequestSender{child, nullptr});
  EXPECT_EQ(peer_process(peer).pid, child);
  EXPECT_EQ(peer_process(peer).exe, self_exe());
  kill_and_reap(child);
}

}  // namespace
}  // namespace dbx
