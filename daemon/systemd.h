// systemd glue without libsystemd: socket activation (LISTEN_FDS/LISTEN_PID) and sd_notify over
// $NOTIFY_SOCKET. With neither variable set, both do nothing.
#pragma once

#include <optional>
#include <string_view>

namespace dbx {

// The first socket passed by systemd (fd 3) when LISTEN_FDS is set for this pid; unsets the
// variables so children do not inherit them.
std::optional<int> systemd_listen_fd();

// Sends a notification such as "READY=1\nSTATUS=…" to $NOTIFY_SOCKET; false if none or it failed.
bool sd_notify_state(std::string_view state);

// The watchdog interval from $WATCHDOG_USEC (checked against $WATCHDOG_PID), in microseconds.
std::optional<long long> systemd_watchdog_usec();

}  // namespace dbx
