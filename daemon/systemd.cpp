#include "daemon/systemd.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace dbx {

namespace {
std::optional<long long> env_number(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  char* end = nullptr;
  long long n = std::strtoll(v, &end, 10);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return n;
}
}  // namespace

std::optional<int> systemd_listen_fd() {
  auto pid = env_number("LISTEN_PID");
  auto fds = env_number("LISTEN_FDS");
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  if (!pid || !fds || *pid != ::getpid() || *fds < 1) return std::nullopt;
  constexpr int kFirstFd = 3;  // SD_LISTEN_FDS_START
  ::fcntl(kFirstFd, F_SETFD, FD_CLOEXEC);
  ::fcntl(kFirstFd, F_SETFL, ::fcntl(kFirstFd, F_GETFL) | O_NONBLOCK);
  return kFirstFd;
}

bool sd_notify_state(std::string_view state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || (path[0] != '/' && path[0] != '@')) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::size_t len = std::strlen(path);
  if (len >= sizeof addr.sun_path) return false;
  std::memcpy(addr.sun_path, path, len);
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const auto ok = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                           reinterpret_cast<const sockaddr*>(&addr),
                           static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len));
  ::close(fd);
  return ok == static_cast<ssize_t>(state.size());
}

std::optional<long long> systemd_watchdog_usec() {
  auto usec = env_number("WATCHDOG_USEC");
  auto pid = env_number("WATCHDOG_PID");
  if (!usec || *usec <= 0) return std::nullopt;
  if (pid && *pid != ::getpid()) return std::nullopt;
  return usec;
}

}  // namespace dbx
