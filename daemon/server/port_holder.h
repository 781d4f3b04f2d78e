// Who holds a local TCP port: for the error of a loopback listener that cannot bind.
#pragma once

#include <cstdint>
#include <string>

namespace dbx {

// "pid 4242 (nc) of uid 1000 (alice)" for the process listening on TCP `port` (any local address),
// as far as /proc tells this process: the uid always, the pid only for processes it may inspect.
// Empty when nothing listening on the port is found.
std::string describe_port_holder(std::uint16_t port, const std::string& proc = "/proc");

}  // namespace dbx
