// Reading secrets from files and wiping them from memory after use.
//
// Every read checks the file it actually opened (issue 15): the path is opened with O_NOFOLLOW
// and O_CLOEXEC and the descriptor is fstat'ed before a byte is read, so a secret file swapped
// for a symlink, made group/other accessible or handed to another owner after start-up fails
// that read with one line naming the file and the rule. The caller (a token refresh) fails, and
// the token cache keeps serving what it holds.
#pragma once

#include <string>

#include "common/result.h"

namespace dbx {

// A secret (client_secret_file, certificate_file): a regular file, not a symlink, owned by root or
// the daemon's effective uid, with no group or other permission bits. Trailing newlines are
// trimmed; errors name the path and the rule, never the content.
Result<std::string> read_secret_file(const std::string& path);

// A federated token file (token_file): exempt from the owner and mode rules (its writer, kubelet
// or a CI runner, sets them) and symlinks are followed (kubelet's projected volumes are symlinks),
// but it must be a regular file (a FIFO or device would block or never end) of a sane size.
Result<std::string> read_token_file(const std::string& path);

// Overwrites a string's bytes before it is freed (best effort: copies made by libraries remain).
void wipe(std::string& s);

}  // namespace dbx
