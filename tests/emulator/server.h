// The network side of the emulator: one HTTPS listener on 127.0.0.1 (Beast, coroutines, one
// thread), turning each request into an HttpRequest for the Emulator and back.
#pragma once

#include <functional>

#include "tests/emulator/router.h"
#include "tests/emulator/tls_ca.h"

namespace emu {

struct ServerOptions {
  unsigned short port = 0;  // 0: an ephemeral port
  TlsMaterial tls;
};

// Serves until SIGTERM or SIGINT. `on_listening(port)` runs once the socket listens.
// Returns the process exit code; throws std::exception on a setup failure (e.g. port taken).
int run_server(const ServerOptions& options, Emulator& emulator,
               const std::function<void(unsigned short)>& on_listening);

}  // namespace emu
