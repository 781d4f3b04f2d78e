// The peer's executable through its pidfd, and the PID-reuse check (daemon/server/peer_process.h).
#include "daemon/server/peer_process.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tests/temp_dir.h"

namespace dbx {
namespace {

int open_pidfd(pid_t pid) {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

std::string self_exe() {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
}

// A child that waits until it is killed; the test owns it.
pid_t sleeping_child() {
  const pid_t pid = ::fork();
  if (pid == 0) {
    for (;;) ::pause();
  }
  return pid;
}

// A fake /proc: its `self/fdinfo` is the real one (the pidfd check reads it), and each entry shown
// is a pid whose `exe` points where the test says. Readable by every uid when `shared`.
class FakeProc {
 public:
  explicit FakeProc(bool shared = false) : dir_("dbxcred-proc") {
    if (shared) ::chmod(dir_.path().c_str(), 0755);
    ::mkdir((dir_ / "self").c_str(), 0755);
    ::symlink("/proc/self/fdinfo", (dir_ / "self/fdinfo").c_str());
  }
  // /proc/<pid>/exe -> exe; false if it could not be made.
  bool show(pid_t pid, const std::string& exe) {
    const std::string entry = dir_ / std::to_string(pid);
    return ::mkdir(entry.c_str(), 0755) == 0 &&
           ::symlink(exe.c_str(), (entry + "/exe").c_str()) == 0;
  }
  const std::string& root() const { return dir_.path(); }

 private:
  testing::TempDir dir_;
};

void kill_and_reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
}

TEST(PeerProcess, PidfdNamesTheProcessAndItsExecutable) {
  const pid_t child = sleeping_child();
  ASSERT_GT(child, 0);
  const int pidfd = open_pidfd(child);
  ASSERT_GE(pidfd, 0);
  EXPECT_EQ(pidfd_pid(pidfd), child);
  const PeerProcess p = identify_process(pidfd, child);
  EXPECT_TRUE(p.known()) << p.why;
  EXPECT_EQ(p.exe, self_exe());
  EXPECT_EQ(p.pid, child);
  EXPECT_TRUE(p.pidfd);
  struct stat st {};
  ASSERT_EQ(::stat(self_exe().c_str(), &st), 0);
  EXPECT_EQ(p.file.inode, static_cast<std::uint64_t>(st.st_ino));
  EXPECT_EQ(p.file.size, static_cast<std::int64_t>(st.st_size));
  kill_and_reap(child);
  ::close(pidfd);
}

// The attack: the process that connected exits while it is being identified, and its pid could
// name another program by the time /proc was read. The pidfd tells: the answer is a refusal.
TEST(PeerProcess, ProcessGoneDuringTheCheckIsRefused) {
  const pid_t child = sleeping_child();
  ASSERT_GT(child, 0);
  const int pidfd = open_pidfd(child);
  ASSERT_GE(pidfd, 0);
  ProcessProbe probe;
  probe.between = [child] { kill_and_reap(child); };  // its pid is now free for reuse
  const PeerProcess p = identify_process(pidfd, child, probe);
  EXPECT_FALSE(p.known());
  EXPECT_NE(p.why.find("exited while it was being identified"), std::string::npos) << p.why;
  ::close(pidfd);
}

// The attack with the pid really reused: /proc/<pid> shows another program (a fake /proc whose
// entry for the pid points at /bin/sh) while the pidfd's process is gone.
TEST(PeerProcess, ReusedPidShowingAnotherProgramIsRefused) {
  const pid_t child = sleeping_child();
  ASSERT_GT(child, 0);
  const int pidfd = open_pidfd(child);
  ASSERT_GE(pidfd, 0);
  FakeProc proc;
  ASSERT_TRUE(proc.show(child, "/bin/sh"));
  kill_and_reap(child);  // exited and reaped: the pid may now belong to anything
  ProcessProbe probe;
  probe.proc_root = proc.root();
  const PeerProcess p = identify_process(pidfd, child, probe);
  EXPECT_FALSE(p.known()) << p.exe;
  EXPECT_TRUE(p.exe.empty());
  EXPECT_NE(p.why.find("exited"), std::string::npos) << p.why;
  ::close(pidfd);
}

// Without a pidfd (kernels before 6.5) the pid is all there is: the same fake /proc is believed.
// This is the race docs/AUDIT.md documents.
TEST(PeerProcess, WithoutPidfdThePidIsBelieved) {
  FakeProc proc;
  ASSERT_TRUE(proc.show(4242, "/bin/sh"));
  ProcessProbe probe;
  probe.proc_root = proc.root();
  const PeerProcess p = identify_process(-1, 4242, probe);
  EXPECT_FALSE(p.pidfd);
  EXPECT_EQ(p.exe, "/bin/sh");
}

// A program whose path names nothing from here (deleted; in a container: another mount
// namespace's path): known by its running file, marked unreachable so path rules never match it.
TEST(PeerProcess, ExecutableUnreachableByPathIsKnownByItsFileOnly) {
  testing::TempDir dir("dbxcred-exe");
  const std::string copy = (dir / "sleep-copy");
  ASSERT_EQ(std::system(("cp /bin/sleep " + copy).c_str()), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    ::execl(copy.c_str(), "sleep", "30", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ASSERT_GT(child, 0);
  // Wait until the child runs the copy, then take the copy's path away.
  for (int i = 0; i < 200; ++i) {
    char t[PATH_MAX] = {};
    const std::string link = "/proc/" + std::to_string(child) + "/exe";
    if (::readlink(link.c_str(), t, sizeof t - 1) > 0 && copy == t) break;
    ::usleep(5000);
  }
  ASSERT_EQ(::unlink(copy.c_str()), 0);
  const PeerProcess p = identify_process(-1, child);
  EXPECT_TRUE(p.known()) << p.why;
  EXPECT_FALSE(p.reachable);
  EXPECT_NE(p.why.find("not reachable by its path"), std::string::npos) << p.why;
  EXPECT_NE(p.file.inode, 0u);
  kill_and_reap(child);
}

TEST(PeerProcess, ExitedProcessIsRefusedWithWhy) {
  const pid_t child = sleeping_child();
  ASSERT_GT(child, 0);
  const int pidfd = open_pidfd(child);
  ASSERT_GE(pidfd, 0);
  kill_and_reap(child);
  EXPECT_EQ(pidfd_pid(pidfd), -1);
  const PeerProcess p = identify_process(pidfd, child);
  EXPECT_FALSE(p.known());
  EXPECT_NE(p.why.find("has exited"), std::string::npos) << p.why;
  ::close(pidfd);
}

// The real thing over a Unix socket: SO_PEERPIDFD names the process that connected, here a child
// that then runs /bin/sleep (the executable is read when asked, so it is sleep's).
TEST(PeerProcess, SocketPeerThroughSoPeerPidfd) {
  int listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string path = "/tmp/dbxcred-peer-" + std::to_string(::getpid()) + ".sock";
  ::unlink(path.c_str());
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener, 1), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    const int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
    if (::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) ::_exit(1);
    ::execl("/bin/sleep", "sleep", "30", static_cast<char*>(nullptr));
    ::_exit(1);
  }
  const int conn = ::accept(listener, nullptr, nullptr);
  ASSERT_GE(conn, 0);
  // Wait for the exec to happen (the executable changes from ours to sleep's).
  PeerProcess p;
  for (int i = 0; i < 200; ++i) {
    p = identify_peer_process(conn, child);
    if (p.known() && p.exe != self_exe()) break;
    ::usleep(10000);
  }
  EXPECT_TRUE(p.pidfd);
  EXPECT_EQ(p.pid, child);
  char resolved[PATH_MAX];
  ASSERT_NE(::realpath("/bin/sleep", resolved), nullptr);
  EXPECT_EQ(p.exe, resolved);
  kill_and_reap(child);
  const PeerProcess gone = identify_peer_process(conn, child);
  EXPECT_FALSE(gone.known());
  EXPECT_FALSE(gone.why.empty());
  ::close(conn);
  ::close(listener);
  ::unlink(path.c_str());
}

// Under the shipped unit the daemon is an unprivileged user without CAP_KILL: the liveness check
// (a signal 0 through the pidfd) on another user's live process answers EPERM. That process is
// alive (an exited one answers ESRCH), so it must be identified, not refused as "cannot check".
TEST(PeerProcess, AnotherUsersLiveProcessIsIdentified) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run the peer and the checker as other uids";
  const pid_t child = ::fork();
  if (child == 0) {
    if (::setresuid(65534, 65534, 65534) != 0) ::_exit(1);
    for (;;) ::pause();
  }
  ASSERT_GT(child, 0);
  const int pidfd = open_pidfd(child);
  ASSERT_GE(pidfd, 0);
  // A /proc whose entry for the child shows /bin/sh (the checker may not read the real one).
  FakeProc proc(/*shared=*/true);
  ASSERT_TRUE(proc.show(child, "/bin/sh"));
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  const pid_t checker = ::fork();
  if (checker == 0) {  // plays the daemon: another unprivileged uid
    ::close(out[0]);
    if (::setresgid(65533, 65533, 65533) != 0 || ::setresuid(65533, 65533, 65533) != 0) ::_exit(1);
    ::prctl(PR_SET_DUMPABLE, 1);
    ProcessProbe probe;
    probe.proc_root = proc.root();
    const PeerProcess p = identify_process(pidfd, child, probe);
    const std::string said = (p.known() ? "known " + p.exe : "unknown: " + p.why);
    if (::write(out[1], said.data(), said.size()) < 0) ::_exit(1);
    ::_exit(0);
  }
  ::close(out[1]);
  std::string said;
  char buf[512];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;)
    said.append(buf, static_cast<std::size_t>(n));
  ::close(out[0]);
  int status = 0;
  ::waitpid(checker, &status, 0);
  kill_and_reap(child);
  ::close(pidfd);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(said.rfind("known ", 0), 0u) << said;
}

}  // namespace
}  // namespace dbx
