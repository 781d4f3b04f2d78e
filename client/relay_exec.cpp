// fork/exec of CMD, the self-pipe that wakes the relay's loop when CMD exits, and signal
// forwarding.
#include "client/relay_exec.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>

#include "common/encoding.h"

namespace dbx::cli {

namespace {

// Written by the signal handlers, read by the loop: plain ints, set before any handler is
// installed.
volatile sig_atomic_t g_child = 0;
volatile sig_atomic_t g_wake_fd = -1;

// Forwarded to CMD when another process sends them to dbxcred (kill, a CI runner cancelling the
// job, systemd stopping a unit). A terminal's ^C or hang-up already reaches CMD, which is in
// dbxcred's process group: forwarding that too would deliver it twice.
constexpr int kForwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

void on_child(int /*sig*/) {
  const int saved = errno;
  const char byte = 1;
  if (g_wake_fd >= 0) (void)!::write(g_wake_fd, &byte, 1);
  errno = saved;
}

void on_forwarded(int sig, siginfo_t* info, void* /*context*/) {
  // si_code <= 0: sent by a process (kill, sigqueue, tgkill); > 0 (SI_KERNEL): by the kernel,
  // e.g. the terminal driver to the whole foreground process group.
  if (g_child > 0 && (info == nullptr || info->si_code <= 0)) ::kill(g_child, sig);
}

}  // namespace

Expected<std::string> random_secret() {
  unsigned char bytes[32];
  std::size_t got = 0;
  while (got < sizeof bytes) {
    const ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Failure{Exit::failure,
                     std::string("cannot get random bytes for the relay: ") + std::strerror(errno)};
    }
    got += static_cast<std::size_t>(n);
  }
  std::string out = hex(std::span<const unsigned char>(bytes, sizeof bytes));
  explicit_bzero(bytes, sizeof bytes);
  return out;
}

int run_with_relay(const std::vector<std::string>& argv, const EnvVars& vars,
                   RelayListener& listener, const RelayListener::Handler& handler) {
  int wake[2];
  if (::pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) {
    std::fprintf(stderr, "dbxcred: cannot create a pipe: %s\n", std::strerror(errno));
    return 1;
  }
  g_wake_fd = wake[1];
  // SIGCHLD and the forwarded signals are blocked until the handlers know the child.
  sigset_t handled;
  sigset_t before;
  sigemptyset(&handled);
  sigaddset(&handled, SIGCHLD);
  for (int s : kForwarded) sigaddset(&handled, s);
  ::sigprocmask(SIG_BLOCK, &handled, &before);

  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t child = ::fork();
  if (child < 0) {
    std::fprintf(stderr, "dbxcred: cannot fork: %s\n", std::strerror(errno));
    ::sigprocmask(SIG_SETMASK, &before, nullptr);
    return 1;
  }
  if (child == 0) {
    ::sigprocmask(SIG_SETMASK, &before, nullptr);
    for (const auto& [name, value] : vars) ::setenv(name.c_str(), value.c_str(), 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    const int err = errno;
    const std::string name = one_line(argv[0]);
    if (err == ENOENT) {
      std::fprintf(stderr, "dbxcred: %s: command not found\n", name.c_str());
      ::_exit(127);
    }
    std::fprintf(stderr, "dbxcred: cannot run %s: %s\n", name.c_str(), std::strerror(err));
    ::_exit(126);
  }

  g_child = child;
  struct sigaction sa {};
  sa.sa_handler = on_child;
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGCHLD, &sa, nullptr);
  struct sigaction fwd {};
  fwd.sa_sigaction = on_forwarded;
  fwd.sa_flags = SA_RESTART | SA_SIGINFO;
  sigemptyset(&fwd.sa_mask);
  for (int s : kForwarded) ::sigaction(s, &fwd, nullptr);
  ::sigprocmask(SIG_SETMASK, &before, nullptr);

  int status = 0;
  bool exited = false;
  const auto reaped = [&] {
    char drain[64];
    while (::read(wake[0], drain, sizeof drain) > 0) {
    }
    for (;;) {
      const pid_t r = ::waitpid(child, &status, WNOHANG);
      if (r == child) return exited = true;
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return exited = true;  // not our child any more: nothing left to serve
      return false;
    }
  };
  listener.serve(handler, wake[0], reaped);
  if (!exited) {
    // The loop ended on an error: CMD still runs without its relay, so wait for it.
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
  }
  ::close(wake[0]);
  ::close(wake[1]);
  g_wake_fd = -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace dbx::cli
