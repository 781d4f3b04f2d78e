// UnixServer: HTTP/1.1 keep-alive over the daemon's Unix socket (http_listener.h), peer
// credentials read once per connection and completed by the IdentityResolver (user, groups) before
// the connection's first request is handed to the Router.
#pragma once

#include <cstddef>
#include <memory>

#include "daemon/server/server_limits.h"

namespace boost::asio {
class io_context;
}

namespace dbx {

class IdentityResolver;
class Router;
class Runtime;

class UnixServer {
 public:
  UnixServer(boost::asio::io_context& io, Runtime& runtime, Router& router,
             IdentityResolver& identities, ServerLimits limits = {});
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
