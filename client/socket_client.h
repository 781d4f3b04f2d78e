// A blocking HTTP/1.1 GET over the daemon's Unix socket: plain POSIX, no Asio/Beast/OpenSSL, so the
// CLI starts fast. One request per connection (Connection: close).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "client/failure.h"
#include "client/http_response.h"

namespace dbx::cli {

// The daemon may wait up to its 15 s upstream deadline (plus retries) before it answers; 30 s
// leaves room for that without hanging a pipeline forever.
inline constexpr std::chrono::milliseconds kDefaultRequestTimeout{30'000};

inline constexpr std::string_view kDefaultSocketPath = "/run/dbxcred/dbxcred.sock";

// The user dbxcredd runs as under the packaged unit (systemd/dbxcredd.service User=); in a
// container without that user, $DBXCRED_SERVICE_UID gives its uid.
inline constexpr std::string_view kServiceUser = "dbxcred";

// Whom the CLI believes: a server whose SO_PEERCRED uid is root, the caller's own (a user's own
// daemon) or the service user's. Anyone else listening on the path (a squatter in a loose
// directory) is refused unless --insecure-socket says otherwise.
bool trusted_server_uid(uid_t server, uid_t caller, std::optional<uid_t> service_user);

// A server outside the caller's user namespace (the host's dbxcredd, seen from a rootless or
// user-namespaced container) has no uid there: SO_PEERCRED reads as the kernel's overflow uid.
// `uid_map` is /proc/self/uid_map; the initial namespace maps all 2^32 uids onto themselves.
bool in_initial_user_namespace(std::string_view uid_map);
// Whether a server that reads as the overflow uid is believed: only in a user namespace, and only
// when the socket's directory cannot have been written by anyone inside it but the caller (owned
// by an unmapped uid, root or the caller, not group/other-writable): then the socket was put there
// from outside, by whoever made the container's mounts. `dir_uid`/`dir_mode` are the directory's.
bool trusted_unmapped_server(bool initial_namespace, uid_t server, uid_t overflow, uid_t caller,
                             uid_t dir_uid, mode_t dir_mode);

// The uid of `user` in passwd(5) text. The CLI is linked statically, where getpwnam() cannot load
// NSS modules: the service user is a system user (sysusers.d), always in /etc/passwd.
std::optional<uid_t> passwd_uid(std::string_view passwd, std::string_view user);

struct RequestOptions {
  std::string_view method = "GET";
  bool insecure_socket = false;  // --insecure-socket: believe a server of any uid
  std::chrono::milliseconds timeout = kDefaultRequestTimeout;
  std::string_view session = {};  // X-Dbxcred-Session (DBXCRED_SESSION), when set
  std::string_view body = {};     // POST/DELETE body (JSON)
};

// Connects to `socket_path`, checks who serves it (trusted_server_uid), sends `method` `target`,
// and reads the whole answer within the timeout (connect, write and read together). Failures to
// connect, write or read, timeouts and an untrusted server are Exit::unreachable; an answer that
// is not well-formed HTTP is Exit::failure. Any HTTP status is a success here: mapping statuses to
// exit codes is the caller's job.
Expected<HttpResponse> http_request(const std::string& socket_path, std::string_view target,
                                    const RequestOptions& options);

inline Expected<HttpResponse> http_get(const std::string& socket_path, std::string_view target,
                                       std::chrono::milliseconds timeout = kDefaultRequestTimeout) {
  return http_request(socket_path, target, RequestOptions{"GET", false, timeout});
}

// "cannot reach dbxcredd at PATH: REASON; is the service running? (systemctl status dbxcredd)"
Failure unreachable(std::string_view socket_path, std::string_view reason);

}  // namespace dbx::cli
