#include "daemon/credentials/secret_file.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace dbx {

namespace {

// Secrets, PEM bundles and JWTs are a few KiB; anything larger is not what the config meant.
constexpr off_t kMaxSize = 1 << 20;

enum class Rule { secret, token };

Error refused(const std::string& path, const std::string& why) {
  return make_error(ErrorCode::internal, path + " " + why);
}

std::string octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

Result<std::string> read_checked(const std::string& path, Rule rule) {
  int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  if (rule == Rule::secret) flags |= O_NOFOLLOW;
  int fd = ::open(path.c_str(), flags);
  if (fd < 0) {
    int err = errno;
    if (rule == Rule::secret && err == ELOOP) {
      return refused(path, "is a symbolic link: refused (a secret file must be the file itself)");
    }
    return make_error(ErrorCode::internal, "cannot read " + path + ": " + std::strerror(err));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return make_error(ErrorCode::internal, "cannot stat " + path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) return refused(path, "is not a regular file: refused");
  if (rule == Rule::secret) {
    const uid_t self = ::geteuid();
    if (st.st_uid != 0 && st.st_uid != self) {
      return refused(path, "is owned by uid " + std::to_string(st.st_uid) +
                               ", not root or the service user (uid " + std::to_string(self) +
                               "): refused");
    }
    if ((st.st_mode & 077) != 0) {
      return refused(path, "has group or other permission bits (mode " + octal(st.st_mode) +
                               "): refused; run chmod 600 " + path);
    }
  }
  if (st.st_size > kMaxSize) return refused(path, "is larger than 1 MiB: refused");
  std::string s(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < s.size()) {
    ssize_t n = ::read(fd, s.data() + got, s.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      wipe(s);
      return make_error(ErrorCode::internal, "cannot read " + path + ": " + std::strerror(err));
    }
    if (n == 0) break;  // shrank while we read: take what is there
    got += static_cast<std::size_t>(n);
  }
  s.resize(got);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  if (s.empty()) return make_error(ErrorCode::internal, path + " is empty");
  return s;
}

}  // namespace

Result<std::string> read_secret_file(const std::string& path) {
  return read_checked(path, Rule::secret);
}

Result<std::string> read_token_file(const std::string& path) {
  return read_checked(path, Rule::token);
}

void wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

}  // namespace dbx
