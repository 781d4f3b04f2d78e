// The relay's listener: 127.0.0.1 on an ephemeral port, a poll() loop over its connections
// (HTTP/1.1 keep-alive, the daemon's strict request parser), each request answered by a
// RelayHandler in turn. Plain POSIX and single-threaded: the relay's clients are one job's SDKs, a
// few requests an hour. Every descriptor is close-on-exec, so CMD inherits none.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "client/failure.h"
#include "client/relay_handler.h"

namespace dbx::cli {

// A connection that sends nothing for this long is closed (a partial request as well as an idle
// keep-alive one); SDK clients reconnect.
inline constexpr std::chrono::milliseconds kRelayIdleTimeout{30'000};
// More connections than a job's SDKs open; beyond it new ones are closed at once.
inline constexpr std::size_t kRelayMaxConnections = 64;

// The bytes of one answer: status line, Content-Type, Content-Length, the extra headers,
// Connection: close when `close`.
std::string format_relay_answer(const RelayAnswer& answer, bool close);

class RelayListener {
 public:
  // Binds 127.0.0.1:0 and listens. Failure: Exit::failure with the reason.
  static Expected<RelayListener> open();
  RelayListener(RelayListener&& other) noexcept;
  RelayListener& operator=(RelayListener&&) = delete;
  RelayListener(const RelayListener&) = delete;
  RelayListener& operator=(const RelayListener&) = delete;
  ~RelayListener();

  std::uint16_t port() const { return port_; }

  using Handler = std::function<RelayAnswer(const InboundRequest&)>;
  // Serves until `wake_fd` is readable and `done()` then says so; every connection is closed and
  // the listener too when it returns (the URL refuses from then on).
  void serve(const Handler& handler, int wake_fd, const std::function<bool()>& done);

 private:
  RelayListener(int fd, std::uint16_t port) : fd_(fd), port_(port) {}
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace dbx::cli
