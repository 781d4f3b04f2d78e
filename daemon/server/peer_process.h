// Which program is on the other end of a Unix socket connection, without a PID-reuse race
// (SPEC.md `allow.executables`, "Audit"; docs/AUDIT.md).
//
// With SO_PEERPIDFD (Linux 6.5+) the kernel hands us a pidfd for the process that connected: the
// pid it names is read from /proc/self/fdinfo, the executable from /proc/<pid>/exe, and afterwards
// the pidfd is asked whether that process is still alive. If it is, /proc/<pid> was that process
// while we read it (a pid is reused only after its process is reaped, and a live pidfd keeps it
// from being reaped unnoticed). Without SO_PEERPIDFD the SO_PEERCRED pid is used: the process can
// exit and its pid be reused between connect() and our read; that race remains (documented).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>

namespace dbx {

// The identity of a file's content as far as a hash cache cares: same key, same bytes (unless
// only root can rewrite it keeping size, mtime and ctime).
struct FileKey {
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  std::int64_t size = -1;
  std::int64_t mtime_ns = 0;
  // The owner can set mtime back after patching the file in place; not ctime (any change sets it).
  std::int64_t ctime_ns = 0;
  bool operator==(const FileKey&) const = default;
  auto operator<=>(const FileKey&) const = default;
};

// The key of the file `st` describes.
FileKey file_key(const struct stat& st);

struct PeerProcess {
  pid_t pid = 0;       // as this daemon's pid namespace sees it; 0 when unknown
  std::string exe;     // the executable's path, symlinks resolved; "" when it could not be read
  std::string why;     // when exe is "": why not, one line (e.g. "the process has exited")
  FileKey file;        // of the executable (valid when exe is set)
  bool pidfd = false;  // identified through a pidfd (no PID-reuse race)
  // `exe` names the running file from this daemon's mount namespace. False: the path is another
  // mount namespace's (a container's) or gone; `file` is still the running file's, so only
  // sha256-only rules can match, and `why` says why the path does not count.
  bool reachable = true;
  bool known() const { return !exe.empty(); }
};

// Test hooks: `proc_root` replaces "/proc"; `between` runs after /proc was read and before the
// liveness check (a test kills and reaps the process there to play a PID reuse).
struct ProcessProbe {
  std::string proc_root = "/proc";
  std::function<void()> between;
};

// The pidfd of the connected peer of AF_UNIX socket `sock` (SO_PEERPIDFD), or -1 when the kernel
// has none (older than 6.5) or the peer has already been reaped. The caller closes it.
int peer_pidfd(int sock);

// The pid a pidfd names, from /proc/self/fdinfo: > 0 the pid; 0 the process is in a pid namespace
// this daemon cannot see; -1 it has exited; -2 the fdinfo could not be read.
pid_t pidfd_pid(int pidfd, const ProcessProbe& probe = {});

// Whether the process `pidfd` names lives: 0 alive; ESRCH exited (reaped or zombie both count: its
// /proc entry is no longer trustworthy once reaped, and a zombie has no executable); another
// errno: could not ask.
int pidfd_liveness(int pidfd);

// Identifies the process `pidfd` names (pidfd >= 0), else the process `pid` (racy, see above).
PeerProcess identify_process(int pidfd, pid_t pid, const ProcessProbe& probe = {});

// Identifies process `pid` when there is no pidfd from the kernel for it (SO_PASSCRED's pid on a
// kernel before 6.5): a pidfd opened for the pid (pidfd_open, Linux 5.3+) gives the reuse check
// above for the time of the read; the pid may still have changed hands between the send and the
// open (docs/SECURITY.md). Without pidfd_open, identify_process(-1, pid).
PeerProcess identify_pid(pid_t pid, const ProcessProbe& probe = {});

// The executable of the peer of `sock`: SO_PEERPIDFD when the kernel has it, else `fallback_pid`
// (the SO_PEERCRED pid).
PeerProcess identify_peer_process(int sock, pid_t fallback_pid);

}  // namespace dbx
