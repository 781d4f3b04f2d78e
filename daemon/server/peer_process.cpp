#include "daemon/server/peer_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <string_view>

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77  // Linux 6.5 (asm-generic/socket.h); older headers lack it
#endif

namespace dbx {

namespace {

std::string read_small_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string out;
  char buf[1024];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > 16384) break;
  }
  ::close(fd);
  return out;
}

PeerProcess unknown(pid_t pid, bool pidfd, std::string why) {
  PeerProcess p;
  p.pid = pid;
  p.pidfd = pidfd;
  p.why = std::move(why);
  return p;
}

// Reads /proc/<pid>/exe: its target path and the identity of the file the process runs. The path
// is kept only when it names that same file from this daemon's mount namespace.
PeerProcess read_exe(pid_t pid, bool pidfd, const ProcessProbe& probe) {
  const std::string link = probe.proc_root + "/" + std::to_string(pid) + "/exe";
  char target[4096];
  const ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
  if (n < 0) {
    const int err = errno;
    if (err == EACCES || err == EPERM)
      return unknown(pid, pidfd,
                     "not permitted to read the executable of pid " + std::to_string(pid) +
                         " (the daemon needs to run as root or with CAP_SYS_PTRACE)");
    if (err == ENOENT || err == ESRCH)
      return unknown(pid, pidfd, "process " + std::to_string(pid) + " has exited");
    return unknown(
        pid, pidfd,
        "cannot read the executable of pid " + std::to_string(pid) + ": " + std::strerror(err));
  }
  const std::string path(target, static_cast<std::size_t>(n));
  struct stat running {};
  if (::stat(link.c_str(), &running) != 0)
    return unknown(pid, pidfd, "process " + std::to_string(pid) + " has exited");
  PeerProcess p;
  p.pid = pid;
  p.pidfd = pidfd;
  p.exe = path;
  p.file = file_key(running);
  struct stat named {};
  if (path.empty() || path.front() != '/' || ::stat(path.c_str(), &named) != 0 ||
      named.st_dev != running.st_dev || named.st_ino != running.st_ino) {
    // Known by content only (docs/CONTAINERS.md): the path is not this daemon's.
    p.reachable = false;
    p.why = "the executable of pid " + std::to_string(pid) +
            " is not reachable by its path from the daemon (deleted or replaced, or in another "
            "mount namespace: a sha256-only rule matches it by content)";
    if (path.empty() || path.front() != '/') p.exe.clear();
  }
  return p;
}

}  // namespace

int pidfd_liveness(int pidfd) {
#ifdef SYS_pidfd_send_signal
  if (::syscall(SYS_pidfd_send_signal, pidfd, 0, nullptr, 0) == 0) return 0;
  // EPERM: not ours to signal (another uid, no CAP_KILL: every other user's process under the
  // shipped unit), but the kernel checks permission only after finding the process alive.
  if (errno == EPERM) return 0;
  return errno;
#else
  (void)pidfd;
  return ENOSYS;
#endif
}

FileKey file_key(const struct stat& st) {
  return FileKey{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
                 static_cast<std::int64_t>(st.st_size),
                 static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
                 static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec};
}

int peer_pidfd(int sock) {
  int pidfd = -1;
  socklen_t len = sizeof pidfd;
  if (::getsockopt(sock, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) != 0) return -1;
  return pidfd;
}

pid_t pidfd_pid(int pidfd, const ProcessProbe& probe) {
  const std::string info =
      read_small_file(probe.proc_root + "/self/fdinfo/" + std::to_string(pidfd));
  constexpr std::string_view kPid = "\nPid:";
  const std::string text = "\n" + info;
  const auto at = text.find(kPid);
  if (at == std::string::npos) return -2;
  std::size_t i = at + kPid.size();
  while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
  long value = 0;
  const auto [end, ec] = std::from_chars(text.data() + i, text.data() + text.size(), value);
  if (ec != std::errc() || (end != text.data() + text.size() && *end != '\n')) return -2;
  return static_cast<pid_t>(value);
}

PeerProcess identify_process(int pidfd, pid_t pid, const ProcessProbe& probe) {
  if (pidfd < 0) {
    if (pid <= 0) return unknown(0, false, "the peer's pid is unknown");
    PeerProcess p = read_exe(pid, false, probe);
    if (probe.between) probe.between();
    return p;
  }
  const pid_t named = pidfd_pid(pidfd, probe);
  if (named == -1) return unknown(pid, true, "process " + std::to_string(pid) + " has exited");
  if (named == 0)
    return unknown(pid, true, "the process is in a pid namespace the daemon cannot see");
  if (named < 0) return unknown(pid, true, "cannot read the pidfd's fdinfo");
  PeerProcess p = read_exe(named, true, probe);
  if (probe.between) probe.between();
  // The PID-reuse check: /proc/<named> was the pidfd's process only if that is still alive now.
  const int alive = pidfd_liveness(pidfd);
  if (alive == ESRCH)
    return unknown(named, true,
                   "process " + std::to_string(named) + " exited while it was being identified");
  if (alive != 0)
    return unknown(named, true, std::string("cannot check the process: ") + std::strerror(alive));
  // Alive, yet /proc/<pid> was missing: hidden from this daemon, not gone.
  if (!p.known() && p.why.ends_with(" has exited"))
    return unknown(named, true,
                   "the daemon cannot see /proc/" + std::to_string(named) +
                       " (ProtectProc=invisible or hidepid= hides other users' processes)");
  return p;
}

PeerProcess identify_pid(pid_t pid, const ProcessProbe& probe) {
  if (pid <= 0) return unknown(0, false, "the sender's pid is unknown");
#ifdef SYS_pidfd_open
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0 && errno == ESRCH)
    return unknown(pid, false, "process " + std::to_string(pid) + " has exited");
  if (pidfd >= 0) {
    PeerProcess p = identify_process(pidfd, pid, probe);
    ::close(pidfd);
    p.pidfd = false;  // opened by pid: not the kernel's word for the sender
    return p;
  }
#endif
  return identify_process(-1, pid, probe);
}

PeerProcess identify_peer_process(int sock, pid_t fallback_pid) {
  const int pidfd = peer_pidfd(sock);
  const int err = pidfd < 0 ? errno : 0;
  // EINVAL/ESRCH from a kernel that has SO_PEERPIDFD: the peer was reaped already. ENOPROTOOPT: a
  // kernel without it, where the SO_PEERCRED pid is all there is.
  if (pidfd < 0 && (err == EINVAL || err == ESRCH))
    return unknown(fallback_pid, true, "process " + std::to_string(fallback_pid) + " has exited");
  if (pidfd < 0 && err != ENOPROTOOPT)
    return unknown(fallback_pid, true,
                   std::string("cannot take the peer's pidfd: ") + std::strerror(err));
  PeerProcess p = identify_process(pidfd, fallback_pid);
  if (pidfd >= 0) ::close(pidfd);
  return p;
}

}  // namespace dbx
