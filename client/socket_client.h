// A blocking HTTP/1.1 GET over the daemon's Unix socket: plain POSIX, no Asio/Beast/OpenSSL, so the
// CLI starts fast. One request per connection (Connection: close).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "client/failure.h"
#include "client/http_response.h"

namespace dbx::cli {

// The daemon may wait up to its 15 s upstream deadline (plus retries) before it answers; 30 s
// leaves room for that without hanging a pipeline forever.
inline constexpr std::chrono::milliseconds kDefaultRequestTimeout{30'000};

inline constexpr std::string_view kDefaultSocketPath = "/run/dbxcred/dbxcred.sock";

// Connects to `socket_path`, sends GET `target`, and reads the whole answer within `timeout`
// (connect, write and read together). Failures to connect, write or read, and timeouts are
// Exit::unreachable; an answer that is not well-formed HTTP is Exit::failure. Any HTTP status is a
// success here: mapping statuses to exit codes is the caller's job.
Expected<HttpResponse> http_get(const std::string& socket_path, std::string_view target,
                                std::chrono::milliseconds timeout = kDefaultRequestTimeout);
// The same with POST and an empty body (`pat reap`).
Expected<HttpResponse> http_post(const std::string& socket_path, std::string_view target,
                                 std::chrono::milliseconds timeout = kDefaultRequestTimeout);

// "cannot reach dbxcredd at PATH: REASON; is the service running? (systemctl status dbxcredd)"
Failure unreachable(std::string_view socket_path, std::string_view reason);

}  // namespace dbx::cli
