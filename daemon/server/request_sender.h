// The process that sent a request's bytes on the Unix socket (SPEC.md `allow.executables`,
// docs/SECURITY.md): the kernel tags every message with its sender (SO_PASSCRED: SCM_CREDENTIALS;
// Linux 6.5+ SO_PASSPIDFD: SCM_PIDFD), and never returns bytes of two senders in one read. The
// listener keeps the sender of a connection's latest read here; a request whose bytes came from
// two senders is refused (400) before it is parsed as one.
#pragma once

#include <sys/types.h>

#include <memory>

namespace dbx {

struct RequestSender {
  pid_t pid = 0;                     // 0: unknown (the bytes carried no credentials)
  std::shared_ptr<const int> pidfd;  // a pidfd for that process (SCM_PIDFD); null without one
};

// Takes ownership of `fd`: closed when the last copy of the result goes.
std::shared_ptr<const int> own_fd(int fd);

}  // namespace dbx
