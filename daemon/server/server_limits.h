// Limits every HTTP listener of the daemon applies (the Unix socket and the loopback ports).
#pragma once

#include <cstddef>

#include "common/config.h"

namespace dbx {

struct ServerLimits {
  std::size_t max_header_bytes = 8 * 1024;     // request line + headers (431 beyond)
  std::size_t max_body_bytes = 16 * 1024;      // (413 beyond)
  int header_timeout_seconds = 5;              // a started request must arrive this fast
  int idle_timeout_seconds = 60;               // keep-alive connection with no request
  std::size_t max_connections = 4096;          // beyond: 503 and close
  std::size_t max_connections_per_uid = 1024;  // Unix socket: per peer uid (503 beyond)
};

// The configured caps (config key "limits") over the defaults.
inline ServerLimits server_limits(const LimitsConfig& config) {
  ServerLimits l;
  l.max_connections = config.max_connections;
  l.max_connections_per_uid = config.max_connections_per_uid;
  return l;
}

}  // namespace dbx
