// The state_dir lock; see state_dir_lock.h.
#include "daemon/state_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace dbx {

Result<int> lock_state_dir(const std::string& state_dir) {
  if (::mkdir(state_dir.c_str(), 0700) != 0 && errno != EEXIST)
    return make_error(ErrorCode::internal,
                      "cannot create state_dir " + state_dir + ": " + std::strerror(errno));
  const std::string path = state_dir + "/dbxcredd.lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return make_error(ErrorCode::internal, "cannot open " + path + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    std::string holder;
    char buf[32];
    const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    if (n > 0) {
      buf[n] = '\0';
      for (char* c = buf; *c; ++c)
        if (*c >= '0' && *c <= '9')
          holder += *c;
        else
          break;
    }
    ::close(fd);
    if (err == EWOULDBLOCK)
      return make_error(ErrorCode::internal,
                        "state_dir " + state_dir + " is in use by another dbxcredd (pid " +
                            (holder.empty() ? std::string("unknown") : holder) +
                            "); stop it, or give this daemon its own state_dir");
    return make_error(ErrorCode::internal, "cannot lock " + path + ": " + std::strerror(err));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    const int err = errno;
    ::close(fd);
    return make_error(ErrorCode::internal, "cannot write " + path + ": " + std::strerror(err));
  }
  return fd;
}

}  // namespace dbx
