#include "client/socket_client.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace dbx::cli {

namespace {

using SteadyClock = std::chrono::steady_clock;

// Closes the descriptor on every path out of http_get.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string errno_text(int err) {
  return std::strerror(err);
}

// Milliseconds left until `deadline`, at least 0, for poll().
int remaining_ms(SteadyClock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
  if (left.count() <= 0) return 0;
  if (left.count() > 1'000'000) return 1'000'000;
  return static_cast<int>(left.count());
}

std::string timeout_reason(std::chrono::milliseconds timeout) {
  return "no answer within " + std::to_string((timeout.count() + 999) / 1000) + "s";
}

// Waits until `fd` is ready for `events`; false on timeout (errno_out = 0) or error.
bool wait_for(int fd, short events, SteadyClock::time_point deadline, int& errno_out) {
  for (;;) {
    pollfd p{fd, events, 0};
    int ms = remaining_ms(deadline);
    int n = ::poll(&p, 1, ms);
    if (n > 0) return true;
    if (n == 0) {
      errno_out = 0;
      return false;
    }
    if (errno != EINTR) {
      errno_out = errno;
      return false;
    }
  }
}

// The service user's uid: $DBXCRED_SERVICE_UID (a container whose /etc/passwd has no dbxcred
// user: it grants nothing that choosing the socket with $DBXCRED_SOCKET does not), else from
// /etc/passwd, if there is one.
std::optional<uid_t> service_user_uid() {
  if (const char* v = std::getenv("DBXCRED_SERVICE_UID"); v != nullptr && *v != '\0') {
    char* end = nullptr;
    const unsigned long uid = std::strtoul(v, &end, 10);
    if (*end == '\0' && uid < 4294967295UL) return static_cast<uid_t>(uid);
  }
  std::ifstream in("/etc/passwd");
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return passwd_uid(text.str(), kServiceUser);
}

std::string file_text(const char* path) {
  std::ifstream in(path);
  std::stringstream text;
  if (in) text << in.rdbuf();
  return text.str();
}

// A server outside the caller's user namespace, on a socket put there from outside
// (trusted_unmapped_server).
bool unmapped_server_believed(uid_t server, std::string_view socket_path) {
  const bool initial = in_initial_user_namespace(file_text("/proc/self/uid_map"));
  if (initial) return false;
  uid_t overflow = 65534;  // the kernel's default
  const std::string o = file_text("/proc/sys/kernel/overflowuid");
  if (!o.empty()) overflow = static_cast<uid_t>(std::strtoul(o.c_str(), nullptr, 10));
  const auto slash = socket_path.rfind('/');
  const std::string dir =
      slash == std::string_view::npos ? "." : std::string(socket_path.substr(0, slash + 1));
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return false;
  return trusted_unmapped_server(initial, server, overflow, ::geteuid(), st.st_uid, st.st_mode);
}

// Refuses a server that trusted_server_uid() does not believe, naming it and the override.
std::optional<Failure> check_server(int fd, std::string_view socket_path) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
    return unreachable(socket_path,
                       "cannot tell who serves it (SO_PEERCRED: " + errno_text(errno) + ")");
  if (trusted_server_uid(cred.uid, ::getuid(), service_user_uid()) ||
      trusted_server_uid(cred.uid, ::geteuid(), std::nullopt) ||
      unmapped_server_believed(cred.uid, socket_path))
    return std::nullopt;
  return Failure{Exit::unreachable,
                 "refusing the server at " + std::string(socket_path) + ": it runs as uid " +
                     std::to_string(cred.uid) + " (pid " + std::to_string(cred.pid) +
                     "), not as root, you or the service user " + std::string(kServiceUser) +
                     ", so another user may have taken the socket's place; pass "
                     "--insecure-socket only if you trust that server"};
}

}  // namespace

bool trusted_server_uid(uid_t server, uid_t caller, std::optional<uid_t> service_user) {
  return server == 0 || server == caller || (service_user && server == *service_user);
}

bool in_initial_user_namespace(std::string_view uid_map) {
  // One line "0 0 4294967295" (columns padded with blanks).
  std::istringstream in{std::string(uid_map)};
  unsigned long long inner = 1;
  unsigned long long outer = 1;
  unsigned long long count = 0;
  if (!(in >> inner >> outer >> count)) return false;
  std::string more;
  return inner == 0 && outer == 0 && count == 4294967295ULL && !(in >> more);
}

bool trusted_unmapped_server(bool initial_namespace, uid_t server, uid_t overflow, uid_t caller,
                             uid_t dir_uid, mode_t dir_mode) {
  if (initial_namespace || server != overflow) return false;
  const bool dir_owner_ok = dir_uid == overflow || dir_uid == 0 || dir_uid == caller;
  return dir_owner_ok && (dir_mode & (S_IWGRP | S_IWOTH)) == 0;
}

