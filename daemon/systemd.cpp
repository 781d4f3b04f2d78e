#include "daemon/systemd.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
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

std::vector<SystemdSocket> systemd_listen_fds() {
  auto pid = env_number("LISTEN_PID");
  auto fds = env_number("LISTEN_FDS");
  const char* names_env = std::getenv("LISTEN_FDNAMES");
  const std::string names = names_env != nullptr ? names_env : "";
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  std::vector<SystemdSocket> out;
  if (!pid || !fds || *pid != ::getpid() || *fds < 1 || *fds > 64) return out;
  constexpr int kFirstFd = 3;  // SD_LISTEN_FDS_START
  std::size_t pos = 0;
  for (int i = 0; i < *fds; ++i) {
    const int fd = kFirstFd + i;
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    std::string name;
    if (pos <= names.size()) {
      const auto colon = names.find(':', pos);
      name = names.substr(pos, colon == std::string::npos ? std::string::npos : colon - pos);
      pos = colon == std::string::npos ? names.size() + 1 : colon + 1;
    }
    out.push_back({fd, std::move(name)});
  }
  return out;
}

Result<ActivatedSockets> sort_activated_sockets(const std::vector<SystemdSocket>& sockets) {
  ActivatedSockets out;
  for (const auto& s : sockets) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    int type = 0;
    socklen_t type_len = sizeof type;
    if (::getsockname(s.fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
        ::getsockopt(s.fd, SOL_SOCKET, SO_TYPE, &type, &type_len) != 0 || type != SOCK_STREAM)
      return make_error(ErrorCode::internal, "systemd passed fd " + std::to_string(s.fd) + " (" +
                                                 s.name +
                                                 "), which is not a listening stream socket");
    const bool loopback =
        s.name == "metadata_service" || s.name == "managed_identity" || s.name == "metrics";
    if (loopback) {
      if (addr.ss_family != AF_INET && addr.ss_family != AF_INET6)
        return make_error(ErrorCode::internal,
                          "systemd passed a non-TCP socket named " + s.name +
                              " (FileDescriptorName=); it must be ListenStream=127.0.0.1:PORT");
      if (!out.loopback.emplace(s.name, s.fd).second)
        return make_error(ErrorCode::internal,
                          "systemd passed two sockets named " + s.name +
                              " (FileDescriptorName=); give it one ListenStream= only");
      continue;
    }
    if (addr.ss_family != AF_UNIX)
      return make_error(ErrorCode::internal,
                        "systemd passed a TCP socket named \"" + s.name +
                            "\"; name a loopback port FileDescriptorName=metadata_service, "
                            "managed_identity or metrics");
    if (out.api)
      return make_error(ErrorCode::internal,
                        "systemd passed two Unix sockets; dbxcredd serves one (dbxcredd.socket)");
    out.api = s.fd;
  }
  return out;
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
