// Transport: the small interface in front of every upstream HTTP call (STYLE.md habit 3).
// HttpsTransport (Beast + OpenSSL) implements it for real; unit tests use FakeTransport
// (tests/daemon/fake_transport.h) and answer requests by hand.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace dbx {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";
  std::string url;  // absolute: https://host[:port]/path?query (http:// only for IMDS/loopback)
  HttpHeaders headers;
  std::string body;
  Millis timeout{15000};  // total: connect + TLS + write + read
  // Which upstream this is, for logs and metrics: "aad", "imds", "arm", "databricks".
  std::string upstream;
};

struct HttpResponse {
  int status = 0;
  HttpHeaders headers;
  std::string body;
  // Case-insensitive header lookup.
  std::optional<std::string> header(std::string_view name) const;
  // Retry-After in integer seconds (what Entra ID, IMDS and Databricks send), capped at an hour;
  // nullopt when absent or in the HTTP-date form.
  std::optional<Seconds> retry_after() const;
};

// The error side means no HTTP answer arrived (DNS, connect, TLS, timeout, oversize body);
// its message names the host and the cause. Any HTTP status, 4xx/5xx included, is a value.
using HttpCallback = std::function<void(Result<HttpResponse>)>;

class Transport {
 public:
  virtual ~Transport() = default;
  virtual void send(HttpRequest request, HttpCallback done) = 0;
};

}  // namespace dbx
