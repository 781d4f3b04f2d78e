// UnixServer: HTTP/1.1 keep-alive over the daemon's Unix socket (Beast), one coroutine per
// connection, peer credentials read once per connection, requests handed to the Router.
#pragma once

#include <cstddef>
#include <memory>

namespace boost::asio {
class io_context;
}

namespace dbx {

class Router;

struct ServerLimits {
  std::size_t max_header_bytes = 8 * 1024;  // request line + headers (431 beyond)
  std::size_t max_body_bytes = 16 * 1024;   // (413 beyond)
  int header_timeout_seconds = 5;           // a started request must arrive this fast
  int idle_timeout_seconds = 60;            // keep-alive connection with no request
  std::size_t max_connections = 4096;       // beyond: 503 and close
};

class UnixServer {
 public:
  UnixServer(boost::asio::io_context& io, Router& router, ServerLimits limits = {});
  ~UnixServer();
  // Starts accepting on an already listening socket (ours or systemd's); takes ownership of fd.
  void serve(int listening_fd);
  // Stops accepting; open connections finish their current request and close.
  void stop();
  std::size_t connections() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace dbx
