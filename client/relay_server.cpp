// The relay's accept loop: non-blocking sockets under one poll(), answers written whole.
#include "client/relay_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json/serialize.hpp>
#include <cerrno>
#include <cstring>
#include <vector>

#include "daemon/server/http_status.h"

namespace dbx::cli {

namespace {

using SteadyClock = std::chrono::steady_clock;

struct Connection {
  int fd = -1;
  std::string in;
  SteadyClock::time_point last_activity;
};

// Writes all of `bytes`; the answers are a few hundred bytes, far below a socket's buffer, so a
// short wait for POLLOUT is only for a client that stopped reading.
bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n >= 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, 1000) <= 0) return false;
  }
  return true;
}

// Reads what is there and answers every complete request in it; false: close the connection.
bool serve_readable(Connection& c, const RelayListener::Handler& handler) {
  char buf[8192];
  for (;;) {
    const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n == 0) return false;
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return false;
    }
    c.in.append(buf, static_cast<std::size_t>(n));
    if (c.in.size() > 64 * 1024) break;  // the parser refuses it below (431/413)
  }
  for (;;) {
    const RequestParse parse = parse_request(c.in, RequestLimits{});
    if (parse.kind == RequestParse::Kind::incomplete) return true;
    if (parse.kind == RequestParse::Kind::error) {
      const RelayAnswer a{parse.status,
                          boost::json::serialize(boost::json::object{
                              {"error", "bad_request"}, {"error_description", parse.message}}),
                          {}};
      write_all(c.fd, format_relay_answer(a, true));
      return false;
    }
    const bool keep = parse.request.keep_alive;
    const RelayAnswer answer = handler(parse.request);
    if (!write_all(c.fd, format_relay_answer(answer, !keep)) || !keep) return false;
    c.in.erase(0, parse.size);
  }
}

}  // namespace

std::string format_relay_answer(const RelayAnswer& answer, bool close) {
  std::string out = "HTTP/1.1 " + std::to_string(answer.status) + " " +
                    std::string(reason_phrase(answer.status)) +
                    "\r\nContent-Type: application/json\r\nContent-Length: " +
                    std::to_string(answer.body.size()) + "\r\n";
  for (const auto& [name, value] : answer.headers) out += name + ": " + one_line(value) + "\r\n";
  if (close) out += "Connection: close\r\n";
  out += "\r\n";
  out += answer.body;
  return out;
}

Expected<RelayListener> RelayListener::open() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return Failure{Exit::failure,
                   std::string("cannot open the relay's socket: ") + std::strerror(errno)};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;  // the kernel picks a free port: nothing to collide with another job's
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd, 64) != 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int err = errno;
    ::close(fd);
    return Failure{Exit::failure, std::string("cannot listen on 127.0.0.1 for the relay: ") +
                                      std::strerror(err) +
                                      " (a network namespace without a loopback interface?)"};
  }
  return RelayListener(fd, ntohs(addr.sin_port));
}

RelayListener::RelayListener(RelayListener&& other) noexcept : fd_(other.fd_), port_(other.port_) {
  other.fd_ = -1;
}

RelayListener::~RelayListener() {
  if (fd_ >= 0) ::close(fd_);
}

void RelayListener::serve(const Handler& handler, int wake_fd, const std::function<bool()>& done) {
  std::vector<Connection> conns;
  std::vector<pollfd> fds;
  for (;;) {
    fds.clear();
    fds.push_back({wake_fd, POLLIN, 0});
    fds.push_back({fd_, POLLIN, 0});
    for (const auto& c : conns) fds.push_back({c.fd, POLLIN, 0});
    const auto now = SteadyClock::now();
    auto wait = kRelayIdleTimeout;
    for (const auto& c : conns)
      wait = std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(
                                c.last_activity + kRelayIdleTimeout - now));
    const int n = ::poll(fds.data(), fds.size(),
                         static_cast<int>(std::max<std::int64_t>(wait.count(), 0) + 1));
    if (n < 0 && errno != EINTR) break;
    if (fds[0].revents != 0 && done()) break;
    // Connections first (their fds[] entries follow the two fixed ones, in order).
    std::vector<Connection> kept;
    const auto after = SteadyClock::now();
    for (std::size_t i = 0; i < conns.size(); ++i) {
      Connection& c = conns[i];
      bool keep = true;
      if (n > 0 && fds[i + 2].revents != 0) {
        c.last_activity = after;
        keep = serve_readable(c, handler);
        c.last_activity = SteadyClock::now();
      } else if (after - c.last_activity >= kRelayIdleTimeout) {
        keep = false;
      }
      if (keep) {
        kept.push_back(std::move(c));
      } else {
        ::close(c.fd);
      }
    }
    conns = std::move(kept);
    if (n > 0 && fds[1].revents != 0) {
      for (;;) {
        const int cfd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (cfd < 0) break;
        if (conns.size() >= kRelayMaxConnections) {
          ::close(cfd);
          continue;
        }
        const int one = 1;
        ::setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conns.push_back(Connection{cfd, {}, SteadyClock::now()});
      }
    }
  }
  for (const auto& c : conns) ::close(c.fd);
  ::close(fd_);
  fd_ = -1;
}

}  // namespace dbx::cli
