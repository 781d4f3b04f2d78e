// HttpListener: the daemon's HTTP/1.1 server, shared by the Unix socket (unix_server.cpp) and the
// loopback TCP ports (loopback_server.cpp): accept with a connection cap, keep-alive connections,
// size limits and timeouts, and the bridge from the engine's callbacks back to the connection.
// No Asio here: the implementation (http_listener.cpp, a template over the socket protocol
// instantiated for AF_UNIX and TCP) is the one server file that includes it (docs/ARCHITECTURE.md).
//
// Built for a cache hit to cost two system calls (read, write) and no allocation, and for an idle
// connection to cost a few hundred bytes (docs/BENCHMARKS.md); see http_listener.cpp for how.
// Timeouts count the Runtime's monotonic clock (a wall-clock step closes nothing), and tests drive
// them with FakeRuntime (tests/daemon/http_listener_test.cpp).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "daemon/runtime.h"
#include "daemon/server/request_parser.h"
#include "daemon/server/router.h"
#include "daemon/server/server_limits.h"

namespace boost::asio {
class io_context;
}

namespace dbx {

namespace http_listener {

// Answers one request: calls `done` exactly once, inline or later on the loop. The request's
// views are valid only during the call: copy what a later answer needs.
using Dispatch = std::function<void(const InboundRequest&, std::function<void(ApiResponse)>)>;

// The answer as HTTP/1.1 bytes, into `out` (reused, so no allocation once it is large enough).
void serialize_response(const ApiResponse& r, bool keep_alive, std::string& out);

// Fixed timeouts of the phases that have no configuration key.
inline constexpr Seconds kWriteTimeout{30};  // an answer must be taken by the client this fast
inline constexpr Seconds kLingerTimeout{1};  // draining a client's input before closing

}  // namespace http_listener

class HttpListener {
 public:
  using Dispatch = http_listener::Dispatch;
  // What to do with an accepted connection.
  struct Admission {
    std::optional<Dispatch> dispatch;    // serve its requests with this
    std::optional<ApiResponse> refusal;  // else answer this (e.g. 503 over a cap) and close
  };
  // Called once per accepted connection with its descriptor (still the listener's). Neither
  // dispatch nor refusal: close it at once (e.g. the peer's credentials could not be read).
  using OnConnect = std::function<Admission(int fd)>;
  enum class Protocol { unix_stream, tcp_v4 };

  // `runtime` gives the clock and the timer of the timeouts; connections run on `io`.
  static std::shared_ptr<HttpListener> create(Protocol protocol, boost::asio::io_context& io,
                                              Runtime& runtime, ServerLimits limits,
                                              OnConnect on_connect);
  virtual ~HttpListener() = default;

  // Starts accepting on a listening socket of the protocol; takes ownership of the descriptor.
  virtual void serve(int listening_fd) = 0;
  // Serves an already connected socket as if accepted (admission and caps included); takes
  // ownership. For tests over a socketpair, and for sockets handed over by a supervisor.
  virtual void adopt(int connected_fd) = 0;
  // Stops accepting; connections waiting for a request close at once, those with a request in
  // flight finish it first (graceful drain on SIGTERM).
  virtual void stop() = 0;
  virtual std::size_t connections() const = 0;
};

}  // namespace dbx
