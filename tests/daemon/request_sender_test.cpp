// The sender the Unix socket's listener keeps per connection (daemon/server/request_sender.h):
// the same pid is the same sender without a syscall, its liveness asked at most once a second on
// the Runtime's steady clock; a dead kept sender or another pid is a new sender, looked up afresh.
#include "daemon/server/request_sender.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/daemon/fake_runtime.h"

namespace dbx {
namespace {

using dbx::testing::FakeRuntime;

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

int open_pidfd(pid_t pid) {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

bool is_open(int fd) {
  return ::fcntl(fd, F_GETFD) != -1;
}

TEST(RequestSender, FirstMessageKeepsTheKernelsPidfd) {
  FakeRuntime rt;
  const pid_t child = sleeping_child();
  ASSERT_GT(child, 0);
  RequestSender s;
  const int pidfd = open_pidfd(child);
  ASSERT_GE(pidfd, 0);
  EXPECT_TRUE(note_message_sender(s, child, pidfd, rt.steady_now()));
  EXPECT_EQ(s.pid, child);
  ASSERT_TRUE(s.pidfd);
  EXPECT_EQ(*s.pidfd, pidfd);
  EXPECT_FALSE(s.pidfd_by_pid);
  kill_and_reap(child);
}

// The hot path: later messages of the same process carry its pid only, and change nothing.
TEST(RequestSender, SamePidIsTheSameSenderAndAPidfdGivenAgainIsClosed) {
  FakeRuntime rt;
  const pid_t child = sleeping_child();
  RequestSender s;
  ASSERT_TRUE(note_message_sender(s, child, open_pidfd(child), rt.steady_now()));
  const auto kept = s.pidfd;
  rt.advance(Millis(300));
  EXPECT_FALSE(note_message_sender(s, child, -1, rt.steady_now()));
  const int again = open_pidfd(child);
  EXPECT_FALSE(note_message_sender(s, child, again, rt.steady_now()));
  EXPECT_FALSE(is_open(again));
  EXPECT_EQ(s.pidfd, kept);
  kill_and_reap(child);
}

// The pid of a kept sender could be recycled to another holder of the socket: once a second the
// kept process is asked whether it lives; dead, the next message's pid is a new sender.
TEST(RequestSender, DeadKeptSenderIsForgottenAtTheNextCheck) {
  FakeRuntime rt;
  const pid_t child = sleeping_child();
  RequestSender s;
  ASSERT_TRUE(note_message_sender(s, child, open_pidfd(child), rt.steady_now()));
  const auto kept = s.pidfd;
  kill_and_reap(child);
  rt.advance(Millis(999));
  // Within the second since it was last known alive: not asked (the documented window).
  EXPECT_FALSE(note_message_sender(s, child, -1, rt.steady_now()));
  EXPECT_EQ(s.pidfd, kept);
  rt.advance(Millis(1));
  EXPECT_TRUE(note_message_sender(s, child, -1, rt.steady_now()));
  EXPECT_EQ(s.pid, child);
  EXPECT_NE(s.pidfd, kept);
  EXPECT_FALSE(s.pidfd);  // pidfd_open of a reaped pid fails: the lookup will say it exited
}

TEST(RequestSender, LiveKeptSenderStaysAcrossChecks) {
  FakeRuntime rt;
  const pid_t child = sleeping_child();
  RequestSender s;
  ASSERT_TRUE(note_message_sender(s, child, open_pidfd(child), rt.steady_now()));
  const auto kept = s.pidfd;
  for (int i = 0; i < 3; ++i) {
    rt.advance(Millis(1500));
    EXPECT_FALSE(note_message_sender(s, child, -1, rt.steady_now()));
    EXPECT_EQ(s.checked, rt.steady_now());
  }
  EXPECT_EQ(s.pidfd, kept);
  kill_and_reap(child);
}

// Another pid without a pidfd (SO_PASSPIDFD is off after a connection's first message): a new
// sender with a pidfd the daemon opened for that pid.
TEST(RequestSender, AnotherPidIsANewSenderWithAPidfdOpenedForIt) {
  FakeRuntime rt;
  const pid_t child = sleeping_child();
  RequestSender s;
  ASSERT_TRUE(note_message_sender(s, child, open_pidfd(child), rt.steady_now()));
  EXPECT_TRUE(note_message_sender(s, ::getpid(), -1, rt.steady_now()));
  EXPECT_EQ(s.pid, ::getpid());
  ASSERT_TRUE(s.pidfd);
  EXPECT_TRUE(s.pidfd_by_pid);
  EXPECT_EQ(::syscall(SYS_pidfd_send_signal, *s.pidfd, 0, nullptr, 0), 0);  // names us
  kill_and_reap(child);
}

}  // namespace
}  // namespace dbx
