#include "daemon/server/request_sender.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "daemon/server/peer_process.h"

namespace dbx {

std::shared_ptr<const int> own_fd(int fd) {
  return {new int(fd), [](const int* p) {
            ::close(*p);
            delete p;
          }};
}

bool note_message_sender(RequestSender& sender, pid_t pid, int kernel_pidfd, SteadyTime now) {
  if (sender.known && pid == sender.pid) {
    bool same = true;
    if (sender.pidfd && now - sender.checked >= kSenderRecheck) {
      // EPERM and the like: cannot ask, which is not "dead" (pidfd_liveness).
      same = pidfd_liveness(*sender.pidfd) != ESRCH;
      if (same) sender.checked = now;
    }
    if (same) {
      if (kernel_pidfd >= 0) ::close(kernel_pidfd);
      return false;
    }
  }
  RequestSender next;
  next.known = true;
  next.pid = pid;
  next.checked = now;
  if (kernel_pidfd >= 0) {
    next.pidfd = own_fd(kernel_pidfd);
  } else if (pid > 0) {
#ifdef SYS_pidfd_open
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd >= 0) {
      next.pidfd = own_fd(fd);
      next.pidfd_by_pid = true;
    }
#endif
  }
  sender = std::move(next);
  return true;
}

}  // namespace dbx
