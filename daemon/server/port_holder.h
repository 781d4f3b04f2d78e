// Who holds a local TCP port: for the error of a loopback listener that cannot bind.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace dbx {

// "pid 4242 (nc) of uid 1000 (alice)" for the process listening on TCP `port` (any local address),
// as far as /proc tells this process: the uid always, the pid only for processes it may inspect.
// Empty when nothing listening on the port is found.
std::string describe_port_holder(std::uint16_t port, const std::string& proc = "/proc");

// The listening socket on TCP `port` (tcp, then tcp6): its owner's uid and socket inode.
struct PortListener {
  unsigned long uid = 0;
  std::string inode;
};
std::optional<PortListener> find_port_listener(std::uint16_t port,
                                               const std::string& proc = "/proc");

// Whether process `pid` ("self", "1", …) has socket `inode` open (false when it cannot be told).
bool process_holds_socket(const std::string& pid, const std::string& inode,
                          const std::string& proc = "/proc");

}  // namespace dbx
