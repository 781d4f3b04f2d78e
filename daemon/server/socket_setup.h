// Preparing the listening Unix socket safely (SPEC.md, issue "Security"): the directory created
// 0750 before binding and refused when foreign or writable by anyone but root and us (sticky or
// not, group or other; systemd's RuntimeDirectory= excepted), a stale socket replaced but a live
// daemon never displaced, bind under a restrictive umask, then socket.mode and socket.group
// applied.
#pragma once

#include "common/config.h"
#include "common/result.h"

namespace dbx {

// Returns a listening, non-blocking, close-on-exec AF_UNIX stream socket bound at config.path.
Result<int> open_listening_socket(const SocketConfig& config);

}  // namespace dbx
