#include "daemon/server/unix_server.h"

#include "daemon/server/http_listener.h"
#include "daemon/server/peer.h"

namespace dbx {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;

struct UnixServer::Impl {
  std::shared_ptr<HttpListener<local>> listener;
};

UnixServer::UnixServer(asio::io_context& io, Router& router, ServerLimits limits)
    : impl_(std::make_shared<Impl>()) {
  // Peer credentials are read once per connection; every request on it is routed as that peer.
  impl_->listener = std::make_shared<HttpListener<local>>(
      io, limits, [&router](local::socket& sock) -> std::optional<http_listener::Dispatch> {
        auto peer = read_peer(sock.native_handle());
        if (!peer) return std::nullopt;
        return [&router, peer = *peer](const http_listener::Request& req,
                                       std::function<void(ApiResponse)> done) {
          router.handle(ApiRequest{req.method_string(), req.target()}, peer, std::move(done));
        };
      });
}

UnixServer::~UnixServer() {
  stop();
}

void UnixServer::serve(int listening_fd) {
  impl_->listener->acceptor().assign(local(), listening_fd);
  impl_->listener->start();
}

void UnixServer::stop() {
  impl_->listener->stop();
}

std::size_t UnixServer::connections() const {
  return impl_->listener->connections();
}

}  // namespace dbx
