// `dbxcred exec --sdk|--azure -- CMD`: CMD runs as a child with the relay's variables set, while
// this process serves the relay (client/relay_server.h) until CMD exits, forwarding the signals
// other processes send it; then the relay's port is closed and dbxcred exits with CMD's status.
#pragma once

#include <string>
#include <vector>

#include "client/output_format.h"
#include "client/relay_server.h"

namespace dbx::cli {

// 256 random bits from getrandom(2), as 64 hex digits: the per-exec secret.
Expected<std::string> random_secret();

// Runs argv (searched in PATH) with `vars` added to the environment and serves `listener` until it
// exits. Returns CMD's exit status, 128+N when a signal N ended it, 127 when CMD is not found and
// 126 when it cannot be run (the shell's conventions).
int run_with_relay(const std::vector<std::string>& argv, const EnvVars& vars,
                   RelayListener& listener, const RelayListener::Handler& handler);

}  // namespace dbx::cli
