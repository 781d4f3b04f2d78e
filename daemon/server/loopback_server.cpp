#include "daemon/server/loopback_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "daemon/server/http_listener.h"
#include "daemon/server/peer.h"
#include "daemon/server/port_holder.h"

namespace dbx {

struct LoopbackServer::Impl {
  std::shared_ptr<HttpListener> listener;
};

LoopbackServer::LoopbackServer(boost::asio::io_context& io, Runtime& runtime,
                               std::string config_key, Handler handler, ServerLimits limits)
    : impl_(std::make_shared<Impl>()), config_key_(std::move(config_key)) {
  impl_->listener = HttpListener::create(
      HttpListener::Protocol::tcp_v4, io, runtime, limits, [handler = std::move(handler)](int) {
        return HttpListener::Admission{
            [handler](const InboundRequest& req, std::function<void(ApiResponse)> done) {
              LoopbackRequest r{req.method, req.target, {}};
              req.for_each_header([&r](std::string_view name, std::string_view value) {
                r.headers.emplace_back(std::string(name), std::string(value));
              });
              handler(r, std::move(done));
            },
            std::nullopt};
      });
}

LoopbackServer::~LoopbackServer() {
  stop();
}

Status LoopbackServer::listen(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  const int one = 1;
  // SO_REUSEADDR: a restarted daemon can bind again while old connections sit in TIME_WAIT (on
  // Linux it does not let two listeners share the port).
  const bool ok = fd >= 0 && ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
                  ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 &&
                  ::listen(fd, SOMAXCONN) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  port_taken_ = false;
  if (!ok) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    port_taken_ = err == EADDRINUSE;
    std::string holder;
    if (err == EADDRINUSE) holder = describe_port_holder(port);
    return make_error(ErrorCode::internal, "cannot listen on 127.0.0.1:" + std::to_string(port) +
                                               " (" + config_key_ + "): " + std::strerror(err) +
                                               (holder.empty() ? "" : ", held by " + holder) +
                                               "; pick a free port");
  }
  port_ = ntohs(addr.sin_port);
  impl_->listener->serve(fd);
  return ok_status();
}

Status LoopbackServer::adopt(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      addr.ss_family != AF_INET) {
    ::close(fd);
    return make_error(ErrorCode::internal, config_key_ +
                                               ": the socket passed by systemd is not an IPv4 "
                                               "socket; use ListenStream=127.0.0.1:PORT");
  }
  const auto& in = reinterpret_cast<const sockaddr_in&>(addr);
  if (ntohl(in.sin_addr.s_addr) != INADDR_LOOPBACK) {
    char text[INET_ADDRSTRLEN] = "?";
    ::inet_ntop(AF_INET, &in.sin_addr, text, sizeof text);
    ::close(fd);
    return make_error(ErrorCode::internal, config_key_ + ": systemd passes a socket on " +
                                               std::string(text) +
                                               ", not 127.0.0.1; use ListenStream=127.0.0.1:PORT");
  }
  port_ = ntohs(in.sin_port);
  impl_->listener->serve(fd);
  return ok_status();
}

void LoopbackServer::stop() {
  impl_->listener->stop();
}

LoopbackListeners::LoopbackListeners(boost::asio::io_context& io, Runtime& runtime, Router& router,
                                     std::function<std::shared_ptr<Broker>()> broker,
                                     ServerLimits limits)
    : io_(io),
      runtime_(runtime),
      router_(router),
      limits_(limits),
      routes_(std::move(broker), [this] { return state_; }) {}

LoopbackListeners::~LoopbackListeners() {
  stop();
}

void LoopbackListeners::stop() {
  for (auto* slot : {&metadata_service_, &managed_identity_, &metrics_})
    if (*slot) (*slot)->stop();
}

