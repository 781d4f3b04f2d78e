#include "daemon/server/unix_server.h"

#include <spdlog/spdlog.h>

#include <map>

#include "daemon/server/http_listener.h"
#include "daemon/server/peer.h"

namespace dbx {

namespace {
// Open connections of each peer uid. Shared with the connections' release hooks, which may run
// after the UnixServer is gone (the io_context destroys pending sessions last).
struct UidCounts {
  std::map<uid_t, std::size_t> open;
  std::size_t refused = 0;  // turned away at max_connections_per_uid (for the log)
};
}  // namespace

struct UnixServer::Impl {
  std::shared_ptr<HttpListener> listener;
};

UnixServer::UnixServer(boost::asio::io_context& io, Runtime& runtime, Router& router,
                       ServerLimits limits)
    : impl_(std::make_shared<Impl>()) {
  // Peer credentials are read once per connection; every request on it is routed as that peer.
  // One uid may hold at most max_connections_per_uid of them, so that a single local user cannot
  // take every slot of max_connections from the others.
  auto counts = std::make_shared<UidCounts>();
  const std::size_t per_uid_cap = limits.max_connections_per_uid;
  impl_->listener = HttpListener::create(
      HttpListener::Protocol::unix_stream, io, runtime, limits,
      [&router, counts, per_uid_cap](int fd) {
        using Admission = HttpListener::Admission;
        auto peer = read_peer(fd);
        if (!peer) return Admission{};
        std::size_t& count = counts->open[peer->uid];
        if (count >= per_uid_cap) {
          if (++counts->refused == 1 || counts->refused % 1000 == 0)
            spdlog::warn("connection of uid {} refused: {} open (limits.max_connections_per_uid)",
                         peer->uid, count);
          ApiResponse r = error_response(make_error(
              ErrorCode::upstream_unavailable, "too many connections from this user; retry later"));
          r.status = 503;
          return Admission{std::nullopt, std::move(r)};
        }
        ++count;
        // Released when the connection's dispatcher is destroyed, i.e. when the connection ends.
        std::shared_ptr<void> slot(nullptr, [counts, uid = peer->uid](void*) {
          auto it = counts->open.find(uid);
          if (it != counts->open.end() && --it->second == 0) counts->open.erase(it);
        });
        return Admission{[&router, peer = *peer, slot](const InboundRequest& req,
                                                       std::function<void(ApiResponse)> done) {
                           router.handle(ApiRequest{req.method, req.target}, peer, std::move(done));
                         },
                         std::nullopt};
      });
}

UnixServer::~UnixServer() {
  stop();
}

void UnixServer::serve(int listening_fd) {
  impl_->listener->serve(listening_fd);
}

void UnixServer::stop() {
  impl_->listener->stop();
}

std::size_t UnixServer::connections() const {
  return impl_->listener->connections();
}

}  // namespace dbx