std::optional<uid_t> passwd_uid(std::string_view passwd, std::string_view user) {
  while (!passwd.empty()) {
    const auto eol = passwd.find('\n');
    std::string_view line = passwd.substr(0, eol);
    passwd.remove_prefix(eol == std::string_view::npos ? passwd.size() : eol + 1);
    // name:password:uid:...
    const auto c1 = line.find(':');
    if (c1 == std::string_view::npos || line.substr(0, c1) != user) continue;
    const auto c2 = line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) continue;
    const auto c3 = line.find(':', c2 + 1);
    const std::string_view digits =
        line.substr(c2 + 1, c3 == std::string_view::npos ? std::string_view::npos : c3 - c2 - 1);
    if (digits.empty() || digits.size() > 10) continue;
    unsigned long long uid = 0;
    bool numeric = true;
    for (char ch : digits) {
      if (ch < '0' || ch > '9') numeric = false;
      uid = uid * 10 + static_cast<unsigned>(ch - '0');
    }
    if (!numeric || uid > 0xfffffffeULL) continue;
    return static_cast<uid_t>(uid);
  }
  return std::nullopt;
}

Failure unreachable(std::string_view socket_path, std::string_view reason) {
  std::string hint = "is the service running? (systemctl status dbxcredd)";
  // A socket we may not open is a group-membership problem, not a stopped service.
  if (reason == errno_text(EACCES)) {
    hint = "is your user allowed to use it? (the socket's group, usually dbxcred)";
  }
  return Failure{Exit::unreachable, "cannot reach dbxcredd at " + std::string(socket_path) + ": " +
                                        std::string(reason) + "; " + hint};
}

Expected<HttpResponse> http_request(const std::string& socket_path, std::string_view target,
                                    const RequestOptions& options) {
  const std::chrono::milliseconds timeout = options.timeout;
  const auto deadline = SteadyClock::now() + timeout;

  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof(addr.sun_path)) {
    return unreachable(socket_path, socket_path.empty()
                                        ? "the socket path is empty"
                                        : "the socket path is longer than " +
                                              std::to_string(sizeof(addr.sun_path) - 1) + " bytes");
  }
  std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());

  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return unreachable(socket_path, errno_text(errno));

  // A blocking connect on AF_UNIX waits (if the listen backlog is full) for at most SO_SNDTIMEO,
  // which bounds it by the request timeout; afterwards the socket is non-blocking and poll() is.
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  for (;;) {
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) break;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EINPROGRESS) {
      return unreachable(socket_path, timeout_reason(timeout));
    }
    return unreachable(socket_path, errno_text(errno));
  }
  // Before a byte is sent: a squatter learns nothing of the request, and its answer is never read.
  if (!options.insecure_socket)
    if (auto refused = check_server(fd.get(), socket_path)) return *refused;
  ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) | O_NONBLOCK);

  std::string request = std::string(options.method) + " " + std::string(target) +
                        " HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n";
  // A CI session's secret (DBXCRED_SESSION) rides in a header, never in the target.
  if (!options.session.empty())
    request += "X-Dbxcred-Session: " + std::string(options.session) + "\r\n";
  if (options.method != "GET") {
    if (!options.body.empty()) request += "Content-Type: application/json\r\n";
    request += "Content-Length: " + std::to_string(options.body.size()) + "\r\n";
  }
  request += "Connection: close\r\n\r\n";
  request += options.body;
  std::size_t sent = 0;
  int err = 0;
  while (sent < request.size()) {
    // MSG_NOSIGNAL: a daemon that hangs up must not kill us with SIGPIPE.
    ssize_t n = ::send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n >= 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return unreachable(socket_path, errno_text(errno));
    if (!wait_for(fd.get(), POLLOUT, deadline, err)) {
      return unreachable(socket_path, err ? errno_text(err) : timeout_reason(timeout));
    }
  }

  std::string raw;
  char buf[16 * 1024];
  for (;;) {
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        return unreachable(socket_path, errno_text(errno));
      }
      if (!wait_for(fd.get(), POLLIN, deadline, err)) {
        return unreachable(socket_path, err ? errno_text(err) : timeout_reason(timeout));
      }
      continue;
    }
    bool eof = n == 0;
    raw.append(buf, static_cast<std::size_t>(n));
    ParseResult parsed = parse_http_response(raw, eof);
    switch (parsed.state) {
      case ParseResult::State::complete:
        return std::move(parsed.response);
      case ParseResult::State::malformed:
        if (eof && raw.empty()) {
          return unreachable(socket_path, "the connection closed without an answer");
        }
        return Failure{Exit::failure,
                       "dbxcredd at " + socket_path + " sent a malformed answer: " + parsed.error};
      case ParseResult::State::incomplete:
        break;
    }
  }
}

}  // namespace dbx::cli
