// The agent id file; see agent_id.h.
#include "daemon/pat/agent_id.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "daemon/pat/pat_decisions.h"

namespace dbx {
namespace {

Error agent_error(const std::string& what) {
  return make_error(ErrorCode::internal,
                    "agent id: " + what + "; no PAT is minted or deleted until fixed");
}

std::string errno_text() {
  return std::strerror(errno);
}

Result<std::string> read_id(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return agent_error("cannot open " + path + ": " + errno_text());
  char buf[128];
  std::string text;
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > 64) break;
  }
  ::close(fd);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (!pat::is_valid_nonce(text))
    return agent_error(path +
                       " does not hold an agent id (32 lowercase hex digits); restore it "
                       "from a backup, or delete it to become a new agent (the PATs "
                       "of the old id are then left to expire)");
  return text;
}

}  // namespace

Result<std::string> load_or_create_agent_id(const std::string& state_dir) {
  const std::string path = state_dir + "/agent_id";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return read_id(path);
    return agent_error("cannot create " + path + ": " + errno_text());
  }
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    ::close(fd);
    ::unlink(path.c_str());
    return agent_error("no randomness for a new agent id (OpenSSL RAND_bytes failed)");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (unsigned char b : bytes) {
    id += kHex[b >> 4];
    id += kHex[b & 0xf];
  }
  const std::string line = id + "\n";
  const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
                  ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());  // never leave a half-written id behind
    errno = saved;
    return agent_error("cannot write " + path + ": " + errno_text());
  }
  const int dir = ::open(state_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    (void)::fsync(dir);
    ::close(dir);
  }
  return id;
}

}  // namespace dbx
