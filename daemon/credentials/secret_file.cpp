#include "daemon/credentials/secret_file.h"

#include <openssl/crypto.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/secret_file_rule.h"

namespace dbx {

namespace {

Result<std::string> read_checked(const std::string& path, FileRule rule) {
  auto opened = open_checked_file(path, rule);
  if (!opened) return opened.error();
  const int fd = opened->fd;
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  std::string s(opened->size, '\0');
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
  return read_checked(path, FileRule::secret);
}

Result<std::string> read_token_file(const std::string& path) {
  return read_checked(path, FileRule::token);
}

void wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

}  // namespace dbx
