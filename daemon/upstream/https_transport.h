// HttpsTransport: the real upstream HTTP client (Beast + OpenSSL) behind the Transport interface.
// TLS always verifies the peer (system store + optional extra CA file) and the host name; an
// https_proxy is used through CONNECT tunnels except for NO_PROXY hosts, loopback and IMDS;
// idle keep-alive connections are reused per host. Asio stays out of this header (pimpl), so
// including it is cheap.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/result.h"
#include "daemon/upstream/transport.h"

namespace boost::asio {
class io_context;
}

namespace dbx {

struct HttpsTransportOptions {
  // PEM file of CAs trusted in addition to the system store (config `tls.ca_file`).
  std::optional<std::string> ca_file;
  // "http://[user:pass@]host:port"; unset or empty: connect directly.
  std::optional<std::string> https_proxy;
  // Hosts reached without the proxy (see no_proxy_matches in url.h).
  std::string no_proxy;
  // Larger answers are refused: every upstream answer we expect is a few KiB of JSON.
  std::size_t max_body = 1024 * 1024;
  // Idle keep-alive connections kept per scheme+host+port. 0 turns reuse off.
  std::size_t max_idle_per_host = 4;
  // An idle connection older than this is closed rather than reused: servers (Entra ID, ARM,
  // Databricks front doors) drop idle connections after a minute or more, and a reused dead
  // connection costs a retry.
  Millis idle_timeout{60'000};

  // https_proxy from https_proxy / HTTPS_PROXY and no_proxy from no_proxy / NO_PROXY (the
  // lower-case name wins when both are set, as in curl); the rest at their defaults.
  static HttpsTransportOptions from_environment();
};

class HttpsTransport : public Transport {
 public:
  using Options = HttpsTransportOptions;

  // Never throws. A setup problem (unreadable ca_file, bad proxy URL) is reported by
  // setup_error() and makes every send() fail with it, so the daemon can refuse to start with a
  // clear message and a reload cannot crash it.
  HttpsTransport(boost::asio::io_context& io, Options options);
  ~HttpsTransport() override;
  HttpsTransport(const HttpsTransport&) = delete;
  HttpsTransport& operator=(const HttpsTransport&) = delete;

  // `done` runs exactly once on the io_context's thread, never inside send(). Error messages
  // name the host and the cause (DNS, connect, proxy, TLS, timeout, oversize answer) and never
  // include request headers or bodies.
  void send(HttpRequest request, HttpCallback done) override;

  const std::optional<Error>& setup_error() const;
  // Idle pooled connections right now (for tests and /v1/status).
  std::size_t idle_connections() const;

  struct Impl;  // defined in https_transport.cpp (public only so its helpers can name it)

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace dbx
