// The process that sent a request's bytes on the Unix socket (SPEC.md `allow.executables`,
// docs/SECURITY.md): the kernel tags every message with its sender (SO_PASSCRED:
// SCM_CREDENTIALS; Linux 6.5+ SO_PASSPIDFD: SCM_PIDFD), and never returns bytes of two senders in
// one read. The listener keeps the sender of a connection's latest read here; a request whose
// bytes came from two senders is refused (400) before it is parsed as one.
//
// The kernel installs a pidfd in the daemon for every read while SO_PASSPIDFD is on, so the
// listener keeps it on only for a connection's first message (bytes sent before accept included)
// and later reads carry the pid alone: the same pid as the kept sender is the same sender while
// that process lives, which is checked through its pidfd at most once a second (kSenderRecheck);
// another pid gets a pidfd opened for it (pidfd_open), then the usual lookup (peer_access.h).
#pragma once

#include <sys/types.h>

#include <memory>

#include "daemon/runtime.h"

namespace dbx {

struct RequestSender {
  pid_t pid = 0;                     // 0: unknown (the bytes carried no credentials)
  std::shared_ptr<const int> pidfd;  // a pidfd for that process; null without one
  bool pidfd_by_pid = false;         // opened by the daemon for `pid`, not given by the kernel
  bool known = false;                // a message has been read
  SteadyTime checked{};              // when the process was last known alive
};

// How often a kept sender is asked whether it still lives (pidfd_send_signal 0): a pid reused by
// another holder of the connection within this time after its sender died passes as that sender.
inline constexpr auto kSenderRecheck = std::chrono::seconds(1);

// The sender of a message that came with `pid` and `kernel_pidfd` (SCM_PIDFD, taken over: kept
// or closed; -1 without one), read at `now`. Keeps `sender` when it is the same process (same pid
// and, when checked, alive); else replaces it (a new pidfd: the kernel's, or one opened for the
// pid) and returns true.
bool note_message_sender(RequestSender& sender, pid_t pid, int kernel_pidfd, SteadyTime now);

// Takes ownership of `fd`: closed when the last copy of the result goes.
std::shared_ptr<const int> own_fd(int fd);

}  // namespace dbx