Status LoopbackListeners::place(std::unique_ptr<LoopbackServer>& slot, std::uint16_t port,
                                const std::string& name, LoopbackServer::Handler handler) {
  const std::string config_key = "listen." + name + ".port";
  // A port systemd holds (…-loopback sockets) is the one this listener serves on: a configuration
  // that moves or drops it is refused, and the listener stays as it is.
  if (auto held = systemd_ports_.find(name); held != systemd_ports_.end() && held->second != port)
    return make_error(ErrorCode::internal,
                      config_key + " is " +
                          (port == 0 ? std::string("not set") : std::to_string(port)) +
                          " but systemd holds 127.0.0.1:" + std::to_string(held->second) +
                          " for it (FileDescriptorName=" + name +
                          "); make the socket unit and the configuration agree");
  if (slot && slot->port() == port) return ok_status();
  if (auto passed = adoptable_.find(name); passed != adoptable_.end()) {
    const int fd = passed->second;
    adoptable_.erase(passed);
    auto server =
        std::make_unique<LoopbackServer>(io_, runtime_, config_key, std::move(handler), limits_);
    if (auto s = server->adopt(fd); !s) return s;
    systemd_ports_[name] = server->port();
    if (server->port() != port)
      return make_error(ErrorCode::internal,
                        config_key + " is " +
                            (port == 0 ? std::string("not set") : std::to_string(port)) +
                            " but systemd passes 127.0.0.1:" + std::to_string(server->port()) +
                            " for it (FileDescriptorName=" + name +
                            "); make the socket unit and the configuration agree");
    spdlog::info("{}: serving on 127.0.0.1:{}, the socket passed by systemd", config_key, port);
    slot = std::move(server);
    return ok_status();
  }
  if (slot) {
    spdlog::info("{}: stopping the listener on 127.0.0.1:{}", config_key, slot->port());
    slot->stop();
    slot.reset();
  }
  if (port == 0) return ok_status();
  auto server =
      std::make_unique<LoopbackServer>(io_, runtime_, config_key, std::move(handler), limits_);
  if (auto s = server->listen(port); !s) {
    if (server->port_taken() && name == "metadata_service") taken_.metadata_service = true;
    if (server->port_taken() && name == "managed_identity") taken_.managed_identity = true;
    return s;
  }
  spdlog::info("{}: listening on 127.0.0.1:{}", config_key, port);
  slot = std::move(server);
  return ok_status();
}

Status LoopbackListeners::apply(const Config& config) {
  auto secrets = load_loopback_secrets(config.state_dir, config.listen);
  if (!secrets) return secrets.error();
  const auto& listen = config.listen;
  state_dir_ = config.state_dir;
  listen_ = listen;
  taken_ = {};
  Status result = ok_status();
  auto keep_first_error = [&result](Status s) {
    if (!s && result) result = std::move(s);
  };
  keep_first_error(place(
      metadata_service_, listen.metadata_service ? listen.metadata_service->port : 0,
      "metadata_service", [this](const LoopbackRequest& r, std::function<void(ApiResponse)> done) {
        routes_.metadata_service(r, std::move(done));
      }));
  keep_first_error(place(
      managed_identity_, listen.managed_identity ? listen.managed_identity->port : 0,
      "managed_identity", [this](const LoopbackRequest& r, std::function<void(ApiResponse)> done) {
        routes_.managed_identity(r, std::move(done));
      }));
  // /metrics holds no secret; like node exporters it needs no authentication on loopback.
  keep_first_error(
      place(metrics_, listen.metrics ? listen.metrics->port : 0, "metrics",
            [this](const LoopbackRequest& r, std::function<void(ApiResponse)> done) {
              const std::string_view path = r.target.substr(0, r.target.find('?'));
              if (path != "/metrics") {
                ApiResponse nf = error_response(
                    make_error(ErrorCode::not_found, "only /metrics is served on this port"));
                return done(std::move(nf));
              }
              PeerIdentity anonymous;
              router_.handle(ApiRequest{r.method, "/metrics"}, anonymous, std::move(done));
            }));
  if (taken_.metadata_service || taken_.managed_identity) {
    const std::string which = taken_.metadata_service && taken_.managed_identity
                                  ? "listen.metadata_service and listen.managed_identity"
                              : taken_.metadata_service ? "listen.metadata_service"
                                                        : "listen.managed_identity";
    auto rotated = rotate_loopback_secrets(config.state_dir, listen, taken_);
    if (rotated) {
      secrets = std::move(rotated);
      // In the one line main prints: the admin learns that SDKs need the new URL.
      result = make_error(ErrorCode::internal,
                          result.error().message + "; the secret of " + which +
                              " was rotated, since whoever holds the port may have seen SDK "
                              "requests (hand the new one out with dbxcred env --sdk/--azure)");
    } else {
      spdlog::error("{}: the port is taken and its secret could not be rotated: {}", which,
                    rotated.error().message);
    }
  }
  auto state = std::make_shared<LoopbackState>();
  state->metadata_service_port = metadata_service_ ? metadata_service_->port() : 0;
  state->managed_identity_port = managed_identity_ ? managed_identity_->port() : 0;
  state->metrics_port = metrics_ ? metrics_->port() : 0;
  state->secrets = std::move(*secrets);
  state_ = std::move(state);
  return result;
}

Result<std::vector<std::string>> LoopbackListeners::rotate_secrets() {
  auto rotated = rotate_loopback_secrets(state_dir_, listen_, {true, true});
  if (!rotated) return rotated.error();
  std::vector<std::string> names;
  if (listen_.metadata_service) names.emplace_back("metadata_service");
  if (listen_.managed_identity) names.emplace_back("managed_identity");
  // A new state, so requests that read the old one finish with it and the next reads this one.
  auto state = std::make_shared<LoopbackState>(*state_);
  state->secrets = std::move(*rotated);
  state_ = std::move(state);
  if (!names.empty())
    spdlog::warn("loopback secrets rotated ({}{}): the old ones no longer open anything",
                 names.front(), names.size() > 1 ? ", " + names.back() : std::string());
  return names;
}

}  // namespace dbx
