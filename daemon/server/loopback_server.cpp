#include "daemon/server/loopback_server.h"

#include "daemon/server/http_listener.h"
#include "daemon/server/peer.h"
#include "daemon/server/port_holder.h"

#include <sys/socket.h>
#include <unistd.h>

namespace dbx {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct LoopbackServer::Impl {
  std::shared_ptr<HttpListener<tcp>> listener;
};

LoopbackServer::LoopbackServer(asio::io_context& io, std::string config_key, Handler handler,
                               ServerLimits limits)
    : impl_(std::make_shared<Impl>()), config_key_(std::move(config_key)) {
  impl_->listener =
      std::make_shared<HttpListener<tcp>>(io, limits, [handler = std::move(handler)](tcp::socket&) {
        return HttpListener<tcp>::Admission{
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
  auto& acceptor = impl_->listener->acceptor();
  boost::system::error_code ec;
  const tcp::endpoint endpoint(asio::ip::address_v4::loopback(), port);
  acceptor.open(endpoint.protocol(), ec);
  // SO_REUSEADDR: a restarted daemon can bind again while old connections sit in TIME_WAIT (on
  // Linux it does not let two listeners share the port).
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    acceptor.close();
    std::string holder;
    if (ec == boost::system::errc::address_in_use) holder = describe_port_holder(port);
    return make_error(ErrorCode::internal, "cannot listen on 127.0.0.1:" + std::to_string(port) +
                                               " (" + config_key_ + "): " + ec.message() +
                                               (holder.empty() ? "" : ", held by " + holder) +
                                               "; pick a free port");
  }
  port_ = acceptor.local_endpoint().port();
  impl_->listener->start();
  return ok_status();
}

Status LoopbackServer::adopt(int fd) {
  auto& acceptor = impl_->listener->acceptor();
  boost::system::error_code ec;
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      addr.ss_family != AF_INET) {
    ::close(fd);
    return make_error(ErrorCode::internal, config_key_ +
                                               ": the socket passed by systemd is not an IPv4 "
                                               "socket; use ListenStream=127.0.0.1:PORT");
  }
  acceptor.assign(tcp::v4(), fd, ec);
  if (ec) {
    ::close(fd);
    return make_error(ErrorCode::internal,
                      config_key_ + ": cannot use the socket passed by systemd: " + ec.message());
  }
  const auto local = acceptor.local_endpoint(ec);
  if (ec || local.address() != asio::ip::address_v4::loopback()) {
    acceptor.close();
    return make_error(ErrorCode::internal,
                      config_key_ + ": systemd passes a socket on " +
                          (ec ? std::string("an unknown address") : local.address().to_string()) +
                          ", not 127.0.0.1; use ListenStream=127.0.0.1:PORT");
  }
  port_ = local.port();
  impl_->listener->start();
  return ok_status();
}

void LoopbackServer::stop() {
  impl_->listener->stop();
}

LoopbackListeners::LoopbackListeners(asio::io_context& io, Router& router,
                                     std::function<std::shared_ptr<Broker>()> broker,
                                     ServerLimits limits)
    : io_(io),
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
    auto server = std::make_unique<LoopbackServer>(io_, config_key, std::move(handler), limits_);
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
  auto server = std::make_unique<LoopbackServer>(io_, config_key, std::move(handler), limits_);
  if (auto s = server->listen(port); !s) return s;
  spdlog::info("{}: listening on 127.0.0.1:{}", config_key, port);
  slot = std::move(server);
  return ok_status();
}

Status LoopbackListeners::apply(const Config& config) {
  auto secrets = load_loopback_secrets(config.state_dir, config.listen);
  if (!secrets) return secrets.error();
  const auto& listen = config.listen;
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
  auto state = std::make_shared<LoopbackState>();
  state->metadata_service_port = metadata_service_ ? metadata_service_->port() : 0;
  state->managed_identity_port = managed_identity_ ? managed_identity_->port() : 0;
  state->metrics_port = metrics_ ? metrics_->port() : 0;
  state->secrets = std::move(*secrets);
  state_ = std::move(state);
  return result;
}

}  // namespace dbx
