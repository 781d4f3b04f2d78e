// The loopback listeners: HTTP on 127.0.0.1 only, for unmodified SDKs — the metadata service, the
// managed-identity endpoint and /metrics (listen.* in the configuration). LoopbackServer is one
// TCP listener; LoopbackListeners owns the three, their secrets and the routes, and re-applies
// the configuration on reload (an unchanged port keeps its listener and connections).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/result.h"
#include "daemon/server/loopback_routes.h"
#include "daemon/server/server_limits.h"

namespace boost::asio {
class io_context;
}

namespace dbx {

class Router;
class Broker;
class Runtime;

class LoopbackServer {
 public:
  using Handler = std::function<void(const LoopbackRequest&, std::function<void(ApiResponse)>)>;
  // `config_key` names the listener in errors, e.g. "listen.metadata_service.port".
  LoopbackServer(boost::asio::io_context& io, Runtime& runtime, std::string config_key,
                 Handler handler, ServerLimits limits = {});
  ~LoopbackServer();
  // Binds 127.0.0.1:port (never another address) and starts accepting.
  Status listen(std::uint16_t port);
  // Accepts on a listening TCP socket passed by systemd instead (it must be bound to 127.0.0.1);
  // takes ownership of fd.
  Status adopt(int fd);
  // Stops accepting; open connections finish their current request and close.
  void stop();
  std::uint16_t port() const { return port_; }
  // The last listen() failed because another socket holds the port (EADDRINUSE).
  bool port_taken() const { return port_taken_; }

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
  std::string config_key_;
  std::uint16_t port_ = 0;
  bool port_taken_ = false;
};

class LoopbackListeners {
 public:
  LoopbackListeners(boost::asio::io_context& io, Runtime& runtime, Router& router,
                    std::function<std::shared_ptr<Broker>()> broker, ServerLimits limits = {});
  ~LoopbackListeners();

  // Sockets passed by systemd, by FileDescriptorName= ("metadata_service", "managed_identity",
  // "metrics"): apply() serves such a listener on its socket instead of binding, and refuses a
  // configuration whose port differs from the socket's (or that has no such listener), keeping
  // the socket. Call once, before the first apply().
  void adopt(std::map<std::string, int> sockets) { adoptable_ = std::move(sockets); }

  // Loads (or creates) the secrets and starts, keeps, moves or stops each listener to match
  // config.listen. An error (unusable secret file, port taken) names the cause; at start-up main
  // exits on it, on reload it is logged and the listeners that could be set up keep running.
  // A metadata-service or managed-identity port found taken has its secret rotated first: whoever
  // holds the port may have answered SDK requests and kept the secret they carried.
  Status apply(const Config& config);
  // `dbxcred rotate-secrets`: new secrets for the configured listeners, on disk and in force at
  // once (the old ones are a 404/401 from the next request on); the names of the listeners.
  Result<std::vector<std::string>> rotate_secrets();
  void stop();

  std::shared_ptr<const LoopbackState> state() const { return state_; }
  const LoopbackRoutes& routes() const { return routes_; }
  LoopbackRoutes& routes() { return routes_; }

 private:
  Status place(std::unique_ptr<LoopbackServer>& slot, std::uint16_t port, const std::string& name,
               LoopbackServer::Handler handler);

  boost::asio::io_context& io_;
  Runtime& runtime_;
  Router& router_;
  ServerLimits limits_;
  LoopbackRoutes routes_;
  std::shared_ptr<const LoopbackState> state_ = std::make_shared<LoopbackState>();
  std::unique_ptr<LoopbackServer> metadata_service_;
  std::unique_ptr<LoopbackServer> managed_identity_;
  std::unique_ptr<LoopbackServer> metrics_;
  std::map<std::string, int> adoptable_;                // passed by systemd, not yet adopted
  std::map<std::string, std::uint16_t> systemd_ports_;  // names whose port systemd holds
  std::string state_dir_;                               // of the configuration applied last
  ListenConfig listen_;
  SecretsToRotate taken_;  // listeners whose port apply() found taken
};

}  // namespace dbx
