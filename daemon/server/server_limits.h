// Limits every HTTP listener of the daemon applies (the Unix socket and the loopback ports).
#pragma once

#include <cstddef>

namespace dbx {

struct ServerLimits {
  std::size_t max_header_bytes = 8 * 1024;  // request line + headers (431 beyond)
  std::size_t max_body_bytes = 16 * 1024;   // (413 beyond)
  int header_timeout_seconds = 5;           // a started request must arrive this fast
  int idle_timeout_seconds = 60;            // keep-alive connection with no request
  std::size_t max_connections = 4096;       // beyond: 503 and close
};

}  // namespace dbx
