#include "common/secret_file_rule.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace dbx {

namespace {

// Secrets, PEM bundles and JWTs are a few KiB; anything larger is not what the config meant.
constexpr off_t kMaxSize = 1 << 20;

Error refused(const std::string& path, const std::string& why) {
  return make_error(ErrorCode::internal, path + " " + why);
}

std::string octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

}  // namespace

Result<CheckedFile> open_checked_file(const std::string& path, FileRule rule) {
  int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  if (rule == FileRule::secret) flags |= O_NOFOLLOW;
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) {
    const int err = errno;
    if (rule == FileRule::secret && err == ELOOP)
      return refused(path, "is a symbolic link: refused (a secret file must be the file itself)");
    return make_error(ErrorCode::internal, "cannot read " + path + ": " + std::strerror(err));
  }
  auto fail = [fd](Error e) -> Result<CheckedFile> {
    ::close(fd);
    return e;
  };
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    return fail(
        make_error(ErrorCode::internal, "cannot stat " + path + ": " + std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) return fail(refused(path, "is not a regular file: refused"));
  if (rule == FileRule::secret) {
    const uid_t self = ::geteuid();
    if (st.st_uid != 0 && st.st_uid != self)
      return fail(refused(path, "is owned by uid " + std::to_string(st.st_uid) +
                                    ", not root or the service user (uid " + std::to_string(self) +
                                    "): refused"));
    if ((st.st_mode & 077) != 0)
      return fail(refused(path, "has group or other permission bits (mode " + octal(st.st_mode) +
                                    "): refused; run chmod 600 " + path));
  }
  if (st.st_size > kMaxSize) return fail(refused(path, "is larger than 1 MiB: refused"));
  return CheckedFile{fd, static_cast<std::size_t>(st.st_size)};
}

}  // namespace dbx
