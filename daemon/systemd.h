// systemd glue without libsystemd: socket activation (LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES) and
// sd_notify over $NOTIFY_SOCKET. With none of the variables set, all of it does nothing.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace dbx {

// A socket passed by systemd and its FileDescriptorName= (systemd's default: the unit's name).
struct SystemdSocket {
  int fd = -1;
  std::string name;
};

// Every socket systemd passed to this pid (fds 3…), close-on-exec and non-blocking, named from
// LISTEN_FDNAMES; unsets the variables so children do not inherit them. Empty without systemd.
std::vector<SystemdSocket> systemd_listen_fds();

// The passed sockets sorted by role: those named like a loopback listener ("metadata_service",
// "managed_identity", "metrics", as listen.* in the configuration) are kept by name for
// LoopbackListeners::adopt(); the one other socket must be an AF_UNIX stream socket, the API
// socket. Two API sockets, a duplicate name or a loopback name on a non-TCP socket is an error.
struct ActivatedSockets {
  std::optional<int> api;
  std::map<std::string, int> loopback;
};
Result<ActivatedSockets> sort_activated_sockets(const std::vector<SystemdSocket>& sockets);

// Sends a notification such as "READY=1\nSTATUS=…" to $NOTIFY_SOCKET; false if none or it failed.
bool sd_notify_state(std::string_view state);

// The watchdog interval from $WATCHDOG_USEC (checked against $WATCHDOG_PID), in microseconds.
std::optional<long long> systemd_watchdog_usec();

}  // namespace dbx
