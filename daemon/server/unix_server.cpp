#include "daemon/server/unix_server.h"

#include <spdlog/spdlog.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "daemon/server/http_listener.h"
#include "daemon/server/identity_resolver.h"
#include "daemon/server/peer.h"
#include "daemon/server/peer_access.h"
#include "daemon/server/request_sender.h"

namespace dbx {

namespace {
// Open connections of each peer uid. Shared with the connections' release hooks, which may run
// after the UnixServer is gone (the io_context destroys pending sessions last).
struct UidCounts {
  std::map<uid_t, std::size_t> open;
  std::size_t refused = 0;  // turned away at max_connections_per_uid (for the log)
};

// One connection's peer. Its identity is completed (IdentityResolver) from the cache at connect
// time when it can be, else by the resolver's workers while the client sends its first request,
// which waits for it; so is a request after a reload changed the names the allow lists use.
struct Session {
  PeerIdentity peer;
  bool resolving = false;
  // The request that arrived while resolving (at most one: the listener answers in order).
  struct Parked {
    std::string method;
    std::string target;
    std::string session;
    std::string body;
    std::function<void(ApiResponse)> done;
    std::optional<RequestSender> sender;  // who sent it (noted again once the identity is filled)
  };
  std::optional<Parked> parked;
};

// A CI session's secret (daemon/server/session_routes.h).
constexpr std::string_view kSessionHeader = "X-Dbxcred-Session";

void complete_identity(const std::shared_ptr<Session>& s, IdentityResolver& identities,
                       Router& router) {
  s->resolving = true;
  identities.resolve(s->peer, [s, &router](PeerIdentity filled) {
    s->peer = std::move(filled);
    s->resolving = false;
    if (!s->parked) return;
    Session::Parked r = std::move(*s->parked);
    s->parked.reset();
    if (r.sender) note_sender(s->peer, *r.sender);
    router.handle(ApiRequest{r.method, r.target, r.session, r.body}, s->peer, std::move(r.done));
  });
}
}  // namespace

struct UnixServer::Impl {
  std::shared_ptr<HttpListener> listener;
};

UnixServer::UnixServer(boost::asio::io_context& io, Runtime& runtime, Router& router,
                       IdentityResolver& identities, ServerLimits limits)
    : impl_(std::make_shared<Impl>()) {
  // Peer credentials are read once per connection; every request on it is routed as that peer.
  // One uid may hold at most max_connections_per_uid of them, so that a single local user cannot
  // take every slot of max_connections from the others.
  auto counts = std::make_shared<UidCounts>();
  const std::size_t per_uid_cap = limits.max_connections_per_uid;
  impl_->listener = HttpListener::create(
      HttpListener::Protocol::unix_stream, io, runtime, limits,
      [&router, &identities, counts, per_uid_cap](int fd) {
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
        auto session = std::make_shared<Session>();
        session->peer = std::move(*peer);
        if (!identities.fill(session->peer)) complete_identity(session, identities, router);
        return Admission{
            [&router, &identities, session, slot](const InboundRequest& req,
                                                  std::function<void(ApiResponse)> done) {
              Session& s = *session;
              if (!s.resolving && s.peer.names_generation != identities.generation() &&
                  !identities.fill(s.peer))
                complete_identity(session, identities, router);
              // allow.executables and the audit record judge the process that sent this
              // request, which need not be the one that connected (docs/SECURITY.md).
              if (req.sender != nullptr) note_sender(s.peer, *req.sender);
              if (s.resolving) {
                s.parked = Session::Parked{std::string(req.method),
                                           std::string(req.target),
                                           std::string(req.header(kSessionHeader).value_or("")),
                                           std::string(req.body),
                                           std::move(done),
                                           req.sender != nullptr
                                               ? std::optional<RequestSender>(*req.sender)
                                               : std::nullopt};
                return;
              }
              router.handle(ApiRequest{req.method, req.target,
                                       req.header(kSessionHeader).value_or(""), req.body},
                            s.peer, std::move(done));
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
