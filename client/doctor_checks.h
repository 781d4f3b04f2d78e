// The checks `dbxcred doctor` makes itself, as the caller: the configuration file (when the
// caller may read it: parsed by common/config, secret files by common/secret_file_rule) and the
// socket (its path, its directory's mode — the daemon refuses a directory group or others may
// write —, whether the caller may connect, and who serves it, by SO_PEERCRED as every other
// command checks). The daemon's side is GET /v1/doctor.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "common/doctor_finding.h"

namespace dbx::cli {

inline constexpr std::string_view kDefaultConfigPath = "/etc/dbxcred/config.json";

// What the caller is, for the checks and their messages.
struct Caller {
  uid_t uid = 0;
  std::optional<uid_t> service_uid;  // the service user's (passwd), if there is one
};

// The configuration at `path`: a note when the caller cannot read it (the daemon's report covers
// it for root and the service user), else one ok or one fail per problem. Secret files the caller
// may not open are notes too: the rule is the daemon user's to meet.
std::vector<Finding> config_findings_as_caller(const std::string& path, const Caller& caller);

// The socket's directory by its mode and owner (pure; `mode` and `owner` as stat gives them).
Finding socket_directory_finding(const std::string& dir, unsigned mode, uid_t owner,
                                 const Caller& caller);

// The socket: exists and is a socket, its directory, connect as the caller, the server's uid.
// `insecure`: --insecure-socket (an untrusted server is then a note, not a fail).
std::vector<Finding> socket_findings(const std::string& socket_path, const Caller& caller,
                                     bool insecure);

}  // namespace dbx::cli
